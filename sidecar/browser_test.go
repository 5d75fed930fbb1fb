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
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The single-page app: it runs on its own origin, logs in to the sidecar on another, calls,
// refreshes, logs out, and reports what it could read to its own origin's /result, then goes
// to the page of an origin the policy does not allow.
const spaPage = `<!doctype html><title>spa</title><script>
const S = %q, next = %q;
const out = {};
async function json(r) { return {status: r.status, body: await r.json().catch(() => null)}; }
async function step(name, f) {
  try { out[name] = await f(); } catch (e) { out[name] = "blocked: " + e.name; }
}
(async () => {
  let t, t2;
  await step("login", async () => {
    const r = await json(await fetch(S + "/auth/login", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({email: "alice@example.com", password: %q})}));
    t = r.body; return r.status;
  });
  await step("call", async () => {
    const r = await json(await fetch(S + "/orders", {method: "POST", headers: {Authorization: "Bearer " + t.accessToken}}));
    return r.status + " " + r.body.subject;
  });
  await step("refresh", async () => {
    const r = await json(await fetch(S + "/auth/refresh", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({refreshToken: t.refreshToken})}));
    t2 = r.body; return r.status;
  });
  await step("delete", async () => (await fetch(S + "/admin/items/1", {method: "DELETE", headers: {Authorization: "Bearer " + t2.accessToken}})).status);
  await step("patch", async () => (await fetch(S + "/admin/items/1", {method: "PATCH", headers: {Authorization: "Bearer " + t2.accessToken}})).status);
  await step("logout", async () => (await fetch(S + "/auth/logout", {method: "POST",
    headers: {Authorization: "Bearer " + t2.accessToken, "Content-Type": "application/json"},
    body: JSON.stringify({refreshToken: t2.refreshToken})})).status);
  await step("afterLogout", async () => {
    const r = await fetch(S + "/orders", {method: "POST", headers: {Authorization: "Bearer " + t2.accessToken}});
    return r.status + " " + r.headers.get("WWW-Authenticate");
  });
  await fetch("/result", {method: "POST", body: JSON.stringify(out)});
  location.href = next;
})();
</script>`

// The page of an origin the policy does not allow: it may send what a browser sends without
// asking, but reads nothing.
const otherOriginPage = `<!doctype html><title>other</title><script>
const S = %q;
const out = {};
async function step(name, f) {
  try { out[name] = "read: " + await f(); } catch (e) { out[name] = "blocked: " + e.name; }
}
(async () => {
  await step("public", async () => (await fetch(S + "/public/other-origin")).status);
  await step("login", async () => (await fetch(S + "/auth/login", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({email: "alice@example.com", password: %q})})).status);
  await fetch("/result", {method: "POST", body: JSON.stringify(out)});
})();
</script>`

// chromium finds Debian's chromium: under CI=true its absence fails the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("TOLLGATE_CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium not found: install Debian's chromium package (hack/ensure-chromium.sh, as root) or set TOLLGATE_CHROMIUM"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// servePage serves html on ln, its own origin, and hands what the page POSTs to /result to
// results.
func servePage(t *testing.T, ln net.Listener, html string, results chan<- map[string]any) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, html)
		case "/result":
			var out map[string]any
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
			if err := json.Unmarshal(body, &out); err != nil {
				out = map[string]any{"unreadable result": string(body)}
			}
			results <- out
		default:
			http.NotFound(w, r)
		}
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

func listenLocal(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://" + ln.Addr().String()
}

// TestBrowserOnAnotherOrigin runs a single-page app in a real headless Chromium against the
// sidecar on another origin: it logs in, calls, refreshes, uses a method the policy allows,
// is refused one it does not, logs out and is refused afterwards, reading the sidecar's
// WWW-Authenticate. A page on an origin the policy does not list reads nothing.
func TestBrowserOnAnotherOrigin(t *testing.T) {
	browser := chromium(t)
	results := make(chan map[string]any, 2)
	appLn, appOrigin := listenLocal(t)
	otherLn, other := listenLocal(t)
	h := newHarness(t, withPolicy(corsPolicyYAML(fmt.Sprintf("    allowedOrigins: [%q]\n    allowedMethods: [DELETE]\n", appOrigin))))
	servePage(t, appLn, fmt.Sprintf(spaPage, h.http.URL, other+"/", alicePassword), results)
	servePage(t, otherLn, fmt.Sprintf(otherOriginPage, h.http.URL, alicePassword), results)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, browser,
		"--headless", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--log-level=3", // fatal only: a container has no D-Bus, and Chromium says so at length
		// As root (CI, containers) Chromium's sandbox cannot start; the pages are the test's own.
		"--no-sandbox",
		"--user-data-dir="+t.TempDir(), appOrigin+"/")
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	got := make([]map[string]any, 0, 2)
	for len(got) < 2 {
		select {
		case r := <-results:
			got = append(got, r)
		case <-ctx.Done():
			t.Fatalf("the pages did not report (got %v); chromium said:\n%s", got, stderr.String())
		}
	}
	spa, elsewhere := got[0], got[1]
	want := map[string]any{
		"login":       "200",
		"call":        "200 42",
		"refresh":     "200",
		"delete":      "200",
		"patch":       "blocked: TypeError",
		"logout":      "204",
		"afterLogout": `401 Bearer realm="tollgate", error="invalid_token", error_description="invalid token: revoked"`,
	}
	for k, v := range want {
		if fmt.Sprint(spa[k]) != v {
			t.Errorf("the app on %s: %s = %q, want %q", appOrigin, k, spa[k], v)
		}
	}
	for _, k := range []string{"public", "login"} {
		if fmt.Sprint(elsewhere[k]) != "blocked: TypeError" {
			t.Errorf("the page on %s (not allowed): %s = %q, want it blocked", other, k, elsewhere[k])
		}
	}
	// The simple GET was sent (the browser sends it without asking), its answer hidden.
	if last := h.app.Last(); last == nil || last.URL.Path != "/public/other-origin" || last.Header.Get("Origin") != other {
		t.Errorf("the app's last request is not the other origin's GET")
	}
	if n := valueOf(h.server.Metrics().Requests.WithLabelValues("preflight_refused")); n < 1 {
		t.Errorf("the other origin's login preflight was not refused by the sidecar")
	}
	if t.Failed() {
		t.Logf("chromium said:\n%s", strings.TrimSpace(stderr.String()))
	}
}
