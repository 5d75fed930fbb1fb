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
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// corsPolicy is the harness's policy with spec.cors added.
func corsPolicyYAML(cors string) string {
	return testPolicyYAML + "  cors:\n" + cors
}

const allowedOrigin = "https://example.com"

const testCORS = `    allowedOrigins: ["https://example.com", "http://localhost:3000"]
    allowedMethods: [PUT, DELETE]
    allowedHeaders: [X-Trace]
    exposedHeaders: [X-Request-Id]
    allowCredentials: true
`

// corsRequest sends method to path with the given Origin headers (none, one or several) and
// extra headers.
func (h *harness) corsRequest(method, path, token string, origins []string, hdr map[string][]string) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.http.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, o := range origins {
		req.Header.Add("Origin", o)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func preflightHeaders(method string, headers ...string) map[string][]string {
	h := map[string][]string{"Access-Control-Request-Method": {method}}
	if len(headers) > 0 {
		h["Access-Control-Request-Headers"] = headers
	}
	return h
}

// corsHeaders are the response's Access-Control-* headers.
func corsHeaders(resp *http.Response) http.Header {
	out := http.Header{}
	for k, vs := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			out[k] = vs
		}
	}
	return out
}

func varies(resp *http.Response, name string) bool {
	for _, v := range resp.Header.Values("Vary") {
		for _, n := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(n), name) {
				return true
			}
		}
	}
	return false
}

// Origins that are not https://example.com byte for byte, and hostile forms of it.
var notAllowedOrigins = []struct {
	name    string
	origins []string
}{
	{"null", []string{"null"}},
	{"upper case", []string{"https://Example.com"}},
	{"upper-case scheme", []string{"HTTPS://example.com"}},
	{"another port", []string{"https://example.com:8443"}},
	{"the default port written out", []string{"https://example.com:443"}},
	{"another scheme", []string{"http://example.com"}},
	{"a trailing dot", []string{"https://example.com."}},
	{"a trailing slash", []string{"https://example.com/"}},
	{"a path", []string{"https://example.com/app"}},
	{"userinfo", []string{"https://user@example.com"}},
	{"a suffix trick", []string{"https://evil-example.com"}},
	{"a glued prefix", []string{"https://evilexample.com"}},
	{"a subdomain", []string{"https://app.example.com"}},
	{"the origin as a subdomain of another", []string{"https://example.com.evil.net"}},
	{"a shorter name", []string{"https://example.co"}},
	{"two origins in one header", []string{"https://example.com, https://evil.net"}},
	{"two origins in one header, space separated", []string{"https://example.com https://evil.net"}},
	{"empty", []string{""}},
	{"a wildcard", []string{"*"}},
	{"two Origin headers, the allowed one first", []string{"https://example.com", "https://evil.net"}},
	{"two Origin headers, both allowed", []string{"https://example.com", "https://example.com"}},
}

