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
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

const formType = "application/x-www-form-urlencoded"

// form POSTs body to path as a form; edit, if set, changes the request first.
func (h *harness) form(path, body string, edit func(*http.Request)) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest("POST", h.http.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", formType)
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

func passwordForm(user, password string) string {
	return url.Values{"grant_type": {"password"}, "username": {user}, "password": {password}}.Encode()
}

func refreshForm(token string) string {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}.Encode()
}

// oauthTokens reads a successful token response, checking its RFC 6749 §5.1 shape.
func oauthTokens(t *testing.T, resp *http.Response, body []byte) OAuthTokenResponse {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
		t.Fatalf("a token response may be cached: Cache-Control %q, Pragma %q", resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"))
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range fields {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(keys, []string{"access_token", "expires_in", "refresh_token", "token_type"}) {
		t.Fatalf("token response fields %v: %s", keys, body)
	}
	var tr OAuthTokenResponse
	_ = json.Unmarshal(body, &tr)
	if tr.TokenType != "Bearer" || tr.AccessToken == "" || len(tr.RefreshToken) < 43 || tr.ExpiresIn <= 0 {
		t.Fatalf("token response %s", body)
	}
	return tr
}

func oauthTokensAt(t *testing.T, h *harness, path, body string, edit func(*http.Request)) OAuthTokenResponse {
	t.Helper()
	resp, out := h.form(path, body, edit)
	return oauthTokens(t, resp, out)
}

// oauthErrorOf reads an RFC 6749 §5.2 error: its code, after checking that the description,
// if any, is one of the fixed ones and that nothing else is in the body.
func oauthErrorOf(t *testing.T, resp *http.Response, body []byte) string {
	t.Helper()
	var e map[string]string
	if err := json.Unmarshal(body, &e); err != nil || e["error"] == "" {
		t.Fatalf("not an RFC 6749 error: %s", body)
	}
	for k := range e {
		if k != "error" && k != "error_description" {
			t.Fatalf("unexpected field %q: %s", k, body)
		}
	}
	if d, ok := e["error_description"]; ok && !oauthDescriptions[d] {
		t.Fatalf("description %q is not one of the fixed ones", d)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("error headers %v", resp.Header)
	}
	return e["error"]
}

func TestOAuthTokenEndpoint(t *testing.T) {
	eachStore(t, func(t *testing.T, st harnessOption) {
		h := newHarness(t, st)

		first := oauthTokensAt(t, h, "/auth/token", passwordForm("alice@example.com", alicePassword), nil)
		t.Run("the password grant issues alice's tokens", func(t *testing.T) {
			id, err := h.server.Tokens().Verify(first.AccessToken)
			if err != nil || id.Subject != "42" || id.Role != "admin" || first.ExpiresIn != 900 {
				t.Fatalf("%v %+v %+v", err, id, first)
			}
		})
		t.Run("client_id is optional, and any is accepted", func(t *testing.T) {
			oauthTokensAt(t, h, "/auth/token", passwordForm("bob@example.com", bobPassword)+"&client_id=shop-web", nil)
		})
		t.Run("a charset parameter of utf-8 is accepted", func(t *testing.T) {
			oauthTokensAt(t, h, "/auth/token", passwordForm("bob@example.com", bobPassword), func(r *http.Request) {
				r.Header.Set("Content-Type", formType+"; charset=UTF-8")
			})
		})
		t.Run("unknown parameters are ignored, repeated or not", func(t *testing.T) {
			oauthTokensAt(t, h, "/auth/token", passwordForm("bob@example.com", bobPassword)+"&foo=1&foo=2", nil)
		})

		second := oauthTokensAt(t, h, "/auth/token", refreshForm(first.RefreshToken), nil)
		t.Run("the refresh grant rotates the refresh token", func(t *testing.T) {
			if second.RefreshToken == first.RefreshToken {
				t.Fatal("not rotated")
			}
			if resp, _ := h.do("GET", "/orders", second.AccessToken, nil); resp.StatusCode != 200 {
				t.Fatalf("the refreshed access token is refused: %d", resp.StatusCode)
			}
		})
		t.Run("the token endpoint and the JSON endpoints share sessions", func(t *testing.T) {
			tr := h.login("bob@example.com", bobPassword)
			next := oauthTokensAt(t, h, "/auth/token", refreshForm(tr.RefreshToken), nil)
			resp, body := h.do("POST", "/auth/refresh", "", map[string]string{"refreshToken": next.RefreshToken})
			if resp.StatusCode != 200 {
				t.Fatalf("a refresh token from /auth/token is refused by /auth/refresh: %d %s", resp.StatusCode, body)
			}
		})
		t.Run("a spent refresh token presented again revokes its whole family", func(t *testing.T) {
			resp, body := h.form("/auth/token", refreshForm(first.RefreshToken), nil)
			if resp.StatusCode != 400 || oauthErrorOf(t, resp, body) != "invalid_grant" {
				t.Fatalf("reuse: %d %s", resp.StatusCode, body)
			}
			resp, body = h.form("/auth/token", refreshForm(second.RefreshToken), nil)
			if resp.StatusCode != 400 || oauthErrorOf(t, resp, body) != "invalid_grant" {
				t.Fatalf("the family's newest refresh token still works after reuse: %d %s", resp.StatusCode, body)
			}
			if resp, _ := h.do("GET", "/orders", second.AccessToken, nil); resp.StatusCode != 401 {
				t.Fatalf("the family's access token still works after reuse: %d", resp.StatusCode)
			}
		})
		t.Run("an unknown user and a wrong password get the same invalid_grant", func(t *testing.T) {
			r1, b1 := h.form("/auth/token", passwordForm("nobody@example.com", "x"), nil)
			r2, b2 := h.form("/auth/token", passwordForm("bob@example.com", "wrong"), nil)
			if r1.StatusCode != 400 || r2.StatusCode != 400 || string(b1) != string(b2) || oauthErrorOf(t, r1, b1) != "invalid_grant" {
				t.Fatalf("%d %s / %d %s", r1.StatusCode, b1, r2.StatusCode, b2)
			}
		})

		// Hostile requests: refused before any password is checked or token spent, with a
		// fixed description (never a piece of the request).
		const marker = "<marker-" + "7f3a>"
		bob := passwordForm("bob@example.com", bobPassword)
		for _, tc := range []struct {
			name, body string
			edit       func(*http.Request)
			status     int
			code       string
		}{
			{"no grant_type", "username=bob%40example.com&password=" + bobPassword, nil, 400, "invalid_request"},
			{"an empty grant_type", "grant_type=&" + bob[len("grant_type=password&"):], nil, 400, "invalid_request"},
			{"the client_credentials grant", "grant_type=client_credentials&client_id=" + marker, nil, 400, "unsupported_grant_type"},
			{"the authorization_code grant", "grant_type=authorization_code&code=" + marker, nil, 400, "unsupported_grant_type"},
			{"grant_type twice", bob + "&grant_type=refresh_token", nil, 400, "invalid_request"},
			{"password twice", bob + "&password=" + marker, nil, 400, "invalid_request"},
			{"username twice, one empty", bob + "&username=", nil, 400, "invalid_request"},
			{"refresh_token twice", refreshForm(strings.Repeat("A", 43)) + "&refresh_token=" + strings.Repeat("B", 43), nil, 400, "invalid_request"},
			{"client_id twice", bob + "&client_id=a&client_id=b", nil, 400, "invalid_request"},
			{"a semicolon separator", "grant_type=password;username=" + marker, nil, 400, "invalid_request"},
			{"a bad percent escape", bob + "&scope=%zz" + marker, nil, 400, "invalid_request"},
			{"a username that is not UTF-8", "grant_type=password&password=x&username=%ff%fe" + marker, nil, 400, "invalid_request"},
			{"no username", "grant_type=password&password=" + marker, nil, 400, "invalid_request"},
			{"no password", "grant_type=password&username=" + marker, nil, 400, "invalid_request"},
			{"a password over bcrypt's 72 bytes", passwordForm("bob@example.com", strings.Repeat("x", 73)), nil, 400, "invalid_request"},
			{"a username over 320 bytes", passwordForm(strings.Repeat("x", 321), "x"), nil, 400, "invalid_request"},
			{"no refresh_token", "grant_type=refresh_token", nil, 400, "invalid_request"},
			{"a malformed refresh_token", refreshForm(marker), nil, 400, "invalid_grant"},
			{"an unknown refresh_token", refreshForm(strings.Repeat("A", 43)), nil, 400, "invalid_grant"},
			{"a scope", bob + "&scope=openid+" + url.QueryEscape(marker), nil, 400, "invalid_scope"},
			{"a body over 8 KiB", passwordForm("bob@example.com", strings.Repeat("x", 9000)), nil, 413, "invalid_request"},
			{"a JSON body", `{"grant_type":"password","username":"bob@example.com","password":"` + bobPassword + `"}`,
				func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, 400, "invalid_request"},
			{"no content type", bob, func(r *http.Request) { r.Header.Del("Content-Type") }, 400, "invalid_request"},
			{"a multipart body", bob, func(r *http.Request) { r.Header.Set("Content-Type", "multipart/form-data; boundary=x") }, 400, "invalid_request"},
			{"a charset other than UTF-8", bob, func(r *http.Request) { r.Header.Set("Content-Type", formType+"; charset=latin1") }, 400, "invalid_request"},
			{"a malformed content type", bob, func(r *http.Request) { r.Header.Set("Content-Type", formType+"; ;"+marker) }, 400, "invalid_request"},
			{"two content types", bob, func(r *http.Request) { r.Header.Add("Content-Type", "text/plain") }, 400, "invalid_request"},
			{"credentials in the query string", "grant_type=password", func(r *http.Request) {
				r.URL.RawQuery = "username=bob%40example.com&password=" + bobPassword
			}, 400, "invalid_request"},
			{"any query string", bob, func(r *http.Request) { r.URL.RawQuery = "x=" + url.QueryEscape(marker) }, 400, "invalid_request"},
			{"a client secret in the body", bob + "&client_id=shop-web&client_secret=" + url.QueryEscape(marker), nil, 401, "invalid_client"},
			{"HTTP Basic client authentication", bob, func(r *http.Request) { r.SetBasicAuth("shop-web", marker) }, 401, "invalid_client"},
			{"a bearer token", bob, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+first.AccessToken) }, 401, "invalid_client"},
		} {
			t.Run("refuses "+tc.name, func(t *testing.T) {
				resp, body := h.form("/auth/token", tc.body, tc.edit)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
				}
				if code := oauthErrorOf(t, resp, body); code != tc.code {
					t.Fatalf("error %q, want %q: %s", code, tc.code, body)
				}
				if strings.Contains(string(body), "marker") || strings.Contains(string(body), bobPassword) {
					t.Fatalf("the answer echoes the request: %s", body)
				}
				// RFC 6749 §5.2: a client that tried the Authorization header is challenged
				// in its scheme.
				if got := resp.Header.Get("WWW-Authenticate"); (got != "") != (tc.status == 401 && tc.edit != nil) || (got != "" && got != `Basic realm="tollgate"`) {
					t.Fatalf("WWW-Authenticate %q", got)
				}
			})
		}
		t.Run("GET is not allowed", func(t *testing.T) {
			resp, body := h.do("GET", "/auth/token", "", nil)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" || oauthErrorOf(t, resp, body) != "invalid_request" {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		})
		t.Run("none of the refused requests counted as a failed login", func(t *testing.T) {
			// bob's account allows 5 failures; the table sent many requests naming bob, and
			// the one wrong password above is the only failure.
			for i := range 4 {
				resp, body := h.form("/auth/token", passwordForm("bob@example.com", "wrong"), nil)
				if resp.StatusCode != 400 {
					t.Fatalf("failure %d: %d %s", i+2, resp.StatusCode, body)
				}
			}
			resp, body := h.form("/auth/token", bob, nil)
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("after 5 failures: %d %s", resp.StatusCode, body)
			}
		})
	})
}

func TestOAuthTokenSharesTheLoginRateLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, st harnessOption) {
		h := newHarness(t, st)
		for i := range 5 {
			var code int
			if i%2 == 0 {
				resp, _ := h.form("/auth/token", passwordForm("bob@example.com", "guess"), nil)
				code = resp.StatusCode
			} else {
				resp, _ := h.do("POST", "/auth/login", "", map[string]string{"email": "bob@example.com", "password": "guess"})
				code = resp.StatusCode
			}
			if code != 400 && code != 401 {
				t.Fatalf("failure %d: status %d", i+1, code)
			}
		}
		resp, body := h.form("/auth/token", passwordForm("bob@example.com", bobPassword), nil)
		if resp.StatusCode != http.StatusTooManyRequests || oauthErrorOf(t, resp, body) != "temporarily_unavailable" {
			t.Fatalf("sixth attempt at /auth/token: %d %s", resp.StatusCode, body)
		}
		if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Fatalf("429 without a Retry-After: %q", ra)
		}
		if resp, _ := h.do("POST", "/auth/login", "", map[string]string{"email": "bob@example.com", "password": bobPassword}); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("sixth attempt at /auth/login: %d", resp.StatusCode)
		}
		oauthTokensAt(t, h, "/auth/token", passwordForm("alice@example.com", alicePassword), nil)
	})
}

