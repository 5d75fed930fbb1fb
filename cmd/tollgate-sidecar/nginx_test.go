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
	"bufio"
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
	"sync"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testwait"
)

const gatewayPolicy = `apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: shop-api, namespace: shop}
spec:
  routes:
  - {pathPrefix: /public, public: true}
  - {pathPrefix: /admin, roles: [admin]}
`

const gatewayUsers = testUsers + `- email: bob@example.com
  id: "7"
  role: clerk
  passwordHash: $2a$04$XxapY7T1jVJKSFXR2kOcAeAlnTrfC81qc2lEEC0zpk6Z8PRe/gnJO
`

// nginxBinary finds nginx, or skips the test with what to install; under CI a missing nginx
// fails it (make test installs it with hack/ensure-nginx.sh).
func nginxBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx not found: hack/ensure-nginx.sh installs it")
	}
	t.Skip("nginx not found: install it (Debian: apt-get install nginx, or hack/ensure-nginx.sh) to run the nginx auth_request test")
	return ""
}

// appSeen is what the test app received: the request target as nginx forwarded it, and the
// headers tollgate's check decides.
type appSeen struct {
	Target, Subject, Role, Authorization, Underscored string
}

type recordingApp struct {
	mu   sync.Mutex
	seen []appSeen
}

func (a *recordingApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := appSeen{Target: r.RequestURI, Subject: r.Header.Get("X-Auth-Subject"), Role: r.Header.Get("X-Auth-Role"),
		Authorization: r.Header.Get("Authorization"), Underscored: r.Header.Get("X_Auth_Role")}
	a.mu.Lock()
	a.seen = append(a.seen, s)
	a.mu.Unlock()
	_ = json.NewEncoder(w).Encode(s)
}

func (a *recordingApp) take() []appSeen {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.seen
	a.seen = nil
	return s
}

