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
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

type refusalCase struct {
	name   string
	mutate func(*corev1.Pod)
	want   string
}

// refusedByTheWebhook creates each case's pod, annotated with policy, in ns and expects the
// webhook to deny it with a message that says want.
func refusedByTheWebhook(t *testing.T, ns, policy string, cases []refusalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := appPod(ns, policy, tc.mutate)
			err := k8s.Create(context.Background(), pod)
			if err == nil {
				t.Fatalf("pod %s was admitted: init containers %v, volumes %d", pod.Name, names(pod.Spec.InitContainers), len(pod.Spec.Volumes))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not say %q", err, tc.want)
			}
		})
	}
}

func TestPodsThatBringTheSidecarsNamesAreRefused(t *testing.T) {
	ns := labelledNamespace(t)
	policy := newPolicy(ns, "api")
	create(t, policy)
	genuine := injected(t, policy)
	sidecar := func() corev1.Container { return *genuine.Spec.InitContainers[0].DeepCopy() }
	volume := func(name string) corev1.Volume {
		for _, v := range genuine.Spec.Volumes {
			if v.Name == name {
				return *v.DeepCopy()
			}
		}
		t.Fatalf("no volume %s", name)
		return corev1.Volume{}
	}
	refusedByTheWebhook(t, ns, "api", []refusalCase{
		{"an app container named like the sidecar", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: contract.ContainerName, Image: "busybox"})
		}, `container name "tollgate-sidecar" is reserved`},
		{"an init container named like the sidecar, of another image", func(p *corev1.Pod) {
			c := sidecar()
			c.Image = "registry.example/not-tollgate:1"
			p.Spec.InitContainers = []corev1.Container{c}
			p.Spec.Volumes = genuine.Spec.Volumes
		}, `init container "tollgate-sidecar" is not the sidecar that AuthPolicy "api" injects`},
		{"the sidecar with a flag of the author's", func(p *corev1.Pod) {
			c := sidecar()
			c.Args = append(c.Args, "--redis-url=redis://attacker.example:6379")
			p.Spec.InitContainers = []corev1.Container{c}
			p.Spec.Volumes = genuine.Spec.Volumes
		}, `init container "tollgate-sidecar" is not the sidecar`},
		{"the sidecar with a variable of the author's", func(p *corev1.Pod) {
			c := sidecar()
			c.Env = append(c.Env, corev1.EnvVar{Name: "HTTPS_PROXY", Value: "http://attacker.example"})
			p.Spec.InitContainers = []corev1.Container{c}
			p.Spec.Volumes = genuine.Spec.Volumes
		}, `init container "tollgate-sidecar" is not the sidecar`},
		{"the sidecar with a volume over its binary", func(p *corev1.Pod) {
			c := sidecar()
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "bin", MountPath: "/usr/local/bin"})
			p.Spec.InitContainers = []corev1.Container{c}
			p.Spec.Volumes = append(genuine.Spec.Volumes, corev1.Volume{Name: "bin", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}, `init container "tollgate-sidecar" is not the sidecar`},
		{"a policy volume of the author's ConfigMap", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: contract.PolicyVolume, VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "everything-public"}},
			}}}
		}, `volume "tollgate-policy" is not the one that AuthPolicy "api" gives the tollgate sidecar`},
		{"a keys volume of the author's", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: contract.KeysVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}, `volume "tollgate-keys" is not the one`},
		{"a users volume the policy does not have", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: contract.UsersVolume, VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: "my-own-admins", Items: []corev1.KeyToPath{{Key: "users", Path: "users"}}},
			}}}
		}, `volume "tollgate-users" is not the one`},
		{"the genuine keys volume with another mode", func(p *corev1.Pod) {
			v := volume(contract.KeysVolume)
			v.Secret.DefaultMode = ptr.To[int32](0o666)
			p.Spec.Volumes = []corev1.Volume{v}
		}, `volume "tollgate-keys" is not the one`},
	})

	t.Run("the pod the webhook made is admitted again unchanged", func(t *testing.T) {
		first := createPod(t, appPod(ns, "api"))
		again := appPod(ns, "api")
		again.Annotations = first.Annotations
		again.Spec = *first.Spec.DeepCopy()
		again = createPod(t, again)
		if !equality.Semantic.DeepEqual(first.Spec, again.Spec) {
			t.Errorf("re-injecting changed the pod")
		}
	})
}

// The webhook is called again after other admission plugins changed the pod; what they
// add to every container (the service account token, LimitRange defaults, a pull policy)
// does not make the sidecar a stranger.
func TestTheSidecarAsAdmissionPluginsLeaveItIsStillTheSidecar(t *testing.T) {
	policy := newPolicy("shop", "api", func(p *authv1alpha1.AuthPolicy) {
		p.Spec.Login.UsersSecretRef = &authv1alpha1.LocalObjectReference{Name: "users"}
	})
	pod := injected(t, policy)
	c := &pod.Spec.InitContainers[0]
	c.ImagePullPolicy = corev1.PullAlways
	c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	c.Resources.Limits[corev1.ResourceCPU] = resource.MustParse("500m")
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "kube-api-access-x1y2z", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true})
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.Secret != nil {
			v.Secret.DefaultMode = ptr.To(corev1.SecretVolumeSourceDefaultMode)
		}
		if v.ConfigMap != nil {
			v.ConfigMap.DefaultMode = ptr.To(corev1.ConfigMapVolumeSourceDefaultMode)
		}
	}
	before := pod.DeepCopy()
	if err := injection.InjectSidecar(pod, policy, testSidecarImage); err != nil {
		t.Fatalf("refused: %v", err)
	}
	if !equality.Semantic.DeepEqual(before, pod) {
		t.Error("injecting again changed the pod")
	}
}

