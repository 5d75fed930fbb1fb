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

package monitoring

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/otlptest"
	"github.com/tollgate-dev/tollgate/internal/testenv"
	"github.com/tollgate-dev/tollgate/internal/testproc"
	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

var (
	repoRoot          = filepath.Join("..", "..")
	samplePolicy      = filepath.Join(repoRoot, "config", "samples", "standalone", "policy.yaml")
	sampleUsers       = filepath.Join(repoRoot, "config", "samples", "standalone", "users.yaml")
	sidecarPod        = "shop-api-7d9f-abcde"
	sidecarNamespace  = "default" // the sample policy's
	policyName        = "shop-api"
	managerPolicyNS   = "shop"
	unprotectedAlert  = "TollgateUnprotectedPods"
	storeDownAlert    = "TollgateSidecarStoreDown"
	reconcileErrAlert = "TollgateReconcileErrors"
)

// stack is a manager against envtest and a sidecar against Redis, both real binaries.
type stack struct {
	k8s            client.Client
	managerMetrics string // host:port
	sidecarMetrics string // host:port
	sidecarURL     string
	redis          *testredis.Server
	usersFile      string
	traces         *otlptest.Receiver
}

// TestPrometheusScrapesTheBinariesAndFiresTheAlerts runs the real thing end to end: the
// tollgate manager (against envtest) and tollgate-sidecar (against redis-server) as
// processes, and a real Prometheus that scrapes both the way the ServiceMonitor and the
// PodMonitor of config/prometheus do and evaluates the rules of alerts.yaml every second.
// A healthy stack fires nothing; killing Redis fires TollgateSidecarStoreDown and an
// annotated pod without its sidecar fires TollgateUnprotectedPods. Every metric that the
// rules and the dashboard name is then in the binaries' /metrics.
func TestPrometheusScrapesTheBinariesAndFiresTheAlerts(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found: run `make prometheus` (hack/ensure-prometheus.sh) or apt-get install prometheus")
	}
	s := startStack(t)
	s.makeTraffic(t)

	prom := startPrometheus(t, promBin, s)
	prom.waitHealthy(t)

	t.Run("a healthy stack fires no alert", func(t *testing.T) {
		for _, a := range prom.alerts(t) {
			// A reconcile can fail while the manager starts (a conflict on a status
			// patch); the real rule waits 15 minutes before it fires.
			if a.State == "firing" && a.Labels["alertname"] != reconcileErrAlert {
				t.Errorf("alert %s fires on a healthy stack: %v", a.Labels["alertname"], a.Labels)
			}
		}
	})

	t.Run("the manager's gauges describe the policy", func(t *testing.T) {
		sel := fmt.Sprintf(`{namespace=%q, policy=%q}`, managerPolicyNS, policyName)
		for _, c := range []struct {
			metric   string
			min, max float64
		}{
			{"tollgate_policy_ready", 1, 1},
			{"tollgate_policy_unprotected_pods", 0, 0},
			{"tollgate_policy_next_key_published", 0, 0},
			{"tollgate_policy_prepublish_seconds", 300, 300},
			// the default rotationInterval, 24h, less the minutes since the key activated
			{"tollgate_policy_rotation_due_seconds", 23 * 3600, 24*3600 + 300},
		} {
			v := prom.value(t, c.metric+sel)
			if v < c.min || v > c.max {
				t.Errorf("%s = %v, want [%v, %v]", c.metric, v, c.min, c.max)
			}
		}
	})

	// Provoke: the sidecar loses its store, and a pod names the policy without its sidecar.
	s.redis.Kill()
	s.login(t, http.StatusServiceUnavailable)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: managerPolicyNS, Name: "unprotected-app",
			Annotations: map[string]string{authv1alpha1.PolicyAnnotation: policyName}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}
	if err := s.k8s.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}

	t.Run("killing Redis fires TollgateSidecarStoreDown for that pod", func(t *testing.T) {
		prom.waitFiring(t, storeDownAlert, map[string]string{"namespace": sidecarNamespace, "policy": policyName, "pod": sidecarPod})
	})
	t.Run("an annotated pod without its sidecar fires TollgateUnprotectedPods for its policy", func(t *testing.T) {
		prom.waitFiring(t, unprotectedAlert, map[string]string{"namespace": managerPolicyNS, "policy": policyName})
	})

	t.Run("the manager exports a span per reconcile of the policy", func(t *testing.T) {
		testwait.Until(t, 30*time.Second, "a reconcile span of shop/shop-api", func() (bool, string) {
			for _, sp := range s.traces.Spans() {
				attrs := map[string]string{}
				for _, kv := range sp.GetAttributes() {
					attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
				}
				if sp.Service == "tollgate-manager" && sp.GetName() == "tollgate-authpolicy reconcile" &&
					attrs["k8s.namespace.name"] == managerPolicyNS && attrs["tollgate.object"] == policyName {
					return true, ""
				}
			}
			return false, fmt.Sprintf("spans: %v; malformed exports: %v", s.traces.Spans(), s.traces.Errors())
		})
	})

	t.Run("every metric the rules and the dashboard name is in the binaries' /metrics", func(t *testing.T) {
		exported := map[string]bool{}
		for _, addr := range []string{s.managerMetrics, s.sidecarMetrics} {
			for name := range scrape(t, addr) {
				exported[name] = true
			}
		}
		for name, where := range namedMetrics(t) {
			if !exported[name] {
				t.Errorf("%s (used by %s) is exported by neither the manager nor the sidecar", name, strings.Join(slices.Compact(where), ", "))
			}
		}
	})
}

