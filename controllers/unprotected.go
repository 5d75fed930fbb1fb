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
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

// UnprotectedControllerName names the controller that reports unprotected pods.
const UnprotectedControllerName = "tollgate-unprotected-pods"

// Reasons of the Events about pods that run without their sidecar.
const (
	ReasonUnprotected    = "Unprotected"
	ReasonUnprotectedPod = "UnprotectedPod"
)

// podPolicyIndex indexes cached pods by the policy their annotation names.
const podPolicyIndex = "tollgate.policyAnnotation"

// UnprotectedPodReporter finds pods that name a policy but run without its sidecar: pods
// created before their namespace was labelled, or while the webhook was bypassed. Each one
// gets a Warning Event, so does its policy, and the policy's status.unprotectedPods counts
// them.
type UnprotectedPodReporter struct {
	client.Client
	Recorder recorder.EventRecorder

	mu sync.Mutex
	// reported are the pods already reported, by policy: one Event per pod, not one per
	// status change of the pod.
	reported map[types.NamespacedName]map[types.UID]bool
}

// SetupWithManager registers the reporter. It watches annotated pods only, from a cache
// that keeps little of each pod (see StripPod), and policies as they appear.
func (r *UnprotectedPodReporter) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder(UnprotectedControllerName)
	}
	r.reported = map[types.NamespacedName]map[types.UID]bool{}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, podPolicyIndex, func(o client.Object) []string {
		if name, ok := o.GetAnnotations()[authv1alpha1.PolicyAnnotation]; ok {
			return []string{name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("indexing pods by policy: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(UnprotectedControllerName).
		For(&authv1alpha1.AuthPolicy{}, builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(event.UpdateEvent) bool { return false },
		})).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(podPolicy), builder.WithPredicates(predicate.Funcs{
			CreateFunc:  func(e event.CreateEvent) bool { return annotated(e.Object) },
			DeleteFunc:  func(e event.DeleteEvent) bool { return annotated(e.Object) },
			GenericFunc: func(e event.GenericEvent) bool { return annotated(e.Object) },
			UpdateFunc: func(e event.UpdateEvent) bool {
				return annotated(e.ObjectNew) && isUnprotected(e.ObjectOld) != isUnprotected(e.ObjectNew)
			},
		})).
		Complete(r)
}

func annotated(o client.Object) bool {
	_, ok := o.GetAnnotations()[authv1alpha1.PolicyAnnotation]
	return ok
}

func podPolicy(_ context.Context, o client.Object) []reconcile.Request {
	name, ok := o.GetAnnotations()[authv1alpha1.PolicyAnnotation]
	if !ok || name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

// isUnprotected: the pod names a policy, lives, and has no sidecar.
func isUnprotected(o client.Object) bool {
	pod, ok := o.(*corev1.Pod)
	if !ok || !annotated(pod) || !pod.DeletionTimestamp.IsZero() {
		return false
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	return !HasSidecar(pod)
}

// Reconcile counts the unprotected pods of one policy, reports the new ones, and writes
// the count into the policy's status.
func (r *UnprotectedPodReporter) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pods := &corev1.PodList{}
	if err := r.List(ctx, pods, client.InNamespace(req.Namespace), client.MatchingFields{podPolicyIndex: req.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the pods of AuthPolicy %s: %w", req.NamespacedName, err)
	}
	policy := &authv1alpha1.AuthPolicy{}
	if err := r.Get(ctx, req.NamespacedName, policy); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("reading AuthPolicy %s: %w", req.NamespacedName, err)
		}
		policy = nil
	}

	r.mu.Lock()
	before := r.reported[req.NamespacedName]
	now := map[types.UID]bool{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !isUnprotected(pod) {
			continue
		}
		now[pod.UID] = true
		if before[pod.UID] {
			continue
		}
		r.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonUnprotected, "Inject",
			"pod runs without the tollgate sidecar that AuthPolicy %q asks for (annotation %s): it was created while namespace %q was not labelled %s=%s or while the webhook was bypassed; recreate the pod (kubectl rollout restart for a Deployment) to protect it",
			req.Name, authv1alpha1.PolicyAnnotation, req.Namespace, authv1alpha1.InjectionLabel, authv1alpha1.InjectionEnabled)
		if policy != nil {
			r.Recorder.Eventf(policy, pod, corev1.EventTypeWarning, ReasonUnprotectedPod, "Inject",
				"pod %s names this policy but runs without the tollgate sidecar: requests reach it unauthenticated; recreate it in a namespace labelled %s=%s",
				pod.Name, authv1alpha1.InjectionLabel, authv1alpha1.InjectionEnabled)
		}
	}
	if len(now) == 0 {
		delete(r.reported, req.NamespacedName)
	} else {
		r.reported[req.NamespacedName] = now
	}
	r.mu.Unlock()

	if policy == nil {
		return ctrl.Result{}, nil
	}
	// Always write the count: the cached policy may not show this reporter's last write yet,
	// and skipping "unchanged" values on a stale read would leave a wrong count behind. The
	// base differs from any count, so the merge patch always carries the field.
	base := policy.DeepCopy()
	base.Status.UnprotectedPods = -1
	policy.Status.UnprotectedPods = int32(len(now))
	if err := r.Status().Patch(ctx, policy, client.MergeFrom(base)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// StripPod is the cache transform of pods: the operator watches every pod (annotations
// cannot select a watch), so it keeps of each only what the report reads. A pod that names
// no policy keeps its identity alone. Never update a Pod read from the cache.
func StripPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
			DeletionTimestamp: pod.DeletionTimestamp,
		},
	}
	name, ok := pod.Annotations[authv1alpha1.PolicyAnnotation]
	if !ok {
		return out, nil
	}
	out.Annotations = map[string]string{authv1alpha1.PolicyAnnotation: name}
	out.Status.Phase = pod.Status.Phase
	names := func(cs []corev1.Container) []corev1.Container {
		out := make([]corev1.Container, len(cs))
		for i, c := range cs {
			out[i] = corev1.Container{Name: c.Name}
		}
		return out
	}
	out.Spec.InitContainers = names(pod.Spec.InitContainers)
	out.Spec.Containers = names(pod.Spec.Containers)
	return out, nil
}