func TestPodsThatCouldReadTheSigningKeysAreRefused(t *testing.T) {
	ns := labelledNamespace(t)
	policy := newPolicy(ns, "api")
	create(t, policy)
	genuine := injected(t, policy)
	keysSecret := corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "api-signing-keys"}}
	refusedByTheWebhook(t, ns, "api", []refusalCase{
		{"shareProcessNamespace", func(p *corev1.Pod) { p.Spec.ShareProcessNamespace = ptr.To(true) },
			"pod sets shareProcessNamespace: its other containers could read the tollgate sidecar's signing keys"},
		{"hostPID", func(p *corev1.Pod) { p.Spec.HostPID = true },
			"pod uses hostPID: processes outside the pod could read the tollgate sidecar's signing keys"},
		{"hostNetwork", func(p *corev1.Pod) { p.Spec.HostNetwork = true }, "pod uses hostNetwork"},
		{"the node's kubelet directory", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "pods", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/kubelet/pods"}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "pods", MountPath: "/pods", ReadOnly: true}}
		}, `volume "pods" is a hostPath: through the node's files`},
		{"the node's /proc", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "proc", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/proc"}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "proc", MountPath: "/host/proc", ReadOnly: true}}
		}, `volume "proc" is a hostPath`},
		{"a privileged init container", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "busybox", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}
		}, `init container "setup" is privileged`},
		{"a privileged app", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		}, `container "app" is privileged`},
		{"a volume of the keys Secret in the app", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "keys", VolumeSource: keysSecret}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "keys", MountPath: "/keys"}}
		}, `volume "keys" holds Secret "api-signing-keys", the signing keys of AuthPolicy "api"`},
		{"a volume of the keys Secret mounted by nobody", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "keys", VolumeSource: keysSecret}}
		}, `volume "keys" holds Secret "api-signing-keys"`},
		{"a projected volume with the keys Secret", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "app"}}},
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "api-signing-keys"}}},
				},
			}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "all", MountPath: "/all"}}
		}, `volume "all" holds Secret "api-signing-keys"`},
		{"an init container that mounts the sidecar's keys volume", func(p *corev1.Pod) {
			p.Spec.Volumes = genuine.Spec.Volumes
			p.Spec.InitContainers = []corev1.Container{{Name: "copy", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: contract.KeysVolume, MountPath: "/k"}}}}
		}, `init container "copy" mounts volume "tollgate-keys", which belongs to the tollgate sidecar`},
		{"the app mounting the sidecar's keys volume beside the genuine sidecar", func(p *corev1.Pod) {
			p.Spec.Volumes = genuine.Spec.Volumes
			p.Spec.InitContainers = genuine.Spec.InitContainers
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: contract.KeysVolume, MountPath: "/k"}}
		}, `container "app" mounts volume "tollgate-keys"`},
		{"a variable from the keys Secret", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "KEYS", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "api-signing-keys"}, Key: "keyset.json"},
			}}}
		}, `container "app" takes variable KEYS from Secret "api-signing-keys"`},
		{"the environment from the keys Secret", func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "api-signing-keys"}}}}
		}, `container "app" takes its environment from Secret "api-signing-keys"`},
	})

	t.Run("an ephemeral container that mounts the sidecar's keys", func(t *testing.T) {
		// The API server refuses ephemeral containers at creation; the injection does too.
		pod := injected(t, policy)
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: contract.KeysVolume, MountPath: "/k"}},
		}}}
		err := injection.InjectSidecar(pod, policy, testSidecarImage)
		var refusal *injection.RefusalError
		if !errors.As(err, &refusal) || !strings.Contains(err.Error(), `ephemeral container "debug" mounts volume "tollgate-keys"`) {
			t.Errorf("got %v, want a refusal naming the ephemeral container", err)
		}
	})

	t.Run("other Secrets and volumes are the app's business", func(t *testing.T) {
		pod := createPod(t, appPod(ns, "api", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "api-tls"}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "tls", MountPath: "/tls"}}
			p.Spec.ShareProcessNamespace = ptr.To(false)
		}))
		sidecarOf(t, pod)
	})
}

