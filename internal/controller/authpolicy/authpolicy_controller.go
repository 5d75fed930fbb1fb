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

// Package authpolicy reconciles AuthPolicies: their signing keys Secret, sidecar
// ConfigMap, status and Events.
package authpolicy

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/controller/reconcilespan"
	"github.com/tollgate-dev/tollgate/internal/kubeevents"
)

// ControllerName names the controller in logs, metrics and as the Events' reporter.
const ControllerName = "tollgate-authpolicy"

// Reconciler keeps each AuthPolicy's signing keys rotating in its Secret, its
// sidecar configuration in a ConfigMap, and its status mirroring both.
type Reconciler struct {
	// Client reads from the manager's cache (Secrets and ConfigMaps: only tollgate's own).
	client.Client
	// APIReader reads from the API server, past the cache: to tell a deleted Secret from
	// one the cache has not seen yet, and to retry after a conflict with fresh data.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	// Clock is the only source of now, so tests can stand at any instant.
	Clock clock.PassiveClock
	// MaxConcurrentReconciles bounds parallel passes (default 4).
	MaxConcurrentReconciles int
	// AuthorizerImage runs the Deployments of spec.authorizer (the sidecar's image).
	AuthorizerImage string
}

// +kubebuilder:rbac:groups=auth.tollgate.dev,resources=authpolicies,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=auth.tollgate.dev,resources=authpolicies/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create

// SetupWithManager registers the reconciler: it watches policies (spec and annotation
// changes), the Secrets and ConfigMaps they own, and the pods that name them.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Recorder == nil {
		rec, err := kubeevents.NewRecorder(mgr, ControllerName)
		if err != nil {
			return err
		}
		r.Recorder = rec
	}
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&authv1alpha1.AuthPolicy{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Secret{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Watches(&corev1.Pod{}, podsOfPolicyHandler, podsOfPolicy()).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(reconcilespan.Wrap(ControllerName, r))
}

// scope is one pass over one policy: what the phases share.
type scope struct {
	policy *authv1alpha1.AuthPolicy
	// spec is the policy's spec after Default(): what the keys follow and the sidecar reads.
	spec authv1alpha1.AuthPolicySpec
	now  time.Time
	// notReady is the reason of a Ready=False this pass reached; readyReason replaces
	// KeysReady in a Ready=True; readyMessage is the condition's message either way.
	notReady, readyReason, readyMessage string
	// revocationsDone are the kids of the revoke annotation that this pass settled.
	revocationsDone []string
}

type phase func(ctx context.Context, s *scope) (ctrl.Result, error)

// Reconcile brings one policy's keys, sidecar configuration and status up to date and
// requeues for the next instant the key schedule has work to do.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	policy := &authv1alpha1.AuthPolicy{}
	if err := r.Get(ctx, req.NamespacedName, policy); err != nil {
		// Deleted: its Secret and ConfigMap go with it through their owner references.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !policy.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}

	before := policy.DeepCopy()
	s := &scope{policy: policy, now: r.Clock.Now()}
	defer func() {
		if err := r.patchStatus(ctx, s, before, retErr); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	defaulted := policy.DeepCopy()
	defaulted.Default()
	s.spec = defaulted.Spec
	if err := defaulted.Validate(); err != nil {
		// The schema refuses such a spec; reaching here means the CRD is older than this
		// operator. Nothing to retry until the spec changes.
		s.setNotReady(authv1alpha1.ReasonInvalidSpec, err.Error())
		return ctrl.Result{}, nil
	}

	var result ctrl.Result
	var errs []error
	for _, ph := range []phase{r.reconcileSigningKeys, r.reconcileSidecarConfig, r.reconcileAuthorizer, r.settleRevocations, r.reconcilePodsCurrent} {
		res, err := ph(ctx, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		result = lowestRequeue(result, res)
	}
	if len(errs) > 0 {
		return ctrl.Result{}, errors.Join(errs...)
	}
	return result, nil
}

// patchStatus writes the status the pass reached, only if it changed. ObservedGeneration
// moves only when the pass succeeded.
func (r *Reconciler) patchStatus(ctx context.Context, s *scope, before *authv1alpha1.AuthPolicy, passErr error) error {
	st := &s.policy.Status
	ready := metav1.Condition{Type: authv1alpha1.ConditionReady, ObservedGeneration: s.policy.Generation}
	switch {
	case passErr != nil:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, authv1alpha1.ReasonReconcileFailed, truncate(passErr.Error(), 1024)
	case s.notReady != "":
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, s.notReady, truncate(s.readyMessage, 1024)
	default:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, authv1alpha1.ReasonKeysReady, s.readyMessage
		if s.readyReason != "" {
			ready.Reason = s.readyReason
		}
	}
	if passErr == nil {
		st.ObservedGeneration = s.policy.Generation
	}
	meta.SetStatusCondition(&st.Conditions, ready)
	if equality.Semantic.DeepEqual(before.Status, s.policy.Status) {
		return nil
	}
	// The base differs from the policy in status only: a phase may have patched metadata.
	base := s.policy.DeepCopy()
	base.Status = before.Status
	if err := r.Status().Patch(ctx, s.policy, client.MergeFrom(base)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patching the status of AuthPolicy %s: %w", s.policy.Key(), err)
	}
	return nil
}

func (s *scope) setNotReady(reason, message string) {
	s.notReady, s.readyMessage = reason, message
}

// lowestRequeue combines two results into the one that comes back soonest.
func lowestRequeue(a, b ctrl.Result) ctrl.Result {
	switch {
	case a.RequeueAfter == 0:
		return b
	case b.RequeueAfter == 0:
		return a
	case b.RequeueAfter < a.RequeueAfter:
		return b
	}
	return a
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}
