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

package reliability

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/testproc"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/keyset"
)

// midRotationHandledAnnotation is where the controller records, on the keys Secret and in
// the same update as the new key, the rotate-requested-at value it acted on
// (authpolicy.rotateHandledAnnotation, unexported).
const midRotationHandledAnnotation = "auth.tollgate.dev/rotate-handled"

// The schedule of the test policies: the schema's minimum prePublish and rotationInterval
// and the shortest token lifetime, so that new keys sign 10s after a request and retired
// keys expire 10s after they retire, within the test.
const (
	midRotationPrePublish = 10 * time.Second
	midRotationInterval   = time.Minute
	midRotationAccessTTL  = 10 * time.Second
)

// midRotationPollEvery paces the polls of this test: each lists every policy and Secret of
// the namespace, and the manager under test shares the machine's two cores.
const midRotationPollEvery = 200 * time.Millisecond

// TestManagerKilledMidRotation asks for a rotation of every one of P policies, SIGKILLs
// the manager while it is part way through them, restarts it, and repeats K times. A kill
// must cost nothing: no key lost or changed, no second successor for one request, every
// request marked handled, status mirroring the Secret, and the schedule carrying on.
func TestManagerKilledMidRotation(t *testing.T) {
	policies := size(30, 200)
	kills := size(1, 3)
	// The client-side rate limit stretches one pass over the policies to a few seconds,
	// so that the kill lands inside it; where the kill lands is checked, not assumed.
	qps := max(10, 2*policies/3)
	managerArgs := []string{"--kube-api-qps", strconv.Itoa(qps), "--kube-api-burst", "5"}

	ns := cluster.Namespace(t, "reliability")
	mgr := startManager(t, managerArgs...)
	names := make([]string, policies)
	for i := range names {
		names[i] = fmt.Sprintf("p-%03d", i)
	}
	created := time.Now()
	midRotationEach(t, names, func(name string) error {
		return k8s.Create(context.Background(), midRotationPolicy(ns, name))
	})
	h := &midRotationHistory{seen: map[string]map[string]*midRotationKey{}}
	testwait.Poll(t, midRotationPollEvery, 3*time.Minute, "every policy Ready with its keys Secret", func() (bool, string) {
		views, err := midRotationRead(ns)
		if err != nil {
			return false, err.Error()
		}
		for _, name := range names {
			v := views[name]
			if why := v.settled(time.Now()); why != "" {
				return false, why
			}
		}
		h.record(t, views)
		return true, ""
	})
	t.Logf("%d policies Ready in %s", policies, time.Since(created).Round(time.Millisecond))

	var summary []string
	var before map[string]*midRotationView // the sets before the last round's request
	for round := 1; round <= kills; round++ {
		// Each request must create exactly one key: start from sets with none pending.
		before = midRotationNoPending(t, h, ns, names, "before round "+strconv.Itoa(round), before)

		requested := time.Now().UTC()
		value := requested.Format(time.RFC3339Nano)
		threshold := max(1, round*policies/(kills+1))
		atKill, lagging := midRotationKillMidPass(t, mgr, ns, names, value, threshold)
		if atKill == 0 || atKill == policies {
			t.Fatalf("round %d: %d of %d policies rotated when the manager was killed: the kill did not land mid-pass (raise P or lower --kube-api-qps)",
				round, atKill, policies)
		}

		restarted := time.Now()
		mgr = startManager(t, managerArgs...)
		up := time.Since(restarted)
		var views map[string]*midRotationView
		var allHandled time.Duration
		testwait.Poll(t, midRotationPollEvery, 3*time.Minute, fmt.Sprintf("round %d: every request handled and mirrored after the restart", round), func() (bool, string) {
			var err error
			if views, err = midRotationRead(ns); err != nil {
				return false, err.Error()
			}
			now := time.Now()
			h.record(t, views)
			for _, name := range names {
				if v := views[name]; v.handled != value {
					return false, fmt.Sprintf("%s: rotate-handled %q, want %q", name, v.handled, value)
				}
			}
			if allHandled == 0 {
				allHandled = now.Sub(restarted)
			}
			for _, name := range names {
				v := views[name]
				if why := v.settled(now); why != "" {
					return false, why
				}
			}
			return true, ""
		})
		converge := time.Since(restarted)
		checked := midRotationCheckRound(t, views, before, names, requested, value)
		summary = append(summary, fmt.Sprintf("round %d: killed at %d of %d policies rotated (threshold %d; %d of them with status not yet mirroring); "+
			"after the restart: ready %s, every request handled %s, converged (status mirrors, Ready) %s; %d keys checked",
			round, atKill, policies, threshold, lagging, up.Round(time.Millisecond), allHandled.Round(time.Millisecond), converge.Round(time.Millisecond), checked))
		t.Log(summary[len(summary)-1])
	}

	// The schedule resumes under the last manager: every new key signs once its
	// prePublish is over, the status says so, and the next rotation is ahead.
	activated := midRotationNoPending(t, h, ns, names, "after the last round", before)
	now := time.Now()
	lastKIDs := map[string]string{}
	for _, name := range names {
		v := activated[name]
		var added *keyset.SigningKey
		for _, k := range v.keys.Keys {
			if before[name].keys.Lookup(k.KID) == nil {
				added = k
			}
		}
		a := v.keys.Active(now)
		if added == nil || a == nil || a.KID != added.KID {
			t.Fatalf("%s: the last request's key does not sign after its activation (added %v, active %v)", name, midRotationKID(added), midRotationKID(a))
		}
		next := v.policy.Status.NextRotationTime
		if next == nil || !next.After(now) {
			t.Errorf("%s: status.nextRotationTime %v is not in the future", name, next)
		} else if want := a.ActivatesAt.Add(midRotationInterval); !next.Equal(&metav1.Time{Time: want}) {
			t.Errorf("%s: status.nextRotationTime %s, want %s (an interval after the active key's activation)", name, next.UTC(), want.UTC())
		}
		lastKIDs[name] = a.KID
	}
	if t.Failed() {
		t.FailNow()
	}
	midRotationSidecarSigns(t, ns, names[0], lastKIDs[names[0]])
	// Events are best effort: a SIGKILL drops what the recorder had not sent yet. Counted,
	// not asserted.
	var events eventsv1.EventList
	if err := k8s.List(context.Background(), &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	keyCreated := 0
	for _, e := range events.Items {
		if e.Reason == string(keyset.KeyCreated) {
			keyCreated++
		}
	}
	t.Logf("KeyCreated Events: %d for the %d keys created", keyCreated, h.keys)
	t.Logf("manager killed mid-rotation: %d policies, %d kills; %d distinct keys followed through %d checks against earlier reads", policies, kills, h.keys, h.checks)
	for _, s := range summary {
		t.Log("  " + s)
	}
}

// midRotationKID names a key in a message, never printing its private material.
func midRotationKID(k *keyset.SigningKey) string {
	if k == nil {
		return "none"
	}
	return fmt.Sprintf("%s (activates %s)", k.KID, k.ActivatesAt.UTC().Format(time.RFC3339))
}

// midRotationPolicy is a test policy with the short schedule.
func midRotationPolicy(ns, name string) *authv1alpha1.AuthPolicy {
	d := func(v time.Duration) *authv1alpha1.Duration { return &authv1alpha1.Duration{Duration: v} }
	return &authv1alpha1.AuthPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: authv1alpha1.AuthPolicySpec{
			Signing: authv1alpha1.SigningSpec{RotationInterval: d(midRotationInterval), PrePublish: d(midRotationPrePublish)},
			Tokens:  authv1alpha1.TokensSpec{AccessTokenTTL: d(midRotationAccessTTL), ClockSkew: d(0)},
		},
	}
}

