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

package command

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/tracing"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/sidecar"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// The injector writes the sidecar's command line, mounts, ports and environment; the
// sidecar parses them. This feeds the one to the other, so that a renamed flag, a moved
// mount or a changed port fails here rather than as CrashLoopBackOff in every injected pod.
func TestTheSidecarAcceptsWhatTheInjectorWrites(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy func(*authv1alpha1.AuthPolicy)
		pod    func(*corev1.Pod)
	}{
		{"a default policy", nil, nil},
		{"a policy with a users Secret", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Login.UsersSecretRef = &authv1alpha1.LocalObjectReference{Name: "shop-users"}
		}, nil},
		{"a policy on a password-protected Redis", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Store.Redis = &authv1alpha1.RedisSpec{Addresses: []string{"redis:6379"},
				PasswordSecretRef: &authv1alpha1.SecretKeySelector{Name: "redis", Key: "password"}}
		}, nil},
		{"a policy with tracing and the collector's credentials", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.Tracing = &authv1alpha1.SidecarTracing{OTLPEndpoint: "http://otel-collector.observability:4318",
				HeadersSecretRef: &authv1alpha1.SecretKeySelector{Name: "otlp", Key: "headers"}}
		}, nil},
		{"a policy on its own ports, and a pod naming its app's port", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.Port = 7000
			p.Spec.Login.UsersSecretRef = &authv1alpha1.LocalObjectReference{Name: "shop-users"}
		}, func(pod *corev1.Pod) {
			pod.Annotations[authv1alpha1.UpstreamPortAnnotation] = "3000"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			policy := &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Name: "shop-api", Namespace: "shop"}}
			if tc.policy != nil {
				tc.policy(policy)
			}
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop", Annotations: map[string]string{authv1alpha1.PolicyAnnotation: "shop-api"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
			}
			if tc.pod != nil {
				tc.pod(pod)
			}
			if err := injection.InjectSidecar(pod, policy, "registry.example/tollgate:1"); err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == contract.ContainerName })
			if i < 0 {
				t.Fatalf("no init container %s in %+v", contract.ContainerName, pod.Spec.InitContainers)
			}
			c := pod.Spec.InitContainers[i]
			if !slices.Equal(c.Command, []string{contract.Command}) {
				t.Errorf("command %q, want %q", c.Command, contract.Command)
			}

			o, err := Sidecar.parseFlags(c.Args)
			if err != nil {
				t.Fatalf("the sidecar refuses the injected args %q: %v", c.Args, err)
			}

			// Every file or directory the sidecar reads is inside a mount of a volume of the pod,
			// and the volume holds the file.
			if o.policy == "" || o.keysDir == "" {
				t.Errorf("injected args %q name no policy or no keys directory", c.Args)
			}
			for _, f := range []struct{ flag, path, file string }{
				{"--policy", o.policy, contract.PolicyFile},
				{"--keys-dir", o.keysDir, ""},
				{"--users-file", o.usersFile, contract.UsersFileKey},
				{"--record-key-file", o.recordKeyFile, ""},
			} {
				if f.path == "" {
					continue
				}
				checkMounted(t, pod, c, f.flag, f.path, f.file)
			}
			if (policy.Spec.Login.UsersSecretRef != nil) != (o.usersFile != "") {
				t.Errorf("users Secret %v, --users-file %q: the sidecar would not read the users the policy names", policy.Spec.Login.UsersSecretRef, o.usersFile)
			}

			// Ports: the sidecar listens where the container declares, and probes hit the
			// metrics port.
			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
			wantPort := policy.Spec.Sidecar.Port
			if wantPort == 0 {
				wantPort = 8000 // the API's default
			}
			if got := listenPort(t, o.listen); got != ports[contract.HTTPPortName] || got != wantPort {
				t.Errorf("--listen %q, port %s %d, policy's port %d", o.listen, contract.HTTPPortName, ports[contract.HTTPPortName], wantPort)
			}
			if got := listenPort(t, o.metricsListen); got != ports[contract.MetricsPortName] || got != contract.MetricsPort {
				t.Errorf("--metrics-listen %q, port %s %d", o.metricsListen, contract.MetricsPortName, ports[contract.MetricsPortName])
			}
			up, err := url.Parse(o.upstream)
			if err != nil {
				t.Fatalf("--upstream %q: %v", o.upstream, err)
			}
			wantUp := "8080"
			if v, ok := pod.Annotations[authv1alpha1.UpstreamPortAnnotation]; ok {
				wantUp = v
			}
			if up.Hostname() != "127.0.0.1" || up.Port() != wantUp {
				t.Errorf("--upstream %q, want the app on 127.0.0.1:%s", o.upstream, wantUp)
			}
			ops := opsHandler(t)
			for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
				if p == nil || p.HTTPGet == nil {
					t.Errorf("%s probe %+v is not an HTTP GET", name, p)
					continue
				}
				if p.HTTPGet.Port.IntValue() != contract.MetricsPort {
					t.Errorf("%s probe on port %s, the sidecar serves probes on %d", name, p.HTTPGet.Port.String(), contract.MetricsPort)
				}
				rec := httptest.NewRecorder()
				ops.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p.HTTPGet.Path, nil))
				if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed {
					t.Errorf("%s probe GET %s: the sidecar answers %d", name, p.HTTPGet.Path, rec.Code)
				}
			}

			// Tracing: the sidecar exports to the policy's collector, with its credentials.
			wantEndpoint := ""
			if tr := policy.Spec.Sidecar.Tracing; tr != nil {
				wantEndpoint = tr.OTLPEndpoint
				if _, err := tracing.ExportURL(o.otlpEndpoint, func(string) string { return "" }); err != nil {
					t.Errorf("--otlp-endpoint %q: the sidecar refuses it: %v", o.otlpEndpoint, err)
				}
				if ref := tr.HeadersSecretRef; ref != nil && !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
					return e.Name == contract.TracingHeadersEnv && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
						e.ValueFrom.SecretKeyRef.Name == ref.Name && e.ValueFrom.SecretKeyRef.Key == ref.Key
				}) {
					t.Errorf("env %v: want %s from Secret %s key %s", c.Env, contract.TracingHeadersEnv, ref.Name, ref.Key)
				}
			}
			if o.otlpEndpoint != wantEndpoint {
				t.Errorf("--otlp-endpoint %q, want the policy's %q", o.otlpEndpoint, wantEndpoint)
			}

			// Environment: only variables the sidecar reads.
			for _, e := range c.Env {
				if e.Name != contract.RedisPasswordEnv && e.Name != contract.TracingHeadersEnv {
					t.Errorf("injected variable %s, which the sidecar does not read", e.Name)
				}
			}
			if r := policy.Spec.Store.Redis; r != nil && r.PasswordSecretRef != nil &&
				!slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == contract.RedisPasswordEnv }) {
				t.Errorf("the policy's Redis has a password, but %s is not injected", contract.RedisPasswordEnv)
			}
		})
	}
}

