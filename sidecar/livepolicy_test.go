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

package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/sidecar/contract"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
	"github.com/tollgate-dev/tollgate/internal/secretvolume"
)

// policyDoc is policy.yaml as the operator writes it: generation gen, tokens for audience,
// extra lines under spec (indented two spaces), and routes (indented four).
func policyDoc(gen int, audience, extra, routes string) string {
	return fmt.Sprintf(`apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: shop-api, namespace: shop, generation: %d}
spec:
  issuer: https://shop-api.shop.svc
  audiences: [%s]
  signing: {algorithm: ES256}
  tokens: {accessTokenTTL: 15m, refreshTokenTTL: 168h, clockSkew: 30s}
  login:
    rateLimit: {maxAttempts: 5, maxAttemptsPerClient: 1000, window: 15m}
%s  routes:
    - {pathPrefix: /public, public: true}
%s`, gen, audience, extra, routes)
}

const (
	ordersForAnyone = "    - {path: /orders}\n"
	ordersForAdmins = "    - {path: /orders, roles: [admin]}\n"
	ordersForClerks = "    - {path: /orders, roles: [clerk]}\n"
)

// policyVolume is the policy ConfigMap mounted the kubelet's way, watched by h's server.
type policyVolume struct {
	t *testing.T
	*secretvolume.Volume
}

func watchPolicyVolume(t *testing.T, h *harness, doc string) *policyVolume {
	t.Helper()
	v := &policyVolume{t: t, Volume: secretvolume.New(t.TempDir())}
	v.update(doc)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.server.WatchPolicy(ctx, filepath.Join(v.Dir(), contract.PolicyFile), 5*time.Millisecond)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return v
}

func (v *policyVolume) update(doc string) {
	v.t.Helper()
	if err := v.Write(map[string][]byte{contract.PolicyFile: []byte(doc)}); err != nil {
		v.t.Fatal(err)
	}
}

// valueOf reads a gauge or a counter.
func valueOf(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if g := d.GetGauge(); g != nil {
		return g.GetValue()
	}
	return d.GetCounter().GetValue()
}

func (h *harness) policyGeneration() int64 {
	return int64(valueOf(h.server.metrics.PolicyGeneration))
}

func (h *harness) policyReloads(result string) int {
	return int(valueOf(h.server.metrics.Reloads.WithLabelValues("policy", result)))
}

func (h *harness) waitForGeneration(t *testing.T, gen int64) {
	t.Helper()
	testwait.For(t, 10*time.Second, fmt.Sprintf("generation %d is in force", gen), func() bool { return h.policyGeneration() == gen })
}

func (h *harness) status(path, token string) int {
	h.t.Helper()
	resp, _ := h.do("GET", path, token, nil)
	return resp.StatusCode
}

// readyz is the metrics port's /readyz answer.
func (h *harness) readyz(t *testing.T) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.server.OpsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("readyz body %s: %v", rec.Body, err)
	}
	return rec.Code, body
}

func TestPolicyReloadTightensAtOnce(t *testing.T) {
	h := newHarness(t, withPolicy(policyDoc(1, "shop-api", "", ordersForAnyone)))
	vol := watchPolicyVolume(t, h, policyDoc(1, "shop-api", "", ordersForAnyone))
	bob := h.login("bob@example.com", bobPassword).AccessToken
	alice := h.login("alice@example.com", alicePassword).AccessToken
	if got := h.status("/orders", bob); got != http.StatusOK { // and now bob's token is cached
		t.Fatalf("before the change, a clerk gets %d on /orders", got)
	}

	vol.update(policyDoc(2, "shop-api", "", ordersForAdmins))
	h.waitForGeneration(t, 2)
	if got := h.status("/orders", bob); got != http.StatusForbidden {
		t.Fatalf("right after the reload that protects /orders, a clerk gets %d, not 403", got)
	}
	if got := h.status("/orders", alice); got != http.StatusOK {
		t.Fatalf("an admin gets %d on /orders", got)
	}
	if n := h.policyReloads("ok"); n != 1 {
		t.Fatalf("tollgate_reloads_total{file=policy,result=ok} = %d after one change, want 1 (the first check of an unchanged file counts nothing)", n)
	}
	code, body := h.readyz(t)
	if gen := body["policy"].(map[string]any)["generation"]; code != http.StatusOK || gen != float64(2) {
		t.Fatalf("readyz %d names generation %v, want 200 and 2", code, gen)
	}

	vol.update(policyDoc(3, "shop-api", "", ordersForAnyone))
	h.waitForGeneration(t, 3)
	if got := h.status("/orders", bob); got != http.StatusOK {
		t.Fatalf("after the reload that opens /orders again, a clerk gets %d", got)
	}
}

