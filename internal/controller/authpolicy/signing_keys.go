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
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/keyset"
)

// rotateHandledAnnotation on the keys Secret holds the last value of the policy's
// rotate-requested-at annotation that was acted on. The Secret, not the policy, remembers
// it: it is written in the same update as the rotation itself.
const rotateHandledAnnotation = "auth.tollgate.dev/rotate-handled"

// keysPass is what one attempt at the keys Secret decided and wrote.
type keysPass struct {
	plan keyset.Plan
	// lost: the Secret was gone though the status listed keys.
	lost []string
	// invalid: the Secret held no valid keyset.
	invalid error
	// reasons of the revocations done, by kid; settled lists every kid of the annotation
	// the pass is done with (revoked now, revoked before, or unknown).
	reasons map[string]string
	settled []string
	unknown []string
	// badRequest: the revoke annotation could not be read.
	badRequest error
	rotated    bool
}

// reconcileSigningKeys moves the policy's keys along their schedule: it reads the keys
// Secret, lets keyset.Schedule decide, writes the Secret in one update when anything
// changed, reports the transitions as Events, mirrors the keys into status, and requeues
// at the next instant the schedule has work.
func (r *Reconciler) reconcileSigningKeys(ctx context.Context, s *scope) (ctrl.Result, error) {
	pol := keysetPolicy(s.spec)
	var pass *keysPass
	attempt := 0
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		attempt++
		var err error
		// After a conflict the cache is behind: read the API server.
		pass, err = r.syncSigningKeys(ctx, s, pol, attempt > 1)
		return err
	})
	var conflict *nameConflict
	if errors.As(err, &conflict) {
		return r.blockedBy(s, conflict), nil
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("reconciling the signing keys Secret of AuthPolicy %s: %w", s.policy.Key(), err)
	}

	r.report(s, pass)
	mirrorKeys(&s.policy.Status, pass.plan.Keyset, pol, s.now)
	s.revocationsDone = pass.settled
	switch {
	case pass.invalid != nil:
		s.setNotReady(authv1alpha1.ReasonKeysetInvalid, fmt.Sprintf("the keys Secret held no valid keyset (%v); it was replaced with a fresh one, and tokens signed by the previous keys no longer validate", pass.invalid))
	case len(pass.lost) > 0:
		s.readyReason = authv1alpha1.ReasonSecretRecreated
		s.readyMessage = fmt.Sprintf("the keys Secret was deleted and recreated with new keys; tokens signed by the lost keys (%s) no longer validate", strings.Join(pass.lost, ", "))
	default:
		s.readyMessage = readyMessage(s.policy.Status)
	}

	wait := pass.plan.NextEvent.Sub(s.now)
	if wait < time.Second {
		wait = time.Second
	}
	return ctrl.Result{RequeueAfter: wait}, nil
}

// syncSigningKeys is one attempt: read, decide, write. A conflict (or a Secret created
// meanwhile) makes it return a Conflict error for RetryOnConflict.
func (r *Reconciler) syncSigningKeys(ctx context.Context, s *scope, pol keyset.Policy, live bool) (*keysPass, error) {
	policy := s.policy
	key := types.NamespacedName{Namespace: policy.Namespace, Name: authv1alpha1.SigningKeysSecretName(policy.Name)}
	secret := &corev1.Secret{}
	exists, err := r.getOwned(ctx, key, secret, live, len(policy.Status.Keys) > 0)
	if err != nil {
		return nil, err
	}
	pass := &keysPass{reasons: map[string]string{}}

	var current *keyset.Keyset
	if exists {
		if err := claim(policy, secret, "Secret"); err != nil {
			return nil, err
		}
		current, pass.invalid = parseSecret(secret)
	} else {
		secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}, Type: corev1.SecretTypeOpaque}
		for _, k := range policy.Status.Keys {
			pass.lost = append(pass.lost, k.KID)
		}
	}

	req := keyset.Requests{}
	if current != nil {
		req.Observed = observedStates(policy.Status)
		requested := policy.Annotations[authv1alpha1.RotateRequestedAtAnnotation]
		req.Rotate = requested != "" && requested != secret.Annotations[rotateHandledAnnotation]
		pass.rotated = req.Rotate
	}

	revokeReqs, err := authv1alpha1.ParseRevokeRequests(policy.Annotations[authv1alpha1.RevokeKeysAnnotation])
	if err != nil {
		pass.badRequest = err
	}
	revokedBefore := revokedKeys(secret.Annotations)
	for _, kid := range sortedKeys(revokeReqs) {
		switch {
		case current != nil && current.Lookup(kid) != nil:
			req.Revoke = append(req.Revoke, kid)
			pass.reasons[kid] = revokeReqs[kid]
		case slices.Contains(revokedBefore, kid):
		default:
			pass.unknown = append(pass.unknown, kid)
		}
		pass.settled = append(pass.settled, kid)
	}

	pass.plan, err = keyset.Schedule(current, pol, s.now, req)
	if err != nil {
		return nil, err
	}

	want, err := secretData(pass.plan.Keyset, s.now, recordKeyOf(secret))
	if err != nil {
		return nil, err
	}
	changed, err := r.adopt(policy, secret)
	if err != nil {
		return nil, err
	}
	annotations := maps.Clone(secret.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	if v := policy.Annotations[authv1alpha1.RotateRequestedAtAnnotation]; v != "" {
		// A fresh Secret has fresh keys: a request made before it is handled by it.
		annotations[rotateHandledAnnotation] = v
	}
	if len(req.Revoke) > 0 {
		annotations[revokedKeysAnnotation] = recordRevoked(revokedBefore, req.Revoke)
	}
	if !maps.Equal(annotations, secret.Annotations) {
		secret.Annotations = annotations
		changed = true
	}
	if !sameData(secret.Data, want) {
		secret.Data = want
		changed = true
	}

	switch {
	case !exists:
		if err := r.Create(ctx, secret); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return nil, apierrors.NewConflict(corev1.Resource("secrets"), key.Name, err)
			}
			return nil, err
		}
	case changed:
		if err := r.Update(ctx, secret); err != nil {
			return nil, err
		}
	}
	return pass, nil
}