func startStack(t *testing.T) *stack {
	t.Helper()
	dir := t.TempDir()
	tollgateBin, err := testproc.Build("../../cmd/tollgate", dir)
	if err != nil {
		t.Fatal(err)
	}
	sidecarBin, err := testproc.Build("../../cmd/tollgate-sidecar", dir)
	if err != nil {
		t.Fatal(err)
	}

	assets, err := testenv.Assets(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	ctrl.SetLogger(logr.Discard())
	env := &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := testenv.WriteKubeconfig(cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	s := &stack{}
	if s.k8s, err = client.New(cfg, client.Options{Scheme: cli.Scheme()}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerPolicyNS}}); err != nil {
		t.Fatal(err)
	}
	policy := &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: managerPolicyNS, Name: policyName}}
	if err := s.k8s.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}

	s.managerMetrics = testwait.FreeAddr(t)
	health := testwait.FreeAddr(t)
	s.traces = otlptest.Start(t)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // milliseconds: export spans at once
	testproc.Start(t, tollgateBin, "http://"+health+"/readyz", "manager", "--otlp-endpoint", s.traces.URL,
		// Plain HTTP: the test's Prometheus scrapes without a ServiceAccount token (the
		// default, --metrics-secure, is tested in internal/cli).
		"--kubeconfig", kubeconfig, "--metrics-bind-address", s.managerMetrics, "--metrics-secure=false",
		"--health-probe-bind-address", health, "--disable-webhook", "--sidecar-image", "registry.example/tollgate:test")
	testwait.Until(t, time.Minute, "the AuthPolicy is Ready", func() (bool, string) {
		if err := s.k8s.Get(ctx, client.ObjectKeyFromObject(policy), policy); err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionTrue(policy.Status.Conditions, authv1alpha1.ConditionReady), fmt.Sprint(policy.Status.Conditions)
	})

	s.redis = testredis.Start(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "app") }))
	t.Cleanup(app.Close)
	users, err := os.ReadFile(sampleUsers)
	if err != nil {
		t.Fatal(err)
	}
	s.usersFile = filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(s.usersFile, users, 0o600); err != nil {
		t.Fatal(err)
	}
	listen := testwait.FreeAddr(t)
	s.sidecarMetrics = testwait.FreeAddr(t)
	s.sidecarURL = "http://" + listen
	testproc.Start(t, sidecarBin, "http://"+s.sidecarMetrics+"/readyz",
		"--policy", samplePolicy, "--users-file", s.usersFile, "--listen", listen,
		"--metrics-listen", s.sidecarMetrics, "--upstream", app.URL,
		"--redis-url", "redis://"+s.redis.Addr(), "--reload-interval", "100ms", "--log-level", "warn")
	return s
}

