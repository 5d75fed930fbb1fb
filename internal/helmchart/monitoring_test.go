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
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/util/strutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/helmchart"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// monitoringOn are values turning on every monitoring object of the chart.
func monitoringOn(extra map[string]any) map[string]any {
	m := map[string]any{
		"serviceMonitor":   map[string]any{"enabled": true},
		"podMonitor":       map[string]any{"enabled": true},
		"prometheusRule":   map[string]any{"enabled": true},
		"grafanaDashboard": map[string]any{"enabled": true},
	}
	for k, v := range extra {
		m[k] = v
	}
	return map[string]any{"monitoring": m}
}

var monitoringKinds = []string{"ServiceMonitor", "PodMonitor", "PrometheusRule"}

func isMonitoring(u *unstructured.Unstructured) bool {
	return slices.Contains(monitoringKinds, u.GetKind()) || u.GetName() == "tollgate-grafana-dashboard"
}

// With every monitoring switch on, the chart renders what `kubectl apply -k
// config/prometheus` installs, object for object: the same ServiceMonitor, PodMonitor,
// PrometheusRule (so the same alerts) and dashboard ConfigMap, with config/prometheus's
// labels and Helm's besides.
func TestTheChartsMonitoringIsConfigPrometheus(t *testing.T) {
	chart := slices.DeleteFunc(render(t, monitoringOn(nil)), func(u *unstructured.Unstructured) bool { return !isMonitoring(u) })
	sameObjects(t, "config/prometheus", chart, kustomize(t, "prometheus"), func(*unstructured.Unstructured, string) bool { return false })
}

// The chart's alerts and dashboard are config/prometheus's files (`make manifests` copies
// them): one source for the rules.
func TestTheChartCarriesConfigPrometheusFiles(t *testing.T) {
	for _, name := range []string{"alerts.yaml", "dashboard.json"} {
		sameFile(t, filepath.Join("config", "prometheus", name), filepath.Join(helmchart.Dir(repoRoot), "files", "prometheus", name))
	}
}

// The ServiceMonitor scrapes the manager's metrics Service, and only it, on the port and
// with the scheme the manager serves: HTTPS with the scraper's token by default, plain
// HTTP with metrics.secure=false.
func TestTheServiceMonitorScrapesTheManagersMetricsService(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secure bool
	}{
		{"secure metrics (the default): https, the ServiceAccount token, TLS", true},
		{"insecure metrics: http, no token", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := monitoringOn(nil)
			vals["metrics"] = map[string]any{"secure": tc.secure}
			objs := render(t, vals)
			sm := one(t, objs, "ServiceMonitor")
			selector, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
			var selected []*unstructured.Unstructured
			for _, u := range objs {
				if u.GetKind() == "Service" && k8slabels.SelectorFromSet(selector).Matches(k8slabels.Set(u.GetLabels())) {
					selected = append(selected, u)
				}
			}
			if len(selected) != 1 || selected[0].GetName() != "tollgate-metrics-service" {
				t.Fatalf("the ServiceMonitor's selector %v picks %v, want the Service tollgate-metrics-service only", selector, names(selected))
			}
			endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
			if len(endpoints) != 1 {
				t.Fatalf("endpoints %v", endpoints)
			}
			ep := endpoints[0].(map[string]any)
			ports, _, _ := unstructured.NestedSlice(selected[0].Object, "spec", "ports")
			svcPort := ports[0].(map[string]any)
			if len(ports) != 1 || ep["port"] != svcPort["name"] {
				t.Errorf("the ServiceMonitor scrapes port %v; the Service's ports are %v", ep["port"], ports)
			}
			// The Service's target port is the manager container's metrics port.
			if !slices.Contains(managerPortNames(t, byKey(objs)), svcPort["targetPort"].(string)) {
				t.Errorf("the Service targets %v, the manager's ports are %v", svcPort["targetPort"], managerPortNames(t, byKey(objs)))
			}
			wantScheme := map[bool]string{true: "https", false: "http"}[tc.secure]
			if ep["scheme"] != wantScheme || ep["path"] != "/metrics" || ep["honorLabels"] != true || ep["interval"] != "30s" {
				t.Errorf("endpoint %v, want scheme %s, path /metrics, honorLabels, interval 30s", ep, wantScheme)
			}
			_, hasTLS := ep["tlsConfig"]
			if tc.secure != (ep["bearerTokenFile"] == "/var/run/secrets/kubernetes.io/serviceaccount/token") || tc.secure != hasTLS {
				t.Errorf("endpoint %v: bearerTokenFile and tlsConfig must be there exactly when metrics are secure", ep)
			}
			args := managerArgs(t, byKey(objs))
			if tc.secure != slices.Contains(args, "--metrics-secure") || !tc.secure != slices.Contains(args, "--metrics-secure=false") {
				t.Errorf("manager args %v", args)
			}
		})
	}
}

