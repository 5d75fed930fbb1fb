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
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

func TestConcurrentRefreshesOfOneTokenGiveExactlyOneSuccess(t *testing.T) {
	eachStore(t, func(t *testing.T, st harnessOption) {
		h := newHarness(t, st)
		tr := h.login("bob@example.com", bobPassword)
		body := `{"refreshToken":"` + tr.RefreshToken + `"}`
		const n = 100
		if ok, unauthorized, other := raceRefreshes(n, body, h.http.URL); ok != 1 || unauthorized != n-1 || other != 0 {
			t.Fatalf("%d concurrent refreshes: %d succeeded, %d refused, %d other; want exactly 1 success", n, ok, unauthorized, other)
		}
	})
}

// TestReplicasShareOneStore runs two sidecars of one policy on one redis-server, a Sentinel
// group and a Redis Cluster: what one replica does, the other enforces.
func TestReplicasShareOneStore(t *testing.T) {
	testredis.Each(t, func(t *testing.T, d testredis.Deployment) {
		t.Run("logout on one replica is enforced by another", func(t *testing.T) { testLogoutOnOneReplicaIsEnforcedByAnother(t, d) })
		t.Run("reuse on one replica revokes the family on another", func(t *testing.T) { testReuseOnOneReplicaRevokesOnAnother(t, d) })
		t.Run("concurrent refreshes on two replicas give exactly one success", func(t *testing.T) { testConcurrentRefreshesOnTwoReplicas(t, d) })
	})
}

