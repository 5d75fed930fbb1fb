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
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// What the sidecar decided and wrote into the forwarded headers reaches the app even when the
// client names those headers in Connection, which makes the proxy drop them as hop-by-hop.

func TestConnectionCannotRemoveTheCheckedOverride(t *testing.T) {
	h := newHarness(t, withPolicy(evaluatePolicyYAML))
	alice := h.login("alice@example.com", alicePassword).AccessToken
	for _, tc := range []struct {
		name, method, target, token string
	}{
		{name: "on a protected route", method: "POST", target: "/orders", token: alice},
		{name: "on a public route", method: "GET", target: "/feed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := map[string]string{"POST": "DELETE", "GET": "GET"}[tc.method]
			lines := []string{tc.method + " " + tc.target + " HTTP/1.1", "Host: app.example", "Content-Length: 0",
				"X-HTTP-Method-Override: " + strings.ToLower(want), "Connection: X-HTTP-Method-Override"}
			if tc.token != "" {
				lines = append(lines, "Authorization: Bearer "+tc.token)
			}
			resp, body := rawExchange(t, h, requestHead(lines...), "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if got := h.app.Last().Header.Values("X-Http-Method-Override"); len(got) != 1 || got[0] != want {
				t.Fatalf("the app got X-Http-Method-Override %q, want the checked %q", got, want)
			}
		})
	}
}

func TestConnectionCannotRemoveTheForwardedCredential(t *testing.T) {
	h := newHarness(t)
	bob := h.login("bob@example.com", bobPassword).AccessToken
	for _, auth := range []string{"Bearer " + bob, "bearer   " + bob} {
		resp, body := rawExchange(t, h, requestHead("GET /orders HTTP/1.1", "Host: app.example",
			"Authorization: "+auth, "Connection: Authorization, X-Auth-Subject, X-Auth-Role"), "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%q: %d %s", auth, resp.StatusCode, body)
		}
		got := h.app.Last().Header
		if v := got.Values("Authorization"); len(v) != 1 || v[0] != "Bearer "+bob {
			t.Fatalf("%q: the app got Authorization %q", auth, v)
		}
		if got.Get(HeaderSubject) != "7" || got.Get(HeaderRole) != "clerk" {
			t.Fatalf("%q: the app got %s %q, %s %q", auth, HeaderSubject, got.Values(HeaderSubject), HeaderRole, got.Values(HeaderRole))
		}
	}
}

// TestIdentitiesDoNotBleedBetweenConcurrentRequests sends two users' requests at once, with
// cached tokens (whose identity header values are shared by every request with that token)
// and with the identity headers named in Connection (which makes the proxy put the shared
// values into the outgoing request). Run it with -race.
func TestIdentitiesDoNotBleedBetweenConcurrentRequests(t *testing.T) {
	h := newHarness(t)
	users := []struct{ token, subject, role string }{
		{h.login("bob@example.com", bobPassword).AccessToken, "7", "clerk"},
		{h.login("alice@example.com", alicePassword).AccessToken, "42", "admin"},
	}
	const rounds = 50
	var wg sync.WaitGroup
	errs := make(chan error, 4*rounds)
	for w := 0; w < 4; w++ {
		u := users[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				req, _ := http.NewRequest("GET", h.http.URL+"/anything", nil)
				req.Header.Set("Authorization", "Bearer "+u.token)
				if i%2 == 1 {
					req.Header.Set("Connection", "X-Auth-Subject, X-Auth-Role, Authorization")
				}
				req.Header.Set("X-Auth-Subject", "spoofed")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var seen struct{ Subject, Role string }
				err = json.NewDecoder(resp.Body).Decode(&seen)
				_ = resp.Body.Close()
				if err != nil {
					errs <- err
					return
				}
				if seen.Subject != u.subject || seen.Role != u.role {
					errs <- fmt.Errorf("%s's request reached the app as %+v", u.subject, seen)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRequestTrailersCannotCarryIdentity sends identity headers as trailers of a chunked body:
// the proxy must not hand them to the app, where a framework that merges trailers into the
// headers would read them.
func TestRequestTrailersCannotCarryIdentity(t *testing.T) {
	h := newHarness(t)
	bob := h.login("bob@example.com", bobPassword).AccessToken
	resp, body := rawExchange(t, h, requestHead("POST /orders HTTP/1.1", "Host: app.example",
		"Authorization: Bearer "+bob, "Transfer-Encoding: chunked", "Trailer: X-Auth-Role, X-Auth-Subject"),
		"2\r\n{}\r\n0\r\nX-Auth-Role: admin\r\nX-Auth-Subject: 42\r\n\r\n")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	last := h.app.Last()
	for k, v := range last.Trailer {
		if len(v) > 0 && headerNameHasPrefix(k, "x-auth-") {
			t.Errorf("the app got trailer %s %q", k, v)
		}
	}
	if last.Header.Get(HeaderRole) != "clerk" {
		t.Errorf("the app got %s %q", HeaderRole, last.Header.Values(HeaderRole))
	}
}

func TestConnectionCannotRemoveTheIdentityOfAWebSocket(t *testing.T) {
	h := newHarness(t)
	bob := h.login("bob@example.com", bobPassword).AccessToken
	conn, err := net.Dial("tcp", h.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	head := requestHead("GET /ws HTTP/1.1", "Host: app.example", "Authorization: Bearer "+bob, "X-Auth-Subject: 42",
		"Connection: Upgrade, X-Auth-Subject, X-Auth-Role, Authorization", "Upgrade: websocket",
		"Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
	if _, err := io.WriteString(conn, head+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %d", resp.StatusCode)
	}
	got := h.app.Last().Header
	if v := got.Values(HeaderSubject); len(v) != 1 || v[0] != "7" {
		t.Errorf("the app saw %s %q", HeaderSubject, v)
	}
	if v := got.Values(HeaderRole); len(v) != 1 || v[0] != "clerk" {
		t.Errorf("the app saw %s %q", HeaderRole, v)
	}
	if v := got.Values("Authorization"); len(v) != 1 || v[0] != "Bearer "+bob {
		t.Errorf("the app saw Authorization %d values", len(v))
	}
}

// TestVariantsOfACachedTokenAreNotIt: the cache is keyed by the token as sent, so a variant
// of a cached token (spaces, a NUL, another character) misses it and is refused as malformed.
func TestVariantsOfACachedTokenAreNotIt(t *testing.T) {
	h := newHarness(t)
	bob := h.login("bob@example.com", bobPassword).AccessToken
	tokens := h.server.Tokens()
	if _, err := tokens.Verify(bob); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{bob + " ", " " + bob, bob + "\x00", "\u00a0" + bob, bob[:20] + "!" + bob[21:], bob + ",", ""} {
		if id, err := tokens.Verify(v); err == nil || err.Error() != "malformed" {
			t.Errorf("%q: %v, %v; want malformed", v, id, err)
		}
	}
}