// The PodMonitor scrapes the sidecar the webhook injects, on the container port the
// injector names, and keeps injected pods only, labelled with their policy. The
// relabelings run through Prometheus' own relabeling code on the meta labels Prometheus'
// pod discovery gives the injected pod's metrics port.
func TestThePodMonitorScrapesInjectedSidecars(t *testing.T) {
	pm := one(t, render(t, monitoringOn(nil)), "PodMonitor")
	endpoints, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(endpoints) != 1 {
		t.Fatalf("podMetricsEndpoints %v", endpoints)
	}
	ep := endpoints[0].(map[string]any)
	if ep["path"] != contract.MetricsPath || ep["scheme"] != "http" || ep["interval"] != "30s" {
		t.Errorf("endpoint %v, want path %s, scheme http, interval 30s", ep, contract.MetricsPath)
	}
	if sel, _, _ := unstructured.NestedMap(pm.Object, "spec", "selector"); len(sel) != 0 {
		t.Errorf("selector %v: the webhook labels nothing, so the PodMonitor must select every pod", sel)
	}
	if any, _, _ := unstructured.NestedBool(pm.Object, "spec", "namespaceSelector", "any"); !any {
		t.Error("the PodMonitor does not look in every namespace")
	}
	relabelings := relabelConfigs(t, ep)

	policy := &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "shop-api"}}
	appPod := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0", Annotations: map[string]string{authv1alpha1.PolicyAnnotation: "shop-api"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9100}},
			}}},
		}
	}
	injected := appPod()
	if err := injection.InjectSidecar(injected, policy, "ghcr.io/tollgate-dev/tollgate:latest"); err != nil {
		t.Fatal(err)
	}

	t.Run("the injected sidecar's metrics port is scraped, labelled with the policy", func(t *testing.T) {
		var kept []labels.Labels
		for _, target := range podTargets(injected) {
			if lbls, keep := scrapeTarget(target, ep["port"].(string), relabelings); keep {
				kept = append(kept, lbls)
			}
		}
		if len(kept) != 1 {
			t.Fatalf("%d targets kept from the injected pod (ports %v), want the sidecar's metrics port only", len(kept), podTargets(injected))
		}
		if got := kept[0].Get("__meta_kubernetes_pod_container_name"); got != contract.ContainerName {
			t.Errorf("the target is container %q, want %s", got, contract.ContainerName)
		}
		if got := kept[0].Get("__meta_kubernetes_pod_container_port_number"); got != "9090" {
			t.Errorf("the target is port %s, want %d", got, contract.MetricsPort)
		}
		if got := kept[0].Get("policy"); got != "shop-api" {
			t.Errorf("label policy=%q, want shop-api", got)
		}
	})
	t.Run("the authorizer Deployment's pod is scraped on its metrics port, labelled with the policy", func(t *testing.T) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "shop-api-authorizer-0", Labels: injection.AuthorizerPodLabels(policy)},
			Spec:       injection.AuthorizerPodSpec(policy, "ghcr.io/tollgate-dev/tollgate:latest"),
		}
		var kept []labels.Labels
		for _, target := range podTargets(pod) {
			if lbls, keep := scrapeTarget(target, ep["port"].(string), relabelings); keep {
				kept = append(kept, lbls)
			}
		}
		if len(kept) != 1 {
			t.Fatalf("%d targets kept from the authorizer pod (ports %v), want its metrics port only", len(kept), podTargets(pod))
		}
		if got := kept[0].Get("__meta_kubernetes_pod_container_port_number"); got != "9090" {
			t.Errorf("the target is port %s, want %d", got, contract.MetricsPort)
		}
		if got := kept[0].Get("policy"); got != "shop-api" {
			t.Errorf("label policy=%q, want shop-api", got)
		}
	})
	t.Run("a pod labelled with a policy but neither injected nor an authorizer is not scraped", func(t *testing.T) {
		pod := appPod()
		pod.Labels = map[string]string{authv1alpha1.PolicyLabel: "shop-api", "app.kubernetes.io/name": "web"}
		pod.Spec.Containers[0].Ports = append(pod.Spec.Containers[0].Ports, corev1.ContainerPort{Name: contract.MetricsPortName, ContainerPort: 9090})
		for _, target := range podTargets(pod) {
			if _, keep := scrapeTarget(target, ep["port"].(string), relabelings); keep {
				t.Errorf("kept %v", target)
			}
		}
	})
	t.Run("a pod naming the policy but not injected, even with a port of that name, is not scraped", func(t *testing.T) {
		pod := appPod()
		pod.Spec.Containers[0].Ports = append(pod.Spec.Containers[0].Ports, corev1.ContainerPort{Name: contract.MetricsPortName, ContainerPort: 9090})
		for _, target := range podTargets(pod) {
			if _, keep := scrapeTarget(target, ep["port"].(string), relabelings); keep {
				t.Errorf("kept %v", target)
			}
		}
	})
}

