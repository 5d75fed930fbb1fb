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
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

// nodeEnv is the real node the e2e drives: its kubeconfig, a client, and the tools.
type nodeEnv struct {
	ctx         context.Context
	root        string // the repository
	nodeDir     string
	kubeconfig  string
	kubectlPath string
	tollgate    string // bin/node-images/tollgate, the binary in the image
	c           client.Client
	http        *http.Client
}

// startNode uses the node that runs (after importing freshly built images) or starts one
// with hack/node.sh and removes it when the test ends (TOLLGATE_E2E_KEEP_NODE=1 keeps it).
func startNode(t *testing.T) *nodeEnv {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	e := &nodeEnv{ctx: context.Background(), root: root, http: &http.Client{Timeout: 10 * time.Second}}
	e.nodeDir = os.Getenv("NODE_DIR")
	if e.nodeDir == "" {
		e.nodeDir = "/tmp/tollgate-node"
	}
	script := filepath.Join(root, "hack", "node.sh")
	began := time.Now()
	if exec.Command(script, "status").Run() == nil {
		t.Logf("using the running node (%s); importing freshly built images", e.nodeDir)
		e.run(t, script, "images")
	} else {
		if os.Getenv("TOLLGATE_E2E_KEEP_NODE") != "1" {
			t.Cleanup(func() {
				out, err := exec.Command(script, "down").CombinedOutput()
				if err != nil {
					t.Errorf("hack/node.sh down: %v\n%s", err, out)
				}
			})
		}
		e.run(t, script, "up")
	}
	t.Logf("timing: node ready (build included when needed) in %.1fs", time.Since(began).Seconds())
	e.kubeconfig = filepath.Join(e.nodeDir, "kubeconfig")
	e.tollgate = filepath.Join(root, "bin", "node-images", "tollgate")
	out, err := exec.Command(filepath.Join(root, "hack", "ensure-kubectl.sh")).Output()
	if err != nil {
		t.Fatalf("hack/ensure-kubectl.sh: %v", err)
	}
	e.kubectlPath = strings.TrimSpace(string(out))
	cfg, err := clientcmd.BuildConfigFromFlags("", e.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := authv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if e.c, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}
	return e
}

// reset removes what a run of the scenario installs: the workload's namespace and the
// operator (config/default, CRD included).
func (e *nodeEnv) reset() {
	_, _ = e.kubectlNoFail("delete", "namespace", nodeNS, "--ignore-not-found", "--wait=true", "--timeout=120s")
	cmd := exec.Command("bash", "-c", fmt.Sprintf("%s %s | %s --kubeconfig %s delete --ignore-not-found --wait=true --timeout=120s -f -",
		filepath.Join(e.root, "hack", "render-install.sh"), tollgateIMG, e.kubectlPath, e.kubeconfig))
	_ = cmd.Run()
}

func (e *nodeEnv) run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = e.root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func (e *nodeEnv) shell(t *testing.T, script string) string {
	t.Helper()
	return e.run(t, "bash", "-o", "pipefail", "-c", script)
}

func (e *nodeEnv) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.kubectlNoFail(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *nodeEnv) kubectlNoFail(args ...string) (string, error) {
	cmd := exec.Command(e.kubectlPath, append([]string{"--kubeconfig", e.kubeconfig}, args...)...)
	cmd.Dir = filepath.Join(e.root, "test", "e2e")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// getJSON decodes `kubectl get KIND NAME -o json` (for objects without a typed client here).
func (e *nodeEnv) getJSON(kind, ns, name string, into any) error {
	args := []string{"get", kind, name, "-o", "json"}
	if ns != "" {
		args = append(args, "-n", ns)
	}
	cmd := exec.Command(e.kubectlPath, append([]string{"--kubeconfig", e.kubeconfig}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("kubectl get %s %s: %w", kind, name, err)
	}
	return json.Unmarshal(out, into)
}

func (e *nodeEnv) runTollgate(t *testing.T, args ...string) string {
	t.Helper()
	return e.run(t, e.tollgate, append(args, "--kubeconfig", e.kubeconfig)...)
}

// ctr runs Debian's ctr against the node's containerd.
func (e *nodeEnv) ctr(t *testing.T, args ...string) string {
	t.Helper()
	return e.run(t, "ctr", append([]string{"--address", filepath.Join(e.nodeDir, "containerd", "containerd.sock"), "-n", "k8s.io"}, args...)...)
}

// callNoFail sends a request with an optional bearer token and JSON body; status 0 when the
// request did not complete.
func (e *nodeEnv) callNoFail(method, url, token string) (int, string) {
	return e.do(method, url, token, "")
}

func (e *nodeEnv) do(method, url, token, body string) (int, string) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, url, rd)
	if err != nil {
		return 0, err.Error()
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

func (e *nodeEnv) status(method, url, token, body string) int {
	code, _ := e.do(method, url, token, body)
	return code
}

func (e *nodeEnv) expect(t *testing.T, what string, want int, method, url, token, body string) {
	t.Helper()
	if code, got := e.do(method, url, token, body); code != want {
		t.Errorf("%s: %s %s = %d %s; want %d", what, method, url, code, strings.TrimSpace(got), want)
	}
}

type tokenPair struct {
	Access  string `json:"accessToken"`
	Refresh string `json:"refreshToken"`
}

func (e *nodeEnv) login(t *testing.T, base, email, password string) tokenPair {
	t.Helper()
	code, body := e.do("POST", base+"/auth/login", "", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
	var p tokenPair
	if code != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil || p.Access == "" || p.Refresh == "" {
		t.Fatalf("login as %s at %s: %d %s", email, base, code, body)
	}
	return p
}

// loginStatus logs in for the load of the rotation step and keeps the token for later calls.
func (e *nodeEnv) loginStatus(base string, mu *sync.Mutex, tokens *[]string) (int, string) {
	code, body := e.do("POST", base+"/auth/login", "", `{"email":"bob@example.com","password":"builder"}`)
	var p tokenPair
	if code == http.StatusOK && json.Unmarshal([]byte(body), &p) == nil && p.Access != "" {
		mu.Lock()
		*tokens = append(*tokens, p.Access)
		mu.Unlock()
	}
	return code, "POST " + base + "/auth/login"
}

func (e *nodeEnv) refresh(t *testing.T, base, refresh string, want int) tokenPair {
	t.Helper()
	code, body := e.do("POST", base+"/auth/refresh", "", fmt.Sprintf(`{"refreshToken":%q}`, refresh))
	if code != want {
		t.Fatalf("refresh at %s: %d %s; want %d", base, code, body, want)
	}
	var p tokenPair
	if want == http.StatusOK && (json.Unmarshal([]byte(body), &p) != nil || p.Refresh == "") {
		t.Fatalf("refresh at %s: no token pair in %s", base, body)
	}
	return p
}

// jwtKID is the kid of a JWT's header.
func jwtKID(token string) string {
	h, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var hdr struct {
		KID string `json:"kid"`
	}
	_ = json.Unmarshal(b, &hdr)
	return hdr.KID
}
