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

package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/controllers"
)

func waitUnprotected(t *testing.T, ns, name string, want int32) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("status.unprotectedPods of %s/%s to be %d", ns, name, want), func() (bool, string) {
		p := getPolicy(t, ns, name)
		return p.Status.UnprotectedPods == want, fmt.Sprintf("it is %d", p.Status.UnprotectedPods)
	})
}

func TestAnnotatedPodsWithoutTheSidecarAreReported(t *testing.T) {
	// Pods created before the namespace was labelled run without the sidecar.
	ns := newNamespace(t)
	create(t, newPolicy(ns, "api"))
	waitReady(t, ns, "api")
	first := createPod(t, appPod(ns, "api"))
	second := createPod(t, appPod(ns, "api"))
	createPod(t, appPod(ns, "")) // names no policy: not counted
	done := createPod(t, appPod(ns, "api", func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever }))
	done.Status.Phase = corev1.PodSucceeded // finished: not counted
	if err := k8s.Status().Update(context.Background(), done); err != nil {
		t.Fatal(err)
	}

	waitUnprotected(t, ns, "api", 2)
	waitForEvent(t, ns, first.Name, corev1.EventTypeWarning, controllers.ReasonUnprotected, `AuthPolicy "api"`, "recreate the pod")
	waitForEvent(t, ns, "api", corev1.EventTypeWarning, controllers.ReasonUnprotectedPod, "pod "+second.Name, "without the tollgate sidecar")

	// Labelling the namespace protects new pods, not the running ones.
	nsObj := &corev1.Namespace{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: ns}, nsObj); err != nil {
		t.Fatal(err)
	}
	nsObj.Labels[authv1alpha1.InjectionLabel] = authv1alpha1.InjectionEnabled
	if err := k8s.Update(context.Background(), nsObj); err != nil {
		t.Fatal(err)
	}
	sidecarOf(t, createPod(t, appPod(ns, "api")))
	if err := k8s.Delete(context.Background(), first, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	waitUnprotected(t, ns, "api", 1)

	// One Event per pod, not one per change of the pod.
	for _, e := range events(t, ns, second.Name) {
		if e.Reason == controllers.ReasonUnprotected && e.Series != nil && e.Series.Count > 1 {
			t.Errorf("pod %s reported %d times", second.Name, e.Series.Count)
		}
	}
}

func TestStripPodKeepsWhatTheReportReads(t *testing.T) {
	pod := appPod("ns", "api", func(p *corev1.Pod) {
		p.Name, p.UID, p.ResourceVersion = "a", "uid-1", "7"
		p.Labels = map[string]string{"app": "x"}
		p.Annotations["other"] = "big"
		p.Spec.InitContainers = []corev1.Container{{Name: controllers.SidecarContainerName, Image: "img", Args: []string{"--x"}}}
		p.Status.Phase = corev1.PodRunning
		p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	})
	out, err := controllers.StripPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	s := out.(*corev1.Pod)
	if s.Name != "a" || s.UID != "uid-1" || s.ResourceVersion != "7" || s.Status.Phase != corev1.PodRunning {
		t.Errorf("identity or phase lost: %+v", s.ObjectMeta)
	}
	if len(s.Annotations) != 1 || s.Annotations[authv1alpha1.PolicyAnnotation] != "api" || s.Labels != nil || s.ManagedFields != nil {
		t.Errorf("metadata kept too much or too little: %+v", s.ObjectMeta)
	}
	if !controllers.HasSidecar(s) || s.Spec.InitContainers[0].Image != "" || s.Spec.Containers[0].Ports != nil {
		t.Errorf("containers: want names only, got %+v", s.Spec)
	}
	bare, _ := controllers.StripPod(appPod("ns", "", func(p *corev1.Pod) { p.Name = "b" }))
	if b := bare.(*corev1.Pod); b.Name != "b" || len(b.Spec.Containers) != 0 {
		t.Errorf("a pod naming no policy keeps more than its identity: %+v", b)
	}
}