// midRotationEach runs f for every name, eight at a time, and fails the test on an error.
func midRotationEach(t *testing.T, names []string, f func(name string) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	sem := make(chan struct{}, 8)
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = f(name)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", names[i], err)
		}
	}
}

// midRotationView is one policy and its keys Secret, as read together.
type midRotationView struct {
	name    string
	policy  *authv1alpha1.AuthPolicy
	secret  *corev1.Secret
	keys    *keyset.Keyset
	err     error // the Secret is missing or holds no valid keyset
	handled string
}

// midRotationRead reads every policy of ns and its keys Secret.
func midRotationRead(ns string) (map[string]*midRotationView, error) {
	ctx := context.Background()
	var pols authv1alpha1.AuthPolicyList
	if err := k8s.List(ctx, &pols, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var secrets corev1.SecretList
	if err := k8s.List(ctx, &secrets, client.InNamespace(ns), client.MatchingLabels{authv1alpha1.ManagedByLabel: authv1alpha1.ManagedByValue}); err != nil {
		return nil, err
	}
	bySecret := map[string]*corev1.Secret{}
	for i := range secrets.Items {
		bySecret[secrets.Items[i].Name] = &secrets.Items[i]
	}
	out := map[string]*midRotationView{}
	for i := range pols.Items {
		p := &pols.Items[i]
		v := &midRotationView{name: p.Name, policy: p}
		v.secret = bySecret[authv1alpha1.SigningKeysSecretName(p.Name)]
		if v.secret == nil {
			v.err = fmt.Errorf("%s: no keys Secret", p.Name)
		} else {
			v.handled = v.secret.Annotations[midRotationHandledAnnotation]
			if v.keys, v.err = keyset.Parse(v.secret.Data[keyset.FileName]); v.err != nil {
				v.err = fmt.Errorf("%s: keys Secret: %w", p.Name, v.err)
			}
		}
		out[p.Name] = v
	}
	return out, nil
}

// settled says what keeps the view from being a finished pass at now: "" when the
// Secret holds a keyset with one key active, the status mirrors it, and Ready is True
// for the current generation.
func (v *midRotationView) settled(now time.Time) string {
	if v == nil {
		return "a policy is missing"
	}
	if v.err != nil {
		return v.err.Error()
	}
	st := v.policy.Status
	ready := meta.FindStatusCondition(st.Conditions, authv1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != v.policy.Generation {
		return fmt.Sprintf("%s: Ready is %+v", v.name, ready)
	}
	if v.keys.Active(now) == nil {
		return fmt.Sprintf("%s: no key signs at %s", v.name, now.UTC().Format(time.RFC3339))
	}
	return midRotationMirrors(v, now)
}

// midRotationMirrors compares the status with the Secret: the same kids, and the active
// and next key by the clock.
func midRotationMirrors(v *midRotationView, now time.Time) string {
	st := v.policy.Status
	var statusKIDs, secretKIDs []string
	for _, k := range st.Keys {
		statusKIDs = append(statusKIDs, k.KID)
	}
	for _, k := range v.keys.Keys {
		secretKIDs = append(secretKIDs, k.KID)
	}
	sort.Strings(statusKIDs)
	sort.Strings(secretKIDs)
	if !slices.Equal(statusKIDs, secretKIDs) {
		return fmt.Sprintf("%s: status.keys %v, Secret %v", v.name, statusKIDs, secretKIDs)
	}
	active, next := "", ""
	if a := v.keys.Active(now); a != nil {
		active = a.KID
	}
	for _, k := range v.keys.Keys {
		if k.State(now) == keyset.StateNext {
			next = k.KID
			break
		}
	}
	if st.ActiveKeyID != active || st.NextKeyID != next {
		return fmt.Sprintf("%s: status active %q next %q, Secret by the clock active %q next %q", v.name, st.ActiveKeyID, st.NextKeyID, active, next)
	}
	return ""
}

// midRotationKey is what the test remembers of a kid of one policy.
type midRotationKey struct {
	private   crypto.PrivateKey
	expiresAt time.Time // the latest seen; zero while the key has no successor
}

// midRotationHistory is every key the test has seen, per policy, from every read.
type midRotationHistory struct {
	seen map[string]map[string]*midRotationKey
	// keys counts the distinct (policy, kid) pairs seen; checks, the comparisons of a
	// read with what was seen before.
	keys, checks int
}

// record checks views against what was seen before, then remembers them: a kid seen
// before is gone only once its expiresAt has passed, and its private material never
// changes.
func (h *midRotationHistory) record(t *testing.T, views map[string]*midRotationView) {
	t.Helper()
	now := time.Now()
	for name, v := range views {
		if v.keys == nil {
			continue
		}
		seen := h.seen[name]
		if seen == nil {
			seen = map[string]*midRotationKey{}
			h.seen[name] = seen
		}
		for kid, old := range seen {
			k := v.keys.Lookup(kid)
			h.checks++
			if k == nil {
				if old.expiresAt.IsZero() || now.Before(old.expiresAt) {
					t.Fatalf("%s: key %s is gone from the Secret before its expiry (%s)", name, kid, old.expiresAt)
				}
				delete(seen, kid)
				continue
			}
			if !midRotationSamePrivate(old.private, k.Private) {
				t.Fatalf("%s: key %s holds other private material than before", name, kid)
			}
			old.expiresAt = k.ExpiresAt
		}
		for _, k := range v.keys.Keys {
			if seen[k.KID] == nil {
				h.keys++
				seen[k.KID] = &midRotationKey{private: k.Private, expiresAt: k.ExpiresAt}
			}
		}
	}
}

func midRotationSamePrivate(a, b crypto.PrivateKey) bool {
	if x, ok := a.([]byte); ok {
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	}
	x, ok := a.(interface{ Equal(crypto.PrivateKey) bool })
	return ok && x.Equal(b)
}

// midRotationNoPending waits until no policy has a pending key by the clock and the
// statuses say so, which needs the running manager to have requeued at each activation,
// and returns those views. Meanwhile no policy may have gained more than one key since
// the sets before the last rotation request (before, unless nil).
func midRotationNoPending(t *testing.T, h *midRotationHistory, ns string, names []string, when string, before map[string]*midRotationView) map[string]*midRotationView {
	t.Helper()
	var views map[string]*midRotationView
	testwait.Poll(t, midRotationPollEvery, 3*time.Minute, when+": every pending key activated and the status saying so", func() (bool, string) {
		var err error
		if views, err = midRotationRead(ns); err != nil {
			return false, err.Error()
		}
		h.record(t, views)
		now := time.Now()
		for _, name := range names {
			v := views[name]
			if b := before[name]; v.keys != nil && b != nil {
				var added []string
				for _, k := range v.keys.Keys {
					if b.keys.Lookup(k.KID) == nil {
						added = append(added, fmt.Sprintf("%s (created %s, activates %s)", k.KID,
							k.CreatedAt.UTC().Format(time.RFC3339), k.ActivatesAt.UTC().Format(time.RFC3339)))
					}
				}
				if len(added) > 1 {
					t.Fatalf("%s: %s: keys %s were all added since the last rotation request, which asks for one",
						when, name, strings.Join(added, ", "))
				}
			}
			if why := v.settled(now); why != "" {
				return false, why
			}
			if v.policy.Status.NextKeyID != "" {
				return false, fmt.Sprintf("%s: key %s pending", name, v.policy.Status.NextKeyID)
			}
		}
		return true, ""
	})
	return views
}

// midRotationKillMidPass requests a rotation of every policy (as `tollgate rotate` does)
// and SIGKILLs the manager once at least threshold of the keys Secrets carry the request's
// new key. It returns how many had been rotated at the kill, read after it, and how many
// of those policies' statuses did not mirror the new key yet.
func midRotationKillMidPass(t *testing.T, mgr *testproc.Process, ns string, names []string, value string, threshold int) (rotated, lagging int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := k8s.Watch(ctx, &corev1.SecretList{}, client.InNamespace(ns),
		client.MatchingLabels{authv1alpha1.ManagedByLabel: authv1alpha1.ManagedByValue})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{authv1alpha1.RotateRequestedAtAnnotation: value}}})
	requests := make(chan error, 1)
	go func() {
		errs := make([]error, len(names))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i, name := range names {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				p := &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
				if err := k8s.Patch(context.Background(), p, client.RawPatch(types.MergePatchType, patch)); err != nil {
					errs[i] = fmt.Errorf("requesting a rotation of %s: %w", name, err)
				}
			}()
		}
		wg.Wait()
		requests <- errors.Join(errs...)
	}()

	handled := map[string]bool{}
	timeout := time.After(2 * time.Minute)
	for len(handled) < threshold {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the watch of the keys Secrets ended")
			}
			if s, isSecret := ev.Object.(*corev1.Secret); isSecret && ev.Type != watch.Deleted && s.Annotations[midRotationHandledAnnotation] == value {
				handled[s.Name] = true
			}
		case <-timeout:
			t.Fatalf("only %d of %d policies rotated within 2m of the request", len(handled), len(names))
		}
	}
	mgr.Kill()
	if err := <-requests; err != nil {
		t.Fatal(err)
	}

	views, err := midRotationRead(ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		v := views[name]
		if v.err != nil {
			t.Fatalf("at the kill: %v", v.err)
		}
		if v.handled != value {
			continue
		}
		rotated++
		// The request's key is the newest; the kill may have come between the Secret's
		// update and the status patch.
		if newest := v.keys.Keys[len(v.keys.Keys)-1]; v.policy.Status.NextKeyID != newest.KID {
			lagging++
		}
	}
	return rotated, lagging
}

