/*
Copyright 2026 The tollgate Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

// TestPolicyKeyHealthAtEveryInstant stands at instants of a key's life, with the status the
// operator wrote, and says what check makes of it. The default schedule: 24h rotation,
// 5m pre-publication.
func TestPolicyKeyHealthAtEveryInstant(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	at := func(d time.Duration) metav1.Time { return metav1.NewTime(t0.Add(d)) }
	ptr := func(d time.Duration) *metav1.Time { m := at(d); return &m }
	ready := []metav1.Condition{{Type: authv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: authv1alpha1.ReasonKeysReady}}
	one := authv1alpha1.KeyStatus{KID: "k1", Algorithm: "ES256", CreatedAt: at(0), ActivatesAt: at(0)}
	retiring := one
	retiring.RetiresAt, retiring.ExpiresAt = ptr(24*time.Hour), ptr(24*time.Hour+15*time.Minute)
	successor := authv1alpha1.KeyStatus{KID: "k2", Algorithm: "ES256", CreatedAt: at(24*time.Hour - 5*time.Minute), ActivatesAt: at(24 * time.Hour)}

	for _, tc := range []struct {
		name       string
		keys       []authv1alpha1.KeyStatus
		conditions []metav1.Condition
		generation int64
		next       *metav1.Time
		now        time.Duration
		want       []string // substrings of the problems; none: healthy
	}{
		{name: "a fresh key is healthy", keys: []authv1alpha1.KeyStatus{one}, next: ptr(24 * time.Hour), now: time.Hour},
		{name: "a successor published on time is healthy", keys: []authv1alpha1.KeyStatus{retiring, successor}, next: ptr(24 * time.Hour), now: 24*time.Hour - time.Minute},
		{name: "a successor not published when due is an overdue rotation", keys: []authv1alpha1.KeyStatus{one}, next: ptr(24 * time.Hour), now: 24*time.Hour - 5*time.Minute + rotationGrace + time.Second,
			want: []string{"rotation overdue: key k1", "2026-11-28T13:55:00Z"}},
		{name: "a late publication within the grace is not yet overdue", keys: []authv1alpha1.KeyStatus{one}, next: ptr(24 * time.Hour), now: 24*time.Hour - 5*time.Minute + rotationGrace - time.Second},
		{name: "a key retiring with no key after it", keys: []authv1alpha1.KeyStatus{retiring}, next: ptr(24 * time.Hour), now: 23 * time.Hour,
			want: []string{"key k1 retires at 2026-11-28T14:00:00Z and no published key follows it"}},
		{name: "a status left behind by a stopped operator", keys: []authv1alpha1.KeyStatus{retiring, successor}, next: ptr(24 * time.Hour), now: 25 * time.Hour,
			want: []string{"next rotation was at 2026-11-28T14:00:00Z and has not moved since"}},
		{name: "no keys at all", conditions: []metav1.Condition{{Type: authv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: authv1alpha1.ReasonNameConflict, Message: "Secret x exists"}},
			want: []string{"not Ready (NameConflict): Secret x exists", "no key signs"}},
		{name: "no Ready condition", keys: []authv1alpha1.KeyStatus{one}, conditions: []metav1.Condition{}, now: time.Hour,
			want: []string{"no Ready condition"}},
		{name: "a generation the operator has not seen", keys: []authv1alpha1.KeyStatus{one}, generation: 2, now: time.Hour,
			want: []string{"has not reconciled generation 2 yet (it saw 1)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "shop-api", Generation: 1}}
			if tc.generation != 0 {
				p.Generation = tc.generation
			}
			p.Status.ObservedGeneration = 1
			p.Status.Keys, p.Status.NextRotationTime, p.Status.Conditions = tc.keys, tc.next, ready
			if tc.conditions != nil {
				p.Status.Conditions = tc.conditions
			}
			problems, summary := policyKeyHealth(p, t0.Add(tc.now))
			got := strings.Join(problems, "; ")
			if len(tc.want) == 0 && (got != "" || !strings.HasPrefix(summary, "Ready; key ")) {
				t.Errorf("problems %q, summary %q; want none", got, summary)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("problems %q do not say %q", got, w)
				}
			}
		})
	}
}

func TestCertificateValidity(t *testing.T) {
	now := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	cert := func(from, until time.Duration) *x509.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
			NotBefore: now.Add(from), NotAfter: now.Add(until), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	for name, tc := range map[string]struct {
		c    *x509.Certificate
		want string
	}{
		"valid for a year":         {cert(-time.Hour, 365*24*time.Hour), ""},
		"expired":                  {cert(-48*time.Hour, -time.Hour), `certificate "ca" expired at 2026-11-27T13:00:00Z`},
		"expiring within the days": {cert(-time.Hour, 48*time.Hour), "expires at 2026-11-29T14:00:00Z, in less than 72h0m0s"},
		"not valid yet":            {cert(time.Hour, 365*24*time.Hour), "not valid before 2026-11-27T15:00:00Z"},
	} {
		t.Run(name, func(t *testing.T) {
			err := validFor([]*x509.Certificate{tc.c}, now, 72*time.Hour)
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	for name, in := range map[string]string{
		"empty":        "",
		"not PEM":      "MIIB...",
		"a broken DER": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"only a key":   "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		t.Run("a caBundle that is "+name+" is refused", func(t *testing.T) {
			if _, err := parseCertificates([]byte(in)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestCheckOutputIsPlainASCII(t *testing.T) {
	var out bytes.Buffer
	printChecks(&out, CheckReport{Checks: []CheckResult{
		{Category: CategoryCRD, Name: "AuthPolicy API", Status: CheckOK, Message: "served"},
		{Category: CategoryWebhook, Name: "answers", Status: CheckFail, Message: "connection refused", Hint: "is the manager running?"},
		{Category: CategoryWebhook, Name: "configuration", Status: CheckWarn, Message: "failurePolicy Ignore"},
	}})
	want := `CRD
  [ok]   AuthPolicy API: served
Webhook
  [FAIL] answers: connection refused
         hint: is the manager running?
  [warn] configuration: failurePolicy Ignore

1 ok, 1 failed, 1 warnings, 0 skipped
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	for _, r := range out.String() {
		if r > 127 {
			t.Fatalf("non-ASCII %q in the output", r)
		}
	}
}

func TestPolicyPodsWarnsAboutPodsToRestart(t *testing.T) {
	p := &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "shop-api"}}
	c := &checker{}
	if r := c.policyPods(t.Context(), p); r.Status != CheckOK {
		t.Errorf("%+v", r)
	}
	p.Status.Conditions = []metav1.Condition{{Type: authv1alpha1.ConditionPodsCurrent, Status: metav1.ConditionFalse,
		Reason: authv1alpha1.ReasonPodsRestartPending, Message: "2 pods run a sidecar started before generation 3"}}
	r := c.policyPods(t.Context(), p)
	if r.Status != CheckWarn || r.Message != "2 pods run a sidecar started before generation 3" || !strings.Contains(r.Hint, "rollout restart") {
		t.Errorf("%+v", r)
	}
}
