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
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/keyset"
)

// refresh presents a refresh token and returns the status and, on 200, the new pair.
func (h *harness) refresh(token string) (int, TokenResponse) {
	h.t.Helper()
	resp, body := h.do("POST", "/auth/refresh", "", map[string]string{"refreshToken": token})
	var tr TokenResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &tr); err != nil {
			h.t.Fatal(err)
		}
	}
	return resp.StatusCode, tr
}

// call is the status of a request with an access token to a path that needs any valid one.
func (h *harness) call(access string) int {
	h.t.Helper()
	resp, _ := h.do("GET", "/orders", access, nil)
	return resp.StatusCode
}

func TestLogoutAllIsExact(t *testing.T) {
	eachStore(t, func(t *testing.T, st harnessOption) {
		// The harness's clock stands still: everything below happens in the same second,
		// the same millisecond even.
		h := newHarness(t, st)
		one := h.login("alice@example.com", alicePassword)
		two := h.login("alice@example.com", alicePassword)
		bob := h.login("bob@example.com", bobPassword)

		resp, body := h.do("POST", "/auth/logout", one.AccessToken, map[string]any{"all": true})
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout all: %d %s", resp.StatusCode, body)
		}
		again := h.login("alice@example.com", alicePassword)

		if got := h.call(again.AccessToken); got != 200 {
			t.Errorf("a login in the same instant as the logout-all is refused: %d", got)
		}
		if got, _ := h.refresh(again.RefreshToken); got != 200 {
			t.Errorf("the new session cannot refresh: %d", got)
		}
		for name, tr := range map[string]TokenResponse{"the logged-out session": one, "the other session": two} {
			if got := h.call(tr.AccessToken); got != 401 {
				t.Errorf("%s: access token works after logout-all: %d", name, got)
			}
			if got, _ := h.refresh(tr.RefreshToken); got != 401 {
				t.Errorf("%s: refresh token works after logout-all: %d", name, got)
			}
		}
		if got := h.call(bob.AccessToken); got != 200 {
			t.Errorf("alice's logout-all ended bob's session: %d", got)
		}
	})
}

func TestLogoutAllDoesNotDependOnReplicaClocks(t *testing.T) {
	srv := testredis.Start(t)
	a := newHarness(t, withRedis(srv))
	// Replica B's clock runs 20s ahead of A's (within the 30s skew the tokens tolerate).
	ahead := &clock{t: a.clock.Now().Add(20 * time.Second)}
	b := newHarness(t, withStoreOf(a), withKeys(a.keys), withClock(ahead))
	testwait.For(t, 5*time.Second, "replica B loads its revocations", b.server.Revocations().Synced)

	before := b.login("alice@example.com", alicePassword)
	if resp, body := a.do("POST", "/auth/logout", a.login("alice@example.com", alicePassword).AccessToken, map[string]any{"all": true}); resp.StatusCode != 204 {
		t.Fatalf("logout all on A: %d %s", resp.StatusCode, body)
	}
	testwait.For(t, time.Second, "both replicas refuse the session B issued before the logout", func() bool {
		return a.call(before.AccessToken) == 401 && b.call(before.AccessToken) == 401
	})
	after := a.login("alice@example.com", alicePassword)
	if got := b.call(after.AccessToken); got != 200 {
		t.Errorf("replica B refuses a session A created after the logout-all: %d", got)
	}
}

