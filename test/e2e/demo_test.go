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

package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// TestDemo runs hack/demo.sh, the scenario of `make demo`, against its own local control
// plane on free ports: every step checks its outcome (HTTP statuses, Ready, the injected
// sidecar, the key states) and the script exits non-zero when one differs.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local control plane, the manager, a sidecar and an app")
	}
	for _, tool := range []string{"bash", "curl", "openssl", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the demo needs %s on PATH", tool)
		}
	}
	assets := envtestAssets(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for name, pkg := range map[string]string{
		"tollgate": "./cmd/tollgate", "tollgate-sidecar": "./cmd/tollgate-sidecar", "demo-app": "./hack/demo/app",
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}

	cases := []struct {
		name  string
		redis bool
	}{
		{name: "with the in-memory store", redis: false},
		{name: "with a Redis store", redis: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.redis {
				if _, err := exec.LookPath("redis-server"); err != nil {
					t.Fatal("REDIS=1 needs redis-server on PATH (make redis-server installs it)")
				}
			}
			demoDir := t.TempDir()
			env := append(os.Environ(),
				"KUBEBUILDER_ASSETS="+assets,
				"DEMO_DIR="+demoDir,
				"DEMO_BIN_DIR="+bin,
				"DEMO_SKIP_BUILD=1",
				"REDIS="+map[bool]string{true: "1", false: "0"}[tc.redis],
			)
			apiserver, etcd := testwait.FreePortPair(t), testwait.FreePortPair(t)
			env = append(env,
				"DEV_CLUSTER_PORT="+strconv.Itoa(apiserver),
				"DEV_CLUSTER_ETCD_PORT="+strconv.Itoa(etcd),
			)
			for _, v := range []string{"DEMO_WEBHOOK_PORT", "DEMO_METRICS_PORT", "DEMO_PROBE_PORT",
				"DEMO_APP_PORT", "DEMO_SIDECAR_PORT", "DEMO_SIDECAR_METRICS_PORT", "DEMO_REDIS_PORT"} {
				env = append(env, v+"="+strconv.Itoa(testwait.FreePort(t)))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", "demo.sh"), "--non-interactive")
			cmd.Dir = root
			cmd.Env = env
			cmd.Stdin = nil
			// The script's own trap stops what it started; SIGINT lets it run on a timeout.
			cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
			cmd.WaitDelay = 30 * time.Second
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if err != nil {
				t.Fatalf("hack/demo.sh: %v\n%s", err, out.String())
			}
			checkDemoOutcomes(t, filepath.Join(demoDir, "outcomes.tsv"))
			if t.Failed() || testing.Verbose() {
				t.Log(out.String())
			}
		})
	}
}

// checkDemoOutcomes checks what the demo's steps observed (hack/demo.sh records them in
// DEMO_DIR/outcomes.tsv), against this test's own expectations: a step that the script
// stops checking, or checks for the wrong answer, fails here.
func checkDemoOutcomes(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the demo recorded no outcomes: %v", err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		name, value, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("%s: line %q is not NAME<TAB>VALUE", path, line)
		}
		got[name] = value
	}
	for name, want := range map[string]string{
		"pod status annotation":                 "injected",
		"http login":                            "200",
		"http protected call":                   "200",
		"http no token":                         "401",
		"http public route, no token":           "200",
		"http admin route as a clerk":           "403",
		"http refresh":                          "200",
		"http reuse of the spent refresh token": "401",
		"http the session's newer refresh token, revoked with its family": "401",
		"http admin route as admin":                                       "200",
		"http logout":                                                     "204",
		"http the same access token after logout":                         "401",
		"http its refresh token after logout":                             "401",
		"http wrong password":                                             "401",
		"http OLD token while the new key is Next":                        "200",
		"http NEW token":                                                  "200",
		"http OLD token, signed with the now Retired key":                 "200",
	} {
		if v, ok := got[name]; !ok {
			t.Errorf("the demo did not record %q", name)
		} else if v != want {
			t.Errorf("%s: %q, want %q", name, v, want)
		}
	}
	if !strings.Contains(got["pod init containers"], "tollgate-sidecar=Always") {
		t.Errorf("pod init containers %q: want the native sidecar tollgate-sidecar (restartPolicy Always)", got["pod init containers"])
	}
	active, next := got["active kid"], got["next kid"]
	if active == "" || next == "" || active == next {
		t.Errorf("active kid %q, next kid %q: want two different keys", active, next)
	}
	if got["kid at login"] != active {
		t.Errorf("a token at login is signed with %q, want the active key %q", got["kid at login"], active)
	}
	if got["kid after the switch"] != next {
		t.Errorf("a token after the switch is signed with %q, want the next key %q", got["kid after the switch"], next)
	}
}
