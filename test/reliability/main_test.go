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

package reliability

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"golang.org/x/crypto/bcrypt"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/testenv"
	"github.com/tollgate-dev/tollgate/internal/testproc"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// full is true under `make test-reliability`: every test runs at its full size.
var full = os.Getenv("TOLLGATE_RELIABILITY") == "full"

// size picks the short or the full figure of a test.
func size[T any](short, long T) T {
	if full {
		return long
	}
	return short
}

var (
	sidecarBin  string // tollgate-sidecar, built by TestMain
	tollgateBin string // tollgate (the manager and the CLI), built by TestMain
	cfg         *rest.Config
	k8s         client.WithWatch
	kubeconfig  string // a kubeconfig file for the envtest API server
	cluster     *testenv.Cluster
)

func TestMain(m *testing.M) {
	flag.Parse()
	if onlyListing() {
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

// onlyListing is true when the test binary lists tests or fuzzes, and needs no binaries
// and no control plane.
func onlyListing() bool {
	for _, name := range []string{"test.fuzz", "test.list"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return true
		}
	}
	f := flag.Lookup("test.fuzzworker")
	return f != nil && f.Value.String() == "true"
}

func run(m *testing.M) int {
	dir, err := testproc.TempDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if sidecarBin, err = testproc.Build("../../cmd/tollgate-sidecar", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if tollgateBin, err = testproc.Build("../../cmd/tollgate", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	ctrl.SetLogger(logr.Discard())
	cluster, err = testenv.StartCluster(filepath.Join("..", ".."), dir, cli.Scheme())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		}
	}()
	cfg, k8s, kubeconfig = cluster.Config, cluster.Client, cluster.Kubeconfig
	return m.Run()
}

// startManager runs `tollgate manager` (controllers only, no webhook) against the envtest
// API server, and waits until it answers /readyz.
func startManager(t *testing.T, extraArgs ...string) *testproc.Process {
	t.Helper()
	probe := testwait.FreeAddr(t)
	args := append([]string{"manager",
		"--kubeconfig", kubeconfig,
		"--disable-webhook",
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", probe,
	}, extraArgs...)
	return testproc.Start(t, tollgateBin, "http://"+probe+"/readyz", args...)
}

// sidecar is one tollgate-sidecar process and its addresses.
type sidecar struct {
	*testproc.Process
	URL    string // the port clients talk to
	OpsURL string // /metrics, /healthz, /readyz
	args   []string
}

// startSidecar runs tollgate-sidecar with args (--policy and the rest) on free ports and
// waits until it answers /healthz.
func startSidecar(t *testing.T, args ...string) *sidecar {
	t.Helper()
	listen, ops := testwait.FreeAddr(t), testwait.FreeAddr(t)
	all := append(append([]string{}, args...), "--listen", listen, "--metrics-listen", ops, "--log-format", "text")
	s := &sidecar{URL: "http://" + listen, OpsURL: "http://" + ops, args: all}
	s.Process = testproc.Start(t, sidecarBin, s.OpsURL+"/healthz", all...)
	return s
}

// restart starts the same sidecar again, on the same ports, after it was killed or
// terminated.
func (s *sidecar) restart(t *testing.T) {
	t.Helper()
	select {
	case <-s.Exited():
	default:
		t.Fatal("restart of a sidecar that still runs")
	}
	s.Process = testproc.Start(t, sidecarBin, s.OpsURL+"/healthz", s.args...)
}

// user is a login of the users file every test sidecar gets.
type user struct{ Email, Password, ID, Role string }

// users are the test users; bcrypt cost 4 keeps logins cheap, so load tests measure
// tollgate rather than bcrypt.
var users = []user{
	{"alice@example.com", "alice-password", "1", "admin"},
	{"bob@example.com", "bob-password", "2", "clerk"},
	{"carol@example.com", "carol-password", "3", "clerk"},
	{"dave@example.com", "dave-password", "4", "viewer"},
}

// writeUsersFile writes the users file of users into dir and returns its path.
func writeUsersFile(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, u := range users {
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "- email: %s\n  id: %q\n  role: %s\n  passwordHash: %s\n", u.Email, u.ID, u.Role, hash)
	}
	return writeFile(t, dir, "users.yaml", b.String())
}

// standalonePolicy is a standalone AuthPolicy for a sidecar: /public is open, /admin needs
// the admin role, everything else a valid token.
const standalonePolicy = `apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: shop-api, namespace: shop}
spec:
  routes:
  - {pathPrefix: /public, public: true}
  - {pathPrefix: /admin, roles: [admin]}
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startUpstream runs the app behind the sidecars: 200 with the subject tollgate passed on.
func startUpstream(t *testing.T) string {
	t.Helper()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello "+r.Header.Get("X-Auth-Subject"))
	}))
	t.Cleanup(app.Close)
	return app.URL
}

// tokenPair is the body of a successful login or refresh.
type tokenPair struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	ExpiresIn    int    `json:"expiresIn"`
}

// postJSON POSTs body as JSON to url and returns the status and the response body.
func postJSON(c *http.Client, url string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Post(url, "application/json", strings.NewReader(string(b)))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// login logs u in on the sidecar at base and fails the test unless it succeeds.
func login(t *testing.T, c *http.Client, base string, u user) tokenPair {
	t.Helper()
	code, body, err := postJSON(c, base+"/auth/login", map[string]string{"email": u.Email, "password": u.Password})
	if err != nil || code != http.StatusOK {
		t.Fatalf("login of %s: %d %s %v", u.Email, code, body, err)
	}
	var tp tokenPair
	if err := json.Unmarshal(body, &tp); err != nil {
		t.Fatal(err)
	}
	return tp
}

// get sends GET base+path with the access token and returns the status.
func get(c *http.Client, base, path, accessToken string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// metricSeries reads a process's /metrics and returns every sample by its series, as the
// exposition format writes it: `tollgate_store_up`, `tollgate_reloads_total{file="keys",result="ok"}`.
func metricSeries(c *http.Client, opsURL string) (map[string]float64, error) {
	resp, err := c.Get(opsURL + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if line == "" || line[0] == '#' || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("/metrics: %q: %w", line, err)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}