func TestCORSPreflight(t *testing.T) {
	h := newHarness(t, withPolicy(corsPolicyYAML(testCORS)))

	t.Run("an allowed origin gets the policy's answer without a token, and the app never sees it", func(t *testing.T) {
		for _, path := range []string{"/orders", "/admin/users/7", "/auth/login", "/auth/logout", "/public/x", "/.well-known/jwks.json"} {
			resp, body := h.corsRequest("OPTIONS", path, "", []string{allowedOrigin}, preflightHeaders("PUT", "authorization, content-type, x-trace"))
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
			}
			want := map[string]string{
				"Access-Control-Allow-Origin":      allowedOrigin,
				"Access-Control-Allow-Credentials": "true",
				"Access-Control-Allow-Methods":     "GET, HEAD, POST, PUT, DELETE",
				"Access-Control-Allow-Headers":     "authorization, content-type, accept, accept-language, content-language, range, x-trace",
				"Access-Control-Max-Age":           "600",
			}
			for k, v := range want {
				if got := resp.Header.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s: %s = %q, want %q", path, k, got, v)
				}
			}
			if !varies(resp, "Origin") || !varies(resp, "Access-Control-Request-Headers") {
				t.Errorf("%s: Vary = %q", path, resp.Header.Values("Vary"))
			}
		}
		if last := h.app.Last(); last != nil {
			t.Fatalf("a preflight reached the app: %s %s", last.Method, last.URL.Path)
		}
	})

	t.Run("the safelisted methods need no listing", func(t *testing.T) {
		for _, m := range []string{"GET", "HEAD", "POST", "DELETE"} {
			if resp, body := h.corsRequest("OPTIONS", "/orders", "", []string{allowedOrigin}, preflightHeaders(m, "authorization")); resp.StatusCode != http.StatusNoContent {
				t.Errorf("%s: %d %s", m, resp.StatusCode, body)
			}
		}
	})

	refused := func(t *testing.T, resp *http.Response, body []byte, reason string) {
		t.Helper()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%d %s, want 403", resp.StatusCode, body)
		}
		if got := corsHeaders(resp); len(got) != 0 {
			t.Fatalf("a refused preflight carries CORS headers: %v", got)
		}
		if e := errorOf(t, body); e != "CORS preflight refused: "+reason {
			t.Fatalf("error %q, want %q", e, reason)
		}
	}

	for _, tc := range notAllowedOrigins {
		t.Run("refused: origin "+tc.name, func(t *testing.T) {
			resp, body := h.corsRequest("OPTIONS", "/orders", "", tc.origins, preflightHeaders("POST", "authorization"))
			refused(t, resp, body, "origin not allowed")
		})
	}

	for _, tc := range []struct {
		name    string
		methods []string
	}{
		{"a method the policy does not list", []string{"PATCH"}},
		{"a listed method in lower case (the sidecar refuses lower-case methods)", []string{"put"}},
		{"a safelisted method in lower case", []string{"get"}},
		{"an empty method", []string{""}},
		{"two methods", []string{"GET", "PUT"}},
		{"two methods in one header", []string{"GET, PUT"}},
		{"CONNECT", []string{"CONNECT"}},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			resp, body := h.corsRequest("OPTIONS", "/orders", "", []string{allowedOrigin},
				map[string][]string{"Access-Control-Request-Method": tc.methods})
			refused(t, resp, body, "method not allowed")
		})
	}

	for _, tc := range []struct {
		name    string
		headers []string
		allowed bool
	}{
		{"the sidecar's own headers", []string{"authorization,content-type"}, true},
		{"a listed header in another case", []string{"Authorization, X-TRACE"}, true},
		{"empty elements and tabs", []string{" ,authorization,\t, x-trace ,"}, true},
		{"several header lines", []string{"authorization", "x-trace"}, true},
		{"an empty list", []string{""}, true},
		{"a header the policy does not list", []string{"authorization, x-evil"}, false},
		{"an X-Auth header (the identity the app trusts)", []string{"x-auth-role"}, false},
		{"a name with a space inside", []string{"authorization content-type"}, false},
		{"a name with a colon", []string{"authorization:"}, false},
		{"a wildcard", []string{"*"}, false},
		{"a quoted name", []string{`"authorization"`}, false},
		{"129 names", []string{strings.Repeat("authorization,", 129)}, false},
	} {
		t.Run("request headers: "+tc.name, func(t *testing.T) {
			resp, body := h.corsRequest("OPTIONS", "/orders", "", []string{allowedOrigin}, preflightHeaders("GET", tc.headers...))
			if tc.allowed {
				if resp.StatusCode != http.StatusNoContent {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
				return
			}
			refused(t, resp, body, "request headers not allowed")
		})
	}

	t.Run("an OPTIONS request that is no preflight is an ordinary request", func(t *testing.T) {
		resp, body := h.corsRequest("OPTIONS", "/orders", "", []string{allowedOrigin}, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%d %s, want the 401 of any request without a token", resp.StatusCode, body)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != allowedOrigin {
			t.Fatalf("the 401 is not readable by the allowed origin: %v", corsHeaders(resp))
		}
	})

	if got := valueOf(h.server.Metrics().Requests.WithLabelValues("preflight_refused")); got == 0 {
		t.Error("tollgate_requests_total{outcome=\"preflight_refused\"} did not count the refusals")
	}
}