// tokens is a login's or a refresh's answer.
type tokens struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
}

func (s *stack) post(t *testing.T, path, body string, want int) tokens {
	t.Helper()
	resp, err := http.Post(s.sidecarURL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d %s, want %d", path, resp.StatusCode, b, want)
	}
	var tk tokens
	_ = json.Unmarshal(b, &tk)
	return tk
}

func (s *stack) login(t *testing.T, want int) tokens {
	t.Helper()
	return s.post(t, "/auth/login", `{"email":"alice@example.com","password":"wonderland"}`, want)
}

// makeTraffic makes the sidecar observe each kind of event the rules and the dashboard
// count: a login, a proxied request, a refresh, a reuse of the spent refresh token, and a
// reload of the users file.
func (s *stack) makeTraffic(t *testing.T) {
	t.Helper()
	tk := s.login(t, http.StatusOK)
	req, _ := http.NewRequest(http.MethodGet, s.sidecarURL+"/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /orders with a token: %d", resp.StatusCode)
	}
	refresh := fmt.Sprintf(`{"refreshToken":%q}`, tk.RefreshToken)
	s.post(t, "/auth/refresh", refresh, http.StatusOK)
	s.post(t, "/auth/refresh", refresh, http.StatusUnauthorized)

	users, err := os.ReadFile(s.usersFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.usersFile, append(users, "# reloaded\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 30*time.Second, "the sidecar reloads its users file", func() (bool, string) {
		_, ok := scrape(t, s.sidecarMetrics)["tollgate_reloads_total"]
		return ok, "no tollgate_reloads_total yet"
	})
}

// scrape reads addr's /metrics: the names of the series it exports (a histogram's
// _bucket, _sum and _count included).
func scrape(t *testing.T, addr string) map[string]bool {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s/metrics: %v", addr, err)
	}
	names := map[string]bool{}
	for name, f := range families {
		if len(f.GetMetric()) == 0 {
			continue
		}
		names[name] = true
		if f.GetType().String() == "HISTOGRAM" || f.GetType().String() == "SUMMARY" {
			names[name+"_sum"], names[name+"_count"] = true, true
			names[name+"_bucket"] = f.GetType().String() == "HISTOGRAM"
		}
	}
	return names
}

// prometheus is a real Prometheus server run by the test.
type prometheus struct {
	url string
}