func TestPolicyReloadRefusesABadFile(t *testing.T) {
	h := newHarness(t, withPolicy(policyDoc(1, "shop-api", "", ordersForAnyone)))
	vol := watchPolicyVolume(t, h, policyDoc(2, "shop-api", "", ordersForAdmins))
	h.waitForGeneration(t, 2)
	bob := h.login("bob@example.com", bobPassword).AccessToken
	good := h.server.policy()

	for i, bad := range []struct{ name, doc string }{
		{"not YAML", "apiVersion: [\n"},
		{"empty", ""},
		{"another kind", strings.Replace(policyDoc(3, "shop-api", "", ordersForAnyone), "kind: AuthPolicy", "kind: ConfigMap", 1)},
		{"a misspelt field", policyDoc(3, "shop-api", "  rotues: []\n", ordersForAnyone)},
		{"an invalid route", policyDoc(3, "shop-api", "", "    - {path: /orders, public: true, roles: [admin]}\n")},
		{"an invalid duration", strings.Replace(policyDoc(3, "shop-api", "", ordersForAnyone), "clockSkew: 30s", "clockSkew: 1h", 1)},
	} {
		t.Run(bad.name+" is refused", func(t *testing.T) {
			vol.update(bad.doc)
			testwait.For(t, 10*time.Second, "the file is refused", func() bool { return h.policyReloads("rejected") == i+1 })
			if h.server.policy() != good {
				t.Fatal("a refused file replaced the policy in force")
			}
			if got := h.status("/orders", bob); got != http.StatusForbidden {
				t.Fatalf("after a refused file a clerk gets %d on /orders, not the last good policy's 403", got)
			}
			if gen := h.policyGeneration(); gen != 2 {
				t.Fatalf("tollgate_policy_generation = %d, want the last good 2", gen)
			}
		})
	}
	vol.update(policyDoc(4, "shop-api", "", ordersForAnyone))
	h.waitForGeneration(t, 4)
	if got := h.status("/orders", bob); got != http.StatusOK {
		t.Fatalf("a good file after bad ones is not applied: a clerk gets %d", got)
	}
}