func TestLogoutAlwaysEndsTheCallersOwnSession(t *testing.T) {
	eachStore(t, func(t *testing.T, st harnessOption) {
		h := newHarness(t, st)

		t.Run("with another session of the same subject in the body, both end", func(t *testing.T) {
			mine := h.login("alice@example.com", alicePassword)
			other := h.login("alice@example.com", alicePassword)
			resp, body := h.do("POST", "/auth/logout", mine.AccessToken, map[string]any{"refreshToken": other.RefreshToken})
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("logout: %d %s", resp.StatusCode, body)
			}
			if got, _ := h.refresh(mine.RefreshToken); got != 401 {
				t.Errorf("the caller's own session can still refresh: %d", got)
			}
			if got := h.call(mine.AccessToken); got != 401 {
				t.Errorf("the caller's access token still works: %d", got)
			}
			if got, _ := h.refresh(other.RefreshToken); got != 401 {
				t.Errorf("the session named in the body can still refresh: %d", got)
			}
			if got := h.call(other.AccessToken); got != 401 {
				t.Errorf("the session named in the body still has a working access token: %d", got)
			}
		})

		t.Run("another subject's refresh token in the body is ignored", func(t *testing.T) {
			mine := h.login("alice@example.com", alicePassword)
			bob := h.login("bob@example.com", bobPassword)
			resp, body := h.do("POST", "/auth/logout", mine.AccessToken, map[string]any{"refreshToken": bob.RefreshToken})
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("logout: %d %s", resp.StatusCode, body)
			}
			if got, _ := h.refresh(mine.RefreshToken); got != 401 {
				t.Errorf("the caller's own session can still refresh: %d", got)
			}
			if got := h.call(bob.AccessToken); got != 200 {
				t.Errorf("alice's logout ended bob's session: %d", got)
			}
			if got, _ := h.refresh(bob.RefreshToken); got != 200 {
				t.Errorf("alice's logout ended bob's refresh token: %d", got)
			}
		})
	})
}

// sessionOf is the sid of a valid access token.
func (h *harness) sessionOf(access string) string {
	h.t.Helper()
	id, err := h.server.Tokens().Verify(access)
	if err != nil {
		h.t.Fatalf("access token does not verify: %v", err)
	}
	return id.SessionID
}

func TestRefreshReuseInterval(t *testing.T) {
	policy := strings.Replace(testPolicyYAML, "clockSkew: 30s}", "clockSkew: 30s, refreshReuseInterval: 10s}", 1)
	eachStore(t, func(t *testing.T, st harnessOption) {
		h := newHarness(t, st, withPolicy(policy))
		start := h.login("alice@example.com", alicePassword)
		got, first := h.refresh(start.RefreshToken)
		if got != 200 {
			t.Fatalf("refresh: %d", got)
		}
		// The response was lost; the client retries 9s later with the token it still has.
		h.clock.Advance(9 * time.Second)
		got, retried := h.refresh(start.RefreshToken)
		if got != 200 {
			t.Fatalf("a retry within the interval: %d, want a fresh pair", got)
		}
		if retried.RefreshToken == first.RefreshToken || h.sessionOf(retried.AccessToken) != h.sessionOf(first.AccessToken) {
			t.Errorf("the retry's pair is not a fresh pair of the same session")
		}
		for name, tr := range map[string]TokenResponse{"first": first, "retried": retried} {
			if got := h.call(tr.AccessToken); got != 200 {
				t.Errorf("%s access token refused after a retry within the interval: %d", name, got)
			}
		}
		got, later := h.refresh(first.RefreshToken)
		if got != 200 {
			t.Errorf("the first successor cannot refresh: %d", got)
		}

		// Past the interval, presenting it again is reuse: the whole session goes.
		h.clock.Advance(time.Second)
		if got, _ := h.refresh(start.RefreshToken); got != 401 {
			t.Fatalf("a reuse past the interval: %d, want 401", got)
		}
		if got := h.call(later.AccessToken); got != 401 {
			t.Errorf("the session survived a reuse past the interval: %d", got)
		}
		if got, _ := h.refresh(retried.RefreshToken); got != 401 {
			t.Errorf("a refresh token of the session survived a reuse past the interval: %d", got)
		}
	})
}