func startPrometheus(t *testing.T, bin string, s *stack) *prometheus {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), forZero(t, ruleGroups(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	// What the ServiceMonitor and the PodMonitor make of the two targets: the manager's
	// own namespace/policy labels win (honorLabels); the sidecar gets the pod's namespace,
	// pod and policy from Kubernetes service discovery, here fixed labels.
	config := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms}
rule_files: [rules.yaml]
scrape_configs:
- job_name: tollgate-manager
  honor_labels: true
  static_configs: [{targets: [%q], labels: {namespace: tollgate-system, pod: tollgate-controller-manager-0}}]
- job_name: tollgate-sidecar
  static_configs: [{targets: [%q], labels: {namespace: %q, pod: %q, policy: %q}}]
`, s.managerMetrics, s.sidecarMetrics, sidecarNamespace, sidecarPod, policyName)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testwait.FreeAddr(t)
	testproc.Start(t, bin, "http://"+addr+"/-/ready",
		"--config.file", filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path", filepath.Join(dir, "data"),
		"--web.listen-address", addr, "--log.level", "warn")
	return &prometheus{url: "http://" + addr}
}

func (p *prometheus) get(t *testing.T, path string, into any) {
	t.Helper()
	resp, err := http.Get(p.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(b, &env); err != nil || env.Status != "success" {
		t.Fatalf("GET %s: %s (%v)", path, bytes.TrimSpace(b), err)
	}
	if err := json.Unmarshal(env.Data, into); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// waitHealthy waits until both targets are up and every rule has been evaluated without
// error on their series (an expression that fails at run time, as a many-to-many match
// does, shows here, not in the parser).
func (p *prometheus) waitHealthy(t *testing.T) {
	t.Helper()
	testwait.Until(t, time.Minute, "Prometheus scrapes both targets", func() (bool, string) {
		var targets struct {
			ActiveTargets []struct {
				ScrapePool string `json:"scrapePool"`
				Health     string `json:"health"`
				LastError  string `json:"lastError"`
			} `json:"activeTargets"`
		}
		p.get(t, "/api/v1/targets", &targets)
		up := 0
		for _, tg := range targets.ActiveTargets {
			if tg.Health == "up" {
				up++
			}
		}
		return up == 2, fmt.Sprintf("%+v", targets.ActiveTargets)
	})
	var seen time.Time
	testwait.Until(t, time.Minute, "Prometheus evaluates every rule without error on the scraped series", func() (bool, string) {
		var rules struct {
			Groups []struct {
				Rules []struct {
					Name           string `json:"name"`
					Health         string `json:"health"`
					LastError      string `json:"lastError"`
					LastEvaluation string `json:"lastEvaluation"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if seen.IsZero() {
			if !p.seriesSeen(t) {
				return false, "no series in the TSDB yet"
			}
			seen = time.Now()
		}
		p.get(t, "/api/v1/rules", &rules)
		n := 0
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				if r.Health == "err" {
					t.Fatalf("rule %s fails on the real series: %s", r.Name, r.LastError)
				}
				if last, err := time.Parse(time.RFC3339Nano, r.LastEvaluation); err == nil && r.Health == "ok" && last.After(seen) {
					n++
				}
			}
		}
		return n == len(alertNames), fmt.Sprintf("%d of %d rules evaluated: %+v", n, len(alertNames), rules.Groups)
	})
}

// seriesSeen: the rules' inputs are in the TSDB (a rule evaluated before the first scrape
// is healthy on no data).
func (p *prometheus) seriesSeen(t *testing.T) bool {
	t.Helper()
	var res struct {
		Result []any `json:"result"`
	}
	p.get(t, "/api/v1/query?query="+url.QueryEscape(`count(tollgate_policy_ready) + count(tollgate_store_up)`), &res)
	return len(res.Result) == 1
}

// value is the value of a query that selects one series.
func (p *prometheus) value(t *testing.T, query string) float64 {
	t.Helper()
	var res struct {
		Result []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	p.get(t, "/api/v1/query?query="+url.QueryEscape(query), &res)
	if len(res.Result) != 1 {
		t.Fatalf("%s: %d series, want 1", query, len(res.Result))
	}
	s, _ := res.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%s: value %q", query, s)
	}
	return v
}

type alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func (p *prometheus) alerts(t *testing.T) []alert {
	t.Helper()
	var res struct {
		Alerts []alert `json:"alerts"`
	}
	p.get(t, "/api/v1/alerts", &res)
	return res.Alerts
}

// waitFiring waits until alert name fires with labels including want.
func (p *prometheus) waitFiring(t *testing.T, name string, want map[string]string) {
	t.Helper()
	testwait.Until(t, time.Minute, name+" fires", func() (bool, string) {
		all := p.alerts(t)
		for _, a := range all {
			if a.Labels["alertname"] != name || a.State != "firing" {
				continue
			}
			match := true
			for k, v := range want {
				match = match && a.Labels[k] == v
			}
			if match {
				return true, ""
			}
		}
		return false, fmt.Sprintf("alerts: %+v", all)
	})
}
