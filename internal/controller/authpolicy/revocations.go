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
	"sort"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

// Revocation works as a request queue on the policy: `tollgate revoke-key` adds
// {kid: reason} to the revoke-keys annotation; a pass removes the key from the Secret (the
// source of truth, which also remembers the kids it revoked), emits KeyRevoked with the
// reason, and only then takes the kid off the annotation. A crash in between leaves the
// kid on the annotation, and the next pass, finding it in the Secret's record, just takes
// it off.

// revokedKeysAnnotation on the keys Secret lists the kids revoked last, newest last.
const revokedKeysAnnotation = "auth.tollgate.dev/revoked-keys"

// maxRevokedKept bounds that list.
const maxRevokedKept = 32

func revokedKeys(secretAnnotations map[string]string) []string {
	v := secretAnnotations[revokedKeysAnnotation]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

func recordRevoked(prev []string, kids []string) string {
	all := append(slices.Clone(prev), kids...)
	if len(all) > maxRevokedKept {
		all = all[len(all)-maxRevokedKept:]
	}
	return strings.Join(all, ",")
}

// settleRevocations takes the kids this pass handled off the policy's revoke-keys
// annotation. It runs after the Secret is written, so a request is never dropped before
// it took effect; it patches with optimistic locking, so a request added meanwhile by the
// CLI is never lost either.
func (r *Reconciler) settleRevocations(ctx context.Context, s *scope) (ctrl.Result, error) {
	if len(s.revocationsDone) == 0 {
		return ctrl.Result{}, nil
	}
	reqs, err := authv1alpha1.ParseRevokeRequests(s.policy.Annotations[authv1alpha1.RevokeKeysAnnotation])
	if err != nil {
		return ctrl.Result{}, nil // reported when the keys were reconciled
	}
	for _, kid := range s.revocationsDone {
		delete(reqs, kid)
	}
	patched := s.policy.DeepCopy()
	if len(reqs) == 0 {
		delete(patched.Annotations, authv1alpha1.RevokeKeysAnnotation)
	} else {
		patched.Annotations[authv1alpha1.RevokeKeysAnnotation] = authv1alpha1.FormatRevokeRequests(reqs)
	}
	if err := r.Patch(ctx, patched, client.MergeFromWithOptions(s.policy, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, fmt.Errorf("taking revoked keys %s off the annotation of AuthPolicy %s: %w", strings.Join(s.revocationsDone, ","), s.policy.Key(), err)
	}
	// Keep the status patch that follows based on the new resourceVersion.
	s.policy.Annotations = patched.Annotations
	s.policy.ResourceVersion = patched.ResourceVersion
	return ctrl.Result{}, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
