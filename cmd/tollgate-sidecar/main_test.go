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
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testproc"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

const testPolicy = `apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: shop-api, namespace: shop}
spec:
  routes:
  - {pathPrefix: /public, public: true}
`

const testUsers = `- email: alice@example.com
  id: "42"
  role: admin
  passwordHash: $2a$04$ZYe5j153F9qXAd9VPTHyIeNa/ERn07J8H4EwWxHqypHt7aUjL39lG
`

var sidecarBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tollgate-sidecar-test")
	if err != nil {
		panic(err)
	}
	if sidecarBin, err = testproc.Build(".", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildSidecar returns the binary TestMain built.
func buildSidecar(*testing.T) string { return sidecarBin }

// sidecarProcess is the built binary running on free ports.
type sidecarProcess struct {
	*testproc.Process
	addr string
}

func startSidecar(t *testing.T, bin string, args ...string) *sidecarProcess {
	t.Helper()
	p := &sidecarProcess{addr: testwait.FreeAddr(t)}
	ops := testwait.FreeAddr(t)
	args = append(args, "--listen", p.addr, "--metrics-listen", ops, "--log-format", "text")
	p.Process = testproc.Start(t, bin, "http://"+ops+"/healthz", args...)
	return p
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSidecarBinary(t *testing.T) {
	bin := buildSidecar(t)
	dir := t.TempDir()
	policy := writeFile(t, dir, "policy.yaml", testPolicy)
	users := writeFile(t, dir, "users.yaml", testUsers)

	release := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		fmt.Fprintf(w, "hello %s", r.Header.Get("X-Auth-Subject"))
	}))
	defer app.Close()

	p := startSidecar(t, bin, "--policy", policy, "--users-file", users, "--upstream", app.URL)
	if !strings.Contains(p.Logs(), "ephemeral key") {
		t.Errorf("no warning about the ephemeral key:\n%s", p.Logs())
	}

	resp, err := http.Post("http://"+p.addr+"/auth/login", "application/json",
		strings.NewReader(`{"email":"alice@example.com","password":"wonderland"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tr struct{ AccessToken string }
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if resp.StatusCode != 200 || tr.AccessToken == "" {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	get := func(path string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", "http://"+p.addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
		return http.DefaultClient.Do(req)
	}
	resp, err = get("/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello 42" {
		t.Fatalf("proxied answer %q", body)
	}
	if strings.Contains(p.Logs(), tr.AccessToken) || strings.Contains(p.Logs(), "wonderland") {
		t.Fatal("the logs hold a token or a password")
	}

	t.Run("SIGTERM drains in-flight requests, then exits 0", func(t *testing.T) {
		inflight := make(chan string, 1)
		go func() {
			resp, err := get("/slow")
			if err != nil {
				inflight <- "error: " + err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			inflight <- string(b)
		}()
		time.Sleep(200 * time.Millisecond) // the request is at the app
		exited := make(chan error, 1)
		go func() { exited <- p.Terminate(10 * time.Second) }()
		// New connections are refused while the old request drains.
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond)
			if err != nil {
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatal("the sidecar still accepts connections after SIGTERM")
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(release)
		if got := <-inflight; got != "hello 42" {
			t.Fatalf("the in-flight request got %q", got)
		}
		if err := <-exited; err != nil {
			t.Fatalf("exit after draining: %v\n%s", err, p.Logs())
		}
	})
}

func TestSidecarRefusesBadInputAtStart(t *testing.T) {
	bin := buildSidecar(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no policy", nil, "--policy is required"},
		{"an invalid policy", []string{"--policy", writeFile(t, dir, "bad.yaml", strings.Replace(testPolicy, "routes:", "signing: {algorithm: HS512}\n  routes:", 1))}, "spec.signing.algorithm"},
		{"an unknown field", []string{"--policy", writeFile(t, dir, "typo.yaml", strings.Replace(testPolicy, "routes:", "rotes: []\n  routes:", 1))}, "rotes"},
		{"a bad users file", []string{"--policy", writeFile(t, dir, "p.yaml", testPolicy), "--users-file", writeFile(t, dir, "u.yaml", "- email: a@b\n  id: \"1\"\n  passwordHash: plaintext\n")}, "passwordHash: not a bcrypt hash"},
		{"a bad keyset", []string{"--policy", writeFile(t, dir, "p2.yaml", testPolicy), "--keys-dir", filepath.Dir(writeFile(t, t.TempDir(), "keyset.json", `{"keys":[{"kid":"k1","algorithm":"ES256"}]}`))}, `(keys[0]): createdAt: required`},
		{"a bad trusted proxy", []string{"--policy", writeFile(t, dir, "p4.yaml", testPolicy), "--trusted-proxies", "10.0.0.0/8,10.0.0.0/33"}, `trusted proxy "10.0.0.0/33"`},
		{"a bad redis URL", []string{"--policy", writeFile(t, dir, "p3.yaml", testPolicy), "--redis-url", "http://x"}, "--redis-url"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			out, err := exec.Command(bin, tc.args...).CombinedOutput()
			if err == nil {
				t.Fatalf("started; output:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("output does not name %q:\n%s", tc.want, out)
			}
		})
	}
}

func TestSidecarTrustedProxiesFlag(t *testing.T) {
	bin := buildSidecar(t)
	dir := t.TempDir()
	// One failure per client: the second login of a client is refused. The policy trusts the
	// test (on loopback) as its ingress; the flag overrides that.
	policy := writeFile(t, dir, "policy.yaml", strings.Replace(testPolicy, "spec:\n",
		"spec:\n  login: {rateLimit: {maxAttemptsPerClient: 1}}\n  sidecar: {trustedProxies: [127.0.0.1, \"::1\"]}\n", 1))
	users := writeFile(t, dir, "users.yaml", testUsers)
	login := func(p *sidecarProcess, xff string) int {
		req, _ := http.NewRequest("POST", "http://"+p.addr+"/auth/login", strings.NewReader(`{"email":"nobody@example.com","password":"guess"}`))
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name       string
		flag       []string
		otherCount int // the status of another client's first failure
	}{
		{"the policy's list: clients behind the ingress are counted apart", nil, http.StatusUnauthorized},
		{"--trusted-proxies=10.0.0.0/8 replaces it: the header is not believed", []string{"--trusted-proxies", "10.0.0.0/8"}, http.StatusTooManyRequests},
		{"--trusted-proxies= trusts none", []string{"--trusted-proxies="}, http.StatusTooManyRequests},
		{"--trusted-proxies=127.0.0.1,::1", []string{"--trusted-proxies", "127.0.0.1, ::1"}, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startSidecar(t, bin, append([]string{"--policy", policy, "--users-file", users}, tc.flag...)...)
			if code := login(p, "203.0.113.1"); code != http.StatusUnauthorized {
				t.Fatalf("first failure: %d, want 401", code)
			}
			if code := login(p, "203.0.113.1"); code != http.StatusTooManyRequests {
				t.Fatalf("the same client's second: %d, want 429", code)
			}
			if code := login(p, "203.0.113.2"); code != tc.otherCount {
				t.Fatalf("another client's first: %d, want %d", code, tc.otherCount)
			}
		})
	}
}