func TestOAuthRevoke(t *testing.T) {
	eachStore(t, func(t *testing.T, st harnessOption) {
		h := newHarness(t, st)
		revoke := func(t *testing.T, body string) {
			t.Helper()
			resp, out := h.form("/auth/revoke", body, nil)
			if resp.StatusCode != 200 || len(out) != 0 || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("revoke: %d %q %v", resp.StatusCode, out, resp.Header)
			}
		}
		bob := oauthTokensAt(t, h, "/auth/token", passwordForm("bob@example.com", bobPassword), nil)

		t.Run("a refresh token ends its session", func(t *testing.T) {
			tr := oauthTokensAt(t, h, "/auth/token", passwordForm("alice@example.com", alicePassword), nil)
			revoke(t, url.Values{"token": {tr.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {"shop-web"}}.Encode())
			resp, body := h.form("/auth/token", refreshForm(tr.RefreshToken), nil)
			if resp.StatusCode != 400 || oauthErrorOf(t, resp, body) != "invalid_grant" {
				t.Fatalf("a revoked refresh token still refreshes: %d %s", resp.StatusCode, body)
			}
			if resp, _ := h.do("GET", "/orders", tr.AccessToken, nil); resp.StatusCode != 401 {
				t.Fatalf("the session's access token still works: %d", resp.StatusCode)
			}
		})
		t.Run("an access token is revoked by its jti, whatever the hint", func(t *testing.T) {
			tr := oauthTokensAt(t, h, "/auth/token", passwordForm("alice@example.com", alicePassword), nil)
			revoke(t, url.Values{"token": {tr.AccessToken}, "token_type_hint": {"refresh_token"}}.Encode())
			if resp, _ := h.do("GET", "/orders", tr.AccessToken, nil); resp.StatusCode != 401 {
				t.Fatalf("a revoked access token still works: %d", resp.StatusCode)
			}
			next := oauthTokensAt(t, h, "/auth/token", refreshForm(tr.RefreshToken), nil)
			if resp, _ := h.do("GET", "/orders", next.AccessToken, nil); resp.StatusCode != 200 {
				t.Fatalf("revoking an access token ended its session too: %d", resp.StatusCode)
			}
		})
		for name, token := range map[string]string{
			"an unknown refresh token":                   strings.Repeat("A", 43),
			"a refresh token with one character changed": bob.RefreshToken[:42] + string("AB"[min(1, strings.Count(bob.RefreshToken[42:], "A"))]),
			"a garbage token":                            "not a token",
			"an over-long token":                         strings.Repeat("x", 5000),
			"a forged access token":                      bob.AccessToken[:len(bob.AccessToken)-4] + "AAAA",
		} {
			t.Run(name+" gets 200 too, with an unknown hint", func(t *testing.T) {
				revoke(t, url.Values{"token": {token}, "token_type_hint": {"id_token"}}.Encode())
			})
		}
		t.Run("no other session was touched", func(t *testing.T) {
			if resp, _ := h.do("GET", "/orders", bob.AccessToken, nil); resp.StatusCode != 200 {
				t.Fatalf("bob's access token: %d", resp.StatusCode)
			}
		})
		t.Run("revoking twice answers 200 twice", func(t *testing.T) {
			revoke(t, "token="+bob.AccessToken)
			revoke(t, "token="+bob.AccessToken)
			if resp, _ := h.do("GET", "/orders", bob.AccessToken, nil); resp.StatusCode != 401 {
				t.Fatalf("bob's revoked access token: %d", resp.StatusCode)
			}
			oauthTokensAt(t, h, "/auth/token", refreshForm(bob.RefreshToken), nil)
		})
		for _, tc := range []struct {
			name, body string
			edit       func(*http.Request)
			status     int
			code       string
		}{
			{"no token", "token_type_hint=refresh_token", nil, 400, "invalid_request"},
			{"token twice", "token=a&token=b", nil, 400, "invalid_request"},
			{"a client secret", "token=a&client_id=x&client_secret=y", nil, 401, "invalid_client"},
			{"HTTP Basic client authentication", "token=a", func(r *http.Request) { r.SetBasicAuth("x", "y") }, 401, "invalid_client"},
			{"a JSON body", `{"token":"a"}`, func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, 400, "invalid_request"},
			{"the token in the query string", "", func(r *http.Request) { r.URL.RawQuery = "token=a" }, 400, "invalid_request"},
			{"a body over 8 KiB", "token=" + strings.Repeat("x", 9000), nil, 413, "invalid_request"},
		} {
			t.Run("refuses "+tc.name, func(t *testing.T) {
				resp, body := h.form("/auth/revoke", tc.body, tc.edit)
				if resp.StatusCode != tc.status || oauthErrorOf(t, resp, body) != tc.code {
					t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tc.status, tc.code)
				}
			})
		}
	})
}

