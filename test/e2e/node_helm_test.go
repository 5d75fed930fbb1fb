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

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/helmchart"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

const helmNS = "e2e-helm"

// helmChart: the other documented install, on the same node once config/default's install
// is gone. The Helm SDK installs charts/tollgate with the built image and waits until every
// object is ready (kstatus: the manager Deployment's pods Ready, which needs the webhook's
// certificate in place); an annotated pod in an opted-in namespace gets the sidecar and
// runs; uninstall waits until the release's objects are gone.
func (e *nodeEnv) helmChart(t *testing.T) {
	e.reset() // config/default's install, CRD included, and the workload namespace
	ch, err := helmchart.Load(helmchart.Dir(e.root))
	if err != nil {
		t.Fatal(err)
	}
	helm, err := helmchart.NewClient(e.kubeconfig, operatorNS, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndex(tollgateIMG, ":")
	values := map[string]any{"image": map[string]any{"repository": tollgateIMG[:i], "tag": tollgateIMG[i+1:]}}
	began := time.Now()
	if _, err := helm.Install(e.ctx, ch, "tollgate", values); err != nil {
		t.Fatal(err)
	}
	t.Logf("timing: helm install --wait (manager Ready) %.1fs", time.Since(began).Seconds())
	uninstalled := false
	t.Cleanup(func() {
		if !uninstalled {
			_ = helm.Uninstall("tollgate")
		}
	})
	var d appsv1.Deployment
	if err := e.c.Get(e.ctx, client.ObjectKey{Namespace: operatorNS, Name: managerName}, &d); err != nil {
		t.Fatal(err)
	}
	if d.Status.ReadyReplicas != 2 {
		t.Fatalf("after helm install --wait: %d/2 managers ready", d.Status.ReadyReplicas)
	}

	began = time.Now()
	e.kubectl(t, "create", "namespace", helmNS)
	t.Cleanup(func() {
		_, _ = e.kubectlNoFail("delete", "namespace", helmNS, "--ignore-not-found", "--wait=true", "--timeout=120s")
	})
	e.kubectl(t, "label", "namespace", helmNS, authv1alpha1.InjectionLabel+"=enabled")
	policy := &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: helmNS, Name: "api"}}
	if err := e.c.Create(e.ctx, policy); err != nil {
		t.Fatal(err)
	}
	e.kubectl(t, "wait", "-n", helmNS, "--for=condition=Ready", "authpolicy/api", "--timeout=60s")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: helmNS, Name: "app", Annotations: map[string]string{authv1alpha1.PolicyAnnotation: "api"}},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "app", Image: "ghcr.io/tollgate-dev/demo-app:latest", ImagePullPolicy: corev1.PullNever,
				Args: []string{"--listen", "127.0.0.1:8080"},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
	// The webhook fails closed: until the API server reaches it, creating the pod fails.
	testwait.NoError(t, time.Minute, "the annotated pod is admitted", func() error {
		return e.c.Create(e.ctx, pod.DeepCopy())
	})
	testwait.Poll(t, 500*time.Millisecond, 2*time.Minute, "the injected pod runs with its sidecar", func() (bool, string) {
		var p corev1.Pod
		if err := e.c.Get(e.ctx, client.ObjectKeyFromObject(pod), &p); err != nil {
			return false, err.Error()
		}
		if _, ok := initContainer(p, contract.ContainerName); !ok {
			t.Fatalf("pod %s has no %s init container: not injected", p.Name, contract.ContainerName)
		}
		sst, ast := initStatus(p, contract.ContainerName), containerStatus(p, "app")
		return sst != nil && ast != nil && sst.Ready && ast.Ready, fmt.Sprintf("phase %s", p.Status.Phase)
	})
	t.Logf("timing: policy Ready and an injected pod Ready %.1fs", time.Since(began).Seconds())

	began = time.Now()
	uninstalled = true
	if err := helm.Uninstall("tollgate"); err != nil {
		t.Fatal(err)
	}
	t.Logf("timing: helm uninstall --wait %.1fs", time.Since(began).Seconds())
	for _, obj := range []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: managerName}},
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: injection.WebhookConfigurationName}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: injection.WebhookServiceName}},
	} {
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		err := e.c.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		cancel()
		if !apierrors.IsNotFound(err) {
			t.Errorf("%T %s after helm uninstall: %v", obj, obj.GetName(), err)
		}
	}
}
