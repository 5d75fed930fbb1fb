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
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/tollgate-dev/tollgate/internal/helmchart"
	"github.com/tollgate-dev/tollgate/internal/testenv"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
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

// Helm 3 installs, upgrades and uninstalls the chart on a real API server (envtest, with
// the Prometheus Operator's CRDs) as Helm 4 does: its three-way merge on upgrade keeps the
// caBundle the manager wrote, applies the new values, and uninstall keeps the CRD.
func TestHelm3InstallsUpgradesAndUninstallsTheChart(t *testing.T) {
	bin := helm3(t)
	assets, err := testenv.Assets(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	ctrllog.SetLogger(logr.Discard())
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: time.Minute,
		CRDDirectoryPaths: []string{prometheusOperatorCRDs}, ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := testenv.WriteKubeconfig(cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	chartDir, err := filepath.Abs(helmchart.Dir(repoRoot))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	helm := func(t *testing.T, args ...string) {
		t.Helper()
		run(t, bin, append(args, "--kubeconfig", kubeconfig, "--namespace", namespace)...)
	}
	get := func(apiVersion, kind, ns, name string) (*unstructured.Unstructured, error) {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		return u, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u)
	}
	endpointScheme := func(t *testing.T) any {
		t.Helper()
		sm, err := get("monitoring.coreos.com/v1", "ServiceMonitor", namespace, "tollgate-controller-manager-metrics-monitor")
		if err != nil {
			t.Fatal(err)
		}
		endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		return endpoints[0].(map[string]any)["scheme"]
	}

	t.Run("install: the CRD, the manager, the webhook and the monitors", func(t *testing.T) {
		helm(t, "install", "tollgate", chartDir, "--create-namespace",
			"--set", "monitoring.serviceMonitor.enabled=true,monitoring.podMonitor.enabled=true,monitoring.prometheusRule.enabled=true")
		for _, o := range []struct{ apiVersion, kind, ns, name string }{
			{"apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "authpolicies.auth.tollgate.dev"},
			{"apps/v1", "Deployment", namespace, "tollgate-controller-manager"},
			{"admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "", injection.WebhookConfigurationName},
			{"monitoring.coreos.com/v1", "PodMonitor", namespace, "tollgate-sidecars"},
			{"monitoring.coreos.com/v1", "PrometheusRule", namespace, "tollgate-alerts"},
		} {
			if _, err := get(o.apiVersion, o.kind, o.ns, o.name); err != nil {
				t.Errorf("%s %s: %v", o.kind, o.name, err)
			}
		}
		if s := endpointScheme(t); s != "https" {
			t.Errorf("ServiceMonitor scheme %v", s)
		}
	})

	// What the manager writes at run time (cert-controller).
	whc, err := get("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "", injection.WebhookConfigurationName)
	if err != nil {
		t.Fatal(err)
	}
	webhooks, _, _ := unstructured.NestedSlice(whc.Object, "webhooks")
	const caBundle = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==" // base64, as the API returns it
	webhooks[0].(map[string]any)["clientConfig"].(map[string]any)["caBundle"] = caBundle
	if err := unstructured.SetNestedSlice(whc.Object, webhooks, "webhooks"); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, whc, client.FieldOwner("cert-rotation")); err != nil {
		t.Fatal(err)
	}

	t.Run("upgrade: the new values apply, the manager's caBundle stays", func(t *testing.T) {
		helm(t, "upgrade", "tollgate", chartDir, "--reuse-values", "--set", "metrics.secure=false,replicas=1")
		if s := endpointScheme(t); s != "http" {
			t.Errorf("ServiceMonitor scheme %v after the upgrade to insecure metrics", s)
		}
		d, err := get("apps/v1", "Deployment", namespace, "tollgate-controller-manager")
		if err != nil {
			t.Fatal(err)
		}
		if r, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); r != 1 {
			t.Errorf("replicas %d", r)
		}
		whc, err := get("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "", injection.WebhookConfigurationName)
		if err != nil {
			t.Fatal(err)
		}
		webhooks, _, _ := unstructured.NestedSlice(whc.Object, "webhooks")
		if got, _, _ := unstructured.NestedString(webhooks[0].(map[string]any), "clientConfig", "caBundle"); got != caBundle {
			t.Errorf("the upgrade dropped the manager's caBundle: %q", got)
		}
	})

	t.Run("uninstall: the release's objects go, the CRD stays", func(t *testing.T) {
		helm(t, "uninstall", "tollgate", "--wait")
		if _, err := get("monitoring.coreos.com/v1", "PrometheusRule", namespace, "tollgate-alerts"); !apierrors.IsNotFound(err) {
			t.Errorf("PrometheusRule: %v, want NotFound", err)
		}
		if _, err := get("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "", injection.WebhookConfigurationName); !apierrors.IsNotFound(err) {
			t.Errorf("MutatingWebhookConfiguration: %v, want NotFound", err)
		}
		if _, err := get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "authpolicies.auth.tollgate.dev"); err != nil {
			t.Errorf("the CRD: %v", err)
		}
	})
}