// startNginx runs nginx in the foreground, as one process, on conf (the sample's server
// block with addresses replaced), with its own prefix directory: no global state.
func startNginx(t *testing.T, bin, server string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
%[2]s
}
`, dir, server)
	path := writeFile(t, dir, "nginx.conf", conf)
	cmd := exec.Command(bin, "-p", dir, "-e", "stderr", "-c", path)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("nginx:\n%s", logs.String())
		}
	})
	return dir
}

// nginxServer is the sample's server block, listening on listen, with the authorizer and app
// at their test addresses.
func nginxServer(t *testing.T, listen, authorizer, app string, edit func(string) string) string {
	t.Helper()
	sample, err := os.ReadFile("../../config/samples/gateways/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(sample), "tollgate-authorizer:8000", authorizer)
	s = strings.ReplaceAll(s, "app:8080", app)
	s = strings.Replace(s, "listen 8080;", "listen "+listen+";", 1)
	if edit != nil {
		s = edit(s)
	}
	return s
}

// rawGet sends target as written on the request line, with extra header lines.
func rawGet(t *testing.T, addr, target string, headers ...string) (int, http.Header, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// nginx's auth_request in front of an app, asking the sidecar binary in authorizer mode:
// the route rules hold for what nginx forwards, however the client spells the path.
func TestNginxAuthRequest(t *testing.T) {
	nginx := nginxBinary(t)
	dir := t.TempDir()
	authz := startSidecar(t, buildSidecar(t), "--mode=authorizer",
		"--policy", writeFile(t, dir, "policy.yaml", gatewayPolicy), "--users-file", writeFile(t, dir, "users.yaml", gatewayUsers))
	app := &recordingApp{}
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	appAddr := strings.TrimPrefix(appSrv.URL, "http://")

	gw := testwait.FreeAddr(t)
	startNginx(t, nginx, nginxServer(t, gw, authz.addr, appAddr, nil))
	testwait.For(t, 10*time.Second, "nginx to listen on "+gw, func() bool {
		c, err := net.Dial("tcp", gw)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	login := func(email, password string) string {
		resp, err := http.Post("http://"+gw+"/auth/login", "application/json",
			strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr struct{ AccessToken string }
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("login through nginx: %d %v", resp.StatusCode, err)
		}
		return tr.AccessToken
	}
	admin := login("alice@example.com", "wonderland")
	clerk := login("bob@example.com", "builder")
	app.take()

	for _, tc := range []struct {
		name    string
		target  string
		headers []string
		status  int
		seen    *appSeen // what the app receives; nil: nothing
	}{
		{"a public path", "/public/x?a=1", nil, 200, &appSeen{Target: "/public/x?a=1"}},
		{"no token", "/orders", nil, 401, nil},
		{"a clerk's token", "/orders", []string{"Authorization: Bearer " + clerk}, 200,
			&appSeen{Target: "/orders", Subject: "7", Role: "clerk", Authorization: "Bearer " + clerk}},
		{"a clerk on an admin path", "/admin/users", []string{"Authorization: Bearer " + clerk}, 403, nil},
		{"an admin on an admin path", "/admin/users", []string{"Authorization: Bearer " + admin}, 200,
			&appSeen{Target: "/admin/users", Subject: "42", Role: "admin", Authorization: "Bearer " + admin}},
		{"dot segments out of a public prefix", "/public/../admin/users", []string{"Authorization: Bearer " + clerk}, 403, nil},
		{"encoded dot segments out of a public prefix", "/public/%2e%2e/admin", nil, 401, nil},
		{"repeated slashes", "//admin//users", []string{"Authorization: Bearer " + clerk}, 403, nil},
		{"an encoded letter", "/%61dmin/users", []string{"Authorization: Bearer " + clerk}, 403, nil},
		// nginx decodes %2F into / before it normalises: tollgate refuses the path (400), and
		// auth_request turns any answer but 2xx, 401 and 403 into 500.
		{"an encoded slash", "/public/..%2Fadmin", nil, 500, nil},
		{"slashes before dot segments, merged first", "/admin//../public/x", nil, 200, &appSeen{Target: "/public/x"}},
		{"a forged original URI", "/admin/users", []string{"X-Original-URI: /public/x", "Authorization: Bearer " + clerk}, 403, nil},
		{"a forged identity", "/public/x", []string{"X-Auth-Role: admin"}, 500, nil},
		// nginx drops header names with an underscore (underscores_in_headers off).
		{"an identity spelled with underscores", "/public/x", []string{"X_Auth_Role: admin"}, 200, &appSeen{Target: "/public/x"}},
		{"a method override", "/public/x", []string{"X-HTTP-Method-Override: DELETE"}, 500, nil},
		{"an absolute URI", "http://shop.test/admin/users", []string{"Authorization: Bearer " + clerk}, 403, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := rawGet(t, gw, tc.target, tc.headers...)
			if status != tc.status {
				t.Errorf("status %d, want %d: %s", status, tc.status, body)
			}
			if status == http.StatusUnauthorized && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without tollgate's WWW-Authenticate: %v", h)
			}
			seen := app.take()
			switch {
			case tc.seen == nil && len(seen) > 0:
				t.Errorf("the app received %+v", seen)
			case tc.seen != nil && (len(seen) != 1 || seen[0] != *tc.seen):
				t.Errorf("the app received %+v, want %+v", seen, *tc.seen)
			}
		})
	}
}

// With merge_slashes off, nginx resolves /admin//../public to /admin/public and forwards
// that, while the URI tollgate checks is /public: the README's nginx settings are the ones
// that keep what is checked and what is forwarded the same.
func TestNginxWithoutMergeSlashesForwardsWhatWasNotChecked(t *testing.T) {
	nginx := nginxBinary(t)
	dir := t.TempDir()
	authz := startSidecar(t, buildSidecar(t), "--mode=authorizer", "--policy", writeFile(t, dir, "policy.yaml", gatewayPolicy))
	app := &recordingApp{}
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	gw := testwait.FreeAddr(t)
	startNginx(t, nginx, nginxServer(t, gw, authz.addr, strings.TrimPrefix(appSrv.URL, "http://"), func(s string) string {
		return strings.Replace(s, "merge_slashes on;", "merge_slashes off;", 1)
	}))
	testwait.For(t, 10*time.Second, "nginx to listen on "+gw, func() bool {
		c, err := net.Dial("tcp", gw)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	status, _, body := rawGet(t, gw, "/admin//../public/x")
	seen := app.take()
	if status != http.StatusOK || len(seen) != 1 || seen[0].Target != "/admin/public/x" {
		t.Fatalf("status %d %s, app saw %+v: nginx without merge_slashes no longer forwards /admin//../public/x as /admin/public/x; update the README's warning", status, body, seen)
	}
}
