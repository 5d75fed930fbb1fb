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

package injection_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

func TestAnAnnotatedPodInALabelledNamespaceGetsTheSidecar(t *testing.T) {
	ns := labelledNamespace(t)
	policy := newPolicy(ns, "shop-api", func(p *authv1alpha1.AuthPolicy) {
		p.Spec.Login.UsersSecretRef = &authv1alpha1.LocalObjectReference{Name: "shop-users"}
		p.Spec.Store.Redis = &authv1alpha1.RedisSpec{
			Addresses:         []string{"redis.shop:6379"},
			PasswordSecretRef: &authv1alpha1.SecretKeySelector{Name: "redis", Key: "password"},
		}
		p.Spec.Sidecar.Port = 8100
		p.Spec.Sidecar.UpstreamPort = 3000
	})
	create(t, policy)
	pod := createPod(t, appPod(ns, "shop-api", func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "registry.example/app:1"}}
	}))

	if got := pod.Annotations[authv1alpha1.StatusAnnotation]; got != authv1alpha1.StatusInjected {
		t.Errorf("annotation %s = %q, want %q", authv1alpha1.StatusAnnotation, got, authv1alpha1.StatusInjected)
	}
	if got := names(pod.Spec.InitContainers); !slices.Equal(got, []string{contract.ContainerName, "migrate"}) {
		t.Errorf("init containers %v: the sidecar must come first, before the app's", got)
	}
	if got := names(pod.Spec.Containers); !slices.Equal(got, []string{"app"}) {
		t.Errorf("containers %v, want only the app", got)
	}
	c := sidecarOf(t, pod)

	t.Run("it is a native sidecar of the manager's image running tollgate-sidecar", func(t *testing.T) {
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Errorf("restartPolicy %v, want Always", c.RestartPolicy)
		}
		if c.Image != testSidecarImage {
			t.Errorf("image %q, want %q", c.Image, testSidecarImage)
		}
		if !slices.Equal(c.Command, []string{contract.Command}) {
			t.Errorf("command %q", c.Command)
		}
		want := []string{
			"--policy=" + contract.PolicyPath,
			"--keys-dir=" + contract.KeysDir,
			"--listen=:8100",
			"--upstream=http://127.0.0.1:3000",
			fmt.Sprintf("--metrics-listen=:%d", contract.MetricsPort),
			"--users-file=" + contract.UsersPath,
		}
		if !slices.Equal(c.Args, want) {
			t.Errorf("args\n got %q\nwant %q", c.Args, want)
		}
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		if ports[contract.HTTPPortName] != 8100 || ports[contract.MetricsPortName] != contract.MetricsPort || len(ports) != 2 {
			t.Errorf("ports %v, want %s 8100 and %s %d", ports, contract.HTTPPortName, contract.MetricsPortName, contract.MetricsPort)
		}
	})

	t.Run("it has startup, readiness and liveness probes on the metrics port", func(t *testing.T) {
		for name, p := range map[string]struct {
			probe *corev1.Probe
			path  string
		}{
			"startup": {c.StartupProbe, contract.ReadyzPath}, "readiness": {c.ReadinessProbe, contract.ReadyzPath}, "liveness": {c.LivenessProbe, contract.HealthzPath},
		} {
			if p.probe == nil || p.probe.HTTPGet == nil {
				t.Errorf("%s probe missing", name)
				continue
			}
			if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.IntValue() != contract.MetricsPort {
				t.Errorf("%s probe GET %s on %s, want %s on %d", name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path, contract.MetricsPort)
			}
		}
	})

	t.Run("it runs as non-root, read-only, without capabilities", func(t *testing.T) {
		sc := c.SecurityContext
		want := &corev1.SecurityContext{
			RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65532),
			ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}
		if !equality.Semantic.DeepEqual(sc, want) {
			t.Errorf("securityContext\n got %+v\nwant %+v", sc, want)
		}
	})

	t.Run("it has the default resources", func(t *testing.T) {
		want := corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
		}
		if !equality.Semantic.DeepEqual(c.Resources, want) {
			t.Errorf("resources %v, want %v", c.Resources, want)
		}
	})

	t.Run("it mounts keys, policy and users read-only", func(t *testing.T) {
		mounts := map[string]corev1.VolumeMount{}
		for _, m := range c.VolumeMounts {
			mounts[m.Name] = m
		}
		for name, path := range map[string]string{contract.KeysVolume: contract.KeysDir, contract.PolicyVolume: contract.PolicyDir, contract.UsersVolume: contract.UsersDir} {
			m, ok := mounts[name]
			if !ok || m.MountPath != path || !m.ReadOnly || m.SubPath != "" {
				t.Errorf("mount %s = %+v, want read-only at %s (no subPath: the kubelet updates whole directories)", name, m, path)
			}
		}
		vols := map[string]corev1.Volume{}
		for _, v := range pod.Spec.Volumes {
			vols[v.Name] = v
		}
		if v := vols[contract.KeysVolume]; v.Secret == nil || v.Secret.SecretName != "shop-api-signing-keys" {
			t.Errorf("volume tollgate-keys = %+v, want Secret shop-api-signing-keys", v.VolumeSource)
		}
		if v := vols[contract.PolicyVolume]; v.ConfigMap == nil || v.ConfigMap.Name != "shop-api-sidecar" {
			t.Errorf("volume tollgate-policy = %+v, want ConfigMap shop-api-sidecar", v.VolumeSource)
		}
		if v := vols[contract.UsersVolume]; v.Secret == nil || v.Secret.SecretName != "shop-users" ||
			len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != "users" || v.Secret.Items[0].Path != "users" {
			t.Errorf("volume tollgate-users = %+v, want Secret shop-users, item users", v.VolumeSource)
		}
	})

	t.Run("it gets the Redis password from the policy's Secret", func(t *testing.T) {
		if len(c.Env) != 1 || c.Env[0].Name != contract.RedisPasswordEnv || c.Env[0].ValueFrom == nil ||
			c.Env[0].ValueFrom.SecretKeyRef == nil || c.Env[0].ValueFrom.SecretKeyRef.Name != "redis" || c.Env[0].ValueFrom.SecretKeyRef.Key != "password" {
			t.Errorf("env %+v, want %s from Secret redis, key password", c.Env, contract.RedisPasswordEnv)
		}
	})
}

