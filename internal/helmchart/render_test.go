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
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/tollgate-dev/tollgate/internal/helmchart"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

const (
	repoRoot     = "../.."
	namespace    = injection.DefaultOperatorNamespace
	defaultImage = "ghcr.io/tollgate-dev/tollgate:latest"
)

// The chart with its default values installs what `make build-installer` writes
// (config/default with the image passed on as --sidecar-image), object for object: same
// kinds, names and namespaces, and the same specs, RBAC rules, webhook configuration and
// manager arguments. The chart's objects carry Helm's labels besides config/default's, and
// the chart leaves the Namespace to `helm install --create-namespace`.
func TestTheChartRendersWhatConfigDefaultInstalls(t *testing.T) {
	chart := render(t, nil)
	want := kustomize(t, "default")
	want = slices.DeleteFunc(want, func(u *unstructured.Unstructured) bool { return u.GetKind() == "Namespace" })
	for _, u := range want {
		if u.GetKind() == "Deployment" {
			addSidecarImageArg(t, u, defaultImage)
		}
	}

	// Every label of config/default is on the chart's object (managed-by says who applied
	// it: kustomize or Helm), but for the CRD's part-of: Helm does not template crds/.
	sameObjects(t, "config/default", chart, want, func(w *unstructured.Unstructured, label string) bool {
		return label == "app.kubernetes.io/managed-by" || (w.GetKind() == "CustomResourceDefinition" && label == "app.kubernetes.io/part-of")
	})
}

// sameObjects checks that the chart renders the objects source installs, object for
// object, with every label of source's that ignore does not excuse, and Helm's besides.
func sameObjects(t *testing.T, source string, chart, want []*unstructured.Unstructured, ignore func(w *unstructured.Unstructured, label string) bool) {
	t.Helper()
	got, wantByKey := byKey(chart), byKey(want)
	if !reflect.DeepEqual(sortedKeys(got), sortedKeys(wantByKey)) {
		t.Fatalf("the chart renders\n  %s\n%s installs\n  %s", strings.Join(sortedKeys(got), "\n  "), source, strings.Join(sortedKeys(wantByKey), "\n  "))
	}
	for key, w := range wantByKey {
		g := got[key].DeepCopy()
		w = w.DeepCopy()
		for k, v := range w.GetLabels() {
			if ignore(w, k) {
				continue
			}
			if g.GetLabels()[k] != v {
				t.Errorf("%s: label %s=%q, %s has %q", key, k, g.GetLabels()[k], source, v)
			}
		}
		g.SetLabels(nil)
		w.SetLabels(nil)
		if !reflect.DeepEqual(g.Object, w.Object) {
			t.Errorf("%s differs from %s:\n%s", key, source, diff(t, source, w.Object, g.Object))
		}
	}
}

// The chart's CRD is config/crd/bases' (`make manifests` copies it).
func TestTheChartCarriesTheGeneratedCRD(t *testing.T) {
	name := "auth.tollgate.dev_authpolicies.yaml"
	sameFile(t, filepath.Join("config", "crd", "bases", name), filepath.Join(helmchart.Dir(repoRoot), "crds", name))
}

// sameFile checks that the chart's copy (a path) holds what source (a path under
// repoRoot) does.
func sameFile(t *testing.T, source, copy string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join(repoRoot, source))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(copy)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from %s: run `make manifests`", copy, source)
	}
}

