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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;delete

// authorizerTemplateHash on the Deployment is the hash of the pod template the operator
// rendered: the API server defaults the template, so the rendered one is compared by hash.
const authorizerTemplateHash = "auth.tollgate.dev/template-hash"

// reconcileAuthorizer runs tollgate-authorizer for a policy with spec.authorizer: a
// Deployment with the policy's keys, configuration and users mounted as the injector mounts
// them, and a Service in front; without spec.authorizer, it removes them.
func (r *Reconciler) reconcileAuthorizer(ctx context.Context, s *scope) (ctrl.Result, error) {
	policy := s.policy
	key := types.NamespacedName{Namespace: policy.Namespace, Name: authv1alpha1.AuthorizerName(policy.Name)}
	if s.spec.Authorizer == nil {
		return ctrl.Result{}, r.removeAuthorizer(ctx, policy, key)
	}
	var conflict *nameConflict
	err := r.writeAuthorizerDeployment(ctx, policy, key, s.spec.Authorizer.Replicas)
	if err == nil {
		err = r.writeAuthorizerService(ctx, policy, key, s.spec.Sidecar.Port)
	}
	if errors.As(err, &conflict) {
		return r.blockedBy(s, conflict), nil
	}
	return ctrl.Result{}, err
}

func (r *Reconciler) writeAuthorizerDeployment(ctx context.Context, policy *authv1alpha1.AuthPolicy, key types.NamespacedName, replicas int32) error {
	pod := injection.AuthorizerPodSpec(policy, r.AuthorizerImage)
	template := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: injection.AuthorizerPodLabels(policy)}, Spec: pod}
	raw, err := json.Marshal(template)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	hash := hex.EncodeToString(sum[:8])

	dep := &appsv1.Deployment{}
	exists, err := r.getOwned(ctx, key, dep, false, false)
	if err != nil {
		return err
	}
	if exists {
		if err := claim(policy, dep, "Deployment"); err != nil {
			return err
		}
	} else {
		dep = &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: injection.AuthorizerPodLabels(policy)}}}
	}
	changed, err := r.adopt(policy, dep)
	if err != nil {
		return fmt.Errorf("adopting the authorizer Deployment %s: %w", key, err)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != replicas {
		dep.Spec.Replicas = &replicas
		changed = true
	}
	if dep.Annotations[authorizerTemplateHash] != hash {
		if dep.Annotations == nil {
			dep.Annotations = map[string]string{}
		}
		dep.Annotations[authorizerTemplateHash] = hash
		dep.Spec.Template = template
		changed = true
	}
	switch {
	case !exists:
		err = r.Create(ctx, dep)
		if kerrors.IsAlreadyExists(err) {
			err = &nameConflict{kind: "Deployment", key: key}
		}
	case changed:
		err = r.Update(ctx, dep)
	}
	if err != nil && !errors.As(err, new(*nameConflict)) {
		return fmt.Errorf("writing Deployment %s: %w", key, err)
	}
	return err
}

func (r *Reconciler) writeAuthorizerService(ctx context.Context, policy *authv1alpha1.AuthPolicy, key types.NamespacedName, port int32) error {
	http, grpc := "http", "grpc"
	ports := []corev1.ServicePort{
		{Name: contract.HTTPPortName, Port: port, TargetPort: intstr.FromString(contract.HTTPPortName), Protocol: corev1.ProtocolTCP, AppProtocol: &http},
		{Name: contract.GRPCPortName, Port: contract.GRPCPort, TargetPort: intstr.FromString(contract.GRPCPortName), Protocol: corev1.ProtocolTCP, AppProtocol: &grpc},
	}
	svc := &corev1.Service{}
	exists, err := r.getOwned(ctx, key, svc, false, false)
	if err != nil {
		return err
	}
	if exists {
		if err := claim(policy, svc, "Service"); err != nil {
			return err
		}
	} else {
		svc = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	}
	changed, err := r.adopt(policy, svc)
	if err != nil {
		return fmt.Errorf("adopting the authorizer Service %s: %w", key, err)
	}
	if !equality.Semantic.DeepEqual(svc.Spec.Ports, ports) || !equality.Semantic.DeepEqual(svc.Spec.Selector, injection.AuthorizerPodLabels(policy)) {
		svc.Spec.Ports, svc.Spec.Selector = ports, injection.AuthorizerPodLabels(policy)
		changed = true
	}
	switch {
	case !exists:
		err = r.Create(ctx, svc)
		if kerrors.IsAlreadyExists(err) {
			err = &nameConflict{kind: "Service", key: key}
		}
	case changed:
		err = r.Update(ctx, svc)
	}
	if err != nil && !errors.As(err, new(*nameConflict)) {
		return fmt.Errorf("writing Service %s: %w", key, err)
	}
	return err
}

// removeAuthorizer deletes the policy's authorizer Deployment and Service, if it has them;
// objects of those names that are not the policy's are left alone.
func (r *Reconciler) removeAuthorizer(ctx context.Context, policy *authv1alpha1.AuthPolicy, key types.NamespacedName) error {
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
		exists, err := r.getOwned(ctx, key, obj, false, false)
		if err != nil {
			return err
		}
		if !exists || !metav1.IsControlledBy(obj, policy) {
			continue
		}
		if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("removing the authorizer %s: %w", key, err)
		}
	}
	return nil
}
