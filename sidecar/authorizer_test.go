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
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// authorizer is a sidecar in authorizer mode sharing a harness's policy, keys, store and
// clock, so tokens the harness's proxy issues are valid here.
type authorizer struct {
	t      *testing.T
	server *Server
	url    string
}

func newAuthorizer(t *testing.T, h *harness) *authorizer {
	t.Helper()
	policy, err := ParsePolicy([]byte(h.policy))
	if err != nil {
		t.Fatal(err)
	}
	users, err := ParseUsers([]byte(testUsersYAML))
	if err != nil {
		t.Fatal(err)
	}
	db := NewUserDB(users)
	s, err := NewServer(Config{
		Policy: policy, Keys: h.keys, Store: h.store, Authenticator: db, Users: db,
		TokenCacheSize: h.cache, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: h.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(t.Context())
	ts := httptest.NewServer(s.AuthorizerHandler())
	t.Cleanup(ts.Close)
	return &authorizer{t: t, server: s, url: ts.URL}
}

// gatewayProtocols ask about one request the way each gateway does.
var gatewayProtocols = []struct {
	name string
	ask  func(a *authorizer, method, target string, h http.Header) *http.Response
}{
	{"nginx auth_request", func(a *authorizer, method, target string, h http.Header) *http.Response {
		h = h.Clone()
		h.Set("X-Original-Method", method)
		h.Set("X-Original-URI", target)
		return a.raw("GET", CheckOriginalPath, h)
	}},
	{"Traefik ForwardAuth", func(a *authorizer, method, target string, h http.Header) *http.Response {
		h = h.Clone()
		h.Set("X-Forwarded-Method", method)
		h.Set("X-Forwarded-Uri", target)
		// The other headers Traefik's ForwardAuth sets: none may make a check fail.
		for k, v := range map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example",
			"X-Forwarded-Port": "443", "X-Forwarded-Server": "traefik-7d9", "X-Real-Ip": "203.0.113.9", "X-Forwarded-For": "203.0.113.9"} {
			h.Set(k, v)
		}
		return a.raw("GET", CheckForwardedPath, h)
	}},
	{"Envoy ext_authz HTTP", func(a *authorizer, method, target string, h http.Header) *http.Response {
		return a.raw(method, CheckEnvoyPrefix+target, h)
	}},
}

// raw sends a request with target written as is on the request line.
func (a *authorizer) raw(method, target string, h http.Header) *http.Response {
	a.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(a.url, "http://"))
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n")
	_ = h.Write(&b)
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		a.t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, target, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp
}

