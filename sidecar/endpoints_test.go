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
)

func TestLogin(t *testing.T) {
	eachStore(t, func(t *testing.T, st harnessOption) {
		h := newHarness(t, st)

		t.Run("a right password gets an access and a refresh token", func(t *testing.T) {
			resp, body := h.do("POST", "/auth/login", "", map[string]string{"email": "alice@example.com", "password": alicePassword})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var tr TokenResponse
			if err := json.Unmarshal(body, &tr); err != nil {
				t.Fatal(err)
			}
			if tr.TokenType != "Bearer" || tr.ExpiresIn != 900 || tr.AccessToken == "" || len(tr.RefreshToken) < 43 {
				t.Fatalf("unexpected token response %+v", tr)
			}
			id, err := h.server.Tokens().Verify(tr.AccessToken)
			if err != nil || id.Subject != "42" || id.Role != "admin" {
				t.Fatalf("issued token does not verify as alice: %v %+v", err, id)
			}
		})
		t.Run("username is accepted for email", func(t *testing.T) {
			resp, body := h.do("POST", "/auth/login", "", map[string]string{"username": "bob@example.com", "password": bobPassword})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		})
		t.Run("an unknown user and a wrong password get the same answer", func(t *testing.T) {
			r1, b1 := h.do("POST", "/auth/login", "", map[string]string{"email": "nobody@example.com", "password": "x"})
			r2, b2 := h.do("POST", "/auth/login", "", map[string]string{"email": "bob@example.com", "password": "wrong"})
			if r1.StatusCode != 401 || r2.StatusCode != 401 || string(b1) != string(b2) {
				t.Fatalf("answers differ: %d %s / %d %s", r1.StatusCode, b1, r2.StatusCode, b2)
			}
			if errorOf(t, b1) != "invalid credentials" || !strings.HasPrefix(r1.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("unexpected 401: %s %q", b1, r1.Header.Get("WWW-Authenticate"))
			}
		})
		for _, tc := range []struct {
			name, body string
			status     int
		}{
			{"not JSON", "email=alice", 400},
			{"an empty body", "", 400},
			{"no password", `{"email":"alice@example.com"}`, 400},
			{"no email", `{"password":"x"}`, 400},
			{"a number for email", `{"email":1,"password":"x"}`, 400},
			{"two objects", `{"email":"a","password":"b"}{}`, 400},
			{"a password over bcrypt's 72 bytes", `{"email":"a@b","password":"` + strings.Repeat("x", 73) + `"}`, 400},
			{"a body over 8 KiB", `{"email":"a@b","password":"` + strings.Repeat("x", 9000) + `"}`, 413},
		} {
			t.Run("refuses "+tc.name, func(t *testing.T) {
				resp, body := h.do("POST", "/auth/login", "", tc.body)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
				}
				errorOf(t, body)
			})
		}
		t.Run("GET is not allowed", func(t *testing.T) {
			resp, body := h.do("GET", "/auth/login", "", nil)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		})
	})
}

func TestLoginRateLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, st harnessOption) {
		h := newHarness(t, st)
		for i := 0; i < 5; i++ {
			resp, body := h.do("POST", "/auth/login", "", map[string]string{"email": "bob@example.com", "password": "guess"})
			if resp.StatusCode != 401 {
				t.Fatalf("attempt %d: status %d: %s", i, resp.StatusCode, body)
			}
		}
		resp, body := h.do("POST", "/auth/login", "", map[string]string{"email": "bob@example.com", "password": bobPassword})
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("sixth attempt: status %d, want 429: %s", resp.StatusCode, body)
		}
		if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Fatalf("429 without a Retry-After: %q", ra)
		}
		// Another account is not affected.
		h.login("alice@example.com", alicePassword)

		t.Run("per client", func(t *testing.T) {
			h := newHarness(t, st, withPolicy(strings.Replace(testPolicyYAML, "maxAttemptsPerClient: 1000", "maxAttemptsPerClient: 3", 1)))
			// Successful logins do not count: behind one ingress, everybody is one client.
			for range 10 {
				h.login("alice@example.com", alicePassword)
			}
			for i, email := range []string{"carol@example.com", "dave@example.com", "erin@example.com"} {
				resp, _ := h.do("POST", "/auth/login", "", map[string]string{"email": email, "password": "guess"})
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("failed login %d from one client: status %d, want 401", i+1, resp.StatusCode)
				}
			}
			resp, _ := h.do("POST", "/auth/login", "", map[string]string{"email": "alice@example.com", "password": alicePassword})
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("a login after 3 failures from one client: status %d, want 429", resp.StatusCode)
			}
		})
	})
}

