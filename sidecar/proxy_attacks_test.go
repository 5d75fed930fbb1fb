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
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
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

// normalHeaderName is how CGI-style servers see a header name: upper case, `-` as `_`.
func normalHeaderName(k string) string { return strings.ToUpper(strings.ReplaceAll(k, "-", "_")) }

func TestUnderscoreSpellingsOfIdentityHeadersAreStripped(t *testing.T) {
	h := newHarness(t)
	bob := h.login("bob@example.com", bobPassword).AccessToken
	spoofs := []string{
		"X_Auth_Role: admin", "x_auth_subject: 42", "X-Auth_Role: admin", "X_AUTH-SUBJECT: 42",
		"x_AUTH_role: admin", "X_Auth_Anything: x",
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