// getOwned reads an object the operator owns. The cache holds only labelled objects, and
// may lag behind: before concluding that an object the policy had is gone, and when it
// must be fresh, it asks the API server.
func (r *Reconciler) getOwned(ctx context.Context, key types.NamespacedName, obj client.Object, live, expected bool) (bool, error) {
	var reader client.Reader = r.Client
	if live {
		reader = r.APIReader
	}
	err := reader.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) && !live && expected {
		err = r.APIReader.Get(ctx, key, obj)
	}
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("reading %s: %w", key, err)
}

func parseSecret(secret *corev1.Secret) (*keyset.Keyset, error) {
	data, ok := secret.Data[keyset.FileName]
	if !ok || len(data) == 0 {
		return nil, fmt.Errorf("no %s", keyset.FileName)
	}
	return keyset.Parse(data)
}

// recordKeyOf is the Secret's record key, or a new one when it has none that parses. It is
// made once and kept: changing it would refuse every session stored so far.
func recordKeyOf(secret *corev1.Secret) []byte {
	if k, err := keyset.ParseRecordKey(secret.Data[keyset.RecordKeyFileName]); err == nil {
		return k
	}
	return keyset.GenerateRecordKey()
}

func secretData(ks *keyset.Keyset, now time.Time, recordKey []byte) (map[string][]byte, error) {
	file, err := ks.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", keyset.FileName, err)
	}
	jwks, err := ks.JWKS(now)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", keyset.JWKSFileName, err)
	}
	return map[string][]byte{
		keyset.FileName:          file,
		keyset.JWKSFileName:      jwks,
		keyset.RecordKeyFileName: keyset.EncodeRecordKey(recordKey),
	}, nil
}

func sameData(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, bytes.Equal)
}

// keysetPolicy is what the schedule needs of a defaulted spec.
func keysetPolicy(spec authv1alpha1.AuthPolicySpec) keyset.Policy {
	return keyset.Policy{
		Algorithm:        keyset.Algorithm(spec.Signing.Algorithm),
		RotationInterval: spec.Signing.RotationInterval.Duration,
		PrePublish:       spec.Signing.PrePublish.Duration,
		AccessTokenTTL:   spec.Tokens.AccessTokenTTL.Duration,
		ClockSkew:        spec.Tokens.ClockSkew.Duration,
	}
}

// observedStates are the key states the status last reported; nil when it lists none.
func observedStates(st authv1alpha1.AuthPolicyStatus) map[string]keyset.State {
	if len(st.Keys) == 0 {
		return nil
	}
	out := make(map[string]keyset.State, len(st.Keys))
	for _, k := range st.Keys {
		out[k.KID] = keyset.State(k.State)
	}
	return out
}

// report turns a pass into Events on the policy.
func (r *Reconciler) report(s *scope, pass *keysPass) {
	p := s.policy
	if len(pass.lost) > 0 {
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, authv1alpha1.ReasonSecretRecreated, "Recreate",
			"the keys Secret %s was deleted and has been recreated with a new key; tokens signed by the lost keys (%s) no longer validate",
			authv1alpha1.SigningKeysSecretName(p.Name), strings.Join(pass.lost, ", "))
	}
	if pass.invalid != nil {
		// The fresh keys name this repair: the Event writer would take a second repair
		// with the same fault for a repeat of the first, and not write it.
		var fresh []string
		for _, k := range pass.plan.Keyset.Keys {
			fresh = append(fresh, k.KID)
		}
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, authv1alpha1.ReasonKeysetInvalid, "Repair",
			"the keys Secret %s held no valid keyset (%v); it has been replaced with a fresh keyset (%s), and tokens signed by the previous keys no longer validate",
			authv1alpha1.SigningKeysSecretName(p.Name), pass.invalid, strings.Join(fresh, ", "))
	}
	if pass.badRequest != nil {
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, "RevokeRequestInvalid", "Revoke", "%v", pass.badRequest)
	}
	for _, kid := range pass.unknown {
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, "RevokeRequestIgnored", "Revoke",
			"cannot revoke key %s: the keyset holds no such key (it may have expired already)", kid)
	}
	for _, t := range pass.plan.Transitions {
		typ := corev1.EventTypeNormal
		if t.Warning {
			typ = corev1.EventTypeWarning
		}
		note := t.Message
		if t.Type == keyset.KeyRevoked {
			if reason := pass.reasons[t.KID]; reason != "" {
				note += "; reason: " + reason
			}
		}
		r.Recorder.Eventf(p, nil, typ, string(t.Type), actions[t.Type], "%s", truncate(note, 1000))
	}
}

var actions = map[keyset.TransitionType]string{
	keyset.KeyCreated:   "Create",
	keyset.KeyActivated: "Activate",
	keyset.KeyRetired:   "Retire",
	keyset.KeyRemoved:   "Remove",
	keyset.KeyRevoked:   "Revoke",
}
