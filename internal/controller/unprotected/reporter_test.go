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

package unprotected_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/controller/unprotected"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

func waitUnprotected(t *testing.T, ns, name string, want int32) {
	t.Helper()
	testwait.Until(t, 30*time.Second, fmt.Sprintf("status.unprotectedPods of %s/%s to be %d", ns, name, want), func() (bool, string) {
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
	waitForEvent(t, ns, first.Name, corev1.EventTypeWarning, unprotected.ReasonUnprotected, `AuthPolicy "api"`, "recreate the pod")
	waitForEvent(t, ns, "api", corev1.EventTypeWarning, unprotected.ReasonUnprotectedPod, "pod "+second.Name, "without the tollgate sidecar")

	// Labelling the namespace protects new pods, not the running ones.
	nsObj := &corev1.Namespace{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: ns}, nsObj); err != nil {
		t.Fatal(err)
	}
	nsObj.Labels[authv1alpha1.InjectionLabel] = authv1alpha1.InjectionEnabled
	if err := k8s.Update(context.Background(), nsObj); err != nil {
		t.Fatal(err)
	}
	// The API server matches the webhook's namespaceSelector against its informer's copy of
	// the namespace, which sees the new label a moment later: wait until a dry run is injected.
	testwait.Until(t, 30*time.Second, "the webhook to see the namespace's label", func() (bool, string) {
		probe := appPod(ns, "api")
		if err := k8s.Create(context.Background(), probe, client.DryRunAll); err != nil {
			return false, err.Error()
		}
		for _, c := range probe.Spec.InitContainers {
			if c.Name == contract.ContainerName {
				return true, ""
			}
		}
		return false, "a pod created now is not injected"
	})
	sidecarOf(t, createPod(t, appPod(ns, "api")))
	if err := k8s.Delete(context.Background(), first, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	waitUnprotected(t, ns, "api", 1)
	// One Event per pod, not one per change of the pod: TestEachPodIsReportedOncePerPolicy.
}

// recording keeps every Event a Reporter makes: what is tested is the reporter's own
// promise (one Event per pod and policy, not one per pass), not the Event writer's
// suppression of repeats.
type recording struct {
	mu     sync.Mutex
	events []recorded
}

type recorded struct {
	reason             string
	regarding, related types.UID
}

func (r *recording) Eventf(regarding, related runtime.Object, _, reason, _, _ string, _ ...any) {
	e := recorded{reason: reason, regarding: regarding.(client.Object).GetUID()}
	if related != nil {
		e.related = related.(client.Object).GetUID()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recording) AnnotatedEventf(regarding, related runtime.Object, _ map[string]string, eventtype, reason, action, note string, args ...any) {
	r.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

// count counts the Events of reason about regarding.
func (r *recording) count(reason string, regarding types.UID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.reason == reason && e.regarding == regarding {
			n++
		}
	}
	return n
}

// standaloneReporter is a Reporter outside the manager, on a cache of its own, whose
// passes the test makes.
func standaloneReporter(t *testing.T) (*unprotected.Reporter, *recording) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := cache.New(cfg, cache.Options{Scheme: k8s.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := unprotected.IndexPods(ctx, c); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("the cache did not sync")
	}
	cl, err := client.New(cfg, client.Options{Scheme: k8s.Scheme(), Cache: &client.CacheOptions{Reader: c}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recording{}
	return &unprotected.Reporter{Client: cl, Recorder: rec}, rec
}

func TestEachPodIsReportedOncePerPolicy(t *testing.T) {
	ns := newNamespace(t)
	create(t, newPolicy(ns, "api"))
	waitReady(t, ns, "api")
	pod := createPod(t, appPod(ns, "api"))
	r, rec := standaloneReporter(t)
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "api"}}
	pass := func() {
		t.Helper()
		if _, err := r.Reconcile(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	// The policy as the reporter's cache has it, once it has the given UID ("": any).
	cached := func(uid types.UID) *authv1alpha1.AuthPolicy {
		t.Helper()
		p := &authv1alpha1.AuthPolicy{}
		testwait.NoError(t, 30*time.Second, "the reporter's cache to have the policy", func() error {
			if err := r.Get(context.Background(), req.NamespacedName, p); err != nil {
				return err
			}
			if uid != "" && p.UID != uid {
				return fmt.Errorf("it has UID %s", p.UID)
			}
			return nil
		})
		return p
	}
	testwait.NoError(t, 30*time.Second, "the reporter's cache to have the pod", func() error {
		return r.Get(context.Background(), client.ObjectKeyFromObject(pod), &corev1.Pod{})
	})
	first := cached("")

	pass()
	pass()
	if n := rec.count(unprotected.ReasonUnprotected, pod.UID); n != 1 {
		t.Errorf("%d Events on the pod after two passes, want 1", n)
	}
	if n := rec.count(unprotected.ReasonUnprotectedPod, first.UID); n != 1 {
		t.Errorf("%d Events on the policy after two passes, want 1", n)
	}

	// Deleted and created again under the same name: another policy, which hears of the pod.
	if err := k8s.Delete(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 30*time.Second, "the reporter's cache to lose the policy", func() bool {
		return apierrors.IsNotFound(r.Get(context.Background(), req.NamespacedName, &authv1alpha1.AuthPolicy{}))
	})
	pass()
	again := newPolicy(ns, "api")
	create(t, again)
	second := cached(again.UID)
	pass()
	pass()
	if n := rec.count(unprotected.ReasonUnprotectedPod, second.UID); n != 1 {
		t.Errorf("%d Events on the policy created again, want 1", n)
	}
	if n := rec.count(unprotected.ReasonUnprotected, pod.UID); n != 1 {
		t.Errorf("%d Events on the pod, want 1: it was reported already", n)
	}
}

func TestStripPodKeepsWhatTheReportReads(t *testing.T) {
	pod := appPod("ns", "api", func(p *corev1.Pod) {
		p.Name, p.UID, p.ResourceVersion = "a", "uid-1", "7"
		p.Labels = map[string]string{"app": "x"}
		p.Annotations["other"] = "big"
		p.Spec.InitContainers = []corev1.Container{{
			Name: contract.ContainerName, Image: "img", Args: []string{"--x"},
			Env:       []corev1.EnvVar{{Name: "TOLLGATE_REDIS_PASSWORD", Value: "not kept"}},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Mi")}},
		}}
		p.Spec.Volumes = []corev1.Volume{
			{Name: contract.KeysVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "api-signing-keys"}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		}
		p.Status.Phase = corev1.PodRunning
		p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	})
	out, err := unprotected.StripPod(pod)
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
	if !injection.HasSidecar(s) || s.Spec.Containers[0].Image != "" || s.Spec.Containers[0].Ports != nil {
		t.Errorf("containers: want names only, got %+v", s.Spec)
	}
	if c := s.Spec.InitContainers[0]; c.Image != "img" || len(c.Args) != 1 || c.Env[0].Value != "" || c.Env[0].Name != "TOLLGATE_REDIS_PASSWORD" || c.Resources.Limits != nil {
		t.Errorf("the sidecar: want what tells it from a counterfeit, variables without values; got %+v", c)
	}
	if len(s.Spec.Volumes) != 1 || s.Spec.Volumes[0].Name != contract.KeysVolume {
		t.Errorf("volumes: want the sidecar's only, got %+v", s.Spec.Volumes)
	}
	bare, _ := unprotected.StripPod(appPod("ns", "", func(p *corev1.Pod) { p.Name = "b" }))
	if b := bare.(*corev1.Pod); b.Name != "b" || len(b.Spec.Containers) != 0 {
		t.Errorf("a pod naming no policy keeps more than its identity: %+v", b)
	}
}

// Pods created past the webhook (here: in a namespace without the label) with a container
// named like the sidecar are counted unless that container is the sidecar the webhook
// injects, whatever the policy's settings.
func TestACounterfeitSidecarIsReportedAsUnprotected(t *testing.T) {
	ns := newNamespace(t)
	policy := newPolicy(ns, "api", func(p *authv1alpha1.AuthPolicy) {
		p.Spec.Login.UsersSecretRef = &authv1alpha1.LocalObjectReference{Name: "users"}
	})
	create(t, policy)
	waitReady(t, ns, "api")

	genuine := injected(t, policy)
	createPod(t, genuine.DeepCopy())
	createPod(t, genuine.DeepCopy())

	fake := createPod(t, appPod(ns, "api", func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{
			Name: contract.ContainerName, Image: "busybox", Command: []string{"sleep", "infinity"},
			RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		}}
		p.Annotations[authv1alpha1.StatusAnnotation] = authv1alpha1.StatusInjected
	}))
	publicRoutes := genuine.DeepCopy()
	publicRoutes.Name, publicRoutes.GenerateName = "", "public-"
	for i := range publicRoutes.Spec.Volumes {
		if v := &publicRoutes.Spec.Volumes[i]; v.Name == contract.PolicyVolume {
			v.ConfigMap.Name = "everything-public"
		}
	}
	publicRoutes = createPod(t, publicRoutes)
	ownUsers := genuine.DeepCopy()
	for i := range ownUsers.Spec.Volumes {
		if v := &ownUsers.Spec.Volumes[i]; v.Name == contract.UsersVolume {
			v.Secret.SecretName = "my-own-admins"
		}
	}
	ownUsers = createPod(t, ownUsers)
	ownStore := genuine.DeepCopy()
	ownStore.Spec.InitContainers[0].Args = append(ownStore.Spec.InitContainers[0].Args, "--redis-url=redis://attacker.example")
	ownStore = createPod(t, ownStore)

	waitUnprotected(t, ns, "api", 4)
	waitForEvent(t, ns, fake.Name, corev1.EventTypeWarning, unprotected.ReasonUnprotected,
		"container named tollgate-sidecar that is not the tollgate sidecar", `runs image "busybox"`)
	waitForEvent(t, ns, "api", corev1.EventTypeWarning, unprotected.ReasonUnprotectedPod, "pod "+publicRoutes.Name, "volume tollgate-policy is not ConfigMap api-sidecar")
	waitForEvent(t, ns, "api", corev1.EventTypeWarning, unprotected.ReasonUnprotectedPod, "pod "+ownUsers.Name, "volume tollgate-users is not the policy's users Secret")
	waitForEvent(t, ns, "api", corev1.EventTypeWarning, unprotected.ReasonUnprotectedPod, "pod "+ownStore.Name, "--redis-url")
}