func TestOAuthEndpointsWithTheStoreDown(t *testing.T) {
	srv := testredis.Start(t)
	h := newHarness(t, withRedis(srv))
	testwait.For(t, 5*time.Second, "revocations loaded", h.server.Revocations().Synced)
	tr := oauthTokensAt(t, h, "/auth/token", passwordForm("bob@example.com", bobPassword), nil)

	srv.Kill()

	for name, req := range map[string][2]string{
		"the password grant":               {"/auth/token", passwordForm("bob@example.com", bobPassword)},
		"the refresh grant":                {"/auth/token", refreshForm(tr.RefreshToken)},
		"revoking a refresh token":         {"/auth/revoke", "token=" + tr.RefreshToken},
		"revoking an access token":         {"/auth/revoke", "token=" + tr.AccessToken},
		"a wrong password (no free guess)": {"/auth/token", passwordForm("bob@example.com", "guess")},
	} {
		t.Run(name+" answers 503", func(t *testing.T) {
			resp, body := h.form(req[0], req[1], nil)
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || oauthErrorOf(t, resp, body) != "temporarily_unavailable" {
				t.Fatalf("%d %s %v", resp.StatusCode, body, resp.Header)
			}
		})
	}
}

func TestOAuthMetadata(t *testing.T) {
	h := newHarness(t)
	const iss = "https://shop-api.shop.svc"
	common := map[string]any{
		"issuer":                                     iss,
		"jwks_uri":                                   iss + "/.well-known/jwks.json",
		"token_endpoint":                             iss + "/auth/token",
		"revocation_endpoint":                        iss + "/auth/revoke",
		"grant_types_supported":                      []any{"password", "refresh_token"},
		"response_types_supported":                   []any{},
		"token_endpoint_auth_methods_supported":      []any{"none"},
		"revocation_endpoint_auth_methods_supported": []any{"none"},
	}
	oidc := map[string]any{
		"subject_types_supported":               []any{"public"},
		"id_token_signing_alg_values_supported": []any{"ES256"},
	}
	for k, v := range common {
		oidc[k] = v
	}
	for path, want := range map[string]map[string]any{
		"/.well-known/oauth-authorization-server": common,
		"/.well-known/openid-configuration":       oidc,
	} {
		t.Run(path+" names only what exists", func(t *testing.T) {
			resp, body := h.do("GET", path, "", nil)
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			if string(gj) != string(wj) {
				t.Fatalf("got  %s\nwant %s", gj, wj)
			}
		})
	}
	t.Run("without login, the password grant is neither advertised nor served", func(t *testing.T) {
		h := newHarness(t, withAuthenticator(func(Authenticator) Authenticator { return nil }))
		var doc struct {
			Grants []string `json:"grant_types_supported"`
		}
		getJSON(t, h.http.URL+"/.well-known/oauth-authorization-server", &doc)
		if !slices.Equal(doc.Grants, []string{"refresh_token"}) {
			t.Fatalf("grants %v", doc.Grants)
		}
		resp, body := h.form("/auth/token", passwordForm("bob@example.com", bobPassword), nil)
		if resp.StatusCode != 400 || oauthErrorOf(t, resp, body) != "unsupported_grant_type" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("the endpoints follow authPathPrefix", func(t *testing.T) {
		h := newHarness(t, withPolicy(strings.Replace(testPolicyYAML, "  routes:", "  sidecar: {authPathPrefix: /oauth2}\n  routes:", 1)))
		var doc struct {
			Token  string `json:"token_endpoint"`
			Revoke string `json:"revocation_endpoint"`
		}
		getJSON(t, h.http.URL+"/.well-known/openid-configuration", &doc)
		if doc.Token != iss+"/oauth2/token" || doc.Revoke != iss+"/oauth2/revoke" {
			t.Fatalf("%+v", doc)
		}
		oauthTokensAt(t, h, "/oauth2/token", passwordForm("bob@example.com", bobPassword), nil)
	})
}

func TestOAuthDescriptionsFitTheirCharset(t *testing.T) {
	// RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
	for d := range oauthDescriptions {
		for _, c := range []byte(d) {
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				t.Errorf("description %q has %q", d, c)
			}
		}
	}
}

func TestOAuthErrorsNeverCarryAnUnlistedDescription(t *testing.T) {
	ew := errorWriter{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	w := httptest.NewRecorder()
	ew.writeOAuth(w, httptest.NewRequest("POST", "/auth/token", nil),
		&oauthError{status: http.StatusBadRequest, code: oauthInvalidRequestCode, desc: `from the request: "<marker>"`})
	if body := w.Body.String(); strings.Contains(body, "marker") || strings.Contains(body, "error_description") {
		t.Fatalf("an unlisted description was sent: %s", body)
	}
}

// TestOAuthBodiesHaveTheAuthBodyDeadline: a token or revocation request whose form never
// arrives is answered 408 and its connection closed once the body deadline passes.
func TestOAuthBodiesHaveTheAuthBodyDeadline(t *testing.T) {
	h := newHarness(t)
	h.server.cfg.AuthBodyTimeout = time.Second
	addr := serveAsDeployed(t, h)
	for _, path := range []string{"/auth/token", "/auth/revoke"} {
		t.Run(path, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, "POST "+path+" HTTP/1.1\r\nHost: app.example\r\nContent-Type: "+formType+"\r\nContent-Length: 8000\r\n\r\ngrant_type="); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			r := bufio.NewReader(c)
			resp, err := http.ReadResponse(r, &http.Request{Method: "POST"})
			if err != nil {
				t.Fatalf("no answer while the body does not arrive: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout || oauthErrorOf(t, resp, body) != "invalid_request" {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if _, err := r.ReadByte(); err == nil {
				t.Error("the connection goes on after an unfinished body")
			}
		})
	}
}