func TestRefresh(t *testing.T) {
	eachStore(t, func(t *testing.T, st harnessOption) {
		h := newHarness(t, st)
		first := h.login("alice@example.com", alicePassword)

		resp, body := h.do("POST", "/auth/refresh", "", map[string]string{"refreshToken": first.RefreshToken})
		if resp.StatusCode != 200 {
			t.Fatalf("refresh: %d %s", resp.StatusCode, body)
		}
		var second TokenResponse
		_ = json.Unmarshal(body, &second)
		if second.RefreshToken == first.RefreshToken || second.AccessToken == "" {
			t.Fatal("refresh did not rotate the refresh token")
		}
		if resp, _ := h.do("GET", "/orders", second.AccessToken, nil); resp.StatusCode != 200 {
			t.Fatalf("the refreshed access token is refused: %d", resp.StatusCode)
		}

		t.Run("the spent token is refused and its reuse revokes the family", func(t *testing.T) {
			resp, body := h.do("POST", "/auth/refresh", "", map[string]string{"refreshToken": first.RefreshToken})
			if resp.StatusCode != 401 || errorOf(t, body) != "invalid refresh token" {
				t.Fatalf("reuse: %d %s", resp.StatusCode, body)
			}
			resp, _ = h.do("POST", "/auth/refresh", "", map[string]string{"refreshToken": second.RefreshToken})
			if resp.StatusCode != 401 {
				t.Fatalf("the family's newest refresh token still works after reuse: %d", resp.StatusCode)
			}
			resp, _ = h.do("GET", "/orders", second.AccessToken, nil)
			if resp.StatusCode != 401 {
				t.Fatalf("the family's access token still works after reuse: %d", resp.StatusCode)
			}
		})
		for _, tc := range []struct {
			name, body string
			status     int
		}{
			{"an unknown token", `{"refreshToken":"` + strings.Repeat("A", 43) + `"}`, 401},
			{"a token of the wrong shape", `{"refreshToken":"abc"}`, 401},
			{"no token", `{}`, 400},
			{"not JSON", `refreshToken=x`, 400},
		} {
			t.Run("refuses "+tc.name, func(t *testing.T) {
				resp, body := h.do("POST", "/auth/refresh", "", tc.body)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
				}
			})
		}
		t.Run("an expired session cannot refresh", func(t *testing.T) {
			c := newClock()
			h := newHarness(t, st, withClock(c))
			tr := h.login("bob@example.com", bobPassword)
			c.Advance(168*time.Hour + time.Second)
			resp, _ := h.do("POST", "/auth/refresh", "", map[string]string{"refreshToken": tr.RefreshToken})
			if resp.StatusCode != 401 {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
		})
	})
}

func TestLogout(t *testing.T) {
	eachStore(t, func(t *testing.T, st harnessOption) {
		h := newHarness(t, st)
		tr := h.login("bob@example.com", bobPassword)
		other := h.login("bob@example.com", bobPassword)

		if resp, _ := h.do("POST", "/auth/logout", "", nil); resp.StatusCode != 401 {
			t.Fatalf("logout without a token: %d", resp.StatusCode)
		}
		resp, body := h.do("POST", "/auth/logout", tr.AccessToken, nil)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %d %s", resp.StatusCode, body)
		}
		if resp, body := h.do("GET", "/orders", tr.AccessToken, nil); resp.StatusCode != 401 || !strings.Contains(errorOf(t, body), "revoked") {
			t.Fatalf("the logged-out token still works: %d %s", resp.StatusCode, body)
		}
		if resp, _ := h.do("POST", "/auth/refresh", "", map[string]string{"refreshToken": tr.RefreshToken}); resp.StatusCode != 401 {
			t.Fatalf("the logged-out session can still refresh: %d", resp.StatusCode)
		}
		if resp, _ := h.do("GET", "/orders", other.AccessToken, nil); resp.StatusCode != 200 {
			t.Fatalf("logout of one session ended another: %d", resp.StatusCode)
		}

		t.Run("all ends every session of the subject", func(t *testing.T) {
			a := h.login("alice@example.com", alicePassword)
			b := h.login("alice@example.com", alicePassword)
			resp, body := h.do("POST", "/auth/logout", a.AccessToken, map[string]any{"all": true})
			if resp.StatusCode != 204 {
				t.Fatalf("logout all: %d %s", resp.StatusCode, body)
			}
			if resp, _ := h.do("GET", "/orders", b.AccessToken, nil); resp.StatusCode != 401 {
				t.Fatalf("another session's access token survived logout all: %d", resp.StatusCode)
			}
			if resp, _ := h.do("POST", "/auth/refresh", "", map[string]string{"refreshToken": b.RefreshToken}); resp.StatusCode != 401 {
				t.Fatalf("another session's refresh token survived logout all: %d", resp.StatusCode)
			}
			if resp, _ := h.do("GET", "/orders", other.AccessToken, nil); resp.StatusCode != 200 {
				t.Fatalf("logout all of alice ended bob's session: %d", resp.StatusCode)
			}
		})
		t.Run("a malformed body is refused", func(t *testing.T) {
			c := h.login("bob@example.com", bobPassword)
			resp, _ := h.do("POST", "/auth/logout", c.AccessToken, `{"all": "yes"}`)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
		})
	})
}

