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

package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/controller/unprotected"
)

// rotationGrace is how late the operator may be with a rotation before check calls it
// overdue: it acts within seconds of the instant, and the clocks of this machine and the
// cluster may differ a little.
const rotationGrace = 2 * time.Minute

func (c *checker) checkPolicies(ctx context.Context) {
	list := &authv1alpha1.AuthPolicyList{}
	cctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	if err := c.client.List(cctx, list, client.InNamespace(c.opts.Namespace)); err != nil {
		c.add(CheckResult{Category: CategoryPolicies, Name: "policies", Status: CheckFail, Message: "listing AuthPolicies: " + err.Error()})
		return
	}
	if len(list.Items) == 0 {
		where := "any namespace"
		if c.opts.Namespace != "" {
			where = "namespace " + c.opts.Namespace
		}
		c.add(CheckResult{Category: CategoryPolicies, Name: "policies", Status: CheckSkip, Message: "no AuthPolicy in " + where})
		return
	}
	now := c.now()
	for i := range list.Items {
		p := &list.Items[i]
		r := CheckResult{Category: CategoryPolicies, Name: "AuthPolicy " + p.Key() + " keys", Status: CheckOK}
		problems, summary := policyKeyHealth(p, now)
		if len(problems) > 0 {
			r.Status, r.Message = CheckFail, strings.Join(problems, "; ")
			r.Hint = fmt.Sprintf("kubectl describe authpolicy %s -n %s shows the operator's Events; tollgate keys %s -n %s the keys; the manager's logs say more", p.Name, p.Namespace, p.Name, p.Namespace)
		} else {
			r.Message = summary
		}
		c.add(r)
		c.add(c.policyPods(ctx, p))
	}
}

// policyKeyHealth says what is wrong with p's keys at now (nothing: problems is empty), and
// sums them up when all is well. It reads the policy's status only, as `tollgate keys`.
func policyKeyHealth(p *authv1alpha1.AuthPolicy, now time.Time) (problems []string, summary string) {
	ready := meta.FindStatusCondition(p.Status.Conditions, authv1alpha1.ConditionReady)
	switch {
	case ready == nil:
		problems = append(problems, "no Ready condition: the operator has not reconciled it (is the manager running?)")
	case ready.Status != metav1.ConditionTrue:
		problems = append(problems, fmt.Sprintf("not Ready (%s): %s", ready.Reason, ready.Message))
	}
	if p.Status.ObservedGeneration < p.Generation {
		problems = append(problems, fmt.Sprintf("the operator has not reconciled generation %d yet (it saw %d)", p.Generation, p.Status.ObservedGeneration))
	}
	view := keysView(p, now)
	var active *authv1alpha1.KeyStatus
	for i := range view.Keys {
		if view.Keys[i].KID == view.ActiveKeyID {
			active = &view.Keys[i]
		}
	}
	if active == nil {
		return append(problems, "no key signs: the sidecars cannot issue tokens"), ""
	}
	pol := p.DeepCopy()
	pol.Default()
	interval, prePublish := pol.Spec.Signing.RotationInterval.Duration, pol.Spec.Signing.PrePublish.Duration
	if active.RetiresAt == nil {
		due := active.ActivatesAt.Add(interval)
		if publishBy := due.Add(-prePublish); now.After(publishBy.Add(rotationGrace)) {
			problems = append(problems, fmt.Sprintf("rotation overdue: key %s has signed since %s, its successor was due to be published at %s; the operator has not rotated it",
				active.KID, rfc3339(active.ActivatesAt.Time), rfc3339(publishBy)))
		}
	} else if !slices.ContainsFunc(view.Keys, func(k authv1alpha1.KeyStatus) bool {
		return k.ActivatesAt.After(active.ActivatesAt.Time) && !k.ActivatesAt.After(active.RetiresAt.Time)
	}) {
		problems = append(problems, fmt.Sprintf("key %s retires at %s and no published key follows it: from then on no key signs", active.KID, rfc3339(active.RetiresAt.Time)))
	}
	if n := p.Status.NextRotationTime; n != nil && now.After(n.Add(rotationGrace)) {
		problems = append(problems, fmt.Sprintf("the status says the next rotation was at %s and has not moved since: the operator has not reconciled the policy", rfc3339(n.Time)))
	}
	summary = "Ready; key " + active.KID + " signs"
	if view.NextKeyID != "" {
		summary += ", key " + view.NextKeyID + " is published"
	}
	if n := p.Status.NextRotationTime; n != nil {
		summary += ", next rotation at " + rfc3339(n.Time)
	}
	return problems, summary
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// policyPods reports the pods that the unprotected-pod reporter found running without the
// policy's sidecar (status.unprotectedPods; their names from its Events), and pods not
// restarted since a change that needs it (condition PodsCurrent).
func (c *checker) policyPods(ctx context.Context, p *authv1alpha1.AuthPolicy) CheckResult {
	r := CheckResult{Category: CategoryPolicies, Name: "AuthPolicy " + p.Key() + " pods", Status: CheckOK, Message: "no pod runs without its sidecar"}
	if n := p.Status.UnprotectedPods; n > 0 {
		r.Status = CheckFail
		r.Message = fmt.Sprintf("%d pod(s) name this policy but run without its sidecar: requests reach them unauthenticated", n)
		if names := c.unprotectedPodNames(ctx, p); len(names) > 0 {
			r.Message += " (" + strings.Join(names, ", ") + ")"
		}
		r.Hint = fmt.Sprintf("label namespace %s %s=%s and recreate the pods (kubectl rollout restart for a Deployment); kubectl get events -n %s --field-selector reason=%s lists them",
			p.Namespace, authv1alpha1.InjectionLabel, authv1alpha1.InjectionEnabled, p.Namespace, unprotected.ReasonUnprotected)
		return r
	}
	if pc := meta.FindStatusCondition(p.Status.Conditions, authv1alpha1.ConditionPodsCurrent); pc != nil && pc.Status == metav1.ConditionFalse {
		r.Status, r.Message = CheckWarn, pc.Message
		r.Hint = "restart the pods (kubectl rollout restart) so their sidecars take the policy's new settings"
	}
	return r
}

// unprotectedPodNames are up to five pods named by the reporter's Events about p that still
// exist; nil when the Events cannot be read.
func (c *checker) unprotectedPodNames(ctx context.Context, p *authv1alpha1.AuthPolicy) []string {
	cctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	events := &eventsv1.EventList{}
	if err := c.client.List(cctx, events, client.InNamespace(p.Namespace)); err != nil {
		return nil
	}
	var names []string
	for _, e := range events.Items {
		if e.Reason != unprotected.ReasonUnprotectedPod || e.Regarding.Name != p.Name || e.Related == nil || slices.Contains(names, e.Related.Name) {
			continue
		}
		pod := &corev1.Pod{}
		err := c.client.Get(cctx, types.NamespacedName{Namespace: p.Namespace, Name: e.Related.Name}, pod)
		if apierrors.IsNotFound(err) || (err == nil && pod.UID != e.Related.UID) {
			continue
		}
		names = append(names, e.Related.Name)
		if len(names) == 5 {
			break
		}
	}
	slices.Sort(names)
	return names
}
