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
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
)

// Bounds the issue sets for a Redis outage.
const (
	// outageLatencyBound is the longest login or refresh may take while Redis is down,
	// derived from the client's timeouts in sidecar/store/redis_options.go: one dial
	// (redisDialTimeout, 1s), then for the try and its one retry (redisMaxRetries) a write
	// and a read (500ms each). Past it, a request hangs.
	outageLatencyBound = time.Second + 2*(500*time.Millisecond+500*time.Millisecond)
	// redisRecoveryBound is how soon after Redis is back login and refresh must work again.
	redisRecoveryBound = 2 * time.Second
)

// TestRedisKilledUnderLoad kills the Redis two sidecars share (AOF, appendfsync always)
// while validators, logins and refreshes keep coming, and restarts it: validation never
// fails, login and refresh answer a prompt 503 while Redis is down and work again within
// 2s of its return, and no refresh token issued before the kill is lost.
func TestRedisKilledUnderLoad(t *testing.T) {
	redisSrv := testredis.Start(t, testredis.WithAppendOnly())
	dir := t.TempDir()
	args := []string{
		"--policy", writeFile(t, dir, "policy.yaml", sessionsPolicy),
		"--keys-dir", writePersistentKeys(t, dir),
		"--users-file", writeUsersFile(t, dir),
		"--upstream", startUpstream(t),
		"--redis-url", "redis://" + redisSrv.Addr(),
	}
	l := &outageLoad{
		t:        t,
		client:   newSessionsClient(),
		ops:      &http.Client{Timeout: 5 * time.Second},
		sidecars: []*sidecar{startSidecar(t, args...), startSidecar(t, args...)},
	}
	for _, sc := range l.sidecars {
		waitRevocationsLoaded(t, l.ops, sc, 15*time.Second)
	}

	var (
		cycles           = size(2, 3)
		outage           = size(2*time.Second, 5*time.Second)
		steady           = size(time.Second, 3*time.Second)
		validatorWorkers = 4
		loginWorkers     = 2
		refreshWorkers   = 4
		chains           = 200
	)
	l.setUp(chains, 16)
	t.Logf("load: %d validators, %d login workers, %d refresh workers over %d refresh chains, on %d sidecars sharing one redis-server (appendfsync always); %d kill/restart cycles, Redis down %v each",
		validatorWorkers, loginWorkers, refreshWorkers, len(l.chains), len(l.sidecars), cycles, outage)

	l.start(validatorWorkers, loginWorkers, refreshWorkers)
	loadStart := time.Now()
	for i := 0; i < cycles; i++ {
		time.Sleep(steady)
		l.killAndRestart(redisSrv, outage)
	}
	time.Sleep(steady)
	l.stop()
	loadTime := time.Since(loadStart)

	l.checkRequests()
	l.checkChains(refreshWorkers)
	l.report(loadTime)
	if t.Failed() {
		for i, sc := range l.sidecars {
			t.Logf("sidecar %s log tail:\n%s", outageSidecarName(i), outageLogTail(sc.Logs(), 30))
		}
	}
}

// refreshChain is one session refreshed over and over: it holds the latest refresh token a
// refresh answered 200 with. Only one refresh worker drives a chain.
type refreshChain struct {
	token string
	// issuedAt is when the request that returned token was sent. Redis replies only after
	// the AOF is fsynced, so a token whose request was sent before a kill ended and came
	// back with 200 must be there after the restart.
	issuedAt  time.Time
	refreshes int
	// ambiguous: a refresh of this chain was in flight when Redis was killed. Redis may have
	// spent the token and lost the reply with the process, so the chain is left alone:
	// presenting the token again could count as reuse.
	ambiguous bool
	// lost: a refresh of a token that should be valid was refused.
	lost string
	// probe: the chain times recovery after a restart, and is not counted in the cycles.
	probe bool
}

// outageRequest is one request of the load, as the client saw it.
type outageRequest struct {
	kind       string // validate, login, refresh
	sidecar    int
	start, end time.Time
	status     int // 0: no HTTP answer
	err        error
	shaped     bool   // a JSON {"error": ...} body, and a Retry-After header on a 503
	body       string // of unexpected answers only
}