func TestPodAnnotationsTuneTheSidecar(t *testing.T) {
	ns := labelledNamespace(t)
	create(t, newPolicy(ns, "api"))
	pod := createPod(t, appPod(ns, "api", func(p *corev1.Pod) {
		p.Annotations[authv1alpha1.UpstreamPortAnnotation] = "9000"
		p.Annotations[authv1alpha1.SidecarCPURequestAnnotation] = "50m"
		p.Annotations[authv1alpha1.SidecarCPULimitAnnotation] = "1"
		p.Annotations[authv1alpha1.SidecarMemoryRequestAnnotation] = "128Mi"
	}))
	c := sidecarOf(t, pod)
	if !slices.Contains(c.Args, "--upstream=http://127.0.0.1:9000") || !slices.Contains(c.Args, "--listen=:8000") {
		t.Errorf("args %q: want the annotation's upstream 9000 and the default port 8000", c.Args)
	}
	if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--users-file") }) {
		t.Errorf("args %q: no users Secret, so no --users-file", c.Args)
	}
	if slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == contract.UsersVolume }) {
		t.Error("a users volume without usersSecretRef")
	}
	want := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		// The default memory limit is below the asked-for request: it follows the request.
		Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
	if !equality.Semantic.DeepEqual(c.Resources, want) {
		t.Errorf("resources %v, want %v", c.Resources, want)
	}
	if len(c.Env) != 0 {
		t.Errorf("env %v without a Redis password", c.Env)
	}
}

func TestPodsOutsideInjectionAreUntouched(t *testing.T) {
	t.Run("an annotated pod in a namespace without the label", func(t *testing.T) {
		ns := newNamespace(t)
		create(t, newPolicy(ns, "api"))
		in := appPod(ns, "api")
		pod := createPod(t, in.DeepCopy())
		if len(pod.Spec.InitContainers) != 0 || len(pod.Spec.Volumes) != 0 || pod.Annotations[authv1alpha1.StatusAnnotation] != "" {
			t.Errorf("pod changed: init containers %v, volumes %v, annotations %v", names(pod.Spec.InitContainers), pod.Spec.Volumes, pod.Annotations)
		}
	})
	t.Run("a pod without the annotation in a labelled namespace", func(t *testing.T) {
		ns := labelledNamespace(t)
		pod := createPod(t, appPod(ns, ""))
		if len(pod.Spec.InitContainers) != 0 || len(pod.Spec.Volumes) != 0 || len(pod.Annotations) != 0 {
			t.Errorf("pod changed: init containers %v, volumes %v, annotations %v", names(pod.Spec.InitContainers), pod.Spec.Volumes, pod.Annotations)
		}
	})
}

