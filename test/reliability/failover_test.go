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
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
)

// TestFailoverUnderLoad kills the master of a Sentinel group, and the master of the policy's
// slot in a Redis Cluster, while two sidecars serve validations, logins and refreshes.
// Validation never fails; login and refresh answer 200 or a well-formed 503 (Retry-After)
// and work again by themselves once a replica is elected. Acknowledged refresh rotations
// the failover lost (the master answered before its replica had them) are counted: with
// asynchronous replication they are reported, with --redis-wait-replicas 1 there must be
// none. The short form runs Sentinel without and Cluster with WAIT, one failover each.
func TestFailoverUnderLoad(t *testing.T) {
	type variant struct {
		kind string
		wait int
	}
	variants := []variant{{"sentinel", 0}, {"cluster", 1}}
	if size(false, true) {
		variants = []variant{{"sentinel", 0}, {"sentinel", 1}, {"cluster", 0}, {"cluster", 1}}
	}
	for _, v := range variants {
		t.Run(fmt.Sprintf("%s, wait %d", v.kind, v.wait), func(t *testing.T) {
			var d testredis.Deployment
			// fail kills the master and returns a function that waits for the election and
			// one that brings the killed server back as a replica.
			var fail func() (elected, rejoin func())
			switch v.kind {
			case "sentinel":
				g := testredis.StartSentinel(t)
				d = g
				fail = func() (func(), func()) {
					old := g.KillMaster()
					return func() { g.WaitFailover(old) }, func() { g.Rejoin(old) }
				}
			case "cluster":
				c := testredis.StartCluster(t)
				d = c
				fail = func() (func(), func()) {
					old := c.MasterOf("tollgate:{shop/shop-api}")
					old.Kill()
					return func() { c.WaitFailover(old) }, func() { c.Rejoin(old) }
				}
			}
			runFailoverUnderLoad(t, d, v.wait, fail)
		})
	}
}

func runFailoverUnderLoad(t *testing.T, d testredis.Deployment, wait int, fail func() (elected, rejoin func())) {
	dir := t.TempDir()
	args := []string{
		"--policy", writeFile(t, dir, "policy.yaml", sessionsPolicy),
		"--keys-dir", writePersistentKeys(t, dir),
		"--users-file", writeUsersFile(t, dir),
		"--upstream", startUpstream(t),
		"--redis-url", d.URL(),
		"--redis-wait-replicas", strconv.Itoa(wait),
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
	steady := size(time.Second, 3*time.Second)
	const validators, logins, refreshers, chains = 4, 2, 4, 100
	l.setUp(chains, 16)
	l.start(validators, logins, refreshers)
	loadStart := time.Now()
	time.Sleep(steady)

	n := len(l.sidecars)
	k := &redisKillCycle{
		degradedAfter: make([]time.Duration, n), firstLogin: make([]time.Duration, n),
		firstRefresh: make([]time.Duration, n), readyAfter: make([]time.Duration, n),
		maxLatency: map[string]time.Duration{},
	}
	l.mu.Lock()
	k.killStart = time.Now()
	l.cycles = append(l.cycles, k)
	l.mu.Unlock()
	elected, rejoin := fail()
	l.mu.Lock()
	k.killEnd = time.Now()
	l.mu.Unlock()
	elected()
	election := time.Since(k.killEnd)
	if wait > 0 {
		// The new master has no replica until the killed server comes back as one: writes
		// that must wait for a replica answer 503 until then, as they should.
		rejoin()
	}
	l.mu.Lock()
	k.restartStart, k.restartEnd = time.Now(), time.Now()
	l.mu.Unlock()
	for i := range l.sidecars {
		k.firstLogin[i] = l.firstSuccess(k.killEnd, func() int {
			code, _ := l.send("login-probe", i, http.MethodPost, "/auth/login", "",
				map[string]string{"email": users[0].Email, "password": users[0].Password})
			return code
		})
		k.firstRefresh[i] = l.firstSuccess(k.killEnd, func() int { return l.refreshOnce("refresh-probe", l.probes[i], i) })
	}
	time.Sleep(steady)
	l.stop()
	loadTime := time.Since(loadStart)

	// The contract: validation always 200; login and refresh 200 or a shaped 503.
	var validated, unavailable, recovered503 int
	recoveredAt := k.killEnd
	for i := range l.sidecars {
		recoveredAt = later(recoveredAt, k.killEnd.Add(k.firstLogin[i]), k.killEnd.Add(k.firstRefresh[i]))
	}
	for _, r := range l.requests {
		switch {
		case r.kind == "validate":
			validated++
			if r.err != nil || r.status != http.StatusOK {
				t.Errorf("validation during the failover: %d %v %s", r.status, r.err, r.body)
			}
		case r.kind != "login" && r.kind != "refresh":
		case r.err != nil:
			t.Errorf("%s: no answer: %v", r.kind, r.err)
		case r.status == http.StatusServiceUnavailable && r.shaped:
			unavailable++
			if r.start.After(recoveredAt) {
				recovered503++
			}
		case r.status != http.StatusOK:
			t.Errorf("%s during the failover: %d %s; want 200 or 503 with Retry-After", r.kind, r.status, r.body)
		}
	}
	for i := range l.sidecars {
		if k.firstLogin[i] < 0 || k.firstRefresh[i] < 0 {
			t.Errorf("sidecar %s: login or refresh did not recover within 15s of the kill (login %v, refresh %v)",
				outageSidecarName(i), k.firstLogin[i], k.firstRefresh[i])
		}
	}

	if t.Failed() {
		for i, sc := range l.sidecars {
			t.Logf("sidecar %s log tail:\n%s", outageSidecarName(i), outageLogTail(sc.Logs(), 20))
		}
	}

	// Acknowledged rotations lost: a chain whose latest token (answered with 200) is refused.
	lost, ambiguous, refreshes := 0, 0, 0
	for i, c := range l.chains {
		refreshes += c.refreshes
		switch {
		case c.ambiguous:
			ambiguous++
		case c.lost != "":
			lost++
		default:
			if code := l.refreshOnce("refresh-final", c, i%len(l.sidecars)); code != http.StatusOK {
				lost++
			}
		}
	}
	t.Logf("%s, --redis-wait-replicas %d: %d requests in %v (%d validations, all 200); election %v after the kill; "+
		"replica back %v after the kill; first login after the kill %v/%v, first refresh %v/%v (sidecars A/B); %d shaped 503s, %d of them after recovery; "+
		"%d chains refreshed %d times: %d acknowledged rotations lost, %d chains ambiguous (a refresh in flight at the kill)",
		d.Kind(), wait, len(l.requests), loadTime.Round(time.Millisecond), validated, election.Round(time.Millisecond),
		k.restartEnd.Sub(k.killEnd).Round(time.Millisecond),
		k.firstLogin[0].Round(time.Millisecond), k.firstLogin[1].Round(time.Millisecond),
		k.firstRefresh[0].Round(time.Millisecond), k.firstRefresh[1].Round(time.Millisecond),
		unavailable, recovered503, len(l.chains), refreshes, lost, ambiguous)
	if wait > 0 && lost > 0 {
		t.Errorf("%d acknowledged refresh rotations lost with --redis-wait-replicas %d; want none", lost, wait)
	}
}

func later(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}
