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
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
)

// refreshRacers is how many clients present one refresh token at the same instant.
const refreshRacers = 20

// refreshRacePolicy lets one client IP log in once per round: the per-client login limit
// is raised to the schema's maximum, above the rounds of the full form.
const refreshRacePolicy = `apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: race-api, namespace: race}
spec:
  login:
    rateLimit: {maxAttempts: 5, maxAttemptsPerClient: 100000, window: 24h}
`

// TestRefreshRace presents one refresh token to refreshRacers concurrent refreshes, round
// after round, and counts the double spends: rounds where more than one refresh
// succeeded. docs/design.md §3: rotation is one atomic step in the store, so exactly one
// succeeds; the others present a spent token, which is reuse and revokes the whole family,
// so the winner's new refresh token is refused too. With Redis the racers are split
// across two sidecar processes sharing one redis-server, the case the atomic script
// exists for.
func TestRefreshRace(t *testing.T) {
	rounds := size(1500, 10000)
	dir := t.TempDir()
	usersFile := writeUsersFile(t, dir)
	policy := writeFile(t, dir, "policy.yaml", refreshRacePolicy)
	keysDir := writePersistentKeys(t, dir)
	// The racers lose 19 times a round: at info level that is 19 warnings a round kept in
	// the test's memory; errors are all the test needs to see.
	common := []string{"--policy", policy, "--users-file", usersFile, "--keys-dir", keysDir, "--log-level", "error"}

	t.Run("redis store, racers split across two replicas", func(t *testing.T) {
		// One redis-server, a Sentinel group and a Redis Cluster; the short form runs fewer
		// rounds on the last two, which only add a different client to the same scripts.
		testredis.Each(t, func(t *testing.T, d testredis.Deployment) {
			n := rounds
			if d.Kind() != "single" {
				n = size(200, rounds)
			}
			args := append(append([]string{}, common...), "--redis-url", d.URL())
			a, b := startSidecar(t, args...), startSidecar(t, args...)
			runRefreshRace(t, "redis ("+d.Kind()+")", n, a, b)
		})
	})
	t.Run("memory store, one replica", func(t *testing.T) {
		runRefreshRace(t, "memory", rounds, startSidecar(t, common...))
	})
}

// refreshRaceTally is what the rounds of one store added up to.
type refreshRaceTally struct {
	rounds, requests, successes, refused int
	doubleSpends, zeroSuccess            int
	// other counts answers that are neither 200 nor 401, and transport errors.
	other int
	// reuseChecks counts the winners' new refresh tokens presented after the round, and
	// reuseMissed those of them that were accepted: a family that reuse did not revoke.
	reuseChecks, reuseMissed int
}

// refreshRoundResult is one round: the answers of the racers.
type refreshRoundResult struct {
	statuses []int
	errs     []error
	winner   []byte // the body of the (first) 200
}

