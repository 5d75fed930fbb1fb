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
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveAsDeployed serves h's sidecar with the http.Server settings of the binary (httptest's
// server has no timeouts at all) and returns its address.
func serveAsDeployed(t testing.TB, h *harness) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer("", h.server.Handler())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// slowFlood is n clients that each send the headers of a login announcing an 8000-byte
// body, then trickle that body one byte per client every 100 ms, until the server hangs up.
type slowFlood struct {
	conns []net.Conn
	stop  chan struct{}
	done  sync.WaitGroup
}

func startSlowFlood(t testing.TB, addr, path, token string, n int) *slowFlood {
	t.Helper()
	f := &slowFlood{stop: make(chan struct{})}
	head := "POST " + path + " HTTP/1.1\r\nHost: app.example\r\nContent-Type: application/json\r\nContent-Length: 8000\r\n"
	if token != "" {
		head += "Authorization: Bearer " + token + "\r\n" // logout checks it before the body
	}
	head += "\r\n{"
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			f.close()
			t.Fatalf("opening flood connection %d: %v", len(f.conns), err)
		}
		f.conns = append(f.conns, c)
		if _, err := io.WriteString(c, head); err != nil {
			f.close()
			t.Fatal(err)
		}
	}
	live := append([]net.Conn(nil), f.conns...)
	f.done.Add(1)
	go func() {
		defer f.done.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for len(live) > 0 {
			select {
			case <-f.stop:
				return
			case <-tick.C:
			}
			kept := live[:0]
			for _, c := range live {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write([]byte(" ")); err == nil {
					kept = append(kept, c)
				}
			}
			live = kept
		}
	}()
	t.Cleanup(f.close)
	return f
}

func (f *slowFlood) close() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.done.Wait()
	for _, c := range f.conns {
		_ = c.Close()
	}
}

// memoryInUse is the live heap and goroutine stacks after a collection (two: sync.Pools
// keep what they hold through one).
func memoryInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// waitLong polls cond until it holds, failing after a deadline far above anything the
// condition needs on a loaded machine: it is not a timing assertion.
func waitLong(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func loginAt(t testing.TB, addr string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": "bob@example.com", "password": bobPassword})
	resp, err := http.Post("http://"+addr+"/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("login during the flood: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login during the flood: %d %s", resp.StatusCode, out)
	}
}

// TestSlowBodyFlood: clients trickling auth bodies cost a bounded amount of memory each, for a
// bounded time, and do not keep anyone else from logging in.
func TestSlowBodyFlood(t *testing.T) {
	const n = 1000
	t.Run("a login succeeds while a thousand clients trickle bodies, each costing bounded memory", func(t *testing.T) {
		h := newHarness(t)
		h.server.cfg.AuthBodyTimeout = time.Hour // the flood outlives the test
		addr := serveAsDeployed(t, h)
		base, goroutines := memoryInUse(), runtime.NumGoroutine()
		f := startSlowFlood(t, addr, "/auth/login", "", n)
		waitLong(t, "a goroutine serving each flood connection", func() bool { return runtime.NumGoroutine() >= goroutines+n })
		for range 3 {
			loginAt(t, addr)
		}
		perConn := (int64(memoryInUse()) - int64(base)) / n
		t.Logf("%d trickling clients: %d bytes each (server and client side)", n, perConn)
		if perConn > 64<<10 {
			t.Errorf("each trickling client holds %d bytes", perConn)
		}
		f.close()
	})
	for _, path := range []string{"/auth/login", "/auth/refresh", "/auth/logout"} {
		t.Run("a body trickled to "+path+" is cut off, and its memory returned", func(t *testing.T) {
			h := newHarness(t)
			h.server.cfg.AuthBodyTimeout = time.Second
			addr := serveAsDeployed(t, h)
			base, goroutines := memoryInUse(), runtime.NumGoroutine()
			f := startSlowFlood(t, addr, path, h.login("bob@example.com", bobPassword).AccessToken, n/4)
			waitLong(t, "a goroutine serving each flood connection", func() bool { return runtime.NumGoroutine() >= goroutines+n/4 })
			peak := memoryInUse()
			deadline := time.Now().Add(60 * time.Second)
			for i, c := range f.conns {
				_ = c.SetReadDeadline(deadline)
				resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "POST"})
				if err != nil {
					t.Fatalf("flood client %d got no answer while trickling: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(errorOf(t, body), "not received in time") {
					t.Fatalf("flood client %d: %s", i, body)
				}
			}
			f.close()
			waitLong(t, "the flood's goroutines to end", func() bool { return runtime.NumGoroutine() <= goroutines+10 })
			left := int64(memoryInUse()) - int64(base)
			t.Logf("%d bytes in use during the flood, %d after", int64(peak)-int64(base), left)
			if left > (int64(peak)-int64(base))/2 {
				t.Errorf("%d bytes still in use after the flood, %d during it", left, int64(peak)-int64(base))
			}
		})
	}
}

