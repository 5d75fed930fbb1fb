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
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
)

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  error
	}{
		{in: "/", want: "/"},
		{in: "/orders", want: "/orders"},
		{in: "/orders/", want: "/orders/"},
		{in: "/orders//", want: "/orders/"},
		{in: "//admin", want: "/admin"},
		{in: "///admin//users", want: "/admin/users"},
		{in: "/./admin", want: "/admin"},
		{in: "/.", want: "/"},
		{in: "/..", want: "/"},
		{in: "/a/..", want: "/"},
		{in: "/a/../", want: "/"},
		{in: "/a/./", want: "/a/"},
		{in: "/public/../admin", want: "/admin"},
		{in: "/public//../admin", want: "/admin"},
		{in: "/../../etc/passwd", want: "/etc/passwd"},
		{in: "/%61dmin", want: "/admin"},
		{in: "/%2e%2e/admin", want: "/admin"},
		{in: "/public/%2e%2e/admin", want: "/admin"},
		{in: "/public/%2E%2E/admin", want: "/admin"},
		{in: "/public/.%2e/admin", want: "/admin"},
		{in: "/%2e/admin", want: "/admin"},
		{in: "/public/%252e%252e/admin", want: "/public/%2e%2e/admin"}, // decoded once, no more
		{in: "/a%252fb", want: "/a%2fb"},
		{in: "/a+b", want: "/a+b"},
		{in: "/a%20b", want: "/a b"},
		{in: "/caf%C3%A9", want: "/café"},
		{in: "/admin?x=1", want: "/admin?x=1"}, // CleanPath gets a path; a query never reaches it
		{in: "", err: errPathNotAbsolute},
		{in: "admin", err: errPathNotAbsolute},
		{in: "*", err: errPathNotAbsolute},
		{in: "http://x/admin", err: errPathNotAbsolute},
		{in: "/admin%2fusers", err: errPathEncodedSeparator},
		{in: "/admin%2Fusers", err: errPathEncodedSeparator},
		{in: "/public%2f..%2fadmin", err: errPathEncodedSeparator},
		{in: "/public/..%2fadmin", err: errPathEncodedSeparator},
		{in: "/public/..%5cadmin", err: errPathEncodedSeparator},
		{in: "/public/..%5Cadmin", err: errPathEncodedSeparator},
		{in: `/public\..\admin`, err: errPathBackslash},
		{in: "/admin;x", err: errPathParameters},
		{in: "/public;/../admin", err: errPathParameters},
		{in: "/public/..;/admin", err: errPathParameters},
		{in: "/admin%3bx", err: errPathParameters},
		{in: "/admin%00", err: errPathControl},
		{in: "/admin\x00", err: errPathControl},
		{in: "/admin%0d%0aX-Auth-Role:%20admin", err: errPathControl},
		{in: "/admin%09", err: errPathControl},
		{in: "/admin%7f", err: errPathControl},
		{in: "/admin%", err: errPathEncoding},
		{in: "/admin%2", err: errPathEncoding},
		{in: "/admin%zz", err: errPathEncoding},
	} {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got, err := CleanPath(tc.in)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("CleanPath(%q) = %q, %v; want error %v", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CleanPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestRoutesMatch(t *testing.T) {
	m := func(ms ...string) []spec.Method {
		out := make([]spec.Method, len(ms))
		for i, s := range ms {
			out[i] = spec.Method(s)
		}
		return out
	}
	routes := NewRoutes([]spec.Route{
		{PathPrefix: "/public", Public: true},                                       // 0
		{PathPrefix: "/admin", Roles: []string{"admin"}},                            // 1
		{Path: "/orders", Methods: m("POST"), Roles: []string{"admin", "clerk"}},    // 2
		{Path: "/reports", Methods: m("GET"), Roles: []string{"admin"}},             // 3
		{Path: "/exact/", Roles: []string{"auditor"}},                               // 4
		{PathPrefix: "/probe", Methods: m("HEAD"), Public: true},                    // 5
		{PathPrefix: "/admin/open", Public: true},                                   // 6: shadowed by 1
		{PathPrefix: "/api/v1/", Methods: m("GET", "PUT"), Roles: []string{"user"}}, // 7
	})
	for _, tc := range []struct {
		method, path string
		rule         int
	}{
		{"GET", "/public", 0},
		{"GET", "/public/", 0},
		{"GET", "/public/x/y", 0},
		{"DELETE", "/public/x", 0},
		{"GET", "/publicity", -1},
		{"GET", "/admin", 1},
		{"GET", "/admin/", 1},
		{"GET", "/admin/users", 1},
		{"GET", "/administrator", -1},
		{"GET", "/admin-panel", -1},
		{"GET", "/admi", -1},
		{"GET", "/ADMIN", -1},
		{"GET", "/Admin/users", -1},
		{"GET", "/admin/open/x", 1},
		{"POST", "/orders", 2},
		{"post", "/orders", 2},
		{"POST", "/orders/", 2},
		{"GET", "/orders", -1},
		{"POST", "/orders/1", -1},
		{"POST", "/ordersx", -1},
		{"GET", "/reports", 3},
		{"HEAD", "/reports", 3},
		{"head", "/reports", 3},
		{"POST", "/reports", -1},
		{"OPTIONS", "/reports", -1},
		{"GET", "/exact", 4},
		{"GET", "/exact/", 4},
		{"GET", "/exact/x", -1},
		{"GET", "/exactly", -1},
		{"HEAD", "/probe", 5},
		{"GET", "/probe", -1},
		{"GET", "/api/v1", 7},
		{"GET", "/api/v1/things", 7},
		{"HEAD", "/api/v1/things", 7},
		{"PUT", "/api/v1/things", 7},
		{"POST", "/api/v1/things", -1},
		{"GET", "/api/v10", -1},
		{"GET", "/", -1},
	} {
		t.Run(tc.method+" "+tc.path+" matches rule "+fmt.Sprint(tc.rule), func(t *testing.T) {
			if got := routes.Match(tc.method, tc.path); got.Rule != tc.rule {
				t.Fatalf("matched rule %d, want %d", got.Rule, tc.rule)
			}
		})
	}

	t.Run("the access of a rule is its roles and publicity", func(t *testing.T) {
		a := routes.Match("GET", "/admin/x")
		if a.Public || !a.Allows("admin") || a.Allows("clerk") || a.Allows("") {
			t.Fatalf("admin rule: %+v", a)
		}
		if a := routes.Match("GET", "/public/x"); !a.Public {
			t.Fatalf("public rule: %+v", a)
		}
		d := routes.Match("GET", "/elsewhere")
		if d.Public || !d.Allows("clerk") || !d.Allows("") {
			t.Fatalf("the default rule should ask for a token and any role: %+v", d)
		}
	})
	t.Run("a prefix of / matches everything", func(t *testing.T) {
		all := NewRoutes([]spec.Route{{PathPrefix: "/", Roles: []string{"user"}}})
		for _, p := range []string{"/", "/x", "/x/y/"} {
			if got := all.Match("GET", p); got.Rule != 0 {
				t.Fatalf("%s matched %d", p, got.Rule)
			}
		}
	})
	t.Run("rule paths are cleaned like request paths", func(t *testing.T) {
		r := NewRoutes([]spec.Route{{PathPrefix: "/a//b/../admin/"}, {Path: "/x/./y"}})
		if got := r.Match("GET", "/a/admin/z"); got.Rule != 0 {
			t.Fatalf("matched %d", got.Rule)
		}
		if got := r.Match("GET", "/x/y"); got.Rule != 1 {
			t.Fatalf("matched %d", got.Rule)
		}
	})
}

// rawHTTP sends one request with the request line exactly as given (Go's client rewrites a
// path that starts with "//", and refuses some bytes) and returns the status and body.
func rawHTTP(t *testing.T, h *harness, method, target, token string) (int, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", h.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := method + " " + target + " HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n"
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestRouteBypass tries every spelling of /admin we know against a clerk's token: none may
// reach the app as an admin path, and what the app gets is what was matched.
func TestRouteBypass(t *testing.T) {
	h := newHarness(t)
	bob := h.login("bob@example.com", bobPassword).AccessToken
	alice := h.login("alice@example.com", alicePassword).AccessToken

	const refused, forbidden = http.StatusBadRequest, http.StatusForbidden
	for _, tc := range []struct {
		target string
		// bob's answer; when 200, appPath is what the app must have received.
		status  int
		appPath string
		// alice's answer is 200 with adminPath when set (the clean path, forwarded).
		adminPath string
		// net/http refuses the request line itself, before the sidecar sees it.
		byNetHTTP bool
	}{
		{target: "/admin", status: forbidden, adminPath: "/admin"},
		{target: "//admin", status: forbidden, adminPath: "/admin"},
		{target: "///admin//users", status: forbidden, adminPath: "/admin/users"},
		{target: "/./admin", status: forbidden, adminPath: "/admin"},
		{target: "/public/../admin", status: forbidden, adminPath: "/admin"},
		{target: "/public//../admin", status: forbidden, adminPath: "/admin"},
		{target: "/public/./../admin", status: forbidden, adminPath: "/admin"},
		{target: "/public/%2e%2e/admin", status: forbidden, adminPath: "/admin"},
		{target: "/public/%2E%2E/admin", status: forbidden, adminPath: "/admin"},
		{target: "/public/.%2e/admin", status: forbidden, adminPath: "/admin"},
		{target: "/%2e%2e/admin", status: forbidden, adminPath: "/admin"},
		{target: "/%2e/admin", status: forbidden, adminPath: "/admin"},
		{target: "/%61dmin", status: forbidden, adminPath: "/admin"},
		{target: "/%61%64%6d%69%6e/users", status: forbidden, adminPath: "/admin/users"},
		{target: "/admin/", status: forbidden, adminPath: "/admin/"},
		{target: "/admin/./", status: forbidden, adminPath: "/admin/"},
		{target: "/admin/x/..", status: forbidden, adminPath: "/admin"},
		{target: "/admin?x=1", status: forbidden, adminPath: "/admin"},
		{target: "/admin%2fusers", status: refused},
		{target: "/admin%2Fusers", status: refused},
		{target: "/%2fadmin", status: refused},
		{target: "/public%2f..%2fadmin", status: refused},
		{target: "/public/..%2fadmin", status: refused},
		{target: "/public/..%5cadmin", status: refused},
		{target: `/public\..\admin`, status: refused},
		{target: "/admin;x", status: refused},
		{target: "/admin;jsessionid=1/users", status: refused},
		{target: "/public;/../admin", status: refused},
		{target: "/public/..;/admin", status: refused},
		{target: "/admin%3b/users", status: refused},
		{target: "/admin%00", status: refused},
		{target: "/admin%00/users", status: refused},
		{target: "/admin%0d%0a", status: refused},
		{target: "/admin%", status: refused, byNetHTTP: true},
		{target: "/admin%zz", status: refused, byNetHTTP: true},
		// Paths routing is case-sensitive about: no rule but the default one matches, so a
		// token is needed and the app gets the path as it is, not /admin.
		{target: "/ADMIN", status: http.StatusOK, appPath: "/ADMIN"},
		{target: "/Admin/users", status: http.StatusOK, appPath: "/Admin/users"},
		{target: "/administrator", status: http.StatusOK, appPath: "/administrator"},
		// Decoded once only: the app gets the once-decoded path, which is not /admin.
		{target: "/public/%252e%252e/admin", status: http.StatusOK, appPath: "/public/%2e%2e/admin"},
		// Overlong UTF-8 dots are not dots.
		{target: "/public/%c0%ae%c0%ae/admin", status: http.StatusOK, appPath: "/public/\xc0\xae\xc0\xae/admin"},
	} {
		t.Run(fmt.Sprintf("a clerk asking for %q", tc.target), func(t *testing.T) {
			before := h.app.Last()
			status, body := rawHTTP(t, h, "GET", tc.target, bob)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			got := h.app.Last()
			if status != http.StatusOK {
				if !tc.byNetHTTP {
					errorOf(t, body)
				}
				if got != before {
					t.Fatalf("a refused request reached the app as %q", got.URL.Path)
				}
				return
			}
			if got == before {
				t.Fatal("the app was not reached")
			}
			if got.URL.Path != tc.appPath {
				t.Fatalf("the app received %q, want %q", got.URL.Path, tc.appPath)
			}
			if p := got.URL.Path; p == "/admin" || strings.HasPrefix(p, "/admin/") {
				t.Fatalf("a clerk reached %q", p)
			}
		})
		if tc.adminPath != "" {
			t.Run(fmt.Sprintf("an admin asking for %q gets the clean path forwarded", tc.target), func(t *testing.T) {
				status, body := rawHTTP(t, h, "GET", tc.target, alice)
				if status != http.StatusOK {
					t.Fatalf("status %d: %s", status, body)
				}
				got := h.app.Last()
				if got.URL.Path != tc.adminPath || got.URL.RawPath != "" {
					t.Fatalf("the app received %q (raw %q), want %q", got.URL.Path, got.URL.RawPath, tc.adminPath)
				}
			})
		}
	}

	t.Run("the public route needs no token but only reaches public paths", func(t *testing.T) {
		if status, body := rawHTTP(t, h, "GET", "/public/info", ""); status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		for _, target := range []string{"/public/../admin", "/public/%2e%2e/admin", "//public/../admin"} {
			if status, _ := rawHTTP(t, h, "GET", target, ""); status != http.StatusUnauthorized {
				t.Fatalf("%s without a token: status %d, want 401", target, status)
			}
		}
	})
	t.Run("a GET rule covers HEAD but not POST", func(t *testing.T) {
		if status, _ := rawHTTP(t, h, "HEAD", "/reports", bob); status != forbidden {
			t.Fatalf("clerk HEAD /reports: %d", status)
		}
		if status, _ := rawHTTP(t, h, "HEAD", "//reports/", bob); status != forbidden {
			t.Fatalf("clerk HEAD //reports/: %d", status)
		}
		// POST /reports matches no rule: the default rule lets any valid token through.
		if status, _ := rawHTTP(t, h, "POST", "/reports", bob); status != http.StatusOK {
			t.Fatalf("clerk POST /reports: %d", status)
		}
		if status, _ := rawHTTP(t, h, "HEAD", "/reports", alice); status != http.StatusOK {
			t.Fatalf("admin HEAD /reports: %d", status)
		}
	})
	t.Run("an exact rule does not depend on a trailing slash", func(t *testing.T) {
		// /reports is an exact GET rule for admins.
		for _, target := range []string{"/reports/", "//reports", "/x/../reports/"} {
			if status, _ := rawHTTP(t, h, "GET", target, bob); status != forbidden {
				t.Fatalf("clerk GET %s: %d, want 403", target, status)
			}
		}
		// Below it is another resource.
		if status, _ := rawHTTP(t, h, "GET", "/reports/2026", bob); status != http.StatusOK {
			t.Fatalf("clerk GET /reports/2026: %d", status)
		}
		if got := h.app.Last().URL.Path; got != "/reports/2026" {
			t.Fatalf("the app received %q", got)
		}
	})
}
