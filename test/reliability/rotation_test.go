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
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/secretvolume"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/keyset"
)

// rotationPolicyName names the AuthPolicy of TestRotationUnderLoad.
const rotationPolicyName = "rotation"

// rotationPolicyManifest is the AuthPolicy the operator rotates and, as a file, the policy
// both sidecars read, so that issuer, audience, token lifetime and clock skew agree. The
// durations are the shortest the CRD allows for rotation (1m, 10s); tokens live 30s, so that
// retired keys expire and leave the set while the test runs, with tokens of two or three
// keys in use at any time. The per-client login limit is lifted: all the load comes from one
// address.
func rotationPolicyManifest(namespace string) string {
	return `apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: ` + rotationPolicyName + `, namespace: ` + namespace + `}
spec:
  signing: {algorithm: ES256, rotationInterval: 1m, prePublish: 10s}
  tokens: {accessTokenTTL: 30s, refreshTokenTTL: 1h, clockSkew: 5s}
  login:
    rateLimit: {maxAttemptsPerClient: 100000}
  routes:
  - {pathPrefix: /public, public: true}
  - {pathPrefix: /admin, roles: [admin]}
`
}

// TestRotationUnderLoad rotates the signing keys five times with `tollgate rotate` while
// two sidecars serve continuous authenticated traffic, each reading the keys Secret through
// its own fake kubelet with its own propagation delay, and requires that not one login or
// request fails: a key is in every sidecar's set before any sidecar signs with it, and stays
// there until every token it signed has expired.
func TestRotationUnderLoad(t *testing.T) {
	const rotations = 5
	const rotationInterval = time.Minute // as in rotationPolicyManifest
	workers := size(8, 16)
	// dwell is how long the load runs on each new key before the next rotation is asked for.
	dwell := size(2*time.Second, 15*time.Second)
	// The kubelet takes 60-90 s to propagate a Secret change, which is why prePublish exists
	// and defaults to 5m. This test scales both down: prePublish is the CRD's minimum, 10s,
	// and the fake kubelets' delays stay below it, as the real ones must stay below the real
	// prePublish. That is the contract under test.
	delays := []time.Duration{200 * time.Millisecond, 4 * time.Second}

	started := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	ns := cluster.Namespace(t, "reliability")
	startManager(t)
	manifest := rotationPolicyManifest(ns)
	policy := &authv1alpha1.AuthPolicy{}
	if err := yaml.UnmarshalStrict([]byte(manifest), policy); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, policy); err != nil {
		t.Fatalf("creating the AuthPolicy: %v", err)
	}
	secretKey := types.NamespacedName{Namespace: ns, Name: authv1alpha1.SigningKeysSecretName(rotationPolicyName)}
	testwait.Until(t, time.Minute, "the operator writes the keys Secret", func() (bool, string) {
		ks, err := rotationReadKeyset(ctx, secretKey)
		if err != nil {
			return false, err.Error()
		}
		return ks.Active(time.Now()) != nil, "no active key"
	})

	dir := t.TempDir()
	policyFile := writeFile(t, dir, "policy.yaml", manifest)
	usersFile := writeUsersFile(t, dir)
	upstream := startUpstream(t)
	var sidecars []*sidecar
	var kubelets []*fakeKubelet
	for i, delay := range delays {
		volDir := filepath.Join(dir, fmt.Sprintf("keys-%d", i))
		if err := os.Mkdir(volDir, 0o755); err != nil {
			t.Fatal(err)
		}
		kl := startFakeKubelet(ctx, t, secretKey, secretvolume.New(volDir), delay)
		kubelets = append(kubelets, kl)
		sidecars = append(sidecars, startSidecar(t,
			"--policy", policyFile, "--keys-dir", volDir, "--reload-interval", "200ms",
			"--users-file", usersFile, "--upstream", upstream))
	}

	load := newRotationLoad(sidecars)
	load.start(ctx, workers)
	t.Cleanup(load.stop) // before the sidecars are killed, should the test stop early
	loadStarted := time.Now()

	ks, err := rotationReadKeyset(ctx, secretKey)
	if err != nil {
		t.Fatal(err)
	}
	load.noteSchedule(ks)
	activated := []string{ks.Active(time.Now()).KID}
	requested, natural := 0, 0
	for len(activated) <= rotations {
		current := activated[len(activated)-1]
		ks, err := rotationReadKeyset(ctx, secretKey)
		if err != nil {
			t.Fatal(err)
		}
		load.noteSchedule(ks)
		next := rotationSuccessor(ks, current)
		if next != nil {
			// The operator published a successor unasked: on a slow machine the key may
			// have come near the end of its 1m interval. It counts, as a natural rotation,
			// but only that interval may cause one.
			natural++
			if cur := ks.Lookup(current); next.ActivatesAt.Before(cur.ActivatesAt.Add(rotationInterval)) {
				t.Errorf("key %s was published unasked to sign from %s, %v after key %s started, before its rotationInterval (%v) ran out",
					next.KID, next.ActivatesAt.Format(time.TimeOnly), next.ActivatesAt.Sub(cur.ActivatesAt), current, rotationInterval)
			}
		} else {
			rotationRequest(t, ns)
			requested++
			testwait.Until(t, time.Minute, "the operator publishes the requested key", func() (bool, string) {
				ks, err := rotationReadKeyset(ctx, secretKey)
				if err != nil {
					return false, err.Error()
				}
				load.noteSchedule(ks)
				next = rotationSuccessor(ks, current)
				return next != nil, fmt.Sprintf("no successor of %s in the Secret", current)
			})
		}
		t.Logf("rotation %d: key %s published, signs from %s (in %s)", len(activated), next.KID,
			next.ActivatesAt.Format(time.TimeOnly), time.Until(next.ActivatesAt).Round(100*time.Millisecond))
		testwait.Until(t, time.Until(next.ActivatesAt)+time.Minute, "both sidecars sign with key "+next.KID, func() (bool, string) {
			if ks, err := rotationReadKeyset(ctx, secretKey); err == nil {
				load.noteSchedule(ks)
			}
			if time.Now().Before(next.ActivatesAt) {
				return false, "not active yet"
			}
			return load.signedOnEvery(next.KID), "not every sidecar has signed a token with it yet"
		})
		activated = append(activated, next.KID)
		time.Sleep(dwell)
	}
	load.stop()
	loadTime := time.Since(loadStarted)

	for i, kl := range kubelets {
		if err := kl.stop(); err != nil {
			t.Errorf("fake kubelet %d: %v", i, err)
		}
	}

	final, err := rotationReadKeyset(ctx, secretKey)
	if err != nil {
		t.Fatal(err)
	}
	load.noteSchedule(final)
	st := load.figures()
	var removed []string
	for _, kid := range st.published {
		if final.Lookup(kid) == nil {
			removed = append(removed, kid)
		}
	}
	t.Logf("rotations: %d (%d asked with `tollgate rotate`, %d made by the operator unasked); keys signing in turn: %s",
		len(activated)-1, requested, natural, strings.Join(activated, " "))
	t.Logf("keys published: %d; expired and removed from the Secret under load: %d %v", len(st.published), len(removed), removed)
	t.Logf("load: %v with %d workers on 2 sidecars, kubelet delays %v and %v (prePublish 10s)",
		loadTime.Round(100*time.Millisecond), workers, delays[0], delays[1])
	t.Logf("requests: %d (%d across replicas, %d with a token of a retired key); logins: %d; failures: %d",
		st.requests, st.cross, st.retiredUses, st.logins, st.failures)
	for _, kid := range st.kids {
		t.Logf("  key %s: tokens issued by each sidecar %v, requests %d", kid, st.issued[kid], st.used[kid])
	}
	for i, s := range sidecars {
		series, err := metricSeries(&http.Client{Timeout: 10 * time.Second}, s.OpsURL)
		ok := int(series[`tollgate_reloads_total{file="keys",result="ok"}`])
		rejected := int(series[`tollgate_reloads_total{file="keys",result="rejected"}`])
		if err != nil {
			t.Errorf("sidecar %d: reading its reload metrics: %v", i, err)
			continue
		}
		t.Logf("sidecar %d (kubelet delay %v): %d keys Secret versions projected, %d keyset reloads, %d rejected",
			i, delays[i], kubelets[i].projections.Load(), ok, rejected)
		if rejected != 0 {
			t.Errorf("sidecar %d rejected %d keyset reloads: it read a keys dir mid-swap or a bad keyset:\n%s", i, rejected, s.Logs())
		}
		if ok < rotations {
			t.Errorf("sidecar %d reloaded its keyset %d times, want at least one per rotation (%d)", i, ok, rotations)
		}
	}
	t.Logf("total time %v", time.Since(started).Round(100*time.Millisecond))

	if st.failures > 0 {
		t.Errorf("%d failures among %d requests and %d logins; the first ones:\n%s", st.failures, st.requests, st.logins, strings.Join(st.failed, "\n"))
	}
	if len(st.kids) < rotations+1 {
		t.Errorf("tokens were signed by %d distinct keys (%v), want at least %d: the keys did not rotate under the sidecars", len(st.kids), st.kids, rotations+1)
	}
	for _, kid := range activated {
		if st.used[kid] == 0 {
			t.Errorf("no request carried a token signed by key %s", kid)
		}
	}
	if st.retiredUses == 0 {
		t.Error("no request carried a token of a retired key: the test did not exercise retired keys")
	}
	if st.cross == 0 {
		t.Error("no request carried a token issued by the other sidecar")
	}
	if floor := int64(100 * workers); st.requests < floor {
		t.Errorf("only %d requests, want at least %d: the load did not run", st.requests, floor)
	}
}