// Each monitoring switch renders its own object and nothing else; the defaults render none.
func TestTheChartsMonitoringValues(t *testing.T) {
	t.Run("default values: no monitoring object, so no monitoring.coreos.com CRD is needed", func(t *testing.T) {
		for _, u := range render(t, nil) {
			if isMonitoring(u) {
				t.Errorf("rendered %s %s", u.GetKind(), u.GetName())
			}
		}
	})
	for _, tc := range []struct{ value, kind, name string }{
		{"serviceMonitor", "ServiceMonitor", "tollgate-controller-manager-metrics-monitor"},
		{"podMonitor", "PodMonitor", "tollgate-sidecars"},
		{"prometheusRule", "PrometheusRule", "tollgate-alerts"},
		{"grafanaDashboard", "ConfigMap", "tollgate-grafana-dashboard"},
	} {
		t.Run("monitoring."+tc.value+".enabled renders the "+tc.kind+" only", func(t *testing.T) {
			objs := render(t, map[string]any{"monitoring": map[string]any{tc.value: map[string]any{"enabled": true}}})
			var got []string
			for _, u := range objs {
				if isMonitoring(u) {
					got = append(got, u.GetKind()+"/"+u.GetName())
				}
			}
			if !slices.Equal(got, []string{tc.kind + "/" + tc.name}) {
				t.Errorf("rendered %v", got)
			}
		})
	}
	t.Run("labels for the Prometheus Operator's selectors and the interval reach every monitor", func(t *testing.T) {
		objs := render(t, monitoringOn(map[string]any{"labels": map[string]any{"release": "kube-prometheus-stack"}, "interval": "15s"}))
		for _, kind := range monitoringKinds {
			if u := one(t, objs, kind); u.GetLabels()["release"] != "kube-prometheus-stack" {
				t.Errorf("%s labels %v", kind, u.GetLabels())
			}
		}
		sm, _, _ := unstructured.NestedSlice(one(t, objs, "ServiceMonitor").Object, "spec", "endpoints")
		pm, _, _ := unstructured.NestedSlice(one(t, objs, "PodMonitor").Object, "spec", "podMetricsEndpoints")
		if sm[0].(map[string]any)["interval"] != "15s" || pm[0].(map[string]any)["interval"] != "15s" {
			t.Errorf("intervals %v, %v", sm[0], pm[0])
		}
	})
	t.Run("the dashboard ConfigMap holds config/prometheus/dashboard.json, for Grafana's sidecar", func(t *testing.T) {
		objs := render(t, monitoringOn(map[string]any{"grafanaDashboard": map[string]any{
			"enabled": true, "namespace": "grafana", "annotations": map[string]any{"grafana_folder": "tollgate"},
		}}))
		cm := byKey(objs)["ConfigMap/grafana/tollgate-grafana-dashboard"]
		if cm == nil {
			t.Fatalf("no ConfigMap grafana/tollgate-grafana-dashboard in %v", sortedKeys(byKey(objs)))
		}
		dashboard, err := os.ReadFile(filepath.Join(repoRoot, "config", "prometheus", "dashboard.json"))
		if err != nil {
			t.Fatal(err)
		}
		if data, _, _ := unstructured.NestedString(cm.Object, "data", "tollgate.json"); data != string(dashboard) {
			t.Error("data tollgate.json is not config/prometheus/dashboard.json")
		}
		if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetAnnotations()["grafana_folder"] != "tollgate" {
			t.Errorf("labels %v, annotations %v", cm.GetLabels(), cm.GetAnnotations())
		}
	})
	t.Run("metrics.certSecret: the manager serves its certificate, the ServiceMonitor verifies it", func(t *testing.T) {
		vals := monitoringOn(nil)
		vals["metrics"] = map[string]any{"certSecret": "tollgate-metrics-server-cert"}
		objs := render(t, vals)
		if args := managerArgs(t, byKey(objs)); !slices.Contains(args, "--metrics-cert-dir=/tmp/k8s-metrics-server/metrics-certs") {
			t.Errorf("args %v", args)
		}
		d := byKey(objs)["Deployment/"+namespace+"/tollgate-controller-manager"]
		volumes, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "volumes")
		if s, _, _ := unstructured.NestedString(volumes[len(volumes)-1].(map[string]any), "secret", "secretName"); s != "tollgate-metrics-server-cert" {
			t.Errorf("volumes %v", volumes)
		}
		containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		mounts, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "volumeMounts")
		if m := mounts[len(mounts)-1].(map[string]any); m["mountPath"] != "/tmp/k8s-metrics-server/metrics-certs" || m["name"] != "metrics-certs" {
			t.Errorf("mounts %v", mounts)
		}
		endpoints, _, _ := unstructured.NestedSlice(one(t, objs, "ServiceMonitor").Object, "spec", "endpoints")
		tls := endpoints[0].(map[string]any)["tlsConfig"]
		want := map[string]any{
			"serverName":         "tollgate-metrics-service." + namespace + ".svc",
			"insecureSkipVerify": false,
			"ca":                 map[string]any{"secret": map[string]any{"name": "tollgate-metrics-server-cert", "key": "ca.crt"}},
		}
		if !reflect.DeepEqual(tls, want) {
			t.Errorf("tlsConfig %v, want %v", tls, want)
		}
	})
	t.Run("monitoring.serviceMonitor.tlsConfig replaces the chart's", func(t *testing.T) {
		tlsConfig := map[string]any{"serverName": "metrics.example", "ca": map[string]any{"configMap": map[string]any{"name": "ca", "key": "ca.crt"}}}
		objs := render(t, monitoringOn(map[string]any{"serviceMonitor": map[string]any{"enabled": true, "tlsConfig": tlsConfig}}))
		endpoints, _, _ := unstructured.NestedSlice(one(t, objs, "ServiceMonitor").Object, "spec", "endpoints")
		if tls := endpoints[0].(map[string]any)["tlsConfig"]; !reflect.DeepEqual(tls, tlsConfig) {
			t.Errorf("tlsConfig %v", tls)
		}
	})
	t.Run("a ServiceMonitor without metrics is refused", func(t *testing.T) {
		ch, err := helmchart.Load(helmchart.Dir(repoRoot))
		if err != nil {
			t.Fatal(err)
		}
		vals := monitoringOn(nil)
		vals["metrics"] = map[string]any{"enabled": false}
		if _, err := helmchart.Render(ch, "tollgate", namespace, vals); err == nil || !strings.Contains(err.Error(), "monitoring.serviceMonitor.enabled needs metrics.enabled") {
			t.Errorf("error %v", err)
		}
	})
}

