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

package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/otlptest"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// The sidecar, pointed at an OTLP/HTTP receiver, exports a span per request: the auth
// endpoints by name, proxied requests as "proxy", each continuing the client's trace, and
// the app receives the sidecar span's traceparent. No span carries the password or a
// token, and the collector's credentials (OTEL_EXPORTER_OTLP_HEADERS) reach it.
func TestTheSidecarExportsASpanPerRequestAndPassesTraceContextToTheApp(t *testing.T) {
	dir := t.TempDir()
	bin := buildSidecar(t)
	receiver := otlptest.Start(t)
	appSaw := make(chan string, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appSaw <- r.Header.Get("Traceparent")
		io.WriteString(w, "app")
	}))
	defer app.Close()

	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // milliseconds: export at once
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20collector-s3cr3t")
	p := startSidecar(t, bin, "--policy", writeFile(t, dir, "p.yaml", testPolicy),
		"--users-file", writeFile(t, dir, "users", testUsers), "--upstream", app.URL,
		"--otlp-endpoint", receiver.URL)

	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	send := func(method, path, body, token string) *http.Response {
		req, _ := http.NewRequest(method, "http://"+p.addr+path, strings.NewReader(body))
		req.Header.Set("Traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := send(http.MethodPost, "/auth/login", `{"email":"alice@example.com","password":"wonderland"}`, "")
	var tk struct{ AccessToken, RefreshToken string }
	if err := json.NewDecoder(resp.Body).Decode(&tk); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	resp = send(http.MethodGet, "/orders", "", tk.AccessToken)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /orders: %d", resp.StatusCode)
	}
	appTraceparent := <-appSaw

	var login, proxy *otlptest.Span
	testwait.Until(t, 30*time.Second, "both spans reach the receiver", func() (bool, string) {
		for _, s := range receiver.Spans() {
			switch s.GetName() {
			case "POST /auth/login":
				login = &s
			case "GET proxy":
				proxy = &s
			}
		}
		return login != nil && proxy != nil, fmt.Sprintf("spans %v, malformed exports %v", receiver.Spans(), receiver.Errors())
	})
	for _, s := range []*otlptest.Span{login, proxy} {
		if s.Service != "tollgate-sidecar" {
			t.Errorf("%s: service %q", s.GetName(), s.Service)
		}
		if hex.EncodeToString(s.GetTraceId()) != clientTrace || hex.EncodeToString(s.GetParentSpanId()) != clientSpan {
			t.Errorf("%s: trace %x parent %x, want the client's", s.GetName(), s.GetTraceId(), s.GetParentSpanId())
		}
		for _, kv := range s.GetAttributes() {
			v := kv.GetValue().String()
			for _, secret := range []string{"wonderland", tk.AccessToken, tk.RefreshToken} {
				if strings.Contains(v, secret) {
					t.Errorf("%s: attribute %s carries a secret", s.GetName(), kv.GetKey())
				}
			}
		}
	}
	if want := "00-" + clientTrace + "-" + hex.EncodeToString(proxy.GetSpanId()) + "-01"; appTraceparent != want {
		t.Errorf("the app got traceparent %q, want the sidecar span's %q", appTraceparent, want)
	}
	if got := receiver.Headers()[0].Get("Authorization"); got != "Bearer collector-s3cr3t" {
		t.Errorf("the collector got Authorization %q", got)
	}
	if strings.Contains(p.Logs(), "collector-s3cr3t") {
		t.Errorf("the sidecar logged the collector's credentials:\n%s", p.Logs())
	}
}

// Tracing is off unless asked for: without an endpoint the sidecar sends nothing and its
// handler is untraced (the app gets the client's traceparent as sent). A bad endpoint stops
// it at start, naming the flag and not the credentials in it.
func TestTracingIsOffByDefaultAndABadEndpointIsRefused(t *testing.T) {
	dir := t.TempDir()
	bin := buildSidecar(t)
	appSaw := make(chan string, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appSaw <- r.Header.Get("Traceparent")
	}))
	defer app.Close()
	p := startSidecar(t, bin, "--policy", writeFile(t, dir, "p.yaml", testPolicy), "--upstream", app.URL)
	req, _ := http.NewRequest(http.MethodGet, "http://"+p.addr+"/public/x", nil)
	const sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req.Header.Set("Traceparent", sent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := <-appSaw; got != sent || strings.Contains(p.Logs(), "tracing") {
		t.Errorf("the app got traceparent %q, want the client's %q untouched; logs:\n%s", got, sent, p.Logs())
	}

	out, err := exec.Command(bin, "--policy", writeFile(t, dir, "p2.yaml", testPolicy),
		"--otlp-endpoint", "http://user:s3cr3t@collector:4318").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--otlp-endpoint") || strings.Contains(string(out), "s3cr3t") {
		t.Fatalf("started, or did not say why, or echoed the credentials (%v):\n%s", err, out)
	}
}

// A standalone sidecar traces to the collector its policy names (spec.sidecar.tracing), as
// injected ones do through the flag the injector writes from it.
func TestThePolicysTracingEndpointIsUsedWithoutTheFlag(t *testing.T) {
	receiver := otlptest.Start(t)
	app := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer app.Close()
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	policy := testPolicy + "  sidecar:\n    tracing: {otlpEndpoint: \"" + receiver.URL + "\"}\n"
	p := startSidecar(t, buildSidecar(t), "--policy", writeFile(t, t.TempDir(), "p.yaml", policy), "--upstream", app.URL)
	resp, err := http.Get("http://" + p.addr + "/public/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	testwait.Until(t, 30*time.Second, "the span reaches the receiver", func() (bool, string) {
		spans := receiver.Spans()
		return len(spans) == 1 && spans[0].GetName() == "GET proxy", fmt.Sprintf("spans %v", spans)
	})
}