// rotationReadKeyset reads the keys Secret from the API server and parses its keyset.
func rotationReadKeyset(ctx context.Context, key types.NamespacedName) (*keyset.Keyset, error) {
	s := &corev1.Secret{}
	if err := k8s.Get(ctx, key, s); err != nil {
		return nil, err
	}
	return keyset.Parse(s.Data[keyset.FileName])
}

// rotationSuccessor is the key that activates after the key current, or nil.
func rotationSuccessor(ks *keyset.Keyset, current string) *keyset.SigningKey {
	cur := ks.Lookup(current)
	if cur == nil {
		return nil
	}
	for _, k := range ks.Keys {
		if k.ActivatesAt.After(cur.ActivatesAt) {
			return k
		}
	}
	return nil
}

// rotationRequest asks for a rotation the way a user does: `tollgate rotate`.
func rotationRequest(t *testing.T, namespace string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, tollgateBin, "rotate", rotationPolicyName, "-n", namespace, "--kubeconfig", kubeconfig).CombinedOutput()
	if err != nil {
		t.Fatalf("tollgate rotate: %v\n%s", err, out)
	}
}

// fakeKubelet projects a Secret into a volume as the kubelet does: the first version at
// once (the volume is mounted before the container starts), every later change delay after
// it saw it, in order, with the kubelet's atomic `..data` swap. It stands in for the only
// part of the path that cannot be real on one machine.
type fakeKubelet struct {
	key   types.NamespacedName
	vol   *secretvolume.Volume
	delay time.Duration
	// projections counts the versions written, the first included.
	projections atomic.Int64

	cancel context.CancelFunc
	done   chan struct{}
	err    error // the first write error, once done is closed
}