// An ephemeral container (kubectl debug) is added to a running pod through the
// pods/ephemeralcontainers subresource, an UPDATE the webhook sees too.
func TestEphemeralContainersCannotReachTheSigningKeys(t *testing.T) {
	ctx := context.Background()
	ns := labelledNamespace(t)
	create(t, newPolicy(ns, "api"))
	pod := createPod(t, appPod(ns, "api"))
	sidecarOf(t, pod)
	debug := func(mutate func(*corev1.EphemeralContainer)) error {
		p := &corev1.Pod{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(pod), p); err != nil {
			t.Fatal(err)
		}
		c := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: fmt.Sprintf("debug-%d", len(p.Spec.EphemeralContainers)), Image: "busybox",
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		}}
		mutate(&c)
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, c)
		return k8s.SubResource("ephemeralcontainers").Update(ctx, p)
	}
	keysRef := corev1.LocalObjectReference{Name: "api-signing-keys"}
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.EphemeralContainer)
		want   string
	}{
		{"targeting the sidecar", func(c *corev1.EphemeralContainer) { c.TargetContainerName = contract.ContainerName },
			`ephemeral container "debug-0" targets the tollgate sidecar`},
		{"mounting the sidecar's keys volume", func(c *corev1.EphemeralContainer) {
			c.VolumeMounts = []corev1.VolumeMount{{Name: contract.KeysVolume, MountPath: "/k", ReadOnly: true}}
		}, `ephemeral container "debug-0" mounts volume "tollgate-keys"`},
		{"a variable from the keys Secret", func(c *corev1.EphemeralContainer) {
			c.Env = []corev1.EnvVar{{Name: "K", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: keysRef, Key: "keyset.json"}}}}
		}, `takes variable K from Secret "api-signing-keys"`},
		{"the environment from the keys Secret", func(c *corev1.EphemeralContainer) {
			c.EnvFrom = []corev1.EnvFromSource{{Prefix: "X_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: keysRef}}}
		}, `takes its environment from Secret "api-signing-keys"`},
		{"privileged", func(c *corev1.EphemeralContainer) {
			c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		},
			`ephemeral container "debug-0" is privileged`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := debug(tc.mutate)
			if err == nil {
				t.Fatal("the ephemeral container was admitted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not say %q", err, tc.want)
			}
		})
	}
	t.Run("a debug container beside the app is the app's business", func(t *testing.T) {
		if err := debug(func(c *corev1.EphemeralContainer) { c.TargetContainerName = "app" }); err != nil {
			t.Fatal(err)
		}
		// And one admitted before does not stand in the way of the next.
		if err := debug(func(*corev1.EphemeralContainer) {}); err != nil {
			t.Fatal(err)
		}
	})
}

// The keys Secret of a policy is the sidecar's alone, also against pods of its namespace
// that name no policy, or another one.
func TestOnlyTheSidecarOfAPolicyMayReadItsKeys(t *testing.T) {
	ns := labelledNamespace(t)
	create(t, newPolicy(ns, "api"))
	create(t, newPolicy(ns, "web"))
	keysRef := corev1.LocalObjectReference{Name: "api-signing-keys"}
	keysVolume := func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "keys", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "api-signing-keys"}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "keys", MountPath: "/keys"}}
	}
	for _, tc := range []struct {
		name, policy string
		mutate       func(*corev1.Pod)
		want         string
	}{
		{"a pod without the annotation mounting the keys", "", keysVolume,
			`volume "keys" holds Secret "api-signing-keys", the signing keys of AuthPolicy "api"`},
		{"a pod without the annotation projecting the keys", "", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{LocalObjectReference: keysRef}}},
			}}}}
		}, `volume "all" holds Secret "api-signing-keys"`},
		{"a pod without the annotation under the sidecar's volume name", "", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: contract.KeysVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "api-signing-keys"}}}}
		}, `volume "tollgate-keys" holds Secret "api-signing-keys"`},
		{"a pod without the annotation with a variable from the keys", "", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "get", Image: "busybox", Env: []corev1.EnvVar{{Name: "K", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: keysRef, Key: "keyset.json"},
			}}}}}
		}, `init container "get" takes variable K from Secret "api-signing-keys"`},
		{"a pod of another policy with the environment from the keys", "web", func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: "K_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: keysRef}}}
		}, `container "app" takes its environment from Secret "api-signing-keys"`},
		{"a pod of another policy mounting the keys", "web", keysVolume, `volume "keys" holds Secret "api-signing-keys"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := appPod(ns, tc.policy, tc.mutate)
			err := k8s.Create(context.Background(), pod)
			if err == nil {
				t.Fatalf("pod %s was admitted", pod.Name)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not say %q", err, tc.want)
			}
		})
	}
	t.Run("an ephemeral container of a pod without the annotation", func(t *testing.T) {
		pod := createPod(t, appPod(ns, ""))
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: "busybox", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: keysRef}}},
		}}}
		err := k8s.SubResource("ephemeralcontainers").Update(context.Background(), pod)
		if want := `ephemeral container "debug" takes its environment from Secret "api-signing-keys"`; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error saying %q", err, want)
		}
	})
	t.Run("a Secret of that suffix without its policy is the app's", func(t *testing.T) {
		createPod(t, appPod(ns, "", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "keys", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "shop-signing-keys"}}}}
		}))
	})
}
