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

// Package monitoring tests config/prometheus: the alert rules and the dashboard parse, name
// only metrics the real binaries export, and fire in a real Prometheus on real series. It is
// its own package because Prometheus' rule parser is a heavy module that nothing else links.
package monitoring

import (
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

var (
	rulesFile     = filepath.Join("..", "..", "config", "prometheus", "alerts.yaml")
	dashboardFile = filepath.Join("..", "..", "config", "prometheus", "dashboard.json")
)

// ruleGroups is the spec of the PrometheusRule: a Prometheus rules file.
func ruleGroups(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Kind string         `json:"kind"`
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &obj); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if obj.Kind != "PrometheusRule" {
		t.Fatalf("%s: kind %q, want PrometheusRule", rulesFile, obj.Kind)
	}
	spec, err := yaml.Marshal(obj.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// parseRules loads the rules with Prometheus' own parser, which also type-checks every
// expression and template.
func parseRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.Parse(ruleGroups(t), false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", rulesFile, errs)
	}
	return groups
}

// alertNames are the alerts docs/monitoring.md explains; the rules must define exactly these.
var alertNames = []string{
	"TollgateSigningKeyWithoutSuccessor",
	"TollgateKeyRotationOverdue",
	"TollgateReconcileErrors",
	"TollgatePolicyNotReady",
	"TollgateUnprotectedPods",
	"TollgateSidecarStoreDown",
	"TollgateRefreshReuseSpike",
	"TollgateValidationLatencyHigh",
	"TollgateStoreRecordsRejected",
	"TollgateReloadRejected",
}

func TestTheAlertRulesParseAndEachHasADocumentedRunbook(t *testing.T) {
	groups := parseRules(t)
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "monitoring.md"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			got = append(got, r.Alert)
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[k] == "" {
					t.Errorf("alert %s has no %s annotation", r.Alert, k)
				}
			}
			if r.Labels["severity"] != "warning" && r.Labels["severity"] != "critical" {
				t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, r.Labels["severity"])
			}
			anchor := strings.ToLower(r.Alert)
			if !strings.HasSuffix(r.Annotations["runbook_url"], "docs/monitoring.md#"+anchor) {
				t.Errorf("alert %s: runbook_url %q does not point at docs/monitoring.md#%s", r.Alert, r.Annotations["runbook_url"], anchor)
			}
			if !strings.Contains(string(doc), "### "+r.Alert+"\n") {
				t.Errorf("docs/monitoring.md has no section \"### %s\"", r.Alert)
			}
		}
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(alertNames))
	if !slices.Equal(got, want) {
		t.Errorf("alerts %v, want %v", got, want)
	}
}

// dashboardVars stand in for Grafana's template variables, so the queries parse as PromQL.
var dashboardVars = strings.NewReplacer("$__rate_interval", "5m", "$namespace", ".*", "$policy", ".*")

// dashboardQueries are the PromQL expressions of every panel of the Grafana dashboard.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
				Type  string
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, dashboardVars.Replace(tg.Expr))
		}
	}
	for _, v := range d.Templating.List {
		q, _ := v.Query.(string)
		if v.Type != "query" {
			continue
		}
		// label_values(METRIC{...}, label): the metric must exist too.
		q = strings.TrimSuffix(strings.TrimPrefix(q, "label_values("), ")")
		if i := strings.LastIndex(q, ","); i > 0 {
			exprs = append(exprs, dashboardVars.Replace(q[:i]))
		}
	}
	return exprs
}

// metricNames are the metric names an expression selects.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("%q: %v", expr, err)
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" {
					name = m.Value
				}
			}
			if name == "" {
				t.Errorf("%q selects series without a metric name", expr)
			}
			names = append(names, name)
		}
		return nil
	})
	return names
}

// namedMetrics are the metric names the rules and the dashboard use, each with where.
func namedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	for _, g := range parseRules(t).Groups {
		for _, r := range g.Rules {
			for _, n := range metricNames(t, r.Expr) {
				used[n] = append(used[n], "alert "+r.Alert)
			}
		}
	}
	for _, q := range dashboardQueries(t) {
		for _, n := range metricNames(t, q) {
			used[n] = append(used[n], "dashboard")
		}
	}
	return used
}

func TestTheDashboardQueriesParse(t *testing.T) {
	if n := len(dashboardQueries(t)); n < 10 {
		t.Fatalf("the dashboard has %d queries", n)
	}
	used := namedMetrics(t)
	for _, want := range []string{"tollgate_policy_ready", "tollgate_requests_total", "tollgate_validation_duration_seconds_bucket"} {
		if _, ok := used[want]; !ok {
			t.Errorf("nothing uses %s; used: %v", want, used)
		}
	}
}

// forZero rewrites every rule's `for` to 0s: the test Prometheus evaluates every second and
// must not wait minutes for an alert that the real series already trigger.
func forZero(t *testing.T, spec []byte) []byte {
	t.Helper()
	return rewriteRules(t, spec, func(r map[string]any) { r["for"] = (0 * time.Second).String() })
}

// rewriteRules applies change to every rule of a rules file.
func rewriteRules(t *testing.T, spec []byte, change func(map[string]any)) []byte {
	t.Helper()
	var groups struct {
		Groups []map[string]any `json:"groups"`
	}
	if err := yaml.Unmarshal(spec, &groups); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.Groups {
		for _, r := range g["rules"].([]any) {
			change(r.(map[string]any))
		}
	}
	b, err := yaml.Marshal(groups)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPromtoolRuleTests runs promtool's rule unit tests (testdata/alerts_test.yaml): every
// alert fires on the series meant to fire it, with its labels, after its `for`, and not on
// healthy neighbours. Every alert must have a test that expects it to fire.
func TestPromtoolRuleTests(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run `make prometheus` (hack/ensure-prometheus.sh) or apt-get install prometheus")
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var suite struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(tests, &suite); err != nil {
		t.Fatal(err)
	}
	fired := map[string]bool{}
	for _, tc := range suite.Tests {
		for _, a := range tc.AlertRuleTest {
			fired[a.Alertname] = fired[a.Alertname] || len(a.ExpAlerts) > 0
		}
	}
	for _, name := range alertNames {
		if !fired[name] {
			t.Errorf("testdata/alerts_test.yaml has no test where %s fires", name)
		}
	}
	dir := t.TempDir()
	// promtool compares annotations too: the tests state labels only (the annotations are
	// checked by TestTheAlertRulesParseAndEachHasADocumentedRunbook).
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rewriteRules(t, ruleGroups(t), func(r map[string]any) { delete(r, "annotations") }), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "test", "rules", "alerts_test.yaml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}