func runRefreshRace(t *testing.T, store string, rounds int, replicas ...*sidecar) {
	// Every racer keeps a connection to each replica: the race is not serialized by dialing.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 4 * refreshRacers * len(replicas)
	tr.MaxIdleConnsPerHost = 2 * refreshRacers
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)

	var tally refreshRaceTally
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	start := time.Now()
	for round := 0; round < rounds; round++ {
		home := replicas[round%len(replicas)]
		u := users[round%len(users)]
		pair := login(t, c, home.URL, u)

		res := refreshRaceRound(c, replicas, pair.RefreshToken)
		tally.rounds++
		ok := 0
		for i, code := range res.statuses {
			tally.requests++
			switch {
			case res.errs[i] != nil:
				tally.other++
				report("round %d, racer %d: %v", round, i, res.errs[i])
			case code == http.StatusOK:
				ok++
				tally.successes++
			case code == http.StatusUnauthorized:
				tally.refused++
			default:
				tally.other++
				report("round %d, racer %d: status %d", round, i, code)
			}
		}
		switch {
		case ok > 1:
			tally.doubleSpends++
			report("round %d: %d of %d refreshes of one token succeeded", round, ok, refreshRacers)
		case ok == 0:
			tally.zeroSuccess++
			report("round %d: none of %d refreshes of a fresh token succeeded", round, refreshRacers)
		}

		// The losers presented a spent token: the family is revoked, the winner's new
		// refresh token with it. Ask another replica than the one that logged in.
		if ok > 0 {
			var next tokenPair
			if err := json.Unmarshal(res.winner, &next); err != nil || next.RefreshToken == "" {
				t.Fatalf("round %d: the successful refresh answered %s (%v)", round, res.winner, err)
			}
			other := replicas[(round+1)%len(replicas)]
			code, body, err := postJSON(c, other.URL+"/auth/refresh", map[string]string{"refreshToken": next.RefreshToken})
			tally.reuseChecks++
			if err != nil || code != http.StatusUnauthorized {
				tally.reuseMissed++
				report("round %d: the winner's new refresh token, after 19 reuses of its parent, answered %d %s %v; want 401 (family revoked)", round, code, body, err)
			}
		}
		// A broken sidecar would fail every round fast: stop once that is clear.
		if tally.other > 5*refreshRacers {
			break
		}
	}
	elapsed := time.Since(start)

	t.Logf("refresh race, %s store, %d replica(s): %d rounds, %d requests (%d racers a round), %d successes, %d refused, %d other; "+
		"%d double spends, %d zero-success rounds; reuse check: %d winners' new tokens presented, %d accepted; %s, %.0f rounds/s",
		store, len(replicas), tally.rounds, tally.requests, refreshRacers, tally.successes, tally.refused, tally.other,
		tally.doubleSpends, tally.zeroSuccess, tally.reuseChecks, tally.reuseMissed,
		elapsed.Round(time.Millisecond), float64(tally.rounds)/elapsed.Seconds())
	for i, r := range replicas {
		// Where the racers were served: with two replicas both must have won and lost.
		series, err := metricSeries(http.DefaultClient, r.OpsURL)
		if err != nil {
			t.Fatal(err)
		}
		var outcomes []string
		for _, k := range slices.Sorted(maps.Keys(series)) {
			if labels, ok := strings.CutPrefix(k, "tollgate_refreshes_total"); ok && strings.HasPrefix(labels, "{") {
				outcomes = append(outcomes, fmt.Sprintf("%s %g", labels, series[k]))
			}
		}
		t.Logf("  replica %d: tollgate_refreshes_total %s", i, strings.Join(outcomes, " "))
	}
	if tally.doubleSpends != 0 || tally.zeroSuccess != 0 || tally.other != 0 || tally.reuseMissed != 0 || tally.rounds != rounds {
		for _, p := range problems {
			t.Error(p)
		}
		for i, r := range replicas {
			t.Logf("replica %d logs:\n%s", i, r.Logs())
		}
		t.Fatalf("%s store: %d of %d rounds run; %d double spends, %d zero-success rounds, %d answers neither 200 nor 401, %d new tokens of a reused family accepted",
			store, tally.rounds, rounds, tally.doubleSpends, tally.zeroSuccess, tally.other, tally.reuseMissed)
	}
}

// refreshRaceRound sends refreshRacers refreshes of token at once, racer i to replica
// i mod len(replicas), and returns every answer.
func refreshRaceRound(c *http.Client, replicas []*sidecar, token string) refreshRoundResult {
	body, _ := json.Marshal(map[string]string{"refreshToken": token})
	res := refreshRoundResult{statuses: make([]int, refreshRacers), errs: make([]error, refreshRacers)}
	var mu sync.Mutex
	var ready, done sync.WaitGroup
	release := make(chan struct{})
	for i := 0; i < refreshRacers; i++ {
		req, err := http.NewRequest(http.MethodPost, replicas[i%len(replicas)].URL+"/auth/refresh", bytes.NewReader(body))
		if err != nil {
			res.errs[i] = err
			continue
		}
		req.Header.Set("Content-Type", "application/json")
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-release
			resp, err := c.Do(req)
			if err != nil {
				res.errs[i] = err
				return
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if err != nil {
				res.errs[i] = err
				return
			}
			res.statuses[i] = resp.StatusCode
			if resp.StatusCode == http.StatusOK {
				mu.Lock()
				if res.winner == nil {
					res.winner = data
				}
				mu.Unlock()
			}
		}()
	}
	ready.Wait() // every racer is parked on release
	close(release)
	done.Wait()
	return res
}
