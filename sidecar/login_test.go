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
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// gatedAuthenticator counts password checks and holds each one until the gate opens, so a
// test can have every concurrent login decide whether to check before any check ends.
type gatedAuthenticator struct {
	Authenticator
	calls   atomic.Int32
	entered chan struct{}
	gate    chan struct{}
}

func (a *gatedAuthenticator) Authenticate(ctx context.Context, email, password string) (Identity, error) {
	a.calls.Add(1)
	a.entered <- struct{}{}
	<-a.gate
	return a.Authenticator.Authenticate(ctx, email, password)
}

func TestConcurrentGuessesAreCheckedAtMostMaxAttemptsTimes(t *testing.T) {
	eachStore(t, func(t *testing.T, st harnessOption) {
		const guesses, maxAttempts = 50, 5 // maxAttempts as in testPolicyYAML
		auth := &gatedAuthenticator{entered: make(chan struct{}, guesses), gate: make(chan struct{})}
		h := newHarness(t, st, withAuthenticator(func(a Authenticator) Authenticator {
			auth.Authenticator = a
			return auth
		}))
		statuses := make(chan int, guesses)
		for range guesses {
			go func() {
				req, _ := http.NewRequest("POST", h.http.URL+"/auth/login", strings.NewReader(`{"email":"bob@example.com","password":"guess"}`))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					statuses <- 0
					return
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			}()
		}
		// Every guess either enters the password check or is answered without one; only
		// then are the checks let through, so none can end before another has decided.
		count := map[int]int{}
		decided, answered, opened := 0, 0, false
		for answered < guesses {
			select {
			case <-auth.entered:
				decided++
			case code := <-statuses:
				count[code]++
				answered++
				if code != http.StatusUnauthorized {
					decided++
				}
			}
			if decided == guesses && !opened {
				close(auth.gate)
				opened = true
			}
		}
		if n := auth.calls.Load(); n > maxAttempts {
			t.Errorf("%d concurrent guesses got %d password checks, want at most %d", guesses, n, maxAttempts)
		}
		if count[http.StatusUnauthorized] != int(auth.calls.Load()) || count[http.StatusTooManyRequests] != guesses-int(auth.calls.Load()) {
			t.Errorf("answers %v: want a 401 per password check and 429 for the rest", count)
		}
		if resp, _ := h.do("POST", "/auth/login", "", map[string]string{"email": "bob@example.com", "password": bobPassword}); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("the right password after %d failures: %d, want 429", maxAttempts, resp.StatusCode)
		}
	})
}

// loginFrom posts a login as a client the proxy in front reports in X-Forwarded-For.
func (h *harness) loginFrom(xff, email, password string) int {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.http.URL+"/auth/login", strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestLoginLimitsBehindATrustedProxy(t *testing.T) {
	// The test's client is the "ingress": it connects from 127.0.0.1.
	policy := strings.Replace(testPolicyYAML, "maxAttemptsPerClient: 1000", "maxAttemptsPerClient: 2", 1)
	eachStore(t, func(t *testing.T, st harnessOption) {
		h := newHarness(t, st, withPolicy(policy+"  sidecar: {trustedProxies: [127.0.0.1/32, \"::1\"]}\n"))
		for range 2 {
			if code := h.loginFrom("203.0.113.1", "carol@example.com", "guess"); code != http.StatusUnauthorized {
				t.Fatalf("a failed login: %d, want 401", code)
			}
		}
		if code := h.loginFrom("203.0.113.1", "alice@example.com", alicePassword); code != http.StatusTooManyRequests {
			t.Errorf("a third login of the client with 2 failures: %d, want 429", code)
		}
		if code := h.loginFrom("198.51.100.7, 203.0.113.1", "alice@example.com", alicePassword); code != http.StatusTooManyRequests {
			t.Errorf("the client, naming another address left of the ingress's hop: %d, want 429", code)
		}
		if code := h.loginFrom("203.0.113.2", "alice@example.com", alicePassword); code != http.StatusOK {
			t.Errorf("another client behind the same ingress: %d, want 200", code)
		}
		if code := h.loginFrom("not-an-address", "alice@example.com", alicePassword); code != http.StatusOK {
			t.Errorf("a malformed hop (counted as the ingress itself): %d, want 200", code)
		}

		t.Run("without trusted proxies the header is ignored", func(t *testing.T) {
			h := newHarness(t, st, withPolicy(policy))
			for range 2 {
				h.loginFrom("203.0.113.1", "carol@example.com", "guess")
			}
			if code := h.loginFrom("203.0.113.2", "alice@example.com", alicePassword); code != http.StatusTooManyRequests {
				t.Errorf("a client that names another address: %d, want 429", code)
			}
		})
	})
}

// An IPv6 client is counted by its /64: a host picks any address in its network, so
// failures from different addresses of one /64 add up, while another /64 has its own count.
func TestLoginLimitsCountAnIPv6ClientByItsNetwork(t *testing.T) {
	policy := strings.Replace(testPolicyYAML, "maxAttemptsPerClient: 1000", "maxAttemptsPerClient: 2", 1)
	eachStore(t, func(t *testing.T, st harnessOption) {
		h := newHarness(t, st, withPolicy(policy+"  sidecar: {trustedProxies: [127.0.0.1/32, \"::1\"]}\n"))
		for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe"} {
			if code := h.loginFrom(a, "carol@example.com", "guess"); code != http.StatusUnauthorized {
				t.Fatalf("a failed login from %s: %d, want 401", a, code)
			}
		}
		if code := h.loginFrom("2001:db8:1:2:abcd::9", "alice@example.com", alicePassword); code != http.StatusTooManyRequests {
			t.Errorf("a third address of the same /64 after 2 failures: %d, want 429", code)
		}
		if code := h.loginFrom("2001:db8:1:3::1", "alice@example.com", alicePassword); code != http.StatusOK {
			t.Errorf("a client in the next /64: %d, want 200", code)
		}
		if code := h.loginFrom("::ffff:203.0.113.9", "alice@example.com", alicePassword); code != http.StatusOK {
			t.Errorf("an IPv4-mapped client (counted as its IPv4 address): %d, want 200", code)
		}
	})
}

func TestClientLimitKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9":         "203.0.113.9",
		"2001:db8:1:2::1":     "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::": "2001:db8:1:2::/64",
		"::1":                 "::/64",
		// IPv4 clients translated into IPv6 (RFC 6052's well-known prefix, as a NAT64 or
		// SIIT gateway in front of an IPv6-only cluster shows them) are each their own
		// IPv4 address, not all one 64:ff9b::/64 that one attacker could lock out.
		"64:ff9b::203.0.113.9":   "203.0.113.9",
		"64:ff9b::198.51.100.1":  "198.51.100.1",
		"64:ff9b::1:203.0.113.9": "64:ff9b::/64",
		"unknown":                "unknown",
		"":                       "",
	} {
		if got := clientLimitKey(in); got != want {
			t.Errorf("clientLimitKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// undecidedAuthenticator answers password "hang" only when its gate opens, and then that it
// could not decide (the app's password check down); other passwords go to the users file.
type undecidedAuthenticator struct {
	Authenticator
	entered, gate chan struct{}
}

func (a *undecidedAuthenticator) Authenticate(ctx context.Context, email, password string) (Identity, error) {
	if password != "hang" {
		return a.Authenticator.Authenticate(ctx, email, password)
	}
	a.entered <- struct{}{}
	<-a.gate
	return Identity{}, fmt.Errorf("the app: %w", ErrPasswordCheckDown)
}

func TestALoginWhoseWindowEndedGivesNothingBackToTheNext(t *testing.T) {
	// A login reserved its place in one window and gives it back after that window ended:
	// the next window's failures must stay counted, or the attacker gets free guesses.
	policy := strings.Replace(testPolicyYAML, "rateLimit: {maxAttempts: 5, maxAttemptsPerClient: 1000, window: 15m}", "rateLimit: {maxAttempts: 2, maxAttemptsPerClient: 2, window: 1s}", 1)
	eachStore(t, func(t *testing.T, st harnessOption) {
		auth := &undecidedAuthenticator{entered: make(chan struct{}, 1), gate: make(chan struct{})}
		h := newHarness(t, st, withPolicy(policy), withAuthenticator(func(a Authenticator) Authenticator {
			auth.Authenticator = a
			return auth
		}))
		done := make(chan int)
		go func() {
			req, _ := http.NewRequest("POST", h.http.URL+"/auth/login", strings.NewReader(`{"email":"bob@example.com","password":"hang"}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		<-auth.entered
		time.Sleep(1200 * time.Millisecond) // the window of its reservation ends
		for i := range 2 {
			if code := h.loginFrom("", "bob@example.com", "guess"); code != http.StatusUnauthorized {
				t.Fatalf("guess %d in the new window: %d, want 401", i+1, code)
			}
		}
		close(auth.gate)
		if code := <-done; code != http.StatusServiceUnavailable {
			t.Fatalf("the undecided login: %d, want 503", code)
		}
		if code := h.loginFrom("", "bob@example.com", "guess"); code != http.StatusTooManyRequests {
			t.Errorf("a third guess in a window with 2 failures: %d, want 429 (the account's place was given back to the wrong window)", code)
		}
		if code := h.loginFrom("", "alice@example.com", "guess"); code != http.StatusTooManyRequests {
			t.Errorf("a client with 2 failures in this window: %d, want 429 (the client's place was given back to the wrong window)", code)
		}
	})
}

func TestVerifyURLAnswersOutsideTheContractCountAsFailures(t *testing.T) {
	// An app that answers a wrong password with 400 (or 500, or a 200 without an id) and the
	// right one with 200: if such answers gave the login's place back, guesses would be free.
	var down atomic.Bool
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case down.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
		case strings.Contains(string(body), `"password":"right"`):
			_, _ = io.WriteString(w, `{"id":"9","role":"r"}`)
		case strings.Contains(string(body), `"password":"guess-500"`):
			w.WriteHeader(http.StatusInternalServerError)
		case strings.Contains(string(body), `"password":"guess-200"`):
			_, _ = io.WriteString(w, `{"ok":false}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(app.Close)
	eachStore(t, func(t *testing.T, st harnessOption) {
		down.Store(false)
		h := newHarness(t, st, withAuthenticator(func(Authenticator) Authenticator { return NewVerifyURL(app.URL) }))
		for i, pw := range []string{"guess", "guess-500", "guess-200", "guess", "guess"} { // maxAttempts: 5
			if code := h.loginFrom("", "dave@example.com", pw); code != http.StatusServiceUnavailable {
				t.Fatalf("guess %d: %d, want 503", i+1, code)
			}
		}
		if code := h.loginFrom("", "dave@example.com", "right"); code != http.StatusTooManyRequests {
			t.Errorf("the right password after 5 answers outside the contract: %d, want 429", code)
		}

		t.Run("an app that is down gives the place back", func(t *testing.T) {
			down.Store(true)
			for range 8 {
				if code := h.loginFrom("", "erin@example.com", "right"); code != http.StatusServiceUnavailable {
					t.Fatalf("login while the app is down: %d, want 503", code)
				}
			}
			down.Store(false)
			if code := h.loginFrom("", "erin@example.com", "right"); code != http.StatusOK {
				t.Errorf("the right password once the app is back: %d, want 200", code)
			}
		})
	})
}