func TestPolicyReloadKeepsFieldsThatNeedARestart(t *testing.T) {
	h := newHarness(t, withPolicy(policyDoc(1, "shop-api", "", ordersForAnyone)))
	vol := watchPolicyVolume(t, h, policyDoc(1, "shop-api", "", ordersForAnyone))
	moved := "  sidecar: {authPathPrefix: /session, port: 8100}\n  store: {redis: {addresses: [\"redis:6379\"]}}\n"
	vol.update(policyDoc(2, "shop-api", moved, ordersForAdmins))
	h.waitForGeneration(t, 2)

	bob := h.login("bob@example.com", bobPassword).AccessToken // still at /auth
	if got := h.status("/orders", bob); got != http.StatusForbidden {
		t.Fatalf("the live part of the change is not applied: a clerk gets %d on /orders", got)
	}
	if resp, _ := h.do("POST", "/session/login", "", map[string]string{"email": "bob@example.com", "password": bobPassword}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the new auth path prefix was half-applied: POST /session/login answers %d, not the proxy's 401", resp.StatusCode)
	}
	if got := h.server.policy().spec.Store.Redis; got != nil {
		t.Fatalf("the policy in force names a store the sidecar never opened: %+v", got)
	}
	if v := valueOf(h.server.metrics.PolicyRestartRequired); v != 1 {
		t.Fatalf("tollgate_policy_restart_required = %v, want 1", v)
	}
	code, body := h.readyz(t)
	policy := body["policy"].(map[string]any)
	var fields []string
	for _, f := range policy["restartRequired"].([]any) {
		fields = append(fields, f.(string))
	}
	want := []string{"spec.store", "spec.sidecar.port", "spec.sidecar.authPathPrefix"}
	if code != http.StatusOK || !slices.Equal(fields, want) {
		t.Fatalf("readyz %d reports %v as needing a restart, want 200 and %v", code, fields, want)
	}

	// Back to the running values: nothing waits for a restart any more.
	vol.update(policyDoc(3, "shop-api", "", ordersForAdmins))
	h.waitForGeneration(t, 3)
	if v := valueOf(h.server.metrics.PolicyRestartRequired); v != 0 {
		t.Fatalf("tollgate_policy_restart_required = %v after the fields went back, want 0", v)
	}
	if _, body := h.readyz(t); body["policy"].(map[string]any)["restartRequired"] != nil {
		t.Fatalf("readyz still reports fields needing a restart: %v", body["policy"])
	}
}

// A token verified and cached under one policy must not pass under the next on the strength
// of that verification.
func TestTokenCacheDoesNotServeAnOlderPolicy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		claims func(h *harness) *AccessClaims
		next   string
		reason string
	}{{
		name:   "the audience is removed",
		claims: func(h *harness) *AccessClaims { return h.claimsFor("7", "clerk") },
		next:   policyDoc(2, "other-api", "", ordersForAnyone),
		reason: "wrong audience",
	}, {
		name: "the clock skew shrinks past an expired token",
		claims: func(h *harness) *AccessClaims {
			c := h.claimsFor("7", "clerk")
			c.IssuedAt = jwt.NewNumericDate(h.clock.Now().Add(-time.Minute))
			c.NotBefore = c.IssuedAt
			c.ExpiresAt = jwt.NewNumericDate(h.clock.Now().Add(-10 * time.Second)) // within 30s of skew
			return c
		},
		next:   strings.Replace(policyDoc(2, "shop-api", "", ordersForAnyone), "clockSkew: 30s", "clockSkew: 0s", 1),
		reason: "expired",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, withPolicy(policyDoc(1, "shop-api", "", ordersForAnyone)))
			tok := signWith(t, h.activeKey(), tc.claims(h), nil)
			if got := h.status("/orders", tok); got != http.StatusOK {
				t.Fatalf("under the first policy the token gets %d", got)
			}
			p, err := ParsePolicy([]byte(tc.next))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.server.ApplyPolicy(p); err != nil {
				t.Fatal(err)
			}
			if got := h.status("/orders", tok); got != http.StatusUnauthorized {
				t.Fatalf("after the reload the cached token gets %d, not 401", got)
			}
			h.assertRejected(t, tok, tc.reason)
		})
	}
}