func testLogoutOnOneReplicaIsEnforcedByAnother(t *testing.T, srv testredis.Deployment) {
	a := newHarness(t, withRedis(srv))
	b := newHarness(t, withRedis(srv), withKeys(a.keys), withClock(a.clock))
	testwait.For(t, 5*time.Second, "replica B loads its revocations", b.server.Revocations().Synced)

	tr := a.login("bob@example.com", bobPassword)
	if resp, _ := b.do("GET", "/orders", tr.AccessToken, nil); resp.StatusCode != 200 {
		t.Fatalf("replica B refuses a token from replica A: %d", resp.StatusCode)
	}
	// Refresh on B works with A's refresh token: the sessions are shared.
	resp, body := b.do("POST", "/auth/refresh", "", map[string]string{"refreshToken": tr.RefreshToken})
	if resp.StatusCode != 200 {
		t.Fatalf("refresh on B of A's session: %d %s", resp.StatusCode, body)
	}
	var refreshed TokenResponse
	_ = json.Unmarshal(body, &refreshed)

	if resp, _ := a.do("POST", "/auth/logout", refreshed.AccessToken, nil); resp.StatusCode != 204 {
		t.Fatalf("logout on A: %d", resp.StatusCode)
	}
	testwait.For(t, time.Second, "replica B refuses the token logged out on A", func() bool {
		resp, _ := b.do("GET", "/orders", refreshed.AccessToken, nil)
		return resp.StatusCode == 401
	})
	// The session's older access token (same sid) is revoked too.
	testwait.For(t, time.Second, "replica B refuses an older access token of the logged-out session", func() bool {
		resp, _ := b.do("GET", "/orders", tr.AccessToken, nil)
		return resp.StatusCode == 401
	})

	t.Run("a replica started later loads the revocations made before", func(t *testing.T) {
		c := newHarness(t, withRedis(srv), withKeys(a.keys), withClock(a.clock))
		// withRedis empties the database for a fresh harness, so revoke again after start.
		tr := a.login("alice@example.com", alicePassword)
		if resp, _ := a.do("POST", "/auth/logout", tr.AccessToken, nil); resp.StatusCode != 204 {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		d := newHarness(t, withStoreOf(c), withKeys(a.keys), withClock(a.clock))
		testwait.For(t, 5*time.Second, "a new replica loads the revocation list", d.server.Revocations().Synced)
		if resp, _ := d.do("GET", "/orders", tr.AccessToken, nil); resp.StatusCode != 401 {
			t.Fatalf("a replica started after the logout accepts the token: %d", resp.StatusCode)
		}
	})
}

func testReuseOnOneReplicaRevokesOnAnother(t *testing.T, d testredis.Deployment) {
	a := newHarness(t, withRedis(d))
	b := newHarness(t, withRedis(d), withKeys(a.keys), withClock(a.clock))
	testwait.For(t, 5*time.Second, "replica A loads its revocations", a.server.Revocations().Synced)

	first := a.login("bob@example.com", bobPassword)
	resp, body := a.do("POST", "/auth/refresh", "", map[string]string{"refreshToken": first.RefreshToken})
	if resp.StatusCode != 200 {
		t.Fatalf("refresh on A: %d %s", resp.StatusCode, body)
	}
	var second TokenResponse
	_ = json.Unmarshal(body, &second)
	if got := a.call(second.AccessToken); got != 200 {
		t.Fatalf("the refreshed access token on A: %d", got)
	}
	// The spent token is presented to B: reuse, which revokes the family everywhere.
	if resp, body := b.do("POST", "/auth/refresh", "", map[string]string{"refreshToken": first.RefreshToken}); resp.StatusCode != 401 {
		t.Fatalf("reuse on B: %d %s", resp.StatusCode, body)
	}
	if resp, _ := a.do("POST", "/auth/refresh", "", map[string]string{"refreshToken": second.RefreshToken}); resp.StatusCode != 401 {
		t.Fatalf("the family's newest refresh token still works on A after reuse on B: %d", resp.StatusCode)
	}
	testwait.For(t, time.Second, "replica A refuses the family's access token after reuse on B", func() bool {
		return a.call(second.AccessToken) == 401
	})
}

// Half the racers ask replica A, half replica B: the rotation is one atomic step in the store.
func testConcurrentRefreshesOnTwoReplicas(t *testing.T, d testredis.Deployment) {
	a := newHarness(t, withRedis(d))
	b := newHarness(t, withRedis(d), withKeys(a.keys), withClock(a.clock))
	tr := a.login("bob@example.com", bobPassword)
	body := `{"refreshToken":"` + tr.RefreshToken + `"}`
	const n = 40
	if ok, unauthorized, other := raceRefreshes(n, body, a.http.URL, b.http.URL); ok != 1 || unauthorized != n-1 || other != 0 {
		t.Fatalf("%d concurrent refreshes on two replicas: %d succeeded, %d refused, %d other; want exactly 1 success", n, ok, unauthorized, other)
	}
}

// raceRefreshes sends n refreshes with body at once, spread over the sidecars at urls in turn,
// and counts the answers: 200, 401, anything else (or no answer).
func raceRefreshes(n int, body string, urls ...string) (ok, unauthorized, other int32) {
	var okN, unauthorizedN, otherN atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		url := urls[i%len(urls)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := http.Post(url+"/auth/refresh", "application/json", strings.NewReader(body))
			if err != nil {
				otherN.Add(1)
				return
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case 200:
				okN.Add(1)
			case 401:
				unauthorizedN.Add(1)
			default:
				otherN.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	return okN.Load(), unauthorizedN.Load(), otherN.Load()
}

// withStoreOf shares another harness's store.
func withStoreOf(o *harness) harnessOption { return func(h *harness) { h.store = o.store } }

func TestRedisOutage(t *testing.T) {
	srv := testredis.Start(t)
	h := newHarness(t, withRedis(srv))
	testwait.For(t, 5*time.Second, "revocations loaded", h.server.Revocations().Synced)
	tr := h.login("bob@example.com", bobPassword)
	revoked := h.login("alice@example.com", alicePassword)
	if resp, _ := h.do("POST", "/auth/logout", revoked.AccessToken, nil); resp.StatusCode != 204 {
		t.Fatal("logout failed")
	}

	srv.Kill()

	t.Run("login, refresh and logout answer 503", func(t *testing.T) {
		resp, body := h.do("POST", "/auth/login", "", map[string]string{"email": "bob@example.com", "password": bobPassword})
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("login with Redis down: %d %s", resp.StatusCode, body)
		}
		errorOf(t, body)
		if resp, _ := h.do("POST", "/auth/refresh", "", map[string]string{"refreshToken": tr.RefreshToken}); resp.StatusCode != 503 {
			t.Fatalf("refresh with Redis down: %d", resp.StatusCode)
		}
		if resp, _ := h.do("POST", "/auth/logout", tr.AccessToken, nil); resp.StatusCode != 503 {
			t.Fatalf("logout with Redis down: %d", resp.StatusCode)
		}
	})
	t.Run("validation goes on, revocations still enforced", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			if resp, _ := h.do("GET", "/orders", tr.AccessToken, nil); resp.StatusCode != 200 {
				t.Fatalf("a valid token was refused while Redis is down: %d", resp.StatusCode)
			}
		}
		if resp, _ := h.do("GET", "/orders", revoked.AccessToken, nil); resp.StatusCode != 401 {
			t.Fatalf("a revoked token was accepted while Redis is down: %d", resp.StatusCode)
		}
	})
	t.Run("readyz reports the degradation", func(t *testing.T) {
		ops := newOpsClient(t, h)
		testwait.For(t, 5*time.Second, "readyz says degraded", func() bool {
			code, body := ops.get("/readyz")
			return code == 200 && strings.Contains(body, `"degraded"`)
		})
		if _, body := ops.get("/metrics"); !strings.Contains(body, "tollgate_store_up 0") {
			t.Fatal("tollgate_store_up is not 0 with Redis down")
		}
	})

	srv.Restart()

	t.Run("everything recovers by itself", func(t *testing.T) {
		testwait.For(t, 10*time.Second, "login works again", func() bool {
			resp, _ := h.do("POST", "/auth/login", "", map[string]string{"email": "bob@example.com", "password": bobPassword})
			return resp.StatusCode == 200
		})
		ops := newOpsClient(t, h)
		testwait.For(t, 5*time.Second, "readyz says ok", func() bool {
			_, body := ops.get("/readyz")
			return strings.Contains(body, `"status":"ok"`)
		})
	})
}

