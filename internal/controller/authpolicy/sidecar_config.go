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
	"errors"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/yaml"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// sidecarPolicy is policy.yaml: the manifest the sidecar reads with --policy, the same
// shape as the AuthPolicy a user applies, with every default filled in.
type sidecarPolicy struct {
	APIVersion string                      `json:"apiVersion"`
	Kind       string                      `json:"kind"`
	Metadata   sidecarPolicyMetadata       `json:"metadata"`
	Spec       authv1alpha1.AuthPolicySpec `json:"spec"`
}

type sidecarPolicyMetadata struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Generation is the policy's metadata.generation: the sidecar reports the one it
	// enforces (tollgate_policy_generation, /readyz).
	Generation int64 `json:"generation,omitempty"`
}

// SidecarPolicyYAML renders policy.yaml for a policy: apiVersion, kind, name, namespace,
// generation and the spec after Default().
func SidecarPolicyYAML(policy *authv1alpha1.AuthPolicy) ([]byte, error) {
	p := policy.DeepCopy()
	p.Default()
	return yaml.Marshal(sidecarPolicy{
		APIVersion: authv1alpha1.GroupVersion.String(),
		Kind:       "AuthPolicy",
		Metadata:   sidecarPolicyMetadata{Name: p.Name, Namespace: p.Namespace, Generation: p.Generation},
		Spec:       p.Spec,
	})
}

// reconcileSidecarConfig writes the ConfigMap the sidecars mount with the policy.
func (r *Reconciler) reconcileSidecarConfig(ctx context.Context, s *scope) (ctrl.Result, error) {
	policy := s.policy
	key := types.NamespacedName{Namespace: policy.Namespace, Name: authv1alpha1.SidecarConfigMapName(policy.Name)}
	doc, err := SidecarPolicyYAML(policy)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("rendering %s for AuthPolicy %s: %w", contract.PolicyFile, policy.Key(), err)
	}
	want := map[string]string{contract.PolicyFile: string(doc)}

	cm := &corev1.ConfigMap{}
	exists, err := r.getOwned(ctx, key, cm, false, policy.Status.ObservedGeneration > 0)
	if err != nil {
		return ctrl.Result{}, err
	}
	var conflict *nameConflict
	if exists {
		if err := claim(policy, cm, "ConfigMap"); errors.As(err, &conflict) {
			return r.blockedBy(s, conflict), nil
		}
	} else {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	}
	changed, err := r.adopt(policy, cm)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("ConfigMap %s: %w", key, err)
	}
	var restart []string
	if !maps.Equal(cm.Data, want) {
		if exists {
			restart = restartFieldsChanged(cm.Data[contract.PolicyFile], policy)
		}
		cm.Data = want
		changed = true
	}
	if len(restart) > 0 {
		// On the ConfigMap, in the update that changes the file: a pass that reads a stale
		// policy still reads the generation that matches the file.
		changed = setRestartRequiredGeneration(cm, policy.Generation) || changed
	}
	switch {
	case !exists:
		err = r.Create(ctx, cm)
		if apierrors.IsAlreadyExists(err) {
			// Ours, not in the cache yet; or someone else's, which the cache never holds
			// without the label.
			err = r.updateLive(ctx, policy, key, want)
		}
	case changed:
		err = r.Update(ctx, cm)
	}
	if errors.As(err, &conflict) {
		return r.blockedBy(s, conflict), nil
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("writing ConfigMap %s: %w", key, err)
	}
	policy.Status.RestartRequiredGeneration = restartRequiredGeneration(cm)
	if len(restart) > 0 {
		r.Recorder.Eventf(policy, nil, corev1.EventTypeWarning, authv1alpha1.ReasonRestartRequired, "UpdateSidecarConfig",
			"generation %d changes %s, which running sidecars apply only when their pods restart (kubectl rollout restart); until then they keep the previous values and enforce the rest of the policy",
			policy.Generation, strings.Join(restart, ", "))
	}
	return ctrl.Result{}, nil
}

// restartFieldsChanged lists the fields that need a sidecar restart whose values differ
// between the policy.yaml the sidecars have (doc) and the policy now.
func restartFieldsChanged(doc string, policy *authv1alpha1.AuthPolicy) []string {
	var old authv1alpha1.AuthPolicy
	if err := yaml.Unmarshal([]byte(doc), &old); err != nil {
		return nil // not ours to judge: it is overwritten either way
	}
	now := policy.DeepCopy()
	now.Default()
	return authv1alpha1.ChangedRestartFields(&old, now)
}

func (r *Reconciler) updateLive(ctx context.Context, policy *authv1alpha1.AuthPolicy, key types.NamespacedName, want map[string]string) error {
	cm := &corev1.ConfigMap{}
	if err := r.APIReader.Get(ctx, key, cm); err != nil {
		return err
	}
	if err := claim(policy, cm, "ConfigMap"); err != nil {
		return err
	}
	if _, err := r.adopt(policy, cm); err != nil {
		return err
	}
	cm.Data = want
	return r.Update(ctx, cm)
}