// The authorizer decides as the proxy does, for every gateway protocol: the same status for
// the same request, whatever spelling of its path.
func TestAuthorizerDecidesAsTheProxy(t *testing.T) {
	h := newHarness(t)
	a := newAuthorizer(t, h)
	admin := h.login("alice@example.com", alicePassword).AccessToken
	clerk := h.login("bob@example.com", bobPassword).AccessToken
	loggedOut := h.login("bob@example.com", bobPassword).AccessToken
	if resp, body := h.do("POST", "/auth/logout", loggedOut, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		name, method, target, token string
		want                        int
	}{
		{"a public path without a token", "GET", "/public/x", "", 200},
		{"a private path without a token", "GET", "/orders", "", 401},
		{"a private path with a token", "GET", "/orders", clerk, 200},
		{"an admin path with a clerk's token", "GET", "/admin/users", clerk, 403},
		{"an admin path with an admin's token", "GET", "/admin/users", admin, 200},
		{"a method rule that allows a clerk", "POST", "/orders", clerk, 200},
		{"a method rule that refuses a clerk", "GET", "/reports", clerk, 403},
		{"HEAD under a GET rule", "HEAD", "/reports", clerk, 403},
		{"a logged-out token", "GET", "/orders", loggedOut, 401},
		{"a forged token", "GET", "/orders", clerk[:len(clerk)-4] + "AAAA", 401},
		{"dot segments out of a public prefix", "GET", "/public/../admin/users", clerk, 403},
		{"encoded dot segments out of a public prefix", "GET", "/public/%2e%2e/admin", "", 401},
		{"repeated slashes before an admin path", "GET", "//admin//users", clerk, 403},
		{"an encoded letter in an admin path", "GET", "/%61dmin", clerk, 403},
		{"an encoded slash", "GET", "/public%2F..%2Fadmin", "", 400},
		{"an encoded backslash", "GET", "/public/..%5Cadmin", "", 400},
		{"path parameters", "GET", "/public;x/../admin", "", 400},
		{"a control character", "GET", "/public/%00", "", 400},
		{"a lower-case method", "get", "/public/x", "", 400},
		{"a _method query parameter (Strip mode)", "POST", "/public/x?_method=DELETE", "", 400},
		{"a query that changes nothing", "GET", "/public/x?a=1&b=2", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{}
			if tc.token != "" {
				hdr.Set("Authorization", "Bearer "+tc.token)
			}
			proxied := proxyStatus(t, h, tc.method, tc.target, hdr)
			if proxied != tc.want {
				t.Fatalf("the proxy answers %d, the test expects %d: fix the test", proxied, tc.want)
			}
			for _, g := range gatewayProtocols {
				resp := g.ask(a, tc.method, tc.target, hdr)
				if resp.StatusCode != tc.want {
					body, _ := io.ReadAll(resp.Body)
					t.Errorf("%s: %d %s, the proxy answers %d", g.name, resp.StatusCode, body, tc.want)
				}
				if resp.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: 401 without WWW-Authenticate: Bearer", g.name)
				}
				if resp.StatusCode >= 400 && tc.method != "HEAD" {
					body, _ := io.ReadAll(resp.Body)
					errorOf(t, body)
				}
			}
		})
	}
}

// proxyStatus is what the harness's proxy answers to a request sent as written.
func proxyStatus(t *testing.T, h *harness, method, target string, hdr http.Header) int {
	t.Helper()
	a := &authorizer{t: t, url: h.http.URL}
	return a.raw(method, target, hdr).StatusCode
}

