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

package authpolicy_test

import (
	"context"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/operatortest"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// spec.authorizer renders a Deployment of tollgate-authorizer with the policy's keys and
// configuration mounted, and a Service in front, both owned by the policy; removing the
// field removes them.
func TestAuthorizerDeployment(t *testing.T) {
	ns := newNamespace(t)
	policy := newPolicy(ns, "gw", func(p *authv1alpha1.AuthPolicy) {
		p.Spec.Authorizer = &authv1alpha1.AuthorizerSpec{Replicas: 2}
		p.Spec.Login.UsersSecretRef = &authv1alpha1.LocalObjectReference{Name: "gw-users"}
	})
	create(t, policy)
	key := types.NamespacedName{Namespace: ns, Name: authv1alpha1.AuthorizerName("gw")}
	ctx := context.Background()

	dep := &appsv1.Deployment{}
	testwait.Until(t, 30*time.Second, "the authorizer Deployment", func() (bool, string) {
		err := k8s.Get(ctx, key, dep)
		return err == nil, errString(err)
	})
	policy = getPolicy(t, ns, "gw")
	checkOwnedBy(t, dep, policy)
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", dep.Spec.Replicas)
	}
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("containers %+v", pod.Containers)
	}
	c := pod.Containers[0]
	if !slices.Equal(c.Command, []string{contract.AuthorizerCommand}) || c.Image != operatortest.SidecarImage {
		t.Errorf("command %q image %q, want %s from %s", c.Command, c.Image, contract.AuthorizerCommand, operatortest.SidecarImage)
	}
	for _, want := range []string{"--policy=" + contract.PolicyPath, "--keys-dir=" + contract.KeysDir, "--users-file=" + contract.UsersPath, "--grpc-listen=:9001"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	for _, v := range []string{contract.KeysVolume, contract.PolicyVolume, contract.UsersVolume} {
		if !slices.ContainsFunc(pod.Volumes, func(x corev1.Volume) bool { return x.Name == v }) {
			t.Errorf("no volume %s in %+v", v, pod.Volumes)
		}
	}
	if !labels.SelectorFromSet(dep.Spec.Selector.MatchLabels).Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("selector %v does not select the template's labels %v", dep.Spec.Selector, dep.Spec.Template.Labels)
	}

	svc := &corev1.Service{}
	testwait.Until(t, 30*time.Second, "the authorizer Service", func() (bool, string) {
		err := k8s.Get(ctx, key, svc)
		return err == nil, errString(err)
	})
	checkOwnedBy(t, svc, policy)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, dep.Spec.Template.Labels)
	}
	for _, p := range svc.Spec.Ports {
		if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.StrVal }) {
			t.Errorf("Service port %s targets %s, which the container does not declare", p.Name, p.TargetPort.String())
		}
	}
	if len(svc.Spec.Ports) != 2 {
		t.Errorf("Service ports %+v, want HTTP and gRPC", svc.Spec.Ports)
	}

	// Scaling follows the policy.
	updatePolicy(t, ns, "gw", func(p *authv1alpha1.AuthPolicy) { p.Spec.Authorizer.Replicas = 3 })
	testwait.Until(t, 30*time.Second, "3 replicas", func() (bool, string) {
		if err := k8s.Get(ctx, key, dep); err != nil {
			return false, err.Error()
		}
		return *dep.Spec.Replicas == 3, "replicas not 3 yet"
	})

	// Without spec.authorizer, both go.
	updatePolicy(t, ns, "gw", func(p *authv1alpha1.AuthPolicy) { p.Spec.Authorizer = nil })
	testwait.Until(t, 30*time.Second, "the authorizer removed", func() (bool, string) {
		d := k8s.Get(ctx, key, &appsv1.Deployment{})
		s := k8s.Get(ctx, key, &corev1.Service{})
		return apierrors.IsNotFound(d) && apierrors.IsNotFound(s), "Deployment: " + errString(d) + ", Service: " + errString(s)
	})
}

// updatePolicy changes a policy's spec, retrying when the operator's status patch got there
// first.
func updatePolicy(t *testing.T, ns, name string, change func(*authv1alpha1.AuthPolicy)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p := getPolicy(t, ns, name)
		change(p)
		return k8s.Update(context.Background(), p)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func errString(err error) string {
	if err == nil {
		return "exists"
	}
	return err.Error()
}