// startFakeKubelet mounts the Secret key into vol and keeps it current until the test ends
// or stop is called.
func startFakeKubelet(ctx context.Context, t *testing.T, key types.NamespacedName, vol *secretvolume.Volume, delay time.Duration) *fakeKubelet {
	t.Helper()
	s := &corev1.Secret{}
	if err := k8s.Get(ctx, key, s); err != nil {
		t.Fatalf("fake kubelet: reading Secret %s: %v", key, err)
	}
	if err := vol.Write(s.Data); err != nil {
		t.Fatalf("fake kubelet: mounting Secret %s: %v", key, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	k := &fakeKubelet{key: key, vol: vol, delay: delay, cancel: cancel, done: make(chan struct{})}
	k.projections.Add(1)
	go k.run(ctx, s.Data)
	t.Cleanup(func() { _ = k.stop() })
	return k
}

// run polls the Secret every 100ms, as often as the kubelet's cache could refresh, and
// writes each changed version once its delay has passed.
func (k *fakeKubelet) run(ctx context.Context, mounted map[string][]byte) {
	defer close(k.done)
	type version struct {
		data map[string][]byte
		due  time.Time
	}
	var queue []version
	seen := mounted
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s := &corev1.Secret{}
		// A failed read is retried on the next tick, as the kubelet retries.
		if err := k8s.Get(ctx, k.key, s); err == nil && !maps.EqualFunc(s.Data, seen, bytes.Equal) {
			seen = s.Data
			queue = append(queue, version{data: s.Data, due: time.Now().Add(k.delay)})
		}
		for len(queue) > 0 && !time.Now().Before(queue[0].due) {
			if err := k.vol.Write(queue[0].data); err != nil {
				k.err = fmt.Errorf("projecting Secret %s: %w", k.key, err)
				return
			}
			k.projections.Add(1)
			queue = queue[1:]
		}
	}
}

// stop ends the kubelet and returns the error that stopped it early, if any.
func (k *fakeKubelet) stop() error {
	k.cancel()
	<-k.done
	return k.err
}

// rotationLoad is the traffic of TestRotationUnderLoad: one goroutine logs in on the
// sidecars in turn and adds each fresh token to a pool; workers send GET /orders with
// tokens from the pool to either sidecar. Tokens stay in the pool until shortly before
// they expire, so tokens of retired keys keep being presented.
type rotationLoad struct {
	sidecars []*sidecar
	client   *http.Client
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	requests, cross, logins atomic.Int64

	mu          sync.Mutex
	pool        []rotationToken
	issued      map[string][]int     // tokens issued, by kid, then by sidecar
	kids        []string             // kids of issued tokens, in order of first issue
	used        map[string]int       // requests, by kid of their token
	retiresAt   map[string]time.Time // the retirement of each key, as the Secret says
	published   []string             // every kid the Secret held, in order of first sight
	retiredUses int64
	failures    int64
	failed      []string // the first failures, for the report
}

// rotationToken is an access token of the pool.
type rotationToken struct {
	raw    string
	kid    string
	issuer int // index of the sidecar that issued it
	exp    time.Time
}

// rotationFigures is what the load did.
type rotationFigures struct {
	requests, cross, logins, retiredUses, failures int64
	kids                                           []string // kids of issued tokens, in order of first issue
	published                                      []string // kids the Secret held
	issued                                         map[string][]int
	used                                           map[string]int
	failed                                         []string
}

func newRotationLoad(sidecars []*sidecar) *rotationLoad {
	return &rotationLoad{
		sidecars: sidecars,
		// Enough idle connections for every worker: a fresh connection per request would
		// exhaust ephemeral ports and measure the kernel rather than tollgate.
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 64},
		},
		issued:    map[string][]int{},
		used:      map[string]int{},
		retiresAt: map[string]time.Time{},
	}
}