// An allowed request comes back with the identity to set upstream, and the one credential
// to forward; a public one with no identity at all.
func TestAuthorizerReturnsTheIdentityToForward(t *testing.T) {
	h := newHarness(t)
	a := newAuthorizer(t, h)
	admin := h.login("alice@example.com", alicePassword).AccessToken
	for _, g := range gatewayProtocols {
		t.Run(g.name, func(t *testing.T) {
			resp := g.ask(a, "GET", "/admin/x", http.Header{"Authorization": {"bearer  " + admin}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Get(HeaderSubject); got != "42" {
				t.Errorf("%s %q, want 42", HeaderSubject, got)
			}
			if got := resp.Header.Get(HeaderRole); got != "admin" {
				t.Errorf("%s %q, want admin", HeaderRole, got)
			}
			if got := resp.Header.Get("Authorization"); got != "Bearer "+admin {
				t.Errorf("Authorization %q, want the verified token alone", got)
			}
			resp = g.ask(a, "GET", "/public/x", http.Header{"Authorization": {"Bearer " + admin}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("public: status %d", resp.StatusCode)
			}
			for _, k := range []string{HeaderSubject, HeaderRole, "Authorization"} {
				if v := resp.Header.Values(k); len(v) > 0 {
					t.Errorf("public route: %s %q: a public route has no identity", k, v)
				}
			}
		})
	}
}

// The original request is read from exactly the headers of the endpoint's protocol, each
// present once; a check without them is refused, never answered for some default.
func TestAuthorizerReadsOnlyItsProtocolsHeaders(t *testing.T) {
	h := newHarness(t)
	a := newAuthorizer(t, h)
	for _, tc := range []struct {
		name, path string
		hdr        http.Header
		want       int
	}{
		{"nginx: no original URI", CheckOriginalPath, http.Header{"X-Original-Method": {"GET"}}, 400},
		{"nginx: no original method", CheckOriginalPath, http.Header{"X-Original-Uri": {"/public/x"}}, 400},
		{"nginx: an empty original URI", CheckOriginalPath, http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {""}}, 400},
		{"nginx: two original URIs", CheckOriginalPath, http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/public/x", "/admin"}}, 400},
		{"nginx: Traefik's headers are not read", CheckOriginalPath, http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/public/x"}}, 400},
		{"Traefik: nginx's headers are not read", CheckForwardedPath, http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/public/x"}}, 400},
		{"Traefik: a client's X-Original-URI does not replace the gateway's URI", CheckForwardedPath,
			http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/admin"}, "X-Original-Uri": {"/public/x"}}, 401},
		{"an absolute URI", CheckOriginalPath, http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"http://other/public/x"}}, 400},
		{"a fragment", CheckOriginalPath, http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/public/x#y"}}, 400},
		{"an asterisk", CheckOriginalPath, http.Header{"X-Original-Method": {"OPTIONS"}, "X-Original-Uri": {"*"}}, 400},
		{"a method that is no token", CheckOriginalPath, http.Header{"X-Original-Method": {"GE T"}, "X-Original-Uri": {"/public/x"}}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.raw("GET", tc.path, tc.hdr)
			if resp.StatusCode != tc.want {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.want)
			}
		})
	}
	t.Run("Envoy: dot segments cannot leave the prefix for another endpoint", func(t *testing.T) {
		// Checked as the original path /check/original, which needs a token: the forged
		// X-Original-URI is not read.
		resp := a.raw("GET", CheckEnvoyPrefix+"/../../check/original", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/public/x"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%d, want 401", resp.StatusCode)
		}
	})
	t.Run("a check endpoint with another spelling is not one", func(t *testing.T) {
		for _, p := range []string{"/check//original", "/check/./original", "/check/original/", "/CHECK/original", CheckEnvoyPrefix} {
			resp := a.raw("GET", p, http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/public/x"}})
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", p, resp.StatusCode)
			}
		}
	})
}

// What the proxy strips before the app sees it, a gateway forwards as sent: the authorizer
// refuses it instead.
func TestAuthorizerRefusesWhatTheGatewayWouldForward(t *testing.T) {
	h := newHarness(t)
	a := newAuthorizer(t, h)
	clerk := h.login("bob@example.com", bobPassword).AccessToken
	for _, hdr := range []string{"X-Auth-Role", "X_Auth_Role", "x.auth.subject", "X-Original-URL", "X-Rewrite-Url", "X_Forwarded_For", "Http2-Settings", "X-Http-Method-Override", "X_HTTP_METHOD"} {
		t.Run(hdr, func(t *testing.T) {
			for _, g := range gatewayProtocols {
				resp := g.ask(a, "GET", "/public/x", http.Header{hdr: {"DELETE"}, "Authorization": {"Bearer " + clerk}})
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s: %d, want 400", g.name, resp.StatusCode)
				}
			}
		})
	}
	t.Run("several credentials", func(t *testing.T) {
		for _, g := range gatewayProtocols {
			if resp := g.ask(a, "GET", "/orders", http.Header{"Authorization": {"Bearer " + clerk + ", Bearer x"}}); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d, want 400", g.name, resp.StatusCode)
			}
		}
	})
	t.Run("an h2c upgrade", func(t *testing.T) {
		for _, g := range gatewayProtocols {
			if resp := g.ask(a, "GET", "/public/x", http.Header{"Upgrade": {"h2c"}}); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d, want 400", g.name, resp.StatusCode)
			}
		}
	})
}