// `helm lint` (the SDK's lint rules) finds nothing, not even an informational message, for
// the default values and for the other settings a user is likely to choose.
func TestTheChartLintsClean(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
	}{
		{"default values", nil},
		{"cert-manager with a ClusterIssuer, insecure metrics, a pinned image, the NetworkPolicy", map[string]any{
			"image":         map[string]any{"digest": "sha256:" + strings.Repeat("ab", 32)},
			"webhook":       map[string]any{"certMode": "cert-manager", "certManager": map[string]any{"issuerRef": map[string]any{"kind": "ClusterIssuer", "name": "ca"}}},
			"metrics":       map[string]any{"secure": false},
			"networkPolicy": map[string]any{"enabled": true},
		}},
		{"every monitoring object, with labels for Prometheus' selectors and a metrics certificate", map[string]any{
			"metrics": map[string]any{"certSecret": "tollgate-metrics-server-cert"},
			"monitoring": map[string]any{
				"labels":           map[string]any{"release": "kube-prometheus-stack"},
				"serviceMonitor":   map[string]any{"enabled": true},
				"podMonitor":       map[string]any{"enabled": true},
				"prometheusRule":   map[string]any{"enabled": true},
				"grafanaDashboard": map[string]any{"enabled": true},
			},
		}},
		{"no metrics, no PodDisruptionBudget, one replica", map[string]any{
			"metrics": map[string]any{"enabled": false}, "podDisruptionBudget": map[string]any{"enabled": false}, "replicas": 1,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range helmchart.Lint(helmchart.Dir(repoRoot), namespace, tc.values) {
				t.Errorf("helm lint: %s", m.Error())
			}
		})
	}
}

// Values the chart offers change what it renders the way a user expects.
func TestTheChartsValues(t *testing.T) {
	t.Run("cert-manager: a Certificate into the mounted Secret, the CA injected, no empty Secret", func(t *testing.T) {
		objs := byKey(render(t, map[string]any{"webhook": map[string]any{"certMode": "cert-manager"}}))
		cert := objs["Certificate/"+namespace+"/tollgate-serving-cert"]
		if cert == nil || objs["Issuer/"+namespace+"/tollgate-selfsigned-issuer"] == nil {
			t.Fatalf("no Certificate or Issuer in %v", sortedKeys(objs))
		}
		if s, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName"); s != injection.WebhookSecretName {
			t.Errorf("the Certificate writes %q, the manager mounts %s", s, injection.WebhookSecretName)
		}
		if objs["Secret/"+namespace+"/"+injection.WebhookSecretName] != nil {
			t.Error("the empty Secret is rendered beside cert-manager's")
		}
		whc := objs["MutatingWebhookConfiguration//"+injection.WebhookConfigurationName]
		if a := whc.GetAnnotations()["cert-manager.io/inject-ca-from"]; a != namespace+"/tollgate-serving-cert" {
			t.Errorf("inject-ca-from %q", a)
		}
		if args := managerArgs(t, objs); !slices.Contains(args, "--cert-mode=cert-manager") {
			t.Errorf("args %v", args)
		}
	})
	t.Run("the release's namespace is never injected, whatever it is called; the user's selector is added", func(t *testing.T) {
		objs := byKey(renderIn(t, "platform-auth", map[string]any{"webhook": map[string]any{
			"excludedNamespaces": []any{"kube-system", "platform-auth", "batch"},
			"namespaceSelector": map[string]any{"matchExpressions": []any{
				map[string]any{"key": "tier", "operator": "In", "values": []any{"web"}},
			}},
		}}))
		whc := objs["MutatingWebhookConfiguration//"+injection.WebhookConfigurationName]
		webhooks, _, _ := unstructured.NestedSlice(whc.Object, "webhooks")
		exprs, _, _ := unstructured.NestedSlice(webhooks[0].(map[string]any), "namespaceSelector", "matchExpressions")
		values, _, _ := unstructured.NestedStringSlice(exprs[0].(map[string]any), "values")
		if !slices.Equal(values, []string{"platform-auth", "kube-system", "batch"}) {
			t.Errorf("excluded namespaces %v", values)
		}
		labels, _, _ := unstructured.NestedStringMap(webhooks[0].(map[string]any), "namespaceSelector", "matchLabels")
		if len(exprs) != 2 || exprs[1].(map[string]any)["key"] != "tier" || labels["auth.tollgate.dev/injection"] != "enabled" {
			t.Errorf("namespaceSelector: expressions %v, labels %v; want the user's expression after the exclusions, the default labels", exprs, labels)
		}
	})
	t.Run("image by digest, sidecar image of its own, leader election off, extra args", func(t *testing.T) {
		digest := "sha256:" + strings.Repeat("0f", 32)
		objs := byKey(render(t, map[string]any{
			"image":          map[string]any{"repository": "registry.example/tollgate", "digest": digest},
			"sidecar":        map[string]any{"image": "registry.example/tollgate-sidecar:v2"},
			"leaderElection": map[string]any{"enabled": false},
			"extraArgs":      []any{"--max-concurrent-reconciles=8"},
			"replicas":       1,
		}))
		d := objs["Deployment/"+namespace+"/tollgate-controller-manager"]
		containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		if img := containers[0].(map[string]any)["image"]; img != "registry.example/tollgate@"+digest {
			t.Errorf("image %v", img)
		}
		args := managerArgs(t, objs)
		if slices.Contains(args, "--leader-elect") || !slices.Contains(args, "--sidecar-image=registry.example/tollgate-sidecar:v2") ||
			!slices.Contains(args, "--max-concurrent-reconciles=8") {
			t.Errorf("args %v", args)
		}
	})
	t.Run("metrics off: no Service, no metrics roles, the endpoint disabled", func(t *testing.T) {
		objs := byKey(render(t, map[string]any{"metrics": map[string]any{"enabled": false}}))
		for key := range objs {
			if strings.Contains(key, "metrics") {
				t.Errorf("rendered %s", key)
			}
		}
		if args := managerArgs(t, objs); !slices.Contains(args, "--metrics-bind-address=0") {
			t.Errorf("args %v", args)
		}
	})
	t.Run("an unknown certificate mode is refused", func(t *testing.T) {
		ch, err := helmchart.Load(helmchart.Dir(repoRoot))
		if err != nil {
			t.Fatal(err)
		}
		_, err = helmchart.Render(ch, "tollgate", namespace, map[string]any{"webhook": map[string]any{"certMode": "vault"}})
		if err == nil || !strings.Contains(err.Error(), `webhook.certMode "vault"`) {
			t.Errorf("error %v", err)
		}
	})
}

