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

package controllers

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

// FuzzInjectSidecar feeds hostile pod annotations (anyone who may create a pod writes them)
// to the injection: it never panics, refuses with a RefusalError, and what it accepts is
// injected once and unchanged by a second pass.
func FuzzInjectSidecar(f *testing.F) {
	f.Add("8080", "20m", "1", "32Mi", "64Mi", int32(0))
	f.Add("", "", "", "", "", int32(9090))
	f.Add("8000", "1e2000000000", "-1", "0x10", "64Mi ", int32(8000))
	f.Add("65536", "100m", "50m", "1Gi", "1Mi", int32(-1))
	f.Fuzz(func(t *testing.T, port, cpuReq, cpuLim, memReq, memLim string, containerPort int32) {
		policy := &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Name: "shop-api", Namespace: "shop"}}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", Annotations: map[string]string{
				authv1alpha1.PolicyAnnotation:               "shop-api",
				authv1alpha1.UpstreamPortAnnotation:         port,
				authv1alpha1.SidecarCPURequestAnnotation:    cpuReq,
				authv1alpha1.SidecarCPULimitAnnotation:      cpuLim,
				authv1alpha1.SidecarMemoryRequestAnnotation: memReq,
				authv1alpha1.SidecarMemoryLimitAnnotation:   memLim,
			}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: "app", Ports: []corev1.ContainerPort{{ContainerPort: containerPort}},
			}}},
		}
		for k, v := range pod.Annotations {
			if v == "" {
				delete(pod.Annotations, k)
			}
		}
		err := InjectSidecar(pod, policy, "tollgate:test")
		if err != nil {
			var refusal *RefusalError
			if !errors.As(err, &refusal) {
				t.Fatalf("not a RefusalError: %T %v", err, err)
			}
			return
		}
		if !HasSidecar(pod) || pod.Annotations[authv1alpha1.StatusAnnotation] != authv1alpha1.StatusInjected {
			t.Fatal("accepted without injecting")
		}
		once := pod.DeepCopy()
		if err := InjectSidecar(pod, policy, "tollgate:test"); err != nil {
			t.Fatalf("a second pass refused an injected pod: %v", err)
		}
		if !equality.Semantic.DeepEqual(once, pod) {
			t.Fatal("a second pass changed the pod")
		}
	})
}
