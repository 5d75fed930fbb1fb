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

package operatortest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// NewPolicy is an AuthPolicy ns/name, changed by mutate.
func NewPolicy(ns, name string, mutate ...func(*authv1alpha1.AuthPolicy)) *authv1alpha1.AuthPolicy {
	p := &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, m := range mutate {
		m(p)
	}
	return p
}

// FastRotation: short enough to watch a whole key life in a test, and still valid.
func FastRotation(p *authv1alpha1.AuthPolicy) {
	p.Spec.Signing.RotationInterval = &authv1alpha1.Duration{Duration: 10 * time.Minute}
	p.Spec.Signing.PrePublish = &authv1alpha1.Duration{Duration: 10 * time.Second}
	p.Spec.Tokens.AccessTokenTTL = &authv1alpha1.Duration{Duration: 10 * time.Second}
	p.Spec.Tokens.ClockSkew = &authv1alpha1.Duration{Duration: 0}
}

// Create creates obj.
func Create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
}

// GetPolicy reads a policy.
func GetPolicy(t *testing.T, ns, name string) *authv1alpha1.AuthPolicy {
	t.Helper()
	p := &authv1alpha1.AuthPolicy{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// WaitReady waits until the operator has reconciled the policy's current generation and
// says it is Ready.
func WaitReady(t *testing.T, ns, name string) *authv1alpha1.AuthPolicy {
	t.Helper()
	var p *authv1alpha1.AuthPolicy
	testwait.Until(t, 30*time.Second, "policy "+name+" Ready", func() (bool, string) {
		p = GetPolicy(t, ns, name)
		c := meta.FindStatusCondition(p.Status.Conditions, authv1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue || p.Status.ObservedGeneration != p.Generation {
			return false, fmt.Sprintf("generation %d, status %+v", p.Generation, p.Status)
		}
		return true, ""
	})
	return p
}

// GetSecret reads a policy's keys Secret and parses its keyset.
func GetSecret(t *testing.T, ns, policy string) (*corev1.Secret, *keyset.Keyset) {
	t.Helper()
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: policy + "-signing-keys"}, s); err != nil {
		t.Fatal(err)
	}
	ks, err := keyset.Parse(s.Data["keyset.json"])
	if err != nil {
		t.Fatalf("keyset.json of %s: %v", s.Name, err)
	}
	return s, ks
}

// CheckOwnedBy checks what garbage collection needs (envtest runs no garbage collector):
// the object Names the policy as its controlling owner, and carries tollgate's label.
func CheckOwnedBy(t *testing.T, obj client.Object, p *authv1alpha1.AuthPolicy) {
	t.Helper()
	refs := obj.GetOwnerReferences()
	if len(refs) != 1 {
		t.Fatalf("%s has owner references %+v, want one", obj.GetName(), refs)
	}
	r := refs[0]
	if r.APIVersion != "auth.tollgate.dev/v1alpha1" || r.Kind != "AuthPolicy" || r.Name != p.Name || r.UID != p.UID ||
		r.Controller == nil || !*r.Controller || r.BlockOwnerDeletion == nil || !*r.BlockOwnerDeletion {
		t.Errorf("%s: owner reference %+v does not make AuthPolicy %s (uid %s) its controller", obj.GetName(), r, p.Name, p.UID)
	}
	if got := obj.GetLabels()["app.kubernetes.io/managed-by"]; got != "tollgate" {
		t.Errorf("%s: label app.kubernetes.io/managed-by=%q, want tollgate", obj.GetName(), got)
	}
}

// LabelledNamespace is a namespace that opted into injection.
func LabelledNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "inject-",
		Labels:       map[string]string{authv1alpha1.InjectionLabel: authv1alpha1.InjectionEnabled},
	}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// AppPod is a pod of one app container listening on 8080, annotated with policy unless
// policy is empty.
func AppPod(ns, policy string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "app-"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.example/app:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
	if policy != "" {
		pod.Annotations = map[string]string{authv1alpha1.PolicyAnnotation: policy}
	}
	for _, m := range mutate {
		m(pod)
	}
	return pod
}

// CreatePod creates pod.
func CreatePod(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	if err := k8s.Create(context.Background(), pod); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	return pod
}

// SidecarOf is the pod's one container named like the sidecar.
func SidecarOf(t *testing.T, pod *corev1.Pod) corev1.Container {
	t.Helper()
	var found []corev1.Container
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		if c.Name == contract.ContainerName {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("pod %s has %d containers named %s, want 1; init containers %v", pod.Name, len(found), contract.ContainerName, Names(pod.Spec.InitContainers))
	}
	return found[0]
}

// Names are the containers' names.
func Names(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// Injected is an app pod with the sidecar and volumes that InjectSidecar gives it for policy.
func Injected(t *testing.T, policy *authv1alpha1.AuthPolicy) *corev1.Pod {
	t.Helper()
	pod := AppPod(policy.Namespace, policy.Name)
	if err := injection.InjectSidecar(pod, policy, SidecarImage); err != nil {
		t.Fatal(err)
	}
	return pod
}