func TestCORSResponses(t *testing.T) {
	h := newHarness(t, withPolicy(corsPolicyYAML(testCORS)))
	alice := h.login("alice@example.com", alicePassword)
	bob := h.login("bob@example.com", bobPassword)

	for _, tc := range []struct {
		name, method, path, token string
		status                    int
	}{
		{"a proxied call", "POST", "/orders", alice.AccessToken, http.StatusOK},
		{"a proxied call the app answers with its own CORS headers", "GET", "/admin/reflect-cors", alice.AccessToken, http.StatusOK},
		{"the sidecar's 401", "GET", "/orders", "", http.StatusUnauthorized},
		{"the sidecar's 401 for a bad token", "GET", "/orders", "x.y.z", http.StatusUnauthorized},
		{"the sidecar's 403", "GET", "/reports", bob.AccessToken, http.StatusForbidden},
		{"the sidecar's 405 on an auth endpoint", "GET", "/auth/login", "", http.StatusMethodNotAllowed},
		{"the JWKS", "GET", "/.well-known/jwks.json", "", http.StatusOK},
		{"a public route", "GET", "/public/reflect-cors", "", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("from the allowed origin", func(t *testing.T) {
				resp, body := h.corsRequest(tc.method, tc.path, tc.token, []string{allowedOrigin}, nil)
				if resp.StatusCode != tc.status {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
				want := http.Header{
					"Access-Control-Allow-Origin":      {allowedOrigin},
					"Access-Control-Allow-Credentials": {"true"},
					"Access-Control-Expose-Headers":    {"WWW-Authenticate, Retry-After, X-Request-Id"},
				}
				if got := corsHeaders(resp); !headersEqual(got, want) {
					t.Fatalf("CORS headers %v, want %v", got, want)
				}
				if !varies(resp, "Origin") {
					t.Fatalf("Vary = %q", resp.Header.Values("Vary"))
				}
				if strings.HasSuffix(tc.path, "reflect-cors") && !varies(resp, "Accept-Encoding") {
					t.Fatalf("the app's Vary was lost: %q", resp.Header.Values("Vary"))
				}
			})
			for _, o := range notAllowedOrigins {
				resp, body := h.corsRequest(tc.method, tc.path, tc.token, o.origins, nil)
				if resp.StatusCode != tc.status {
					t.Fatalf("origin %s: %d %s", o.name, resp.StatusCode, body)
				}
				if got := corsHeaders(resp); len(got) != 0 {
					t.Fatalf("origin %s: CORS headers %v", o.name, got)
				}
				if !varies(resp, "Origin") {
					t.Fatalf("origin %s: Vary = %q", o.name, resp.Header.Values("Vary"))
				}
			}
			t.Run("without an Origin", func(t *testing.T) {
				resp, _ := h.corsRequest(tc.method, tc.path, tc.token, nil, nil)
				if got := corsHeaders(resp); len(got) != 0 {
					t.Fatalf("CORS headers %v", got)
				}
				if !varies(resp, "Origin") {
					t.Fatalf("a cache could serve this answer to a cross-origin request: Vary = %q", resp.Header.Values("Vary"))
				}
			})
		})
	}

	t.Run("login, refresh and logout", func(t *testing.T) {
		for _, step := range []struct {
			path  string
			body  string
			token string
			want  int
		}{
			{"/auth/login", `{"email":"alice@example.com","password":"` + alicePassword + `"}`, "", http.StatusOK},
			{"/auth/refresh", `{"refreshToken":"` + bob.RefreshToken + `"}`, "", http.StatusOK},
			{"/auth/logout", "", alice.AccessToken, http.StatusNoContent},
		} {
			req, _ := http.NewRequest("POST", h.http.URL+step.path, strings.NewReader(step.body))
			req.Header.Set("Origin", allowedOrigin)
			req.Header.Set("Content-Type", "application/json")
			if step.token != "" {
				req.Header.Set("Authorization", "Bearer "+step.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != step.want || resp.Header.Get("Access-Control-Allow-Origin") != allowedOrigin {
				t.Fatalf("%s: %d, CORS headers %v", step.path, resp.StatusCode, corsHeaders(resp))
			}
		}
	})
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestCORSAnyOrigin(t *testing.T) {
	h := newHarness(t, withPolicy(corsPolicyYAML("    allowedOrigins: [\"*\"]\n    maxAge: 0s\n")))
	for _, origins := range [][]string{{"https://anything.example"}, {"null"}, nil} {
		resp, body := h.corsRequest("GET", "/public/reflect-cors", "", origins, nil)
		want := http.Header{
			"Access-Control-Allow-Origin":   {"*"},
			"Access-Control-Expose-Headers": {"WWW-Authenticate, Retry-After"},
		}
		if got := corsHeaders(resp); resp.StatusCode != http.StatusOK || !headersEqual(got, want) {
			t.Fatalf("origin %q: %d %s, CORS headers %v, want %v", origins, resp.StatusCode, body, got, want)
		}
	}
	resp, body := h.corsRequest("OPTIONS", "/orders", "", []string{"https://anything.example"}, preflightHeaders("DELETE", "authorization"))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a DELETE the policy does not list: %d %s", resp.StatusCode, body)
	}
	resp, body = h.corsRequest("OPTIONS", "/orders", "", []string{"https://anything.example"}, preflightHeaders("POST", "authorization"))
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "" || resp.Header.Get("Access-Control-Max-Age") != "" {
		t.Fatalf("%d %s, CORS headers %v", resp.StatusCode, body, corsHeaders(resp))
	}
}

// Without spec.cors the sidecar neither answers preflights nor touches the app's headers:
// an app that does CORS itself keeps doing it.
func TestCORSOffLeavesTheAppAlone(t *testing.T) {
	h := newHarness(t)
	resp, _ := h.corsRequest("OPTIONS", "/orders", "", []string{allowedOrigin}, preflightHeaders("POST", "authorization"))
	if resp.StatusCode != http.StatusUnauthorized || len(corsHeaders(resp)) != 0 {
		t.Fatalf("preflight without spec.cors: %d, CORS headers %v", resp.StatusCode, corsHeaders(resp))
	}
	resp, _ = h.corsRequest("GET", "/public/reflect-cors", "", []string{"https://evil.net"}, nil)
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://evil.net" || varies(resp, "Origin") {
		t.Fatalf("the app's own CORS headers were changed: %v, Vary %q", corsHeaders(resp), resp.Header.Values("Vary"))
	}
}

// spec.cors is applied live, as the routes are, and removed live.
func TestCORSReload(t *testing.T) {
	h := newHarness(t)
	apply := func(y string) {
		t.Helper()
		p, err := ParsePolicy([]byte(y))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.server.ApplyPolicy(p); err != nil {
			t.Fatal(err)
		}
	}
	preflight := func() int {
		resp, _ := h.corsRequest("OPTIONS", "/orders", "", []string{allowedOrigin}, preflightHeaders("POST", "authorization"))
		return resp.StatusCode
	}
	if got := preflight(); got != http.StatusUnauthorized {
		t.Fatalf("before: %d", got)
	}
	apply(corsPolicyYAML(testCORS))
	if got := preflight(); got != http.StatusNoContent {
		t.Fatalf("with spec.cors: %d", got)
	}
	apply(corsPolicyYAML("    allowedOrigins: [\"https://other.example\"]\n"))
	if got := preflight(); got != http.StatusForbidden {
		t.Fatalf("with another origin: %d", got)
	}
	apply(testPolicyYAML)
	if got := preflight(); got != http.StatusUnauthorized {
		t.Fatalf("with spec.cors removed: %d", got)
	}
}

func TestParseRequestHeaderNames(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
		ok   bool
	}{
		{nil, nil, true},
		{[]string{""}, nil, true},
		{[]string{"Authorization"}, []string{"authorization"}, true},
		{[]string{" a , B\t,\tc "}, []string{"a", "b", "c"}, true},
		{[]string{",,a,,", "b"}, []string{"a", "b"}, true},
		{[]string{"a b"}, nil, false},
		{[]string{"a\x00"}, nil, false},
		{[]string{"a;b"}, nil, false},
		{[]string{"é"}, nil, false},
		{[]string{strings.Repeat("a,", maxRequestHeaderNames)}, slices.Repeat([]string{"a"}, maxRequestHeaderNames), true},
		{[]string{strings.Repeat("a,", maxRequestHeaderNames+1)}, nil, false},
	} {
		got, ok := ParseRequestHeaderNames(tc.in)
		if ok != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q %v, want %q %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseRequestHeaderNames(f *testing.F) {
	for _, s := range []string{"", "authorization, content-type", " ,a,\t,b ,", "a b", "A\x00", "x-trace,X-TRACE", strings.Repeat("a,", 130), "\"q\"", "é,ü"} {
		f.Add(s, "x-second-line")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		names, ok := ParseRequestHeaderNames([]string{a, b})
		if !ok {
			if names != nil {
				t.Fatal("names returned with a refusal")
			}
			return
		}
		if len(names) > maxRequestHeaderNames {
			t.Fatalf("%d names", len(names))
		}
		for _, n := range names {
			if !isToken(n) || n != strings.ToLower(n) {
				t.Fatalf("name %q is not a lower-case token", n)
			}
		}
		// What was read reads back the same.
		again, ok := ParseRequestHeaderNames([]string{strings.Join(names, ", ")})
		if !ok || !slices.Equal(again, names) {
			t.Fatalf("%q read back as %q (%v)", names, again, ok)
		}
	})
}

// The CORS writer is transparent to what the proxy does with the connection: a response of
// unknown length streams and a WebSocket upgrades and echoes (http.ResponseController
// reaches the connection through Unwrap).
func TestCORSKeepsStreamsAndUpgrades(t *testing.T) {
	h := newHarness(t, withPolicy(corsPolicyYAML(testCORS)))
	bob := h.login("bob@example.com", bobPassword).AccessToken

	req, _ := http.NewRequest("GET", h.http.URL+"/public/stream?ct=text/event-stream", nil)
	req.Header.Set("Origin", allowedOrigin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != allowedOrigin {
		t.Fatalf("the stream has no CORS answer: %v", corsHeaders(resp))
	}
	first := make(chan string, 1)
	go func() {
		b := make([]byte, len("first\n"))
		_, _ = io.ReadFull(resp.Body, b)
		first <- string(b)
	}()
	// Not a speed assertion: a buffered response never delivers its first line.
	select {
	case l := <-first:
		if l != "first\n" {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first line did not come through before the app wrote the rest")
	}
	close(h.app.release)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second\n" {
		t.Fatalf("rest %q", rest)
	}

	tn := openTunnel(t, h, bob)
	tn.echo(t, "through the CORS writer")
}

// A preflight the sidecar answers gets the body deadline of every answer it writes itself: one
// announcing a body it never sends cannot hold the connection.
func TestCORSPreflightBodiesAreBounded(t *testing.T) {
	h := newHarness(t, withPolicy(corsPolicyYAML(testCORS)))
	h.server.cfg.AuthBodyTimeout = time.Second
	addr := serveAsDeployed(t, h)
	for _, origin := range []string{allowedOrigin, "https://evil.net"} {
		head := "OPTIONS /orders HTTP/1.1\r\nOrigin: " + origin + "\r\nAccess-Control-Request-Method: PUT"
		want := map[bool]int{true: http.StatusNoContent, false: http.StatusForbidden}[origin == allowedOrigin]
		if got := answerWithoutBody(t, addr, head); got != want {
			t.Errorf("origin %s: answered %d, want %d", origin, got, want)
		}
	}
}