// midRotationCheckRound checks the round's outcome for every policy against the sets
// before the request: exactly one new key, created after the request and published
// prePublish before it signs, exactly one key active by the clock, and the request marked
// handled. (No key lost, none changed: midRotationHistory checks every read.) It returns
// the number of keys it checked.
func midRotationCheckRound(t *testing.T, views, before map[string]*midRotationView, names []string, requested time.Time, value string) int {
	t.Helper()
	now := time.Now()
	checked := 0
	for _, name := range names {
		v, b := views[name], before[name]
		if v.handled != value {
			t.Errorf("%s: rotate-handled %q, want %q", name, v.handled, value)
		}
		var added []*keyset.SigningKey
		for _, k := range v.keys.Keys {
			checked++
			if b.keys.Lookup(k.KID) == nil {
				added = append(added, k)
			}
		}
		if len(added) != 1 {
			var kids []string
			for _, k := range added {
				kids = append(kids, fmt.Sprintf("%s (created %s, activates %s)", k.KID, k.CreatedAt.UTC().Format(time.RFC3339), k.ActivatesAt.UTC().Format(time.RFC3339)))
			}
			t.Errorf("%s: one rotation request added %d keys, want exactly 1: %s", name, len(added), strings.Join(kids, ", "))
			continue
		}
		n := added[0]
		if n.CreatedAt.Before(requested.Truncate(time.Second)) {
			t.Errorf("%s: the new key %s was created at %s, before the request at %s", name, n.KID, n.CreatedAt, requested)
		}
		if n.ActivatesAt.Sub(n.CreatedAt) < midRotationPrePublish {
			t.Errorf("%s: the new key %s activates at %s, less than prePublish after its creation at %s", name, n.KID, n.ActivatesAt, n.CreatedAt)
		}
		active, pending := 0, 0
		for _, k := range v.keys.Keys {
			switch k.State(now) {
			case keyset.StateActive:
				active++
			case keyset.StateNext:
				pending++
			}
		}
		if active != 1 {
			t.Errorf("%s: %d keys active at %s, want exactly 1", name, active, now.UTC().Format(time.RFC3339))
		}
		if want := map[bool]int{true: 1, false: 0}[now.Before(n.ActivatesAt)]; pending != want {
			t.Errorf("%s: %d keys pending at %s, want %d (the new key %s activates at %s)", name, pending, now.UTC().Format(time.RFC3339), want, n.KID, n.ActivatesAt.UTC().Format(time.RFC3339))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return checked
}

// midRotationSidecarSigns runs a sidecar on the policy's keys Secret, as a pod mounts it,
// and checks that it signs with kid.
func midRotationSidecarSigns(t *testing.T, ns, name, kid string) {
	t.Helper()
	secret := &corev1.Secret{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: authv1alpha1.SigningKeysSecretName(name)}, secret); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keysDir := filepath.Join(dir, "keys")
	if err := os.Mkdir(keysDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for file, data := range secret.Data {
		writeFile(t, keysDir, file, string(data))
	}
	sc := startSidecar(t, "--policy", writeFile(t, dir, "policy.yaml", standalonePolicy),
		"--users-file", writeUsersFile(t, dir), "--keys-dir", keysDir)
	pair := login(t, http.DefaultClient, sc.URL, users[0])
	header, _, _ := strings.Cut(pair.AccessToken, ".")
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	if h.KID != kid {
		t.Fatalf("%s: a sidecar on the keys Secret signs with %q, want the newly activated %q", name, h.KID, kid)
	}
}
