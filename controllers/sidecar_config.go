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
	"errors"
	"fmt"
	"maps"

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
}

// SidecarPolicyYAML renders policy.yaml for a policy: apiVersion, kind, name, namespace and
// the spec after Default().
func SidecarPolicyYAML(policy *authv1alpha1.AuthPolicy) ([]byte, error) {
	p := policy.DeepCopy()
	p.Default()
	return yaml.Marshal(sidecarPolicy{
		APIVersion: authv1alpha1.GroupVersion.String(),
		Kind:       "AuthPolicy",
		Metadata:   sidecarPolicyMetadata{Name: p.Name, Namespace: p.Namespace},
		Spec:       p.Spec,
	})
}

// reconcileSidecarConfig writes the ConfigMap the sidecars mount with the policy.
func (r *AuthPolicyReconciler) reconcileSidecarConfig(ctx context.Context, s *scope) (ctrl.Result, error) {
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
	if !maps.Equal(cm.Data, want) {
		cm.Data = want
		changed = true
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
	return ctrl.Result{}, nil
}

func (r *AuthPolicyReconciler) updateLive(ctx context.Context, policy *authv1alpha1.AuthPolicy, key types.NamespacedName, want map[string]string) error {
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
