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
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
)

// restartGrace bounds how long a sidecar may take to exit after SIGTERM: its default
// --shutdown-timeout (20s) for in-flight requests, and some room.
const restartGrace = 25 * time.Second

// restartSession is one login followed across sidecar restarts.
type restartSession struct {
	user    user
	access  []string // every access token of the session so far
	refresh string   // the latest refresh token
	revoked bool     // logged out (plain, or by the subject's "all")
}

func TestSidecarRestartKeepsSessions(t *testing.T) {
	t.Run("with the Redis store, sessions and revocations survive a crash and a graceful restart", testRestartWithRedis)
	t.Run("with the memory store, as documented, access tokens survive a restart and refresh tokens do not", testRestartWithMemoryStore)
}

func testRestartWithRedis(t *testing.T) {
	redisSrv := testredis.Start(t)
	dir := t.TempDir()
	sc := startSidecar(t,
		"--policy", writeFile(t, dir, "policy.yaml", sessionsPolicy),
		"--keys-dir", writePersistentKeys(t, dir),
		"--users-file", writeUsersFile(t, dir),
		"--upstream", startUpstream(t),
		"--redis-url", "redis://"+redisSrv.Addr(),
	)
	c := newSessionsClient()
	waitRevocationsLoaded(t, c, sc, 15*time.Second)

	n := size(20, 200)
	sessions := make([]*restartSession, n)
	for i := range sessions {
		u := users[i%len(users)]
		tp := login(t, c, sc.URL, u)
		sessions[i] = &restartSession{user: u, access: []string{tp.AccessToken}, refresh: tp.RefreshToken}
	}

	// Every fifth session of alice, bob and carol logs out plainly, half of them naming the
	// refresh token; one of dave's logs out with "all", which ends all of dave's sessions.
	plain := 0
	for i, s := range sessions {
		if s.user.ID == "4" || i%5 != 0 {
			continue
		}
		var body any
		if plain%2 == 1 {
			body = map[string]any{"refreshToken": s.refresh}
		}
		restartLogout(t, c, sc, s.access[0], body)
		s.revoked = true
		plain++
	}
	all := 0
	for _, s := range sessions {
		if s.user.ID != "4" {
			continue
		}
		if all == 0 {
			restartLogout(t, c, sc, s.access[0], map[string]any{"refreshToken": s.refresh, "all": true})
		}
		s.revoked = true
		all++
	}
	t.Logf("%d sessions of %d users; %d logged out plainly, %d ended by one logout with \"all\": true",
		n, len(users), plain, all)

	restarts := []struct {
		how  string
		stop func(t *testing.T)
	}{
		{"SIGKILL (crash)", func(*testing.T) { sc.Kill() }},
		{"SIGTERM (graceful)", func(t *testing.T) {
			start := time.Now()
			if err := sc.Terminate(restartGrace); err != nil {
				t.Fatalf("after SIGTERM: %v (want exit status 0 within %v)\n%s", err, restartGrace, sc.Logs())
			}
			t.Logf("SIGTERM: exit status 0 after %v", time.Since(start).Round(time.Millisecond))
		}},
	}
	for _, r := range restarts {
		r.stop(t)
		sc.restart(t)
		c.CloseIdleConnections() // the old process's connections are gone
		loaded := waitRevocationsLoaded(t, c, sc, 15*time.Second)

		var valid, refused, refreshed, dead int
		for _, s := range sessions {
			want := http.StatusOK
			if s.revoked {
				want = http.StatusUnauthorized
			}
			for _, at := range s.access {
				code, err := get(c, sc.URL, "/orders", at)
				if err != nil || code != want {
					t.Fatalf("after %s: GET with an access token of %s (logged out: %v) = %d %v, want %d\n%s",
						r.how, s.user.Email, s.revoked, code, err, want, sc.Logs())
				}
				if s.revoked {
					refused++
				} else {
					valid++
				}
			}
		}
		for _, s := range sessions {
			code, body, err := postJSON(c, sc.URL+"/auth/refresh", map[string]string{"refreshToken": s.refresh})
			switch {
			case err != nil:
				t.Fatalf("after %s: refresh: %v", r.how, err)
			case s.revoked && code != http.StatusUnauthorized:
				t.Fatalf("after %s: refresh of a logged-out session of %s = %d %s, want 401", r.how, s.user.Email, code, body)
			case s.revoked:
				dead++
			case code != http.StatusOK:
				t.Fatalf("after %s: refresh of a live session of %s = %d %s, want 200\n%s", r.how, s.user.Email, code, body, sc.Logs())
			default:
				var tp tokenPair
				if err := json.Unmarshal(body, &tp); err != nil {
					t.Fatal(err)
				}
				s.access = append(s.access, tp.AccessToken)
				s.refresh = tp.RefreshToken
				refreshed++
			}
		}
		t.Logf("after %s (revocations loaded %v after /healthz): %d access tokens still valid, %d logged-out ones refused; %d refresh tokens refreshed, %d of revoked sessions refused",
			r.how, loaded.Round(time.Millisecond), valid, refused, refreshed, dead)
	}
}

// restartLogout logs out with the access token and body (nil: no body) and fails the test
// unless the sidecar answers 204.
func restartLogout(t *testing.T, c *http.Client, sc *sidecar, access string, body any) {
	t.Helper()
	var payload string
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		payload = string(b)
	}
	req, err := http.NewRequest(http.MethodPost, sc.URL+"/auth/logout", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+access)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d, want 204", resp.StatusCode)
	}
}

// testRestartWithMemoryStore pins the documented behaviour of the in-memory store (README,
// "Stores"): it lives and dies with the process. Access tokens are signed with the keys of
// --keys-dir and validate after a restart; refresh tokens are gone with the process.
func testRestartWithMemoryStore(t *testing.T) {
	dir := t.TempDir()
	sc := startSidecar(t,
		"--policy", writeFile(t, dir, "policy.yaml", sessionsPolicy),
		"--keys-dir", writePersistentKeys(t, dir),
		"--users-file", writeUsersFile(t, dir),
		"--upstream", startUpstream(t),
	)
	c := newSessionsClient()
	n := size(5, 20)
	pairs := make([]tokenPair, n)
	for i := range pairs {
		pairs[i] = login(t, c, sc.URL, users[i%len(users)])
	}
	if err := sc.Terminate(restartGrace); err != nil {
		t.Fatalf("after SIGTERM: %v (want exit status 0 within %v)", err, restartGrace)
	}
	sc.restart(t)
	c.CloseIdleConnections()
	waitRevocationsLoaded(t, c, sc, 15*time.Second)
	for _, p := range pairs {
		if code, err := get(c, sc.URL, "/orders", p.AccessToken); err != nil || code != http.StatusOK {
			t.Fatalf("after a restart, GET with an access token signed by the persisted key = %d %v, want 200", code, err)
		}
		if code, body, err := postJSON(c, sc.URL+"/auth/refresh", map[string]string{"refreshToken": p.RefreshToken}); err != nil || code != http.StatusUnauthorized {
			t.Fatalf("after a restart with the memory store, refresh = %d %s %v, want 401 (refresh tokens are per-process)", code, body, err)
		}
	}
	t.Logf("memory store, after a restart: %d access tokens still valid, %d refresh tokens refused (gone with the process)", n, n)
}