// Under load, the policy swaps back and forth between A (audience a, /orders for admins)
// and B (audience b, /orders for clerks). An admin's token for a passes A (200) and fails B's
// audience (401); a clerk's token for b fails A's audience (401) and passes B (200). A 403
// can only come from a request that saw one policy's routes and the other's token checks,
// or from a verification cached under the other policy; anything else is a failed request.
func TestPolicyReloadUnderLoad(t *testing.T) {
	policyA := func(gen int) string { return policyDoc(gen, "a", "", ordersForAdmins) }
	policyB := func(gen int) string { return policyDoc(gen, "b", "", ordersForClerks) }
	h := newHarness(t, withPolicy(policyA(1)))
	vol := watchPolicyVolume(t, h, policyA(1))

	adminForA := h.claimsFor("42", "admin")
	adminForA.Audience = jwt.ClaimStrings{"a"}
	clerkForB := h.claimsFor("7", "clerk")
	clerkForB.Audience = jwt.ClaimStrings{"b"}
	tokens := []string{signWith(t, h.activeKey(), adminForA, nil), signWith(t, h.activeKey(), clerkForB, nil)}

	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		answers  [2][600]atomic.Int64 // per token, per status
		mu       sync.Mutex
		failures []string
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 10 * time.Second}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				which := i % 2
				req, _ := http.NewRequest("GET", h.http.URL+"/orders", nil)
				req.Header.Set("Authorization", "Bearer "+tokens[which])
				resp, err := client.Do(req)
				status := 599
				var body []byte
				if err == nil {
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				answers[which][min(status, 599)].Add(1)
				if status != http.StatusOK && (status != http.StatusUnauthorized || !strings.Contains(string(body), "audience")) {
					mu.Lock()
					if len(failures) < 10 {
						failures = append(failures, fmt.Sprintf("token %d: %d %s %v", which, status, body, err))
					}
					mu.Unlock()
				}
			}
		}()
	}
	const swaps = 30
	for gen := 2; gen <= swaps+1; gen++ {
		if gen%2 == 0 {
			vol.update(policyB(gen))
		} else {
			vol.update(policyA(gen))
		}
		h.waitForGeneration(t, int64(gen))
		time.Sleep(10 * time.Millisecond) // let requests run under this policy
	}
	close(stop)
	wg.Wait()

	if len(failures) > 0 {
		t.Fatalf("answers consistent with neither policy during %d reloads: %v", swaps, failures)
	}
	for which, name := range []string{"the admin's token for a", "the clerk's token for b"} {
		ok, refused := answers[which][http.StatusOK].Load(), answers[which][http.StatusUnauthorized].Load()
		if ok == 0 || refused == 0 {
			t.Fatalf("%s got %d 200s and %d 401s: the requests did not run under both policies", name, ok, refused)
		}
		t.Logf("%s: %d allowed, %d refused", name, ok, refused)
	}
	if n := h.policyReloads("ok"); n != swaps {
		t.Fatalf("%d policy reloads counted, want %d", n, swaps)
	}
}

// Every field the API lists as needing a restart is kept at its running value on reload.
func TestEveryRestartFieldIsPinned(t *testing.T) {
	running, err := ParsePolicy([]byte(policyDoc(1, "shop-api", "", ordersForAnyone)))
	if err != nil {
		t.Fatal(err)
	}
	changed := running.DeepCopy()
	changed.Name, changed.Namespace = "other", "elsewhere"
	changed.Spec.Store.Redis = &spec.RedisSpec{Addresses: []string{"redis:6379"}}
	changed.Spec.Sidecar.Port, changed.Spec.Sidecar.UpstreamPort = 1, 2
	changed.Spec.Sidecar.AuthPathPrefix = "/session"
	changed.Spec.Sidecar.UpstreamProtocol = spec.UpstreamH2C
	changed.Spec.Sidecar.Tracing = &spec.SidecarTracing{OTLPEndpoint: "http://collector:4318"}
	changed.Spec.Login.UsersSecretRef = &spec.LocalObjectReference{Name: "users"}
	changed.Spec.Login.VerifyURL = "http://verify"
	if got := spec.ChangedRestartFields(running, changed); !slices.Equal(got, spec.RestartFields()) {
		t.Fatalf("the test changes %v, not every restart field %v", got, spec.RestartFields())
	}
	for _, field := range spec.RestartFields() {
		pin := pins[field]
		if pin == nil {
			t.Fatalf("no pin for %s", field)
		}
		pin(changed, running)
	}
	if got := spec.ChangedRestartFields(running, changed); len(got) != 0 {
		t.Fatalf("after pinning, %v still differ", got)
	}
}