func TestPodsThatCannotBeProtectedAreRefused(t *testing.T) {
	ns := labelledNamespace(t)
	create(t, newPolicy(ns, "api"))
	for _, tc := range []struct {
		name   string
		policy string
		mutate func(*corev1.Pod)
		want   string
	}{
		{"when the policy does not exist", "nope", nil,
			`AuthPolicy "nope" not found in namespace "` + ns + `": create it or fix the auth.tollgate.dev/policy annotation`},
		{"when the pod uses hostNetwork", "api", func(p *corev1.Pod) { p.Spec.HostNetwork = true },
			"pod uses hostNetwork"},
		{"when the upstream port is the sidecar's port", "api", func(p *corev1.Pod) {
			p.Annotations[authv1alpha1.UpstreamPortAnnotation] = "8000"
		}, "the upstream port 8000 is a port of the tollgate sidecar"},
		{"when the upstream port is not a port number", "api", func(p *corev1.Pod) {
			p.Annotations[authv1alpha1.UpstreamPortAnnotation] = "http"
		}, `annotation auth.tollgate.dev/upstream-port: "http" is not a port number (1-65535)`},
		{"when a container already uses the sidecar's port", "api", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 8000})
		}, `container "app" already uses port 8000`},
		{"when a container already uses the metrics port", "api", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 9090})
		}, `container "app" already uses port 9090`},
		{"when a resource annotation is not a quantity", "api", func(p *corev1.Pod) {
			p.Annotations[authv1alpha1.SidecarMemoryLimitAnnotation] = "lots"
		}, `annotation auth.tollgate.dev/sidecar-memory-limit: "lots" is not a quantity`},
		{"when a resource annotation has an exponent too big to compare", "api", func(p *corev1.Pod) {
			p.Annotations[authv1alpha1.SidecarCPURequestAnnotation] = "1e2000000000"
		}, `annotation auth.tollgate.dev/sidecar-cpu-request: "1e2000000000" is not a quantity`},
		{"when a request exceeds its limit", "api", func(p *corev1.Pod) {
			p.Annotations[authv1alpha1.SidecarCPURequestAnnotation] = "2"
			p.Annotations[authv1alpha1.SidecarCPULimitAnnotation] = "1"
		}, "cpu request 2 exceeds its limit 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := appPod(ns, tc.policy)
			if tc.mutate != nil {
				tc.mutate(pod)
			}
			err := k8s.Create(context.Background(), pod)
			if err == nil {
				t.Fatalf("pod %s was admitted", pod.Name)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not say %q", err, tc.want)
			}
		})
	}
}

func TestInjectionIsIdempotent(t *testing.T) {
	ns := labelledNamespace(t)
	create(t, newPolicy(ns, "api", func(p *authv1alpha1.AuthPolicy) {
		p.Spec.Login.UsersSecretRef = &authv1alpha1.LocalObjectReference{Name: "users"}
	}))
	spec := appPod(ns, "api")

	t.Run("the same pod spec created twice gets one sidecar each time", func(t *testing.T) {
		a := createPod(t, spec.DeepCopy())
		b := createPod(t, spec.DeepCopy())
		for _, p := range []*corev1.Pod{a, b} {
			sidecarOf(t, p)
			if len(p.Spec.Volumes) != 3 {
				t.Errorf("pod %s volumes %d, want 3", p.Name, len(p.Spec.Volumes))
			}
		}
		if !equality.Semantic.DeepEqual(a.Spec.InitContainers, b.Spec.InitContainers) {
			t.Error("two pods of one spec got different sidecars")
		}
	})

	t.Run("an injected pod goes through the webhook unchanged", func(t *testing.T) {
		first := createPod(t, spec.DeepCopy())
		again := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "again-", Annotations: first.Annotations},
			Spec:       *first.Spec.DeepCopy(),
		}
		again = createPod(t, again)
		if !equality.Semantic.DeepEqual(first.Spec, again.Spec) {
			t.Errorf("re-injecting changed the pod:\nfirst init %v volumes %d\nagain init %v volumes %d",
				names(first.Spec.InitContainers), len(first.Spec.Volumes), names(again.Spec.InitContainers), len(again.Spec.Volumes))
		}
	})

	t.Run("injecting an injected pod again changes nothing", func(t *testing.T) {
		pod := spec.DeepCopy()
		policy := getPolicy(t, ns, "api")
		if err := injection.InjectSidecar(pod, policy, "img"); err != nil {
			t.Fatal(err)
		}
		once := pod.DeepCopy()
		if err := injection.InjectSidecar(pod, policy, "img"); err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(once, pod) {
			t.Error("a second InjectSidecar changed the pod")
		}
	})
}

// A policy created in the same breath as its pod is found although the cache has not seen
// it yet.
func TestAPolicyCreatedJustBeforeItsPodIsFound(t *testing.T) {
	ns := labelledNamespace(t)
	for i := range 5 {
		name := "fresh-" + string(rune('a'+i))
		create(t, newPolicy(ns, name))
		sidecarOf(t, createPod(t, appPod(ns, name)))
	}
}

var _ client.Object = &corev1.Pod{}
