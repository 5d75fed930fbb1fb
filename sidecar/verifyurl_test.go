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
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// passwordSink is a server that should never see a password: it counts what it gets.
func passwordSink(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var got atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"evil","role":"admin"}`)
	}))
	t.Cleanup(ts.Close)
	return ts, &got
}

func TestVerifyURL(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json":
			w.WriteHeader(http.StatusBadRequest)
		case strings.Contains(string(body), `"password":"right"`):
			_, _ = io.WriteString(w, `{"id":42,"role":"admin"}`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(app.Close)
	v := NewVerifyURL(app.URL + "/verify")
	id, err := v.Authenticate(t.Context(), "a@b", "right")
	if err != nil || id.Subject != "42" || id.Role != "admin" {
		t.Fatalf("right password: %+v, %v", id, err)
	}
	if _, err := v.Authenticate(t.Context(), "a@b", "wrong"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v, want ErrInvalidCredentials", err)
	}
}

func TestVerifyURLRefusesWhatWouldLeakOrFlood(t *testing.T) {
	sink, sinkGot := passwordSink(t)
	redirector := func(code int) *httptest.Server {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, sink.URL+"/steal", code)
		}))
		t.Cleanup(ts.Close)
		return ts
	}
	selfSigned := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sinkGot.Add(1)
		_, _ = io.WriteString(w, `{"id":"evil","role":"admin"}`)
	}))
	t.Cleanup(selfSigned.Close)
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"id":"1","role":"`+strings.Repeat("a", MaxVerifyURLResponse)+`"}`)
	}))
	t.Cleanup(huge.Close)
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat(" ", 32<<10))
		for range 1 << 10 { // 32 MiB, if it were all read
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(endless.Close)

	for _, tc := range []struct {
		name string
		v    *VerifyURL
	}{
		{"a 307 to another host", NewVerifyURL(redirector(http.StatusTemporaryRedirect).URL)},
		{"a 308 to another host", NewVerifyURL(redirector(http.StatusPermanentRedirect).URL)},
		{"a 302 to another host", NewVerifyURL(redirector(http.StatusFound).URL)},
		{"a redirect, with a client of the caller's that follows them", &VerifyURL{URL: redirector(http.StatusTemporaryRedirect).URL, Client: &http.Client{}}},
		{"a redirect, with no client", &VerifyURL{URL: redirector(http.StatusPermanentRedirect).URL}},
		{"a self-signed certificate", NewVerifyURL(selfSigned.URL)},
		{"an answer over the cap", NewVerifyURL(huge.URL)},
		{"an endless answer", NewVerifyURL(endless.URL)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.v.Authenticate(t.Context(), "alice@example.com", "secret")
			if err == nil || errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("Authenticate = %+v, %v; want an error that is not a wrong password (503)", id, err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("the error shows the password: %v", err)
			}
			if n := sinkGot.Load(); n != 0 {
				t.Fatalf("the password reached a server it must not reach (%d requests)", n)
			}
		})
	}
}

func TestTheProxyRefusesTheVerifyURLPath(t *testing.T) {
	const verify = "/internal/Verify-Password"
	policy := strings.Replace(testPolicyYAML, "  login:\n", "  login:\n    verifyURL: http://127.0.0.1:8080"+verify+"\n", 1)
	h := newHarness(t, withPolicy(policy))
	token := h.login("alice@example.com", alicePassword).AccessToken
	for _, p := range []string{verify, "/internal/verify-password", verify + "/", "/internal/./Verify-Password", "/internal//Verify-Password", "/x/../internal/Verify-Password", "/internal/Verify%2DPassword", verify + "?a=b"} {
		for _, tok := range []string{token, ""} {
			resp, body := h.do("POST", p, tok, `{"email":"bob@example.com","password":"guess"}`)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(errorOf(t, body), "password check") {
				t.Errorf("POST %s (token: %v): %d %s, want 403", p, tok != "", resp.StatusCode, body)
			}
		}
	}
	if h.app.Last() != nil {
		t.Fatalf("the app got %s", h.app.Last().URL)
	}
	for _, p := range []string{"/internal/Verify-Password-2", "/internal/Verify-Password/x", "/internal"} {
		if resp, body := h.do("POST", p, token, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("POST %s: %d %s, want it proxied", p, resp.StatusCode, body)
		}
	}
}

func TestTheProxyRefusesTheVerifyURLPathUnderTheUpstreamPath(t *testing.T) {
	// --upstream http://127.0.0.1:8080/app: a client's /verify reaches the app as /app/verify.
	policy := strings.Replace(testPolicyYAML, "  login:\n", "  login:\n    verifyURL: http://127.0.0.1:8080/app/verify\n", 1)
	h := newHarness(t, withPolicy(policy), withUpstreamPath("/app"))
	token := h.login("alice@example.com", alicePassword).AccessToken
	for _, p := range []string{"/verify", "/Verify/", "/x/../verify"} {
		resp, body := h.do("POST", p, token, `{"email":"bob@example.com","password":"guess"}`)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s: %d %s, want 403: the app would get it as /app/verify", p, resp.StatusCode, body)
		}
	}
	if last := h.app.Last(); last != nil {
		t.Fatalf("the app got %s", last.URL)
	}
	if resp, body := h.do("POST", "/app/verify", token, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("POST /app/verify: %d %s, want it proxied (the app gets /app/app/verify)", resp.StatusCode, body)
	}
}

func TestTheProxyRefusesTheVerifyURLPathWithAFormatSuffix(t *testing.T) {
	// Rails routes carry an optional (.:format), Spring MVC before 5.3 matched suffixes:
	// both serve /internal/verify as /internal/verify.json too.
	policy := strings.Replace(testPolicyYAML, "  login:\n", "  login:\n    verifyURL: http://127.0.0.1:8080/internal/verify\n", 1)
	h := newHarness(t, withPolicy(policy))
	token := h.login("alice@example.com", alicePassword).AccessToken
	for _, p := range []string{"/internal/verify.json", "/internal/Verify.JSON/", "/internal/verify.", "/internal/verify.a.b"} {
		if resp, body := h.do("POST", p, token, `{"email":"bob@example.com","password":"guess"}`); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s: %d %s, want 403", p, resp.StatusCode, body)
		}
	}
	if last := h.app.Last(); last != nil {
		t.Fatalf("the app got %s", last.URL)
	}
	for _, p := range []string{"/internal/verify.json/x", "/internal/verifyjson", "/internal.json/verify"} {
		if resp, body := h.do("POST", p, token, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("POST %s: %d %s, want it proxied", p, resp.StatusCode, body)
		}
	}
}

func TestVerifyPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "",
		"http://app:8080":               "/",
		"http://app:8080/":              "/",
		"http://app:8080/Verify/":       "/verify",
		"https://app/a/../b?x=1":        "/b",
		"http://app/a%2Fb":              "",
		"http://127.0.0.1:8080/v%41lid": "/vaLid",
	} {
		if got := verifyPath(in); !strings.EqualFold(got, want) || got != strings.ToLower(got) {
			t.Errorf("verifyPath(%q) = %q, want %q", in, got, strings.ToLower(want))
		}
	}
}