// start logs in once on each sidecar, so the pool is never empty, then starts the login
// loop and the workers.
func (l *rotationLoad) start(ctx context.Context, workers int) {
	ctx, l.cancel = context.WithCancel(ctx)
	for i := range l.sidecars {
		l.login(i, users[i%len(users)])
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(100+rand.IntN(100)) * time.Millisecond):
			}
			l.login(n%len(l.sidecars), users[n%len(users)])
		}
	}()
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for n := 0; ctx.Err() == nil; n++ {
				l.request(rng, n)
				// A short pause leaves CPU to the operator, the kubelets and the other
				// tests on a small machine; the load stays continuous.
				time.Sleep(time.Millisecond)
			}
		}()
	}
}

func (l *rotationLoad) stop() {
	l.cancel()
	l.wg.Wait()
}

// login logs u in on sidecar i and adds the token to the pool.
func (l *rotationLoad) login(i int, u user) {
	l.logins.Add(1)
	code, body, err := postJSON(l.client, l.sidecars[i].URL+"/auth/login", map[string]string{"email": u.Email, "password": u.Password})
	if err != nil || code != http.StatusOK {
		l.fail(fmt.Sprintf("login of %s on sidecar %d: %d %s %v", u.Email, i, code, bytes.TrimSpace(body), err))
		return
	}
	var tp tokenPair
	if err := json.Unmarshal(body, &tp); err != nil {
		l.fail(fmt.Sprintf("login on sidecar %d: %v", i, err))
		return
	}
	kid, exp, err := rotationTokenKey(tp.AccessToken)
	if err != nil {
		l.fail(fmt.Sprintf("login on sidecar %d: the access token: %v", i, err))
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.issued[kid] == nil {
		l.kids = append(l.kids, kid)
		l.issued[kid] = make([]int, len(l.sidecars))
	}
	l.issued[kid][i]++
	// Tokens within 3s of their exp leave the pool: a request sent then could reach the
	// sidecar after it, and that refusal would be right. (clockSkew is 5s.)
	l.pool = slices.DeleteFunc(l.pool, func(tok rotationToken) bool { return time.Until(tok.exp) < 3*time.Second })
	l.pool = append(l.pool, rotationToken{raw: tp.AccessToken, kid: kid, issuer: i, exp: exp})
}

// request sends one GET /orders with a token of the pool to the sidecar that issued it or
// the other one, alternately. Half the tokens are among the newest, so that a key's first
// tokens reach the other sidecar as soon as it signs; the rest are any token of the pool.
func (l *rotationLoad) request(rng *rand.Rand, n int) {
	l.mu.Lock()
	if len(l.pool) == 0 { // every login failed so far; the failures are counted
		l.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		return
	}
	i := rng.IntN(len(l.pool))
	if n%4 < 2 { // and so to either sidecar
		i = max(0, len(l.pool)-1-rng.IntN(4))
	}
	tok := l.pool[i]
	l.used[tok.kid]++
	if r := l.retiresAt[tok.kid]; !r.IsZero() && time.Now().After(r) {
		l.retiredUses++
	}
	l.mu.Unlock()

	target := (tok.issuer + n) % len(l.sidecars)
	if target != tok.issuer {
		l.cross.Add(1)
	}
	l.requests.Add(1)
	req, err := http.NewRequest(http.MethodGet, l.sidecars[target].URL+"/orders", nil)
	if err != nil {
		l.fail(err.Error())
		return
	}
	req.Header.Set("Authorization", "Bearer "+tok.raw)
	resp, err := l.client.Do(req)
	if err != nil {
		l.fail(fmt.Sprintf("GET /orders on sidecar %d, token of key %s from sidecar %d: %v", target, tok.kid, tok.issuer, err))
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		l.fail(fmt.Sprintf("GET /orders on sidecar %d, token of key %s from sidecar %d (exp %s): %d %s",
			target, tok.kid, tok.issuer, tok.exp.Format(time.TimeOnly), resp.StatusCode, bytes.TrimSpace(body)))
	}
}

func (l *rotationLoad) fail(what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures++
	if len(l.failed) < 20 {
		l.failed = append(l.failed, time.Now().Format("15:04:05.000")+" "+what)
	}
}

// noteSchedule records the keys of ks and when each retires, to count requests made with
// tokens of retired keys.
func (l *rotationLoad) noteSchedule(ks *keyset.Keyset) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range ks.Keys {
		if !slices.Contains(l.published, k.KID) {
			l.published = append(l.published, k.KID)
		}
		if !k.RetiresAt.IsZero() {
			l.retiresAt[k.KID] = k.RetiresAt
		}
	}
}