// TestBodiesOfRequestsTheSidecarAnswersAreBounded: a request the sidecar answers itself (a
// refusal, the JWKS) with a body that never arrives is answered and its connection closed once
// the body deadline passes. Go's server reads what remains of an unread body before it answers,
// with whatever deadline the connection has: without one, a client announcing a body it never
// sends holds a goroutine and its buffers for as long as it likes, without any token.
func TestBodiesOfRequestsTheSidecarAnswersAreBounded(t *testing.T) {
	h := newHarness(t)
	h.server.cfg.AuthBodyTimeout = time.Second
	addr := serveAsDeployed(t, h)
	bob := h.login("bob@example.com", bobPassword).AccessToken
	for _, tc := range []struct {
		name, head string
		status     int
	}{
		{"a request without a token", "POST /orders HTTP/1.1", http.StatusUnauthorized},
		{"a request whose role is not allowed", "POST /admin/users HTTP/1.1\r\nAuthorization: Bearer " + bob, http.StatusForbidden},
		{"a request with a refused method", "post /orders HTTP/1.1", http.StatusBadRequest},
		{"a request for the JWKS", "GET /.well-known/jwks.json HTTP/1.1", http.StatusOK},
		{"a login", "POST /auth/login HTTP/1.1", http.StatusRequestTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := answerWithoutBody(t, addr, tc.head); got != tc.status {
				t.Errorf("answered %d, want %d", got, tc.status)
			}
		})
	}
	t.Run("a request the app cannot take", func(t *testing.T) {
		h := newHarness(t)
		h.server.cfg.AuthBodyTimeout = time.Second
		h.appHTTP.Close()
		if got := answerWithoutBody(t, serveAsDeployed(t, h), "POST /public/upload HTTP/1.1"); got != http.StatusBadGateway {
			t.Errorf("answered %d, want 502", got)
		}
	})
}

// answerWithoutBody sends a request line (and headers) announcing an 8000-byte body, sends
// one byte of it, and returns the status of the answer, failing unless the server then
// closes the connection.
func answerWithoutBody(t *testing.T, addr, head string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, head+"\r\nHost: app.example\r\nContent-Type: application/json\r\nContent-Length: 8000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, &http.Request{Method: "POST"})
	if err != nil {
		t.Fatalf("no answer while the body does not arrive: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if _, err := r.ReadByte(); err == nil {
		t.Error("the connection goes on after an unfinished body")
	} else if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Error("the connection is still open")
	}
	return resp.StatusCode
}

// TestProxiedUploadsOutlastTheBodyDeadline: the body deadline of what the sidecar answers
// itself never reaches a proxied upload, not even one on a connection that logged in first.
func TestProxiedUploadsOutlastTheBodyDeadline(t *testing.T) {
	h := newHarness(t)
	h.server.cfg.AuthBodyTimeout = 200 * time.Millisecond
	addr := serveAsDeployed(t, h)
	bob := h.login("bob@example.com", bobPassword).AccessToken
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(c)
	login, _ := json.Marshal(map[string]string{"email": "bob@example.com", "password": bobPassword})
	fmt.Fprintf(c, "POST /auth/login HTTP/1.1\r\nHost: app.example\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(login), login)
	resp, err := http.ReadResponse(r, &http.Request{Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	const chunk, chunks = "0123456789", 5
	fmt.Fprintf(c, "POST /files HTTP/1.1\r\nHost: app.example\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", bob, len(chunk)*chunks)
	for range chunks {
		time.Sleep(2 * h.server.cfg.AuthBodyTimeout / chunks) // the whole upload takes twice the deadline
		if _, err := io.WriteString(c, chunk); err != nil {
			t.Fatalf("the upload was cut off: %v", err)
		}
	}
	resp, err = http.ReadResponse(r, &http.Request{Method: "POST"})
	if err != nil {
		t.Fatalf("the upload got no answer: %v", err)
	}
	resp.Body.Close()
	h.app.mu.Lock()
	got := string(h.app.body)
	h.app.mu.Unlock()
	if resp.StatusCode != http.StatusOK || got != strings.Repeat(chunk, chunks) {
		t.Fatalf("%d; the app got %q", resp.StatusCode, got)
	}
}
