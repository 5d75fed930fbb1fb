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

package authpolicy

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/controller/unprotected"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

// lagNames is how many lagging pods the PodsCurrent message names.
const lagNames = 5

// podsOfPolicy enqueues a policy when one of its pods appears, ends or goes: what the
// PodsCurrent condition counts.
func podsOfPolicy() builder.WatchesOption {
	return builder.WithPredicates(predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return unprotected.Annotated(e.Object) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return unprotected.Annotated(e.Object) },
		GenericFunc: func(e event.GenericEvent) bool { return unprotected.Annotated(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return unprotected.Annotated(e.ObjectNew) && (running(e.ObjectOld) != running(e.ObjectNew) ||
				e.ObjectOld.GetAnnotations()[authv1alpha1.PolicyGenerationAnnotation] != e.ObjectNew.GetAnnotations()[authv1alpha1.PolicyGenerationAnnotation])
		},
	})
}

// podsOfPolicyHandler maps a pod to the policy its annotation names.
var podsOfPolicyHandler = handler.EnqueueRequestsFromMapFunc(unprotected.PolicyOf)

// running: a live pod that runs tollgate's sidecar (or would, once scheduled).
func running(o client.Object) bool {
	pod, ok := o.(*corev1.Pod)
	return ok && pod.DeletionTimestamp.IsZero() && pod.Status.Phase != corev1.PodSucceeded &&
		pod.Status.Phase != corev1.PodFailed && injection.HasSidecar(pod)
}

// reconcilePodsCurrent sets PodsCurrent: which of the policy's running pods were injected
// before the last change that needs a restart, and so run the previous values of it.
func (r *Reconciler) reconcilePodsCurrent(ctx context.Context, s *scope) (ctrl.Result, error) {
	policy := s.policy
	pods := &corev1.PodList{}
	// The policy's own pods through the manager's index (unprotected.PolicyIndex), not the
	// namespace's: a pass costs the same however many other pods share the namespace.
	// Read-only, so the cache's pods themselves rather than deep copies.
	if err := r.List(ctx, pods, client.InNamespace(policy.Namespace),
		client.MatchingFields{unprotected.PolicyIndex: policy.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the pods of AuthPolicy %s: %w", policy.Key(), err)
	}
	meta.SetStatusCondition(&policy.Status.Conditions, podsCurrent(policy, pods.Items))
	return ctrl.Result{}, nil
}

// podsCurrent is the PodsCurrent condition of policy given the pods of its namespace.
func podsCurrent(policy *authv1alpha1.AuthPolicy, pods []corev1.Pod) metav1.Condition {
	since := policy.Status.RestartRequiredGeneration
	var total int
	var lagging []string
	for i := range pods {
		pod := &pods[i]
		if pod.Annotations[authv1alpha1.PolicyAnnotation] != policy.Name || !running(pod) {
			continue
		}
		total++
		// No annotation: injected by an operator older than this condition, at an unknown
		// generation, so lagging behind any restart-requiring change.
		injected, _ := strconv.ParseInt(pod.Annotations[authv1alpha1.PolicyGenerationAnnotation], 10, 64)
		if injected < since {
			lagging = append(lagging, pod.Name)
		}
	}
	c := metav1.Condition{Type: authv1alpha1.ConditionPodsCurrent, ObservedGeneration: policy.Generation}
	if len(lagging) == 0 {
		c.Status, c.Reason = metav1.ConditionTrue, authv1alpha1.ReasonPodsCurrent
		c.Message = fmt.Sprintf("all %d pods run sidecars that apply every field of the policy", total)
		if since > 0 {
			c.Message = fmt.Sprintf("all %d pods run sidecars started after generation %d, the last change that needs a restart", total, since)
		}
		return c
	}
	slices.Sort(lagging)
	names := strings.Join(lagging[:min(len(lagging), lagNames)], ", ")
	if len(lagging) > lagNames {
		names += fmt.Sprintf(" and %d more", len(lagging)-lagNames)
	}
	c.Status, c.Reason = metav1.ConditionFalse, authv1alpha1.ReasonPodsRestartPending
	c.Message = fmt.Sprintf("%d of %d pods run sidecars started before generation %d changed fields that need a restart (see the RestartRequired Event), and keep the previous values of those: %s; restart them (kubectl rollout restart)",
		len(lagging), total, since, names)
	return c
}

// restartRequiredGeneration reads the sidecar ConfigMap's record of the last restart-only
// change; 0 when there was none (or the record is not a number).
func restartRequiredGeneration(cm *corev1.ConfigMap) int64 {
	g, _ := strconv.ParseInt(cm.Annotations[authv1alpha1.RestartRequiredGenerationAnnotation], 10, 64)
	return g
}

// setRestartRequiredGeneration records generation as the last restart-only change on the
// sidecar ConfigMap, and says whether that changed it.
func setRestartRequiredGeneration(cm *corev1.ConfigMap, generation int64) bool {
	v := strconv.FormatInt(generation, 10)
	if cm.Annotations[authv1alpha1.RestartRequiredGenerationAnnotation] == v {
		return false
	}
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[authv1alpha1.RestartRequiredGenerationAnnotation] = v
	return true
}
