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

package helmchart_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/tollgate-dev/tollgate/internal/helmchart"
)

// helm3 is the path of a Helm 3 CLI: $TOLLGATE_HELM3, else bin/helm3 (hack/ensure-helm3.sh,
// which `make test` runs, builds it). Without one the test is skipped, but under CI it fails.
func helm3(t *testing.T) string {
	t.Helper()
	path := os.Getenv("TOLLGATE_HELM3")
	if path == "" {
		path = filepath.Join(repoRoot, "bin", "helm3")
	}
	if _, err := os.Stat(path); err != nil {
		msg := "no Helm 3 CLI at " + path + ": run hack/ensure-helm3.sh (make test does) or set TOLLGATE_HELM3"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// The chart works with Helm 3 too: for the default values and with every optional switch
// on, a real Helm 3 CLI (helm.sh/helm/v3, hack/ensure-helm3.sh) lints it clean with
// --strict and `helm template` renders exactly the objects the Helm 4 SDK renders (the
// YAML may differ in comments and layout only).
func TestHelm3LintsAndRendersTheChartAsHelm4Does(t *testing.T) {
	bin := helm3(t)
	ch, err := helmchart.Load(helmchart.Dir(repoRoot))
	if err != nil {
		t.Fatal(err)
	}
	everything := monitoringOn(map[string]any{"labels": map[string]any{"release": "kube-prometheus-stack"}})
	everything["metrics"] = map[string]any{"certSecret": "tollgate-metrics-server-cert"}
	everything["networkPolicy"] = map[string]any{"enabled": true}
	everything["webhook"] = map[string]any{"certMode": "cert-manager"}
	everything["image"] = map[string]any{"digest": "sha256:" + strings.Repeat("ab", 32)}
	everything["sidecar"] = map[string]any{"image": "registry.example/tollgate-sidecar:v2"}
	everything["extraArgs"] = []any{"--zap-log-level=debug"}
	insecure := monitoringOn(nil)
	insecure["metrics"] = map[string]any{"secure": false}

	for _, tc := range []struct {
		name   string
		values map[string]any
	}{
		{"default values", nil},
		{"every optional switch on: monitoring, a metrics certificate, the NetworkPolicy, cert-manager", everything},
		{"monitoring with insecure metrics", insecure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			valuesFile := filepath.Join(t.TempDir(), "values.yaml")
			b, err := yaml.Marshal(tc.values)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(valuesFile, b, 0o600); err != nil {
				t.Fatal(err)
			}
			chartDir, err := filepath.Abs(helmchart.Dir(repoRoot))
			if err != nil {
				t.Fatal(err)
			}

			lint := run(t, bin, "lint", "--strict", chartDir, "--namespace", namespace, "--values", valuesFile)
			if !strings.Contains(lint, "1 chart(s) linted, 0 chart(s) failed") || strings.Contains(lint, "[WARNING]") || strings.Contains(lint, "[ERROR]") {
				t.Errorf("helm3 lint --strict:\n%s", lint)
			}

			manifest := run(t, bin, "template", "tollgate", chartDir, "--namespace", namespace, "--include-crds",
				"--kube-version", helmchart.KubeVersion, "--values", valuesFile)
			v3, err := helmchart.Objects(manifest)
			if err != nil {
				t.Fatal(err)
			}
			v4, err := helmchart.Render(ch, "tollgate", namespace, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			got, want := byKey(v3), byKey(v4)
			if len(v3) != len(got) || len(v4) != len(want) {
				t.Fatalf("duplicate objects: Helm 3 renders %d (%d distinct), Helm 4 %d (%d distinct)", len(v3), len(got), len(v4), len(want))
			}
			if !reflect.DeepEqual(sortedKeys(got), sortedKeys(want)) {
				t.Fatalf("Helm 3 renders\n  %s\nHelm 4 renders\n  %s", strings.Join(sortedKeys(got), "\n  "), strings.Join(sortedKeys(want), "\n  "))
			}
			for key, w := range want {
				if !reflect.DeepEqual(got[key].Object, w.Object) {
					t.Errorf("%s: Helm 3 renders it otherwise:\n%s", key, diff(t, "helm4", w.Object, got[key].Object))
				}
			}
		})
	}
}

// run runs the Helm 3 CLI with its config, cache and data in a fresh directory (no
// repositories, plugins or registry logins of the user) and returns its standard output.
func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm3 %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}
