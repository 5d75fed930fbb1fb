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
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Attacks on the proxy path: what a client with a valid token (or none) writes around it to
// make the app see something other than what the sidecar checked.

// rawExchange sends head (the request line and header lines, without the blank line that
// ends them) and body exactly as given, and returns the answer. Go's client would normalise
// some of what these tests need to send.
func rawExchange(t *testing.T, h *harness, head, body string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", h.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, head+"\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(head, " ")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// requestHead is a request line and headers, joined for rawExchange.
func requestHead(lines ...string) string { return strings.Join(lines, "\r\n") }

func TestConnectionCannotRemoveTheIdentityHeaders(t *testing.T) {
	h := newHarness(t)
	bob := h.login("bob@example.com", bobPassword).AccessToken
	for _, conn := range []string{
		"X-Auth-Subject, X-Auth-Role",
		"keep-alive, x-auth-subject, x-auth-role",
		"X-Auth-Role",
	} {
		t.Run("Connection: "+conn, func(t *testing.T) {
			resp, body := rawExchange(t, h, requestHead(
				"GET /orders HTTP/1.1", "Host: app.example", "Authorization: Bearer "+bob,
				"Connection: "+conn,
			), "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			got := h.app.Last().Header
			if v := got.Values(HeaderSubject); len(v) != 1 || v[0] != "7" {
				t.Errorf("the app saw %s %q", HeaderSubject, v)
			}
			if v := got.Values(HeaderRole); len(v) != 1 || v[0] != "clerk" {
				t.Errorf("the app saw %s %q", HeaderRole, v)
			}
		})
	}
}

// normalHeaderName is how CGI-style servers see a header name: upper case, and every character
// that is not a letter or digit as `_` (lighttpd maps `.` and `~` too, not only `-`).
func normalHeaderName(k string) string {
	b := []byte(k)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}

func TestUnderscoreSpellingsOfIdentityHeadersAreStripped(t *testing.T) {
	h := newHarness(t)
	bob := h.login("bob@example.com", bobPassword).AccessToken
	spoofs := []string{
		"X_Auth_Role: admin", "x_auth_subject: 42", "X-Auth_Role: admin", "X_AUTH-SUBJECT: 42",
		"x_AUTH_role: admin", "X_Auth_Anything: x",
		"X.Auth.Role: admin", "X~Auth~Subject: 42", "x-auth.role: admin", "X!Auth#Role: admin", "X`Auth|Role: admin",
	}
	for _, tc := range []struct {
		name, target, token string
		subject, role       string // what the app must see, once, under the canonical names
	}{
		{name: "on a public route", target: "/public/info"},
		{name: "on a protected route", target: "/orders", token: bob, subject: "7", role: "clerk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := []string{"GET " + tc.target + " HTTP/1.1", "Host: app.example"}
			if tc.token != "" {
				lines = append(lines, "Authorization: Bearer "+tc.token)
			}
			resp, body := rawExchange(t, h, requestHead(append(lines, spoofs...)...), "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			seen := map[string][]string{}
			for k, v := range h.app.Last().Header {
				if n := normalHeaderName(k); strings.HasPrefix(n, "X_AUTH_") {
					seen[n] = append(seen[n], v...)
				}
			}
			want := map[string][]string{}
			if tc.subject != "" {
				want["X_AUTH_SUBJECT"] = []string{tc.subject}
				want["X_AUTH_ROLE"] = []string{tc.role}
			}
			if len(seen) != len(want) {
				t.Fatalf("the app saw %v, want %v", seen, want)
			}
			for k, v := range want {
				if len(seen[k]) != 1 || seen[k][0] != v[0] {
					t.Errorf("the app saw %s as %q, want %q", k, seen[k], v)
				}
			}
		})
	}
}

// TestForwardedHeadersCannotBeSpelledOver: the sidecar sets X-Forwarded-For, -Host and
// -Proto; an X_Forwarded_For from the client is the same HTTP_X_FORWARDED_FOR to a CGI-style
// server and would clobber it (Puma's CVE-2024-45614).
func TestForwardedHeadersCannotBeSpelledOver(t *testing.T) {
	h := newHarness(t)
	resp, body := rawExchange(t, h, requestHead("GET /public/info HTTP/1.1", "Host: app.example",
		"X_Forwarded_For: 6.6.6.6", "X.Forwarded.Host: evil.example", "x_forwarded_proto: https", "X-Forwarded_For: 6.6.6.6"), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	seen := map[string][]string{}
	for k, v := range h.app.Last().Header {
		if n := normalHeaderName(k); strings.HasPrefix(n, "X_FORWARDED_") {
			seen[n] = append(seen[n], v...)
		}
	}
	want := map[string]string{"X_FORWARDED_FOR": "127.0.0.1", "X_FORWARDED_HOST": "app.example", "X_FORWARDED_PROTO": "http"}
	if len(seen) != len(want) {
		t.Fatalf("the app saw %v", seen)
	}
	for k, v := range want {
		if len(seen[k]) != 1 || seen[k][0] != v {
			t.Errorf("the app saw %s as %q, want %q", k, seen[k], v)
		}
	}
}

// TestPathOverrideHeadersAreStripped: X-Original-URL and X-Rewrite-URL make IIS-era
// frameworks (Zend Framework 1, older Symfony and Laminas) route by their value instead of
// the path: a request matched as /public/info would run /admin.
func TestPathOverrideHeadersAreStripped(t *testing.T) {
	h := newHarness(t)
	resp, body := rawExchange(t, h, requestHead("GET /public/info HTTP/1.1", "Host: app.example",
		"X-Original-URL: /admin", "X-Rewrite-URL: /admin", "x_original_url: /admin", "X.Rewrite.Url: /admin"), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for k, v := range h.app.Last().Header {
		if n := normalHeaderName(k); n == "X_ORIGINAL_URL" || n == "X_REWRITE_URL" {
			t.Errorf("the app got %s: %q", k, v)
		}
	}
}

func TestMethodsAreForwardedAsMatched(t *testing.T) {
	h := newHarness(t)
	bob := h.login("bob@example.com", bobPassword).AccessToken
	t.Run("a method not in upper case is refused before the routes", func(t *testing.T) {
		for _, tc := range []struct{ method, target string }{
			{"get", "/public/info"}, {"Get", "/public/info"}, {"head", "/public/info"},
			{"post", "/orders"}, {"pOST", "/orders"}, {"get", "/reports"}, {"delete", "/elsewhere"},
			{"post", "/auth/login"}, {"get", "/.well-known/jwks.json"},
		} {
			before := h.app.Last()
			resp, body := rawExchange(t, h, requestHead(
				tc.method+" "+tc.target+" HTTP/1.1", "Host: app.example", "Authorization: Bearer "+bob, "Content-Length: 0",
			), "")
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(errorOf(t, body), "upper case") {
				t.Errorf("%s %s: %d %s", tc.method, tc.target, resp.StatusCode, body)
			}
			if h.app.Last() != before {
				t.Errorf("%s %s reached the app as %s", tc.method, tc.target, h.app.Last().Method)
			}
		}
	})
	t.Run("an upper-case extension method reaches the app as sent", func(t *testing.T) {
		resp, body := rawExchange(t, h, requestHead("PROPFIND /files HTTP/1.1", "Host: app.example", "Authorization: Bearer "+bob), "")
		if resp.StatusCode != http.StatusOK || h.app.Last().Method != "PROPFIND" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("method-override headers are stripped by default", func(t *testing.T) {
		resp, body := rawExchange(t, h, requestHead(
			"POST /orders HTTP/1.1", "Host: app.example", "Authorization: Bearer "+bob, "Content-Length: 0",
			"X-HTTP-Method-Override: DELETE", "X-HTTP-Method: DELETE", "X-Method-Override: DELETE",
			"X_HTTP_Method_Override: DELETE", "x-http-method-override: DELETE",
			"X.HTTP.Method.Override: DELETE", "X~Method~Override: DELETE", "X-HTTP-Method.Override: DELETE",
		), "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		got := h.app.Last()
		for k := range got.Header {
			switch normalHeaderName(k) {
			case "X_HTTP_METHOD_OVERRIDE", "X_HTTP_METHOD", "X_METHOD_OVERRIDE":
				t.Errorf("the app got %s: %q", k, got.Header[k])
			}
		}
		if got.Method != "POST" {
			t.Errorf("the app got %s", got.Method)
		}
	})
	t.Run("a _method query parameter is refused by default", func(t *testing.T) {
		for _, query := range []string{
			"_method=DELETE", "a=1&_method=delete", "a=1;_method=DELETE", "%5Fmethod=DELETE", "_METHOD=DELETE",
			".method=DELETE", "+method=DELETE", "_method=%44ELETE",
		} {
			before := h.app.Last()
			resp, body := rawExchange(t, h, requestHead(
				"POST /orders?"+query+" HTTP/1.1", "Host: app.example", "Authorization: Bearer "+bob, "Content-Length: 0",
			), "")
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(errorOf(t, body), "_method") {
				t.Errorf("?%s: %d %s", query, resp.StatusCode, body)
			}
			if h.app.Last() != before {
				t.Errorf("?%s reached the app", query)
			}
		}
		for _, query := range []string{"method=DELETE", "_method=", "x_method=DELETE", "q=_method%3DDELETE"} {
			resp, body := rawExchange(t, h, requestHead(
				"POST /orders?"+query+" HTTP/1.1", "Host: app.example", "Authorization: Bearer "+bob, "Content-Length: 0",
			), "")
			if resp.StatusCode != http.StatusOK || h.app.Last().URL.RawQuery != query {
				t.Errorf("?%s: %d %s", query, resp.StatusCode, body)
			}
		}
	})
}

const evaluatePolicyYAML = `
apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: shop-api, namespace: shop}
spec:
  issuer: https://shop-api.shop.svc
  audiences: [shop-api]
  login:
    rateLimit: {maxAttempts: 5, maxAttemptsPerClient: 1000, window: 15m}
  routes:
  - {path: /orders, methods: [DELETE], roles: [admin]}
  - {path: /orders, methods: [POST], roles: [admin, clerk]}
  - {pathPrefix: /feed, methods: [GET], public: true}
  sidecar: {methodOverride: Evaluate}
`

func TestMethodOverridesAreEvaluated(t *testing.T) {
	h := newHarness(t, withPolicy(evaluatePolicyYAML))
	bob := h.login("bob@example.com", bobPassword).AccessToken
	alice := h.login("alice@example.com", alicePassword).AccessToken
	for _, tc := range []struct {
		name           string
		method, target string
		token          string
		override       []string // header lines
		status         int
		forwarded      map[string]string // override headers the app must get, exactly
	}{
		{name: "a clerk may POST orders", method: "POST", target: "/orders", token: bob, status: 200},
		{name: "a clerk may not POST orders as DELETE", method: "POST", target: "/orders", token: bob,
			override: []string{"X-HTTP-Method-Override: DELETE"}, status: 403},
		{name: "nor spelt in lower case", method: "POST", target: "/orders", token: bob,
			override: []string{"X-HTTP-Method: delete"}, status: 403},
		{name: "nor with underscores", method: "POST", target: "/orders", token: bob,
			override: []string{"X_Method_Override: DELETE"}, status: 403},
		{name: "nor with dots, which lighttpd reads as underscores", method: "POST", target: "/orders", token: bob,
			override: []string{"X.HTTP.Method.Override: DELETE"}, status: 403},
		{name: "an admin may, and the app gets the override upper-cased", method: "POST", target: "/orders", token: alice,
			override: []string{"X-HTTP-Method-Override: delete", "X_Method_Override: DELETE"}, status: 200,
			forwarded: map[string]string{"X-Http-Method-Override": "DELETE", "X-Method-Override": "DELETE"}},
		{name: "overrides that disagree are refused", method: "POST", target: "/orders", token: alice,
			override: []string{"X-HTTP-Method-Override: DELETE", "X-HTTP-Method: GET"}, status: 400},
		{name: "a list is refused", method: "POST", target: "/orders", token: alice,
			override: []string{"X-HTTP-Method-Override: GET, DELETE"}, status: 400},
		{name: "a public GET run as DELETE needs a token", method: "GET", target: "/feed",
			override: []string{"X-HTTP-Method-Override: DELETE"}, status: 401},
		{name: "a POST run as the public GET still needs one", method: "POST", target: "/feed",
			override: []string{"X-HTTP-Method-Override: GET"}, status: 401},
		{name: "a clerk may not POST orders with ?_method=DELETE", method: "POST", target: "/orders?_method=DELETE", token: bob, status: 403},
		{name: "nor with ?_method percent-encoded", method: "POST", target: "/orders?x=1&%5Fmethod=delete", token: bob, status: 403},
		{name: "an admin may, and the query reaches the app as sent", method: "POST", target: "/orders?_method=delete", token: alice, status: 200},
		{name: "a query override and a header that disagree are refused", method: "POST", target: "/orders?_method=DELETE", token: alice,
			override: []string{"X-HTTP-Method-Override: PUT"}, status: 400},
		{name: "a public GET overridden to GET stays public", method: "GET", target: "/feed",
			override: []string{"X-HTTP-Method-Override: get"}, status: 200,
			forwarded: map[string]string{"X-Http-Method-Override": "GET"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := []string{tc.method + " " + tc.target + " HTTP/1.1", "Host: app.example", "Content-Length: 0"}
			if tc.token != "" {
				lines = append(lines, "Authorization: Bearer "+tc.token)
			}
			before := h.app.Last()
			resp, body := rawExchange(t, h, requestHead(append(lines, tc.override...)...), "")
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if tc.status != 200 {
				if h.app.Last() != before {
					t.Fatal("the request reached the app")
				}
				return
			}
			got := map[string]string{}
			for k, v := range h.app.Last().Header {
				if methodOverrideName(k) != "" {
					got[k] = strings.Join(v, "|")
				}
			}
			if len(got) != len(tc.forwarded) {
				t.Fatalf("the app got overrides %v, want %v", got, tc.forwarded)
			}
			for k, v := range tc.forwarded {
				if got[k] != v {
					t.Fatalf("the app got overrides %v, want %v", got, tc.forwarded)
				}
			}
		})
	}
}

func TestOneCredentialIsVerifiedAndForwarded(t *testing.T) {
	h := newHarness(t)
	bob := h.login("bob@example.com", bobPassword).AccessToken
	alice := h.login("alice@example.com", alicePassword).AccessToken
	t.Run("several credentials are refused", func(t *testing.T) {
		for _, tc := range []struct {
			name, target string
			auth         []string
		}{
			{"two headers, the valid one first", "/orders", []string{"Bearer " + bob, "Bearer " + alice}},
			{"two headers, a bogus one first", "/orders", []string{"Bearer x.y.z", "Bearer " + bob}},
			{"two headers, the same token twice", "/orders", []string{"Bearer " + bob, "Bearer " + bob}},
			{"a bearer and a basic", "/orders", []string{"Bearer " + bob, "Basic YWRtaW46YWRtaW4="}},
			{"two tokens joined in one header", "/orders", []string{"Bearer " + bob + ", Bearer " + alice}},
			{"two headers on a public route", "/public/info", []string{"Bearer " + bob, "Bearer " + alice}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				lines := []string{"POST " + tc.target + " HTTP/1.1", "Host: app.example", "Content-Length: 0"}
				for _, a := range tc.auth {
					lines = append(lines, "Authorization: "+a)
				}
				before := h.app.Last()
				resp, body := rawExchange(t, h, requestHead(lines...), "")
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
				if h.app.Last() != before {
					t.Fatalf("the app got Authorization %q", h.app.Last().Header.Values("Authorization"))
				}
			})
		}
	})
	t.Run("the app gets exactly the verified token", func(t *testing.T) {
		for _, auth := range []string{"Bearer " + bob, "bearer    " + bob, "BEARER " + bob} {
			resp, body := rawExchange(t, h, requestHead("GET /anything HTTP/1.1", "Host: app.example", "Authorization: "+auth), "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%q: %d %s", auth, resp.StatusCode, body)
			}
			if got := h.app.Last().Header.Values("Authorization"); len(got) != 1 || got[0] != "Bearer "+bob {
				t.Fatalf("%q: the app got %q", auth, got)
			}
		}
	})
	t.Run("logout with two credentials revokes neither", func(t *testing.T) {
		resp, body := rawExchange(t, h, requestHead("POST /auth/logout HTTP/1.1", "Host: app.example", "Content-Length: 0",
			"Authorization: Bearer "+bob, "Authorization: Bearer "+alice), "")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		h.assertAccepted(t, bob, "7")
	})
}

// FuzzBearerCredential checks the reading of Authorization headers on any input: a token is
// found only in a request with one header, it is a b64token, and what is forwarded for it
// reads back as the same token.
func FuzzBearerCredential(f *testing.F) {
	for _, s := range [][2]string{
		{"Bearer abc.def.ghi", ""}, {"bearer   abc", ""}, {"Bearer a, Bearer b", ""}, {"Bearer", ""},
		{"Bearer ", ""}, {"Basic YWxhZGRpbjpvcGVuc2VzYW1l", ""}, {"Bearer a", "Bearer b"},
		{"Bearer a==", ""}, {"Bearer =", ""}, {"Bearer a b", ""}, {"Bearer a\"b", ""},
		{"Digest username=\"a\", realm=\"b\"", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, first, second string) {
		h := http.Header{"Authorization": {first}}
		if second != "" {
			h.Add("Authorization", second)
		}
		r := &http.Request{Header: h}
		tok, err := bearerToken(r)
		ok := err == nil
		// The proxy reads the credential with bearerCredential and leaves the b64token
		// check to Tokens.Verify: together they must accept exactly what bearerToken does.
		if cred, cerr := bearerCredential(r); ok != (cerr == nil && isB64Token(cred)) || ok && cred != tok {
			t.Fatalf("bearerCredential %q (%v) disagrees with bearerToken %q (%v)", cred, cerr, tok, err)
		}
		single := singleCredential(h) == nil
		if second != "" && (ok || single) {
			t.Fatalf("two headers: token %q (%v), single %v", tok, ok, single)
		}
		if !ok {
			return
		}
		if !isB64Token(tok) || strings.ContainsAny(tok, " ,\"\\") {
			t.Fatalf("%q gave token %q", first, tok)
		}
		again, err := bearerToken(&http.Request{Header: http.Header{"Authorization": {"Bearer " + tok}}})
		ok = err == nil
		if !ok || again != tok {
			t.Fatalf("the forwarded credential for %q reads back as %q, %v", tok, again, ok)
		}
		if !single {
			t.Fatalf("%q holds one token, yet is refused as several", first)
		}
	})
}

// serveEcho answers a WebSocket handshake with 101 and then echoes every byte back: enough of
// a WebSocket for the proxy, which only copies bytes once the protocol is switched.
func serveEcho(w http.ResponseWriter, r *http.Request) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	if brw.Flush() != nil {
		return
	}
	buf := make([]byte, 512)
	for {
		n, err := brw.Read(buf)
		if n > 0 {
			if _, err := conn.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// tunnel is a client's end of an upgraded connection through the sidecar.
type tunnel struct {
	conn net.Conn
	r    *bufio.Reader
}

// openTunnel sends a WebSocket handshake with token and returns the switched connection.
func openTunnel(t *testing.T, h *harness, token string) *tunnel {
	t.Helper()
	conn, err := net.Dial("tcp", h.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := requestHead("GET /ws HTTP/1.1", "Host: app.example", "Authorization: Bearer "+token,
		"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
	if _, err := io.WriteString(conn, head+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	tn := &tunnel{conn: conn, r: bufio.NewReader(conn)}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(tn.r, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("handshake: %d %s", resp.StatusCode, body)
	}
	tn.echo(t, "hello")
	return tn
}

// echo sends msg and checks it comes back.
func (tn *tunnel) echo(t *testing.T, msg string) {
	t.Helper()
	_ = tn.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(tn.conn, msg); err != nil {
		t.Fatalf("writing to the tunnel: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(tn.r, got); err != nil || string(got) != msg {
		t.Fatalf("the tunnel echoed %q, %v", got, err)
	}
}

// waitClosed reads until the sidecar closes the tunnel. It fails if the tunnel is still
// open after a deadline far above the one-second check: that is a tunnel nobody closes.
func (tn *tunnel) waitClosed(t *testing.T) {
	t.Helper()
	_ = tn.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.Copy(io.Discard, tn.r)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatal("the tunnel is still open")
	}
}

func TestUpgrades(t *testing.T) {
	t.Run("h2c is refused", func(t *testing.T) {
		h := newHarness(t)
		bob := h.login("bob@example.com", bobPassword).AccessToken
		for _, up := range []string{"h2c", "H2C", "websocket, h2c", "h2c/1"} {
			for _, target := range []string{"/orders", "/public/info"} {
				before := h.app.Last()
				resp, body := rawExchange(t, h, requestHead("GET "+target+" HTTP/1.1", "Host: app.example", "Authorization: Bearer "+bob,
					"Connection: Upgrade, HTTP2-Settings", "Upgrade: "+up, "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"), "")
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("Upgrade: %s to %s: %d %s", up, target, resp.StatusCode, body)
				}
				if h.app.Last() != before {
					t.Errorf("Upgrade: %s to %s reached the app", up, target)
				}
			}
		}
	})
	t.Run("HTTP2-Settings never reaches the app", func(t *testing.T) {
		h := newHarness(t)
		resp, body := rawExchange(t, h, requestHead("GET /public/info HTTP/1.1", "Host: app.example", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"), "")
		if resp.StatusCode != http.StatusOK || h.app.Last().Header.Get("HTTP2-Settings") != "" {
			t.Fatalf("%d %s; app got %v", resp.StatusCode, body, h.app.Last().Header)
		}
	})
	t.Run("a WebSocket needs a valid token", func(t *testing.T) {
		h := newHarness(t)
		resp, body := rawExchange(t, h, requestHead("GET /ws HTTP/1.1", "Host: app.example", "Connection: Upgrade", "Upgrade: websocket"), "")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("a WebSocket is closed when its token expires", func(t *testing.T) {
		h := newHarness(t)
		tn := openTunnel(t, h, h.login("bob@example.com", bobPassword).AccessToken)
		if got := h.app.Last().Header.Get(HeaderSubject); got != "7" {
			t.Fatalf("the app saw subject %q", got)
		}
		h.clock.Advance(h.server.policy().accessLifetime() - time.Second)
		time.Sleep(2 * tunnelCheckInterval) // checked again at least once: still valid
		tn.echo(t, "still there")
		h.clock.Advance(2 * time.Second)
		tn.waitClosed(t)
	})
	t.Run("a WebSocket is closed when its token is revoked", func(t *testing.T) {
		h := newHarness(t)
		bob := h.login("bob@example.com", bobPassword).AccessToken
		tn := openTunnel(t, h, bob)
		other := openTunnel(t, h, h.login("bob@example.com", bobPassword).AccessToken)
		if resp, body := h.do("POST", "/auth/logout", bob, nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %d %s", resp.StatusCode, body)
		}
		tn.waitClosed(t)
		other.echo(t, "another session is still open")
	})
	t.Run("a WebSocket is closed when the subject logs out everywhere", func(t *testing.T) {
		h := newHarness(t)
		tn := openTunnel(t, h, h.login("bob@example.com", bobPassword).AccessToken)
		h.clock.Advance(time.Second)
		bob := h.login("bob@example.com", bobPassword).AccessToken
		if resp, body := h.do("POST", "/auth/logout", bob, map[string]any{"all": true}); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %d %s", resp.StatusCode, body)
		}
		tn.waitClosed(t)
	})
}

// wwwAuthenticateInvalidToken is the whole WWW-Authenticate of a refused token: its
// error_description a quoted-string of plain characters (no `"` or `\`).
var wwwAuthenticateInvalidToken = regexp.MustCompile(`^Bearer realm="tollgate", error="invalid_token", error_description="invalid token: [a-z0-9 +./-]+"$`)

func TestTokenErrorsAreFixedText(t *testing.T) {
	h := newHarness(t)
	key := h.activeKey()
	for _, name := range []string{
		`a"b`, `x", error="insufficient_scope`, `\`, `"`, "jku", "é", "x\x00y", "\r\nX-Evil: 1", strings.Repeat("z", 100),
	} {
		t.Run(fmt.Sprintf("a header named %q", name), func(t *testing.T) {
			tok := signWith(t, key, h.claimsFor("7", "clerk"), func(hd map[string]any) { hd[name] = 1 })
			resp, body := h.do("GET", "/orders", tok, nil)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			const want = `Bearer realm="tollgate", error="invalid_token", error_description="invalid token: header not accepted"`
			if got := resp.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != want {
				t.Fatalf("WWW-Authenticate %q", got)
			}
			if msg := errorOf(t, body); msg != "invalid token: header not accepted" {
				t.Fatalf("error %q", msg)
			}
			if resp.Header.Get("X-Evil") != "" {
				t.Fatal("the token wrote a response header")
			}
		})
	}
	t.Run("every refusal is one of the fixed descriptions", func(t *testing.T) {
		expired := h.claimsFor("7", "clerk")
		expired.ExpiresAt = jwt.NewNumericDate(h.clock.Now().Add(-time.Hour))
		wrongIss := h.claimsFor("7", "clerk")
		wrongIss.Issuer = `https://evil.example/"`
		for _, tok := range []string{
			"garbage", "a.b.c", strings.Repeat("x", MaxTokenSize+1),
			signWith(t, key, expired, nil), signWith(t, key, wrongIss, nil),
			signWith(t, key, h.claimsFor("7", "clerk"), func(hd map[string]any) { hd["kid"] = `"` }),
			signWith(t, key, h.claimsFor("7", "clerk"), func(hd map[string]any) { hd["typ"] = `JWT"\` }),
		} {
			resp, body := h.do("GET", "/orders", tok, nil)
			got := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != http.StatusUnauthorized || !wwwAuthenticateInvalidToken.MatchString(got) {
				t.Errorf("%d %q %s", resp.StatusCode, got, body)
			}
			msg := errorOf(t, body)
			if _, ok := tokenErrorDescriptions[strings.TrimPrefix(msg, "invalid token: ")]; !ok {
				t.Errorf("error %q is not a fixed description", msg)
			}
		}
	})
	t.Run("the fixed descriptions are plain text", func(t *testing.T) {
		for d := range tokenErrorDescriptions {
			if !wwwAuthenticateInvalidToken.MatchString(invalidTokenHeader(d)) {
				t.Errorf("%q", d)
			}
		}
	})
}

func invalidTokenHeader(desc string) string {
	return `Bearer realm="tollgate", error="invalid_token", error_description="invalid token: ` + desc + `"`
}

// FuzzForwardedHeaderNames: whatever a client names a header, the app never gets a header a
// CGI-style server would read as one the sidecar sets or strips, other than the sidecar's own.
func FuzzForwardedHeaderNames(f *testing.F) {
	for _, k := range []string{
		"X_Auth_Role", "X.Auth.Subject", "X_Forwarded_For", "x.forwarded.host", "X-Forwarded_Proto",
		"X_Original_Url", "X~Rewrite~URL", "X.HTTP.Method.Override", "X-Auth-", "Accept",
	} {
		f.Add(k, "v")
	}
	owned := map[string]bool{
		"X_FORWARDED_FOR": true, "X_FORWARDED_HOST": true, "X_FORWARDED_PROTO": true,
		"X_ORIGINAL_URL": true, "X_REWRITE_URL": true,
		"X_HTTP_METHOD_OVERRIDE": true, "X_HTTP_METHOD": true, "X_METHOD_OVERRIDE": true,
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		h := http.Header{name: {value}, "Accept": {"*/*"}}
		for _, n := range forwardedHeaders {
			h[n] = []string{"set by the proxy"}
		}
		(&forwarding{identity: &Identity{Subject: "7", Role: "clerk"}, token: "t"}).apply(h)
		for k := range h {
			n := normalHeaderName(k)
			if !owned[n] && !strings.HasPrefix(n, "X_AUTH_") {
				continue
			}
			if k != HeaderSubject && k != HeaderRole && !slices.Contains(forwardedHeaders, k) {
				t.Fatalf("the app would get %q (from %q)", k, name)
			}
		}
		if name != "Accept" && h.Get("Accept") != "*/*" {
			t.Fatal("an unrelated header was lost")
		}
	})
}

// A Bearer credential that is not a b64token was sent, so it is an invalid token, not a
// missing one: the client is told so in WWW-Authenticate, as RFC 6750 asks.
func TestAMalformedBearerTokenIsAnInvalidToken(t *testing.T) {
	h := newHarness(t)
	bob := h.login("bob@example.com", bobPassword).AccessToken
	for _, tok := range []string{bob[:10] + "!" + bob[11:], "a b", "\"quoted\""} {
		for _, path := range []string{"/orders", "/auth/logout"} {
			method := "GET"
			if path == "/auth/logout" {
				method = "POST"
			}
			resp, body := h.do(method, path, tok, nil)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with %q: %d %s, want 401", method, path, tok, resp.StatusCode, body)
				continue
			}
			if got, want := resp.Header.Get("WWW-Authenticate"), invalidTokenHeader("malformed"); got != want {
				t.Errorf("%s %s with %q: WWW-Authenticate %q, want %q", method, path, tok, got, want)
			}
		}
	}
	resp, _ := h.do("GET", "/orders", "", nil)
	if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="tollgate"` {
		t.Errorf("no token: WWW-Authenticate %q, want no error", got)
	}
}