func render(t *testing.T, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	return renderIn(t, namespace, values)
}

func renderIn(t *testing.T, ns string, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	ch, err := helmchart.Load(helmchart.Dir(repoRoot))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := helmchart.Render(ch, "tollgate", ns, values)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// kustomize is `kustomize build config/<dir>`.
func kustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot, "config", dir))
	if err != nil {
		t.Fatalf("kustomize build config/%s: %v", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range m.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, u)
	}
	return objs
}

// addSidecarImageArg is what hack/render-install.sh adds for `make build-installer`.
func addSidecarImageArg(t *testing.T, d *unstructured.Unstructured, image string) {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	c := containers[0].(map[string]any)
	c["args"] = append(c["args"].([]any), "--sidecar-image="+image)
	if err := unstructured.SetNestedSlice(d.Object, containers, "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
}

func managerArgs(t *testing.T, objs map[string]*unstructured.Unstructured) []string {
	t.Helper()
	d := objs["Deployment/"+namespace+"/tollgate-controller-manager"]
	if d == nil {
		t.Fatal("no manager Deployment")
	}
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	return args
}

func byKey(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := map[string]*unstructured.Unstructured{}
	for _, u := range objs {
		m[u.GetKind()+"/"+u.GetNamespace()+"/"+u.GetName()] = u
	}
	return m
}

func sortedKeys(m map[string]*unstructured.Unstructured) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// diff is a unified diff of two objects' YAML.
func diff(t *testing.T, from string, want, got map[string]any) string {
	t.Helper()
	w, err := yaml.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	g, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(w)), B: difflib.SplitLines(string(g)),
		FromFile: from, ToFile: "charts/tollgate", Context: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