// redisKillCycle is one SIGKILL of Redis and its restart.
type redisKillCycle struct {
	killStart, killEnd       time.Time // around Kill
	restartStart, restartEnd time.Time // around Restart
	ambiguous                int       // chains with a refresh in flight at the kill
	crossed                  int       // chains whose token from before the kill refreshed with 200 after it

	degradedAfter []time.Duration          // per sidecar: readyz degraded and tollgate_store_up 0, after the kill
	firstLogin    []time.Duration          // per sidecar: first 200 login after Restart returned
	firstRefresh  []time.Duration          // per sidecar: first 200 refresh after Restart returned
	readyAfter    []time.Duration          // per sidecar: readyz ok and tollgate_store_up 1 again
	maxLatency    map[string]time.Duration // login and refresh started while Redis was down
}

// outageLoad drives the load of TestRedisKilledUnderLoad and records every request.
type outageLoad struct {
	t        *testing.T
	client   *http.Client // the load
	ops      *http.Client // /readyz and /metrics
	sidecars []*sidecar

	chains []*refreshChain
	// probes are one chain per sidecar, refreshed only to time recovery after a restart.
	probes []*refreshChain
	// sessions are access tokens the validators present: logins made before the load, and
	// the latest made by the login workers.
	sessions struct {
		sync.Mutex
		fixed  []string
		recent []string
		next   int
	}

	mu       sync.Mutex
	cycles   []*redisKillCycle
	requests []outageRequest

	failed  int // requests that broke the contract, counted by checkRequests
	stopped atomic.Bool
	wg      sync.WaitGroup
}

func outageSidecarName(i int) string { return string(rune('A' + i)) }

// setUp logs in the refresh chains, one probe chain per sidecar and the validators'
// sessions, alternating sidecars.
func (l *outageLoad) setUp(chains, sessions int) {
	t := l.t
	for i := 0; i < chains; i++ {
		tp := login(t, l.client, l.sidecars[i%len(l.sidecars)].URL, users[i%len(users)])
		l.chains = append(l.chains, &refreshChain{token: tp.RefreshToken, issuedAt: time.Now()})
	}
	for i := range l.sidecars {
		tp := login(t, l.client, l.sidecars[i].URL, users[i%len(users)])
		l.probes = append(l.probes, &refreshChain{token: tp.RefreshToken, issuedAt: time.Now(), probe: true})
	}
	for i := 0; i < sessions; i++ {
		tp := login(t, l.client, l.sidecars[i%len(l.sidecars)].URL, users[i%len(users)])
		l.sessions.fixed = append(l.sessions.fixed, tp.AccessToken)
	}
}

func (l *outageLoad) start(validators, logins, refreshers int) {
	for w := 0; w < validators; w++ {
		l.run(func() { l.validate() })
	}
	for w := 0; w < logins; w++ {
		l.run(func() { l.loginLoop(w) })
	}
	for w := 0; w < refreshers; w++ {
		var mine []*refreshChain
		for i := w; i < len(l.chains); i += refreshers {
			mine = append(mine, l.chains[i])
		}
		l.run(func() { l.refreshLoop(mine) })
	}
}

func (l *outageLoad) run(f func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
}

func (l *outageLoad) stop() {
	l.stopped.Store(true)
	l.wg.Wait()
}