func one(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == kind {
			found = append(found, u)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s: %v", len(found), kind, names(found))
	}
	return found[0]
}

func names(objs []*unstructured.Unstructured) []string {
	var ns []string
	for _, u := range objs {
		ns = append(ns, u.GetKind()+"/"+u.GetName())
	}
	return ns
}

func managerPortNames(t *testing.T, objs map[string]*unstructured.Unstructured) []string {
	t.Helper()
	d := objs["Deployment/"+namespace+"/tollgate-controller-manager"]
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	ports, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "ports")
	var ns []string
	for _, p := range ports {
		ns = append(ns, p.(map[string]any)["name"].(string))
	}
	return ns
}

// relabelConfigs are a podMetricsEndpoint's relabelings as Prometheus runs them (the
// Prometheus Operator copies them into the scrape config).
func relabelConfigs(t *testing.T, ep map[string]any) []*relabel.Config {
	t.Helper()
	raw, _, _ := unstructured.NestedSlice(ep, "relabelings")
	var cfgs []*relabel.Config
	for _, r := range raw {
		r := r.(map[string]any)
		cfg := relabel.DefaultRelabelConfig
		cfg.NameValidationScheme = model.UTF8Validation
		cfg.Action = relabel.Action(r["action"].(string))
		if v, ok := r["regex"].(string); ok {
			cfg.Regex = relabel.MustNewRegexp(v)
		}
		if v, ok := r["targetLabel"].(string); ok {
			cfg.TargetLabel = v
		}
		for _, s := range r["sourceLabels"].([]any) {
			cfg.SourceLabels = append(cfg.SourceLabels, model.LabelName(s.(string)))
		}
		if err := cfg.Validate(model.UTF8Validation); err != nil {
			t.Fatalf("relabeling %v: %v", r, err)
		}
		cfgs = append(cfgs, &cfg)
	}
	return cfgs
}