func TestProxy(t *testing.T) {
	eachStore(t, func(t *testing.T, st harnessOption) {
		h := newHarness(t, st)
		alice := h.login("alice@example.com", alicePassword)
		bob := h.login("bob@example.com", bobPassword)

		t.Run("no token is 401 with a Bearer challenge", func(t *testing.T) {
			resp, body := h.do("GET", "/orders", "", nil)
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="tollgate"` {
				t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}
			errorOf(t, body)
		})
		t.Run("a bad token is 401 invalid_token", func(t *testing.T) {
			resp, _ := h.do("GET", "/orders", "not.a.jwt", nil)
			if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		})
		t.Run("a valid token reaches the app with the identity headers", func(t *testing.T) {
			resp, body := h.do("GET", "/orders?page=2", bob.AccessToken, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			got := h.app.Last()
			if got.Header.Get(HeaderSubject) != "7" || got.Header.Get(HeaderRole) != "clerk" || got.URL.RawQuery != "page=2" {
				t.Fatalf("app saw subject %q role %q query %q", got.Header.Get(HeaderSubject), got.Header.Get(HeaderRole), got.URL.RawQuery)
			}
		})
		t.Run("a role outside the route's roles is 403", func(t *testing.T) {
			resp, body := h.do("GET", "/admin/users", bob.AccessToken, nil)
			if resp.StatusCode != 403 || errorOf(t, body) != "role not allowed" {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if resp, _ := h.do("GET", "/admin/users", alice.AccessToken, nil); resp.StatusCode != 200 {
				t.Fatalf("admin refused on /admin: %d", resp.StatusCode)
			}
		})
		t.Run("method rules", func(t *testing.T) {
			if resp, _ := h.do("POST", "/orders", bob.AccessToken, "{}"); resp.StatusCode != 200 {
				t.Fatalf("clerk POST /orders: %d", resp.StatusCode)
			}
			if resp, _ := h.do("GET", "/reports", bob.AccessToken, nil); resp.StatusCode != 403 {
				t.Fatalf("clerk GET /reports: %d", resp.StatusCode)
			}
			if resp, _ := h.do("HEAD", "/reports", bob.AccessToken, nil); resp.StatusCode != 403 {
				t.Fatalf("clerk HEAD /reports (a GET rule covers HEAD): %d", resp.StatusCode)
			}
		})
		t.Run("public routes need no token and still lose spoofed identity headers", func(t *testing.T) {
			req, _ := http.NewRequest("GET", h.http.URL+"/public/info", nil)
			req.Header.Set("X-Auth-Subject", "42")
			req.Header.Set("x-auth-role", "admin")
			req.Header.Set("X-Auth-Anything", "x")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := h.app.Last()
			if resp.StatusCode != 200 || got.Header.Get(HeaderSubject) != "" || got.Header.Get(HeaderRole) != "" || got.Header.Get("X-Auth-Anything") != "" {
				t.Fatalf("%d, app saw %v", resp.StatusCode, got.Header)
			}
		})
		t.Run("spoofed identity headers are replaced on protected routes", func(t *testing.T) {
			req, _ := http.NewRequest("GET", h.http.URL+"/orders", nil)
			req.Header.Set("Authorization", "Bearer "+bob.AccessToken)
			req.Header.Add("X-Auth-Subject", "42")
			req.Header.Add("X-AUTH-ROLE", "admin")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := h.app.Last()
			if v := got.Header.Values(HeaderSubject); len(v) != 1 || v[0] != "7" {
				t.Fatalf("app saw subject %v", v)
			}
			if v := got.Header.Values(HeaderRole); len(v) != 1 || v[0] != "clerk" {
				t.Fatalf("app saw role %v", v)
			}
		})
		t.Run("the body streams through", func(t *testing.T) {
			big := strings.Repeat("0123456789", 100000)
			resp, _ := h.do("POST", "/orders", bob.AccessToken, big)
			h.app.mu.Lock()
			n := len(h.app.body)
			h.app.mu.Unlock()
			if resp.StatusCode != 200 || n != len(big) {
				t.Fatalf("%d, app got %d bytes of %d", resp.StatusCode, n, len(big))
			}
		})
		t.Run("a dead upstream is 502 in the JSON error shape", func(t *testing.T) {
			h2 := newHarness(t, st)
			tok := h2.login("bob@example.com", bobPassword)
			h2.appHTTP.Close()
			resp, body := h2.do("GET", "/orders", tok.AccessToken, nil)
			if resp.StatusCode != 502 || errorOf(t, body) != "upstream unavailable" {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	})
}

func TestDiscovery(t *testing.T) {
	h := newHarness(t)
	resp, body := h.do("GET", "/.well-known/jwks.json", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("jwks: %d", resp.StatusCode)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks: %v %s", err, body)
	}
	k := set.Keys[0]
	if k["kid"] != h.keys.Keyset().Keys[0].KID || k["alg"] != "ES256" || k["use"] != "sig" || k["kty"] != "EC" {
		t.Fatalf("jwk: %v", k)
	}
	if _, ok := k["d"]; ok {
		t.Fatal("the JWKS publishes private material")
	}
	resp, body = h.do("GET", "/.well-known/openid-configuration", "", nil)
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("discovery: %d %s", resp.StatusCode, body)
	}
	if doc["issuer"] != "https://shop-api.shop.svc" || doc["jwks_uri"] != "https://shop-api.shop.svc/.well-known/jwks.json" {
		t.Fatalf("discovery: %v", doc)
	}
}