func TestARefreshThatFailsAfterSpendingCanBeRetried(t *testing.T) {
	eachStore(t, func(t *testing.T, st harnessOption) {
		h := newHarness(t, st)
		good := h.keys.Keyset()
		for _, tc := range []struct {
			name string
			keys func(t *testing.T) *keyset.Keyset
		}{
			{"no Active key at the moment of refresh", func(t *testing.T) *keyset.Keyset {
				next, err := keyset.Generate(keyset.ES256, h.clock.Now().Add(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				return &keyset.Keyset{Keys: []*keyset.SigningKey{next}}
			}},
			{"an Active key that cannot sign", func(t *testing.T) *keyset.Keyset {
				broken := *good.Keys[0]
				broken.Private = []byte("not an ECDSA key")
				return &keyset.Keyset{Keys: []*keyset.SigningKey{&broken}}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tr := h.login("alice@example.com", alicePassword)
				h.keys.Set(tc.keys(t))
				if got, _ := h.refresh(tr.RefreshToken); got != 503 {
					t.Fatalf("refresh without a usable key: %d, want 503", got)
				}
				h.keys.Set(good)
				got, again := h.refresh(tr.RefreshToken)
				if got != 200 {
					t.Fatalf("the retry once keys are back: %d, want a fresh pair", got)
				}
				if got := h.call(again.AccessToken); got != 200 {
					t.Errorf("the retried pair's access token: %d", got)
				}
				if got, _ := h.refresh(again.RefreshToken); got != 200 {
					t.Errorf("the retried pair's refresh token: %d", got)
				}
			})
		}
	})
}

func TestARefreshReuseIntervalOverAMinuteIsRefused(t *testing.T) {
	for _, v := range []string{"61s", "-1s"} {
		policy := strings.Replace(testPolicyYAML, "clockSkew: 30s}", "clockSkew: 30s, refreshReuseInterval: "+v+"}", 1)
		_, err := ParsePolicy([]byte(policy))
		if err == nil || !strings.Contains(err.Error(), "spec.tokens.refreshReuseInterval") {
			t.Errorf("refreshReuseInterval %s: %v, want a refusal naming the field", v, err)
		}
	}
	p, err := ParsePolicy([]byte(testPolicyYAML))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Spec.Tokens.RefreshReuseInterval; got == nil || got.Duration != 0 {
		t.Errorf("default refreshReuseInterval = %v, want 0s", got)
	}
}

func TestARefreshTokenRecordForgedInRedisIsRefused(t *testing.T) {
	srv := testredis.Start(t)
	h := newHarness(t, withRedis(srv))
	ctx := t.Context()
	raw := srv.Client()
	prefix := "tollgate:{shop/shop-api}:rt:"

	// bob (clerk) holds a genuine session; a tenant who can write the policy's keys in Redis
	// writes a record that makes a token of his choosing alice's (id 42, admin).
	genuine := h.login("bob@example.com", bobPassword)
	token, hash := newRefreshToken()
	now := h.clock.Now()
	err := raw.HSet(ctx, prefix+hash, map[string]any{
		"subject": "42", "role": "admin", "family": "forged-session", "parent": "",
		"iat": now.UnixMilli(), "exp": now.Add(time.Hour).UnixMilli(), "mac": strings.Repeat("ab", 32),
	}).Err()
	if err != nil {
		t.Fatal(err)
	}
	if got, tr := h.refresh(token); got != 401 {
		t.Fatalf("refresh with a forged record: %d (a session for %q), want 401", got, h.sessionOf(tr.AccessToken))
	}
	var m dto.Metric
	if err := h.server.Metrics().Forged.Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetCounter().GetValue(); n != 1 {
		t.Errorf("tollgate_store_records_rejected_total = %v, want 1", n)
	}

	// The same with bob's genuine record copied under the forger's token.
	fields, err := raw.HGetAll(ctx, prefix+hashHex(genuine.RefreshToken)).Result()
	if err != nil {
		t.Fatal(err)
	}
	token2, hash2 := newRefreshToken()
	for k, v := range fields {
		if err := raw.HSet(ctx, prefix+hash2, k, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := h.refresh(token2); got != 401 {
		t.Errorf("refresh with a copied genuine record: %d, want 401", got)
	}

	if got, _ := h.refresh(genuine.RefreshToken); got != 200 {
		t.Errorf("the genuine session cannot refresh: %d", got)
	}
}
