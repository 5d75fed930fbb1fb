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

package cli_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/operatortest"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// TestCLIInjectWritesWhatTheWebhookWrites: the pod that `tollgate inject` writes, stored by
// the API server without the webhook, is the pod the manager's webhook makes of the same
// manifest; and the webhook, called on the injected pod, changes nothing.
func TestCLIInjectWritesWhatTheWebhookWrites(t *testing.T) {
	t.Parallel()
	cluster(t)
	ns := operatortest.LabelledNamespace(t)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-users"}, StringData: map[string]string{"users": "[]"}})
	create(t, newPolicy(ns, "shop-api", func(p *authv1alpha1.AuthPolicy) {
		p.Spec.Login.UsersSecretRef = &authv1alpha1.LocalObjectReference{Name: "shop-users"}
	}))
	waitReady(t, ns, "shop-api")

	pod := operatortest.AppPod(ns, "shop-api", func(p *corev1.Pod) {
		p.GenerateName, p.Name = "", "app"
		p.Annotations[authv1alpha1.UpstreamPortAnnotation] = "8080"
		p.Annotations[authv1alpha1.SidecarMemoryLimitAnnotation] = "96Mi"
		p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "registry.example/migrate:1"}}
		p.Spec.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	})
	pod.APIVersion, pod.Kind = "v1", "Pod"
	manifest, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tollgateWithInput(t, string(manifest), "inject", "-f", "-", "--sidecar-image", operatortest.SidecarImage)
	if err != nil {
		t.Fatal(err)
	}
	injected := &corev1.Pod{}
	if err := yaml.UnmarshalStrict([]byte(out), injected); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(injected.Spec.InitContainers) != 2 || injected.Spec.InitContainers[0].Name != contract.ContainerName {
		t.Fatalf("not injected:\n%s", out)
	}

	ctx := context.Background()
	byWebhook := pod.DeepCopy()
	if err := k8s.Create(ctx, byWebhook); err != nil {
		t.Fatal(err)
	}
	// The same namespace's webhook would inject again what inject forgot: the injected pod
	// goes to a namespace that did not opt in, where only the API server's defaults apply.
	plain := injected.DeepCopy()
	plain.Namespace = newNamespace(t)
	if err := k8s.Create(ctx, plain, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(withoutTokenVolume(plain.Spec), withoutTokenVolume(byWebhook.Spec)) {
		a, _ := yaml.Marshal(plain.Spec)
		b, _ := yaml.Marshal(byWebhook.Spec)
		t.Errorf("tollgate inject wrote\n%s\nthe webhook wrote\n%s", a, b)
	}
	if !equality.Semantic.DeepEqual(plain.Annotations, byWebhook.Annotations) || !equality.Semantic.DeepEqual(plain.Labels, byWebhook.Labels) {
		t.Errorf("annotations %v, the webhook's %v", plain.Annotations, byWebhook.Annotations)
	}

	t.Run("the webhook leaves the injected pod as it is", func(t *testing.T) {
		again := injected.DeepCopy()
		again.Name = "app-again"
		if err := k8s.Create(ctx, again, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(withoutTokenVolume(again.Spec), withoutTokenVolume(byWebhook.Spec)) {
			t.Errorf("the webhook changed the injected pod: init containers %v", operatortest.Names(again.Spec.InitContainers))
		}
	})

	t.Run("without --sidecar-image the image is this build's when no manager Deployment is installed", func(t *testing.T) {
		out, err := tollgateWithInput(t, string(manifest), "inject", "-f", "-")
		if err != nil || !strings.Contains(out, "image: ghcr.io/tollgate-dev/tollgate:") {
			t.Errorf("%v\n%s", err, out)
		}
	})
}

// withoutTokenVolume is spec without the service account token the API server may add
// (its volume name is random).
func withoutTokenVolume(spec corev1.PodSpec) corev1.PodSpec {
	s := *spec.DeepCopy()
	var vols []corev1.Volume
	for _, v := range s.Volumes {
		if !strings.HasPrefix(v.Name, "kube-api-access-") {
			vols = append(vols, v)
		}
	}
	s.Volumes = vols
	for _, cs := range [][]corev1.Container{s.InitContainers, s.Containers} {
		for i := range cs {
			var mounts []corev1.VolumeMount
			for _, m := range cs[i].VolumeMounts {
				if !strings.HasPrefix(m.Name, "kube-api-access-") {
					mounts = append(mounts, m)
				}
			}
			cs[i].VolumeMounts = mounts
		}
	}
	return s
}