// send makes one request and records it. body is JSON-encoded; with token set, it is sent
// as the bearer token.
func (l *outageLoad) send(kind string, sc int, method, path, token string, body any) (int, []byte) {
	var payload io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			panic(err)
		}
		payload = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, l.sidecars[sc].URL+path, payload)
	if err != nil {
		panic(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	r := outageRequest{kind: kind, sidecar: sc, start: time.Now()}
	resp, err := l.client.Do(req)
	var data []byte
	if err == nil {
		data, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		r.status = resp.StatusCode
		r.shaped = outageErrorShaped(resp, data)
	}
	r.end, r.err = time.Now(), err
	if r.status != http.StatusOK && r.status != http.StatusServiceUnavailable {
		r.body = strings.TrimSpace(string(data))
	}
	l.mu.Lock()
	l.requests = append(l.requests, r)
	l.mu.Unlock()
	return r.status, data
}

// outageErrorShaped reports whether an error answer has the contract's shape: a JSON body
// {"error": "..."}, and Retry-After on a 503. 200s are not errors and pass.
func outageErrorShaped(resp *http.Response, body []byte) bool {
	if resp.StatusCode == http.StatusOK {
		return true
	}
	var e struct {
		Error string `json:"error"`
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(body, &e) != nil || e.Error == "" {
		return false
	}
	return resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != ""
}

func (l *outageLoad) validate() {
	for !l.stopped.Load() {
		l.send("validate", rand.IntN(len(l.sidecars)), http.MethodGet, "/orders", l.session(), nil)
		time.Sleep(2 * time.Millisecond)
	}
}

// session picks an access token that must validate.
func (l *outageLoad) session() string {
	l.sessions.Lock()
	defer l.sessions.Unlock()
	if n := len(l.sessions.recent); n > 0 && rand.IntN(2) == 0 {
		return l.sessions.recent[rand.IntN(n)]
	}
	return l.sessions.fixed[rand.IntN(len(l.sessions.fixed))]
}

func (l *outageLoad) loginLoop(w int) {
	for i := 0; !l.stopped.Load(); i++ {
		u := users[(w+i)%len(users)]
		code, body := l.send("login", rand.IntN(len(l.sidecars)), http.MethodPost, "/auth/login", "",
			map[string]string{"email": u.Email, "password": u.Password})
		if code == http.StatusOK {
			var tp tokenPair
			if json.Unmarshal(body, &tp) == nil {
				l.keepSession(tp.AccessToken)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keepSession adds an access token from a login of the load to the validators' ones,
// replacing the oldest past 64.
func (l *outageLoad) keepSession(access string) {
	l.sessions.Lock()
	defer l.sessions.Unlock()
	if len(l.sessions.recent) < 64 {
		l.sessions.recent = append(l.sessions.recent, access)
		return
	}
	l.sessions.recent[l.sessions.next] = access
	l.sessions.next = (l.sessions.next + 1) % len(l.sessions.recent)
}

// refreshLoop refreshes mine in turn, on either sidecar, until the load stops.
func (l *outageLoad) refreshLoop(mine []*refreshChain) {
	for i := 0; !l.stopped.Load(); i++ {
		c := mine[i%len(mine)]
		if c.ambiguous || c.lost != "" {
			if l.allIdle(mine) {
				return
			}
			continue
		}
		l.refreshOnce("refresh", c, rand.IntN(len(l.sidecars)))
		time.Sleep(time.Millisecond)
	}
}

func (l *outageLoad) allIdle(mine []*refreshChain) bool {
	for _, c := range mine {
		if !c.ambiguous && c.lost == "" {
			return false
		}
	}
	return true
}

// refreshOnce refreshes c once on sidecar sc and moves it on. A non-200 while a kill was
// under way makes the chain ambiguous; a 503 otherwise leaves the token as it was (Redis
// never ran the rotation); anything else means the token was lost.
func (l *outageLoad) refreshOnce(kind string, c *refreshChain, sc int) int {
	start := time.Now()
	code, body := l.send(kind, sc, http.MethodPost, "/auth/refresh", "", map[string]string{"refreshToken": c.token})
	end := time.Now()
	if code == http.StatusOK {
		var tp tokenPair
		if err := json.Unmarshal(body, &tp); err != nil || tp.RefreshToken == "" {
			c.lost = fmt.Sprintf("200 without a refresh token: %s", bytes.TrimSpace(body))
			return code
		}
		if !c.probe {
			l.crossedKills(c.issuedAt, start)
		}
		c.token, c.issuedAt = tp.RefreshToken, start
		c.refreshes++
		return code
	}
	if k := l.inFlightAtKill(start, end); k != nil {
		c.ambiguous = true
		l.mu.Lock()
		k.ambiguous++
		l.mu.Unlock()
		return code
	}
	if code != http.StatusServiceUnavailable {
		c.lost = fmt.Sprintf("refresh on sidecar %s: %d %s", outageSidecarName(sc), code, bytes.TrimSpace(body))
	}
	return code
}

// inFlightAtKill returns the kill cycle during which a request from start to end was under
// way, or nil. A kill under way has no end yet.
func (l *outageLoad) inFlightAtKill(start, end time.Time) *redisKillCycle {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.cycles {
		if end.After(k.killStart) && (k.killEnd.IsZero() || start.Before(k.killEnd)) {
			return k
		}
	}
	return nil
}

// crossedKills counts, in each kill it crossed, a refresh with 200 sent at `refreshed` of a
// token issued at `issued`: the token was issued before Redis died and refreshed after.
func (l *outageLoad) crossedKills(issued, refreshed time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.cycles {
		if !k.killEnd.IsZero() && issued.Before(k.killEnd) && refreshed.After(k.killEnd) {
			k.crossed++
		}
	}
}

// killAndRestart SIGKILLs Redis under the load, keeps it down for outage, checks that both
// sidecars report it, restarts it and times the sidecars' recovery.
func (l *outageLoad) killAndRestart(srv *testredis.Server, outage time.Duration) {
	t := l.t
	n := len(l.sidecars)
	k := &redisKillCycle{
		degradedAfter: make([]time.Duration, n),
		firstLogin:    make([]time.Duration, n),
		firstRefresh:  make([]time.Duration, n),
		readyAfter:    make([]time.Duration, n),
		maxLatency:    map[string]time.Duration{},
	}
	l.mu.Lock()
	k.killStart = time.Now()
	l.cycles = append(l.cycles, k)
	l.mu.Unlock()
	srv.Kill()
	l.mu.Lock()
	k.killEnd = time.Now()
	l.mu.Unlock()

	// Both sidecars say so: /readyz 200 "degraded", tollgate_store_up 0.
	var wg sync.WaitGroup
	for i, sc := range l.sidecars {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k.degradedAfter[i] = l.pollUntil(sc, k.killEnd, outage+5*time.Second, func(r sidecarReadiness, up float64) bool {
				return r.Code == http.StatusOK && r.Status == "degraded" && strings.HasPrefix(r.Checks["store"], "unreachable") && up == 0
			})
		}()
	}
	time.Sleep(time.Until(k.killEnd.Add(outage)))
	wg.Wait()
	for i, d := range k.degradedAfter {
		if d < 0 {
			t.Errorf("cycle %d: sidecar %s never reported Redis down (readyz 200 degraded, tollgate_store_up 0)", len(l.cycles), outageSidecarName(i))
		}
	}

	l.mu.Lock()
	k.restartStart = time.Now()
	l.mu.Unlock()
	srv.Restart()
	l.mu.Lock()
	k.restartEnd = time.Now()
	l.mu.Unlock()
	back := k.restartEnd

	// Time the first login and refresh that work on each sidecar, polling every 20ms, and
	// the return of readyz ok.
	for i, sc := range l.sidecars {
		wg.Add(3)
		go func() {
			defer wg.Done()
			k.firstLogin[i] = l.firstSuccess(back, func() int {
				code, _ := l.send("login", i, http.MethodPost, "/auth/login", "",
					map[string]string{"email": users[0].Email, "password": users[0].Password})
				return code
			})
		}()
		go func() {
			defer wg.Done()
			k.firstRefresh[i] = l.firstSuccess(back, func() int {
				return l.refreshOnce("refresh", l.probes[i], i)
			})
		}()
		go func() {
			defer wg.Done()
			k.readyAfter[i] = l.pollUntil(sc, back, 15*time.Second, func(r sidecarReadiness, up float64) bool {
				return r.ok() && up == 1
			})
		}()
	}
	wg.Wait()
}

// firstSuccess calls try every 20ms until it answers 200, up to 15s, and returns how long
// after since that was (-1: never).
func (l *outageLoad) firstSuccess(since time.Time, try func() int) time.Duration {
	deadline := since.Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if try() == http.StatusOK {
			return time.Since(since)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return -1
}

// pollUntil polls the sidecar's /readyz and tollgate_store_up every 20ms until cond holds,
// up to within, and returns how long after since it held (-1: never).
func (l *outageLoad) pollUntil(sc *sidecar, since time.Time, within time.Duration, cond func(sidecarReadiness, float64) bool) time.Duration {
	deadline := since.Add(within)
	for time.Now().Before(deadline) {
		r, err := readSidecarReadiness(l.ops, sc)
		if err == nil {
			series, err := metricSeries(l.ops, sc.OpsURL)
			if up, found := series["tollgate_store_up"]; err == nil && found && cond(r, up) {
				return time.Since(since)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return -1
}

// disturbed returns the cycle whose outage (from the kill to redisRecoveryBound after
// Redis is back) overlaps the request, or nil.
func (l *outageLoad) disturbed(r outageRequest) *redisKillCycle {
	for _, k := range l.cycles {
		if r.end.After(k.killStart) && r.start.Before(k.restartEnd.Add(redisRecoveryBound)) {
			return k
		}
	}
	return nil
}

// checkRequests holds every recorded request to the contract: validation always 200;
// login and refresh 200 while Redis is up, a well-formed 503 while it is down (and
// nothing else), never slower than outageLatencyBound while it is down.
func (l *outageLoad) checkRequests() {
	t := l.t
	const maxShown = 10
	shown := 0
	fail := func(format string, args ...any) {
		if shown < maxShown {
			t.Errorf(format, args...)
		}
		shown++
	}
	for _, r := range l.requests {
		if r.kind != "validate" && r.kind != "login" && r.kind != "refresh" {
			continue // the final checks, which judge their own answers
		}
		what := fmt.Sprintf("%s on sidecar %s at %s (%v)", r.kind, outageSidecarName(r.sidecar), r.start.Format("15:04:05.000"), r.end.Sub(r.start).Round(time.Millisecond))
		if r.err != nil {
			fail("%s: no answer: %v", what, r.err)
			continue
		}
		if r.kind == "validate" {
			if r.status != http.StatusOK {
				fail("%s with a valid access token: %d %s", what, r.status, r.body)
			}
			continue
		}
		k := l.disturbed(r)
		switch {
		case k == nil && r.status != http.StatusOK:
			fail("%s with Redis up: %d %s", what, r.status, r.body)
		case k == nil:
		case r.status != http.StatusOK && r.status != http.StatusServiceUnavailable:
			fail("%s around a Redis outage: %d %s, want 200 or 503", what, r.status, r.body)
		case !r.shaped:
			fail("%s around a Redis outage: %d without a JSON error body and Retry-After", what, r.status)
		case r.status == http.StatusOK && r.start.After(k.killEnd) && r.end.Before(k.restartStart):
			fail("%s: 200 while Redis was down", what)
		}
		if k != nil && !r.start.Before(k.killStart) && r.start.Before(k.restartStart) {
			if d := r.end.Sub(r.start); d > k.maxLatency[r.kind] {
				k.maxLatency[r.kind] = d
			}
		}
	}
	if shown > maxShown {
		t.Errorf("... and %d more failed requests", shown-maxShown)
	}
	l.failed = shown
	for i, k := range l.cycles {
		for _, kind := range []string{"login", "refresh"} {
			if k.maxLatency[kind] > outageLatencyBound {
				t.Errorf("cycle %d: a %s took %v while Redis was down, over the %v the store's timeouts allow", i+1, kind, k.maxLatency[kind], outageLatencyBound)
			}
		}
		for s := range l.sidecars {
			for what, d := range map[string]time.Duration{"login": k.firstLogin[s], "refresh": k.firstRefresh[s]} {
				switch {
				case d < 0:
					t.Errorf("cycle %d: no successful %s on sidecar %s within 15s of Redis's return, want within %v", i+1, what, outageSidecarName(s), redisRecoveryBound)
				case d > redisRecoveryBound:
					t.Errorf("cycle %d: first successful %s on sidecar %s %v after Redis was back, want within %v", i+1, what, outageSidecarName(s), d, redisRecoveryBound)
				}
			}
			if k.readyAfter[s] < 0 {
				t.Errorf("cycle %d: sidecar %s's readyz never said ok with tollgate_store_up 1 after Redis was back", i+1, outageSidecarName(s))
			}
		}
	}
}

// checkChains refreshes every chain's latest token after the load: all must work but the
// ambiguous ones, which are reported apart.
func (l *outageLoad) checkChains(refreshWorkers int) {
	t := l.t
	var refreshes int
	for _, c := range l.chains {
		refreshes += c.refreshes
	}
	var checked, ambiguous, ambiguousKept, ambiguousSpent int
	for i, c := range l.chains {
		sc := i % len(l.sidecars)
		switch {
		case c.lost != "":
			t.Errorf("chain %d lost its refresh token under load: %s", i, c.lost)
		case c.ambiguous:
			ambiguous++
			// Safe now that nothing else runs: the refresh either works (the kill came
			// before Redis ran the rotation) or is refused as reuse (Redis ran it, wrote it
			// to the AOF, and died before the reply).
			code, body := l.send("refresh-ambiguous", sc, http.MethodPost, "/auth/refresh", "", map[string]string{"refreshToken": c.token})
			switch code {
			case http.StatusOK:
				ambiguousKept++
			case http.StatusUnauthorized:
				ambiguousSpent++
			default:
				t.Errorf("chain %d (ambiguous): refresh after recovery: %d %s, want 200 or 401", i, code, body)
			}
		default:
			checked++
			if code := l.refreshOnce("refresh-final", c, sc); code != http.StatusOK {
				t.Errorf("chain %d: its latest refresh token (%d refreshes, issued %s) refused after recovery: %d %s",
					i, c.refreshes, c.issuedAt.Format("15:04:05.000"), code, c.lost)
			}
		}
	}
	for i, c := range l.probes {
		if c.lost != "" {
			t.Errorf("the recovery probe chain of sidecar %s lost its refresh token: %s", outageSidecarName(i), c.lost)
		}
	}
	t.Logf("chains: %d, refreshed %d times with 200 under load; final check: %d refreshed with 200, %d ambiguous (a refresh in flight at a kill): %d of those still valid, %d spent by Redis before it died (refused as reuse)",
		len(l.chains), refreshes, checked, ambiguous, ambiguousKept, ambiguousSpent)
	for i, k := range l.cycles {
		// Every chain held a token issued before the kill: it refreshed with 200 after
		// Redis came back, or its chain became ambiguous (at this kill or an earlier one).
		unverified := 0
		for _, c := range l.chains {
			if c.ambiguous && c.issuedAt.Before(k.killEnd) {
				unverified++
			}
		}
		t.Logf("cycle %d: of %d tokens issued before the kill, %d refreshed with 200 after Redis came back, %d were left alone as ambiguous (%d of them in flight at this kill)",
			i+1, len(l.chains), k.crossed, unverified, k.ambiguous)
		if k.crossed+unverified != len(l.chains) {
			t.Errorf("cycle %d: %d of %d refresh tokens issued before the kill are unaccounted for", i+1, len(l.chains)-k.crossed-unverified, len(l.chains))
		}
		if k.ambiguous > refreshWorkers {
			t.Errorf("cycle %d: %d ambiguous chains, but only %d refresh workers can have a request in flight at the kill", i+1, k.ambiguous, refreshWorkers)
		}
	}
}

// report prints what the load did.
func (l *outageLoad) report(loadTime time.Duration) {
	t := l.t
	type key struct {
		kind   string
		status int
	}
	counts := map[key]int{}
	kinds := map[string]bool{}
	statuses := map[int]bool{}
	for _, r := range l.requests {
		counts[key{r.kind, r.status}]++
		kinds[r.kind], statuses[r.status] = true, true
	}
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var ss []int
	for s := range statuses {
		ss = append(ss, s)
	}
	sort.Ints(ss)
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests in %v, %d failed (status 0: no answer)\n%-17s", len(l.requests), loadTime.Round(time.Millisecond), l.failed, "kind")
	for _, s := range ss {
		fmt.Fprintf(&b, " %7d", s)
	}
	for _, k := range ks {
		fmt.Fprintf(&b, "\n%-17s", k)
		for _, s := range ss {
			fmt.Fprintf(&b, " %7d", counts[key{k, s}])
		}
	}
	t.Log(b.String())
	ms := func(d time.Duration) string {
		if d < 0 {
			return "never"
		}
		return d.Round(time.Millisecond).String()
	}
	for i, k := range l.cycles {
		lat := k.maxLatency
		t.Logf("cycle %d: Redis down %v (SIGKILL to Restart returning); max latency while down: login %v, refresh %v (bound %v); %d ambiguous chains",
			i+1, ms(k.restartEnd.Sub(k.killEnd)), ms(lat["login"]), ms(lat["refresh"]), outageLatencyBound, k.ambiguous)
		for s := range l.sidecars {
			t.Logf("  sidecar %s: degraded %v after the kill; after Restart: first login %v, first refresh %v (bound %v), readyz ok and tollgate_store_up 1 %v",
				outageSidecarName(s), ms(k.degradedAfter[s]), ms(k.firstLogin[s]), ms(k.firstRefresh[s]), redisRecoveryBound, ms(k.readyAfter[s]))
		}
	}
}

// outageLogTail is the last n lines of a log.
func outageLogTail(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
