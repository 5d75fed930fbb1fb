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
	"fmt"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

// ownedLabels are the labels of every object the operator makes for a policy.
func ownedLabels(policy *authv1alpha1.AuthPolicy) map[string]string {
	return map[string]string{
		authv1alpha1.ManagedByLabel: authv1alpha1.ManagedByValue,
		authv1alpha1.PolicyLabel:    policy.Name,
	}
}

// nameConflictRetry is how often a policy blocked by a name conflict looks again: the
// object in the way is not in the cache, so its deletion is not seen.
const nameConflictRetry = 15 * time.Second

// nameConflict: an object under the name of one the policy owns exists and is not the
// policy's.
type nameConflict struct {
	kind string
	key  types.NamespacedName
}

func (e *nameConflict) Error() string {
	return fmt.Sprintf("%s %s exists and is not owned by this AuthPolicy: tollgate neither adopts nor overwrites it; delete or rename it, or give the policy another name", e.kind, e.key)
}

// claim refuses to take over obj unless the policy controls it already. An object that
// merely has the name the policy's would have is someone else's: adopting it would
// overwrite it, and delete it with the policy.
func claim(policy *authv1alpha1.AuthPolicy, obj client.Object, kind string) error {
	if metav1.IsControlledBy(obj, policy) {
		return nil
	}
	return &nameConflict{kind: kind, key: client.ObjectKeyFromObject(obj)}
}

// blockedBy records a name conflict of this pass: Ready=False with reason NameConflict,
// and a Warning Event the first time, not at every look. It returns when to look again.
func (r *Reconciler) blockedBy(s *scope, c *nameConflict) ctrl.Result {
	msg := c.Error()
	if s.notReady == authv1alpha1.ReasonNameConflict {
		msg = s.readyMessage + "; " + msg
	}
	s.setNotReady(authv1alpha1.ReasonNameConflict, msg)
	prev := meta.FindStatusCondition(s.policy.Status.Conditions, authv1alpha1.ConditionReady)
	if prev == nil || prev.Reason != authv1alpha1.ReasonNameConflict || !strings.Contains(prev.Message, c.kind+" "+c.key.String()+" ") {
		r.Recorder.Eventf(s.policy, nil, corev1.EventTypeWarning, authv1alpha1.ReasonNameConflict, "Adopt", "%s", msg)
	}
	return ctrl.Result{RequeueAfter: nameConflictRetry}
}

// adopt labels obj as the policy's and makes the policy its controller. It reports whether
// anything changed; it fails when another controller owns obj.
func (r *Reconciler) adopt(policy *authv1alpha1.AuthPolicy, obj metav1.Object) (bool, error) {
	before := len(obj.GetOwnerReferences())
	wasOwned := metav1.IsControlledBy(obj, policy)
	if err := controllerutil.SetControllerReference(policy, obj, r.Scheme()); err != nil {
		return false, err
	}
	changed := !wasOwned || before != len(obj.GetOwnerReferences())
	l := obj.GetLabels()
	want := ownedLabels(policy)
	merged := maps.Clone(l)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, want)
	if !maps.Equal(l, merged) {
		obj.SetLabels(merged)
		changed = true
	}
	return changed, nil
}