type opsClient struct {
	t   *testing.T
	url string
}

func newOpsClient(t *testing.T, h *harness) *opsClient {
	ts := newTestServer(t, h.server.OpsHandler())
	return &opsClient{t: t, url: ts}
}

func (o *opsClient) get(path string) (int, string) {
	resp, err := http.Get(o.url + path)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, sb.String()
}

// A sidecar that starts while Redis is down has no revocation list: it must not vouch for
// any token (a logged-out one would pass) until the list is loaded.
func TestASidecarStartedWithTheStoreDownFailsClosed(t *testing.T) {
	srv := testredis.Start(t, testredis.WithAppendOnly())
	a := newHarness(t, withRedis(srv))
	testwait.For(t, 5*time.Second, "revocations loaded", a.server.Revocations().Synced)
	valid := a.login("bob@example.com", bobPassword)
	revoked := a.login("alice@example.com", alicePassword)
	if resp, _ := a.do("POST", "/auth/logout", revoked.AccessToken, nil); resp.StatusCode != 204 {
		t.Fatal("logout failed")
	}

	srv.Kill()
	policy, err := ParsePolicy([]byte(testPolicyYAML))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := store.OpenRedis(store.RedisOptions{Addresses: []string{srv.Addr()}}, policy.Key())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fresh.Close() })
	b := newHarness(t, func(h *harness) { h.store = fresh }, withKeys(a.keys), withClock(a.clock))
	ops := newOpsClient(t, b)

	for _, tok := range []string{valid.AccessToken, revoked.AccessToken} {
		resp, body := b.do("GET", "/orders", tok, nil)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("a token before the revocation list is loaded: %d %s; want 503 with Retry-After", resp.StatusCode, body)
		}
		if msg := errorOf(t, body); !strings.Contains(msg, "revocation list not loaded") {
			t.Fatalf("error %q does not say why", msg)
		}
	}
	if resp, _ := b.do("GET", "/public/x", "", nil); resp.StatusCode != 200 {
		t.Fatalf("a public route while the list is not loaded: %d", resp.StatusCode)
	}
	if code, body := ops.get("/readyz"); code != 503 || !strings.Contains(body, "not loaded yet") || !strings.Contains(body, `"store":"unreachable`) {
		t.Fatalf("readyz before the list is loaded, with the store down since start: %d %s", code, body)
	}

	srv.Restart()
	testwait.For(t, 10*time.Second, "the list is loaded once Redis is back", b.server.Revocations().Synced)
	if resp, _ := b.do("GET", "/orders", valid.AccessToken, nil); resp.StatusCode != 200 {
		t.Fatalf("a valid token after the list is loaded: %d", resp.StatusCode)
	}
	if resp, _ := b.do("GET", "/orders", revoked.AccessToken, nil); resp.StatusCode != 401 {
		t.Fatalf("a logged-out token after the list is loaded: %d", resp.StatusCode)
	}
	if code, _ := ops.get("/readyz"); code != 200 {
		t.Fatalf("readyz after the list is loaded: %d", code)
	}
}