// With spec.sidecar.methodOverride Evaluate, an override is allowed and the request must
// pass the rules of both methods, as through the proxy.
func TestAuthorizerEvaluatesMethodOverrides(t *testing.T) {
	h := newHarness(t, withPolicy(strings.Replace(testPolicyYAML, "  routes:", "  sidecar: {methodOverride: Evaluate}\n  routes:", 1)))
	a := newAuthorizer(t, h)
	clerk := h.login("bob@example.com", bobPassword).AccessToken
	admin := h.login("alice@example.com", alicePassword).AccessToken
	for _, tc := range []struct {
		name, target, token string
		hdr                 http.Header
		want                int
	}{
		{"a GET run as POST /orders by a clerk", "/orders", clerk, http.Header{"X-Http-Method-Override": {"post"}}, 200},
		{"a POST run as GET /reports by a clerk", "/reports", clerk, http.Header{"X-Http-Method": {"GET"}}, 403},
		{"a POST run as GET /reports by an admin", "/reports", admin, http.Header{"X-Http-Method": {"GET"}}, 200},
		{"a _method query", "/reports?_method=GET", clerk, nil, 403},
		{"overrides that disagree", "/orders", clerk, http.Header{"X-Http-Method": {"GET"}, "X-Method-Override": {"DELETE"}}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{"Authorization": {"Bearer " + tc.token}}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			if got := proxyStatus(t, h, "POST", tc.target, hdr); got != tc.want {
				t.Fatalf("the proxy answers %d, the test expects %d", got, tc.want)
			}
			for _, g := range gatewayProtocols {
				if resp := g.ask(a, "POST", tc.target, hdr); resp.StatusCode != tc.want {
					t.Errorf("%s: %d, want %d", g.name, resp.StatusCode, tc.want)
				}
			}
		})
	}
}

// A gateway routes the auth endpoints and discovery documents to the authorizer; nothing
// else is served, since there is no app behind it.
func TestAuthorizerServesTheAuthEndpoints(t *testing.T) {
	h := newHarness(t)
	a := newAuthorizer(t, h)
	resp := a.raw("POST", "/auth/login", http.Header{"Content-Type": {"application/json"}, "Content-Length": {"0"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("login without a body: %d, want 400", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", a.url+"/auth/login", strings.NewReader(`{"email":"bob@example.com","password":"`+bobPassword+`"}`))
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Errorf("login: %d", r.StatusCode)
	}
	if resp := a.raw("GET", "/.well-known/jwks.json", http.Header{}); resp.StatusCode != http.StatusOK {
		t.Errorf("jwks: %d", resp.StatusCode)
	}
	for _, p := range []string{"/orders", "/public/x", "/auth/other", "/check"} {
		if resp := a.raw("GET", p, http.Header{}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// The app's password check is not reachable through the gateway either.
func TestAuthorizerRefusesTheVerifyPath(t *testing.T) {
	h := newHarness(t, withPolicy(strings.Replace(testPolicyYAML, "  login:\n", "  login:\n    verifyURL: http://127.0.0.1:9/internal/verify\n", 1)))
	a := newAuthorizer(t, h)
	for _, g := range gatewayProtocols {
		if resp := g.ask(a, "POST", "/internal/./verify", http.Header{}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", g.name, resp.StatusCode)
		}
	}
}

// With trusted proxies in the policy, the check endpoints answer only them: a caller from
// elsewhere is refused whatever it asks; the auth endpoints stay open to clients.
func TestAuthorizerAnswersOnlyTrustedGateways(t *testing.T) {
	for _, tc := range []struct {
		trusted string
		want    int
	}{{"[10.0.0.0/8]", http.StatusForbidden}, {"[127.0.0.1]", http.StatusOK}} {
		t.Run(tc.trusted, func(t *testing.T) {
			h := newHarness(t, withPolicy(strings.Replace(testPolicyYAML, "  routes:", "  sidecar: {trustedProxies: "+tc.trusted+"}\n  routes:", 1)))
			a := newAuthorizer(t, h)
			for _, g := range gatewayProtocols {
				resp := g.ask(a, "GET", "/public/x", http.Header{})
				if resp.StatusCode != tc.want {
					t.Errorf("%s: %d, want %d", g.name, resp.StatusCode, tc.want)
				}
			}
			if resp := a.raw("GET", "/.well-known/jwks.json", http.Header{}); resp.StatusCode != http.StatusOK {
				t.Errorf("jwks: %d", resp.StatusCode)
			}
		})
	}
}