// signedOnEvery reports whether every sidecar has issued a token signed by key kid.
func (l *rotationLoad) signedOnEvery(kid string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.issued[kid] != nil && !slices.Contains(l.issued[kid], 0)
}

func (l *rotationLoad) figures() rotationFigures {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := rotationFigures{
		requests: l.requests.Load(), cross: l.cross.Load(), logins: l.logins.Load(),
		retiredUses: l.retiredUses, failures: l.failures,
		issued: map[string][]int{}, used: maps.Clone(l.used), failed: slices.Clone(l.failed),
	}
	for kid, n := range l.issued {
		f.issued[kid] = slices.Clone(n)
	}
	f.kids = slices.Clone(l.kids)
	f.published = slices.Clone(l.published)
	return f
}

// rotationTokenKey reads the kid of a JWT's header and the exp of its claims, without
// verifying anything: the sidecars do that.
func rotationTokenKey(raw string) (kid string, exp time.Time, err error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", time.Time{}, fmt.Errorf("%d parts, want 3", len(parts))
	}
	var header struct {
		KID string `json:"kid"`
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	for i, v := range []any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return "", time.Time{}, err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return "", time.Time{}, err
		}
	}
	if header.KID == "" || claims.Exp == 0 {
		return "", time.Time{}, fmt.Errorf("no kid or no exp")
	}
	return header.KID, time.Unix(claims.Exp, 0), nil
}