// checkMounted fails unless p lies in a mount of container c whose volume is in pod and, when
// file is set, p is that file at the top of the volume, which the volume projects.
func checkMounted(t *testing.T, pod *corev1.Pod, c corev1.Container, flag, p, file string) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(p, m.MountPath)
		if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
			continue
		}
		vi := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if vi < 0 {
			t.Errorf("%s=%s is in mount %s, whose volume the pod lacks", flag, p, m.Name)
			return
		}
		if file == "" {
			return
		}
		if rel = strings.TrimPrefix(path.Clean(rel), "/"); rel != file {
			t.Errorf("%s=%s is %q in volume %s, want %q", flag, p, rel, m.Name, file)
			return
		}
		v := pod.Spec.Volumes[vi]
		var items []corev1.KeyToPath
		switch {
		case v.Secret != nil:
			items = v.Secret.Items
		case v.ConfigMap != nil:
			items = v.ConfigMap.Items
		}
		if len(items) > 0 && !slices.ContainsFunc(items, func(k corev1.KeyToPath) bool { return k.Path == file }) {
			t.Errorf("%s=%s: volume %s projects %+v, not %s", flag, p, m.Name, items, file)
		}
		return
	}
	t.Errorf("%s=%s is in none of the sidecar's mounts %+v", flag, p, c.VolumeMounts)
}

func listenPort(t *testing.T, addr string) int32 {
	t.Helper()
	_, port, _ := strings.Cut(addr, ":")
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("listen address %q has no port", addr)
	}
	return int32(n)
}

// opsHandler is the metrics port's handler of a sidecar.
func opsHandler(t *testing.T) http.Handler {
	t.Helper()
	policy, err := sidecar.ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sidecar.EphemeralKeys(keyset.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse("http://127.0.0.1:1")
	srv, err := sidecar.NewServer(sidecar.Config{Policy: policy, Keys: keys, Store: store.NewMemory(), Upstream: up})
	if err != nil {
		t.Fatal(err)
	}
	return srv.OpsHandler()
}