// podTargets are the targets Prometheus' pod discovery makes of a pod: one per container
// port, init containers (native sidecars) included, with the pod's annotations and the
// port's container, name and number as meta labels
// (prometheus/discovery/kubernetes/pod.go).
func podTargets(pod *corev1.Pod) []labels.Labels {
	var targets []labels.Labels
	for _, c := range append(slices.Clone(pod.Spec.Containers), pod.Spec.InitContainers...) {
		for _, p := range c.Ports {
			b := labels.NewBuilder(labels.EmptyLabels())
			b.Set("__meta_kubernetes_namespace", pod.Namespace)
			b.Set("__meta_kubernetes_pod_name", pod.Name)
			for k, v := range pod.Annotations {
				b.Set("__meta_kubernetes_pod_annotation_"+strutil.SanitizeLabelName(k), v)
			}
			for k, v := range pod.Labels {
				b.Set("__meta_kubernetes_pod_label_"+strutil.SanitizeLabelName(k), v)
			}
			b.Set("__meta_kubernetes_pod_container_name", c.Name)
			b.Set("__meta_kubernetes_pod_container_port_name", p.Name)
			b.Set("__meta_kubernetes_pod_container_port_number", strconv.Itoa(int(p.ContainerPort)))
			targets = append(targets, b.Labels())
		}
	}
	return targets
}

// scrapeTarget applies what the Prometheus Operator generates for a podMetricsEndpoint's
// port (keep the container port of that name), then the endpoint's relabelings.
func scrapeTarget(target labels.Labels, port string, relabelings []*relabel.Config) (labels.Labels, bool) {
	keepPort := relabel.DefaultRelabelConfig
	keepPort.Action = relabel.Keep
	keepPort.SourceLabels = model.LabelNames{"__meta_kubernetes_pod_container_port_name"}
	keepPort.Regex = relabel.MustNewRegexp(port)
	keepPort.NameValidationScheme = model.UTF8Validation
	lb := labels.NewBuilder(target)
	keep := relabel.ProcessBuilder(lb, append([]*relabel.Config{&keepPort}, relabelings...)...)
	return lb.Labels(), keep
}
