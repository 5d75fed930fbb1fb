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

// Package unprotected reports the pods that name an AuthPolicy but run without its
// sidecar, in Events and in the policy's status.
package unprotected

import (
	"context"
	"fmt"
	"slices"
	"strings"
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
	"github.com/tollgate-dev/tollgate/internal/controller/reconcilespan"
	"github.com/tollgate-dev/tollgate/internal/kubeevents"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// ControllerName names the controller that reports unprotected pods.
const ControllerName = "tollgate-unprotected-pods"

// Reasons of the Events about pods that run without their sidecar.
const (
	ReasonUnprotected    = "Unprotected"
	ReasonUnprotectedPod = "UnprotectedPod"
)

// PolicyIndex indexes cached pods by the policy their annotation names; SetupWithManager
// registers it. List with client.MatchingFields{PolicyIndex: name} in a namespace for the
// pods of one policy, at a cost that grows with its pods, not the namespace's.
const PolicyIndex = "tollgate.policyAnnotation"

// Reporter finds pods that name a policy but run without its sidecar: pods
// created before their namespace was labelled, or while the webhook was bypassed, and pods
// whose container named like the sidecar is not the sidecar tollgate injects. Each one
// gets a Warning Event, so does its policy, and the policy's status.unprotectedPods counts
// them.
type Reporter struct {
	client.Client
	Recorder recorder.EventRecorder
	// SidecarImage is the image the webhook injects: a container named like the sidecar
	// from another repository is not the sidecar. Empty: any image.
	SidecarImage string

	mu sync.Mutex
	// reported are the pods already reported, by policy name: one Event per pod, not one
	// per status change of the pod.
	reported map[types.NamespacedName]reportedPods
}

// reportedPods are the unprotected pods that name one policy and have been reported.
type reportedPods struct {
	// onPod: with an Event on the pod.
	onPod map[types.UID]bool
	// onPolicy: with an Event on the policy whose UID is policy. A policy deleted and
	// created again under the same name is another object: its pods are news to it.
	policy   types.UID
	onPolicy map[types.UID]bool
}

// SetupWithManager registers the reporter. It watches annotated pods only, from a cache
// that keeps little of each pod (see StripPod), and policies as they appear.
func (r *Reporter) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Recorder == nil {
		rec, err := kubeevents.NewRecorder(mgr, ControllerName)
		if err != nil {
			return err
		}
		r.Recorder = rec
	}
	if err := IndexPods(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&authv1alpha1.AuthPolicy{}, builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(event.UpdateEvent) bool { return false },
		})).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(PolicyOf), builder.WithPredicates(predicate.Funcs{
			CreateFunc:  func(e event.CreateEvent) bool { return Annotated(e.Object) },
			DeleteFunc:  func(e event.DeleteEvent) bool { return Annotated(e.Object) },
			GenericFunc: func(e event.GenericEvent) bool { return Annotated(e.Object) },
			UpdateFunc: func(e event.UpdateEvent) bool {
				return Annotated(e.ObjectNew) && isUnprotected(e.ObjectOld) != isUnprotected(e.ObjectNew)
			},
		})).
		Complete(reconcilespan.Wrap(ControllerName, r))
}

// IndexPods adds PolicyIndex to a cache's pods.
func IndexPods(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &corev1.Pod{}, PolicyIndex, func(o client.Object) []string {
		if name, ok := o.GetAnnotations()[authv1alpha1.PolicyAnnotation]; ok {
			return []string{name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("indexing pods by policy: %w", err)
	}
	return nil
}

// Annotated reports whether o names a policy in the policy annotation.
func Annotated(o client.Object) bool {
	_, ok := o.GetAnnotations()[authv1alpha1.PolicyAnnotation]
	return ok
}

// PolicyOf maps a pod to the policy its annotation names, for watches.
func PolicyOf(_ context.Context, o client.Object) []reconcile.Request {
	name, ok := o.GetAnnotations()[authv1alpha1.PolicyAnnotation]
	if !ok || name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

// isUnprotected: the pod names a policy, lives, and runs without tollgate's sidecar.
func isUnprotected(o client.Object) bool {
	pod, ok := o.(*corev1.Pod)
	return ok && unprotected(pod, nil, "") != ""
}

// unprotected says why a live pod that names a policy runs without tollgate's sidecar, or
// is "" when it runs with it (or names no policy, or has ended). policy may be nil; image
// is the injected image ("": any).
func unprotected(pod *corev1.Pod, policy *authv1alpha1.AuthPolicy, image string) string {
	name, ok := pod.Annotations[authv1alpha1.PolicyAnnotation]
	if !ok || !pod.DeletionTimestamp.IsZero() {
		return ""
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return ""
	}
	if !injection.HasSidecar(pod) {
		return noSidecar
	}
	return counterfeitSidecar(pod, name, policy, image)
}

// noSidecar is why a pod without any container named like the sidecar is unprotected.
const noSidecar = "no sidecar"

// injectedFlags and injectedEnv are the flags and variables the webhook may give the
// sidecar, whatever the policy.
var injectedFlags, injectedEnv = func() ([]string, []string) {
	p := &authv1alpha1.AuthPolicy{}
	p.Default()
	p.Spec.Login.UsersSecretRef = &authv1alpha1.LocalObjectReference{Name: "users"}
	p.Spec.Store.Redis = &authv1alpha1.RedisSpec{PasswordSecretRef: &authv1alpha1.SecretKeySelector{Name: "redis", Key: "password"}}
	c := injection.SidecarContainer(p, "", 1, corev1.ResourceRequirements{})
	var flags, env []string
	for _, a := range c.Args {
		flag, _, _ := strings.Cut(a, "=")
		flags = append(flags, flag)
	}
	for _, e := range c.Env {
		env = append(env, e.Name)
	}
	return flags, env
}()

// counterfeitSidecar says how the pod's container named like the sidecar differs from
// one the webhook injects for the policy named name, whatever the policy's settings at
// the time; "" when it does not. The webhook refuses such pods; this finds those created
// past it.
func counterfeitSidecar(pod *corev1.Pod, name string, policy *authv1alpha1.AuthPolicy, image string) string {
	if slices.ContainsFunc(pod.Spec.Containers, isSidecarNamed) || slices.ContainsFunc(pod.Spec.EphemeralContainers, func(c corev1.EphemeralContainer) bool {
		return c.Name == contract.ContainerName
	}) || !slices.ContainsFunc(pod.Spec.InitContainers, isSidecarNamed) {
		return "the container named " + contract.ContainerName + " is not an init container"
	}
	c := pod.Spec.InitContainers[slices.IndexFunc(pod.Spec.InitContainers, isSidecarNamed)]
	switch {
	case c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways:
		return "it is not a native sidecar (restartPolicy Always)"
	case image != "" && imageRepository(c.Image) != imageRepository(image):
		return fmt.Sprintf("it runs image %q, not one of %s", c.Image, imageRepository(image))
	case !slices.Equal(c.Command, []string{contract.Command}):
		return "it does not run " + contract.Command
	case !slices.Contains(c.Args, "--policy="+contract.PolicyPath) || !slices.Contains(c.Args, "--keys-dir="+contract.KeysDir):
		return "it does not read the policy's configuration and keys"
	}
	for _, a := range c.Args {
		if flag, _, _ := strings.Cut(a, "="); !slices.Contains(injectedFlags, flag) {
			return fmt.Sprintf("it runs with %s, which the webhook never sets", flag)
		}
		if strings.HasPrefix(a, "--users-file=") && a != "--users-file="+contract.UsersPath {
			return "it reads users from elsewhere"
		}
	}
	for _, e := range c.Env {
		if !slices.Contains(injectedEnv, e.Name) {
			return fmt.Sprintf("it has variable %s, which the webhook never sets", e.Name)
		}
	}
	dirs := map[string]string{contract.KeysVolume: contract.KeysDir, contract.PolicyVolume: contract.PolicyDir, contract.UsersVolume: contract.UsersDir}
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		dir, reserved := dirs[m.Name]
		switch {
		case reserved && (m.MountPath != dir || !m.ReadOnly || m.SubPath != "" || m.SubPathExpr != ""):
			return fmt.Sprintf("it mounts volume %s at %s, not read-only at %s", m.Name, m.MountPath, dir)
		case !reserved && m.MountPath != injection.ServiceAccountTokenPath:
			return fmt.Sprintf("it mounts volume %s at %s, which the webhook never does", m.Name, m.MountPath)
		}
		mounted[m.Name] = true
	}
	if !mounted[contract.KeysVolume] || !mounted[contract.PolicyVolume] {
		return "it does not mount the policy's keys and configuration"
	}
	want := []corev1.Volume{
		{Name: contract.KeysVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: authv1alpha1.SigningKeysSecretName(name)}}},
		{Name: contract.PolicyVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: authv1alpha1.SidecarConfigMapName(name)}}}},
	}
	for _, v := range pod.Spec.Volumes {
		i := slices.IndexFunc(want, func(w corev1.Volume) bool { return w.Name == v.Name })
		switch {
		case i >= 0 && !injection.SameVolume(v, want[i]):
			return fmt.Sprintf("its volume %s is not %s", v.Name, describeVolume(want[i]))
		case v.Name == contract.UsersVolume && !usersVolume(v, policy):
			return fmt.Sprintf("its volume %s is not the policy's users Secret", v.Name)
		}
	}
	return ""
}

func isSidecarNamed(c corev1.Container) bool { return c.Name == contract.ContainerName }

// usersVolume: v is a users volume as the webhook makes them, of the policy's users Secret
// when the policy is known.
func usersVolume(v corev1.Volume, policy *authv1alpha1.AuthPolicy) bool {
	s := v.Secret
	if s == nil || v.Projected != nil || len(s.Items) != 1 || s.Items[0].Key != contract.UsersFileKey || s.Items[0].Path != contract.UsersFileKey {
		return false
	}
	if policy == nil {
		return true
	}
	ref := policy.Spec.Login.UsersSecretRef
	return ref != nil && ref.Name == s.SecretName
}

func describeVolume(v corev1.Volume) string {
	if v.Secret != nil {
		return "Secret " + v.Secret.SecretName
	}
	return "ConfigMap " + v.ConfigMap.Name
}

// imageRepository is image without its tag and digest.
func imageRepository(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}

// Reconcile counts the unprotected pods of one policy, reports the new ones, and writes
// the count into the policy's status.
func (r *Reporter) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pods := &corev1.PodList{}
	// Read-only: the cache's pods themselves, not deep copies.
	if err := r.List(ctx, pods, client.InNamespace(req.Namespace), client.MatchingFields{PolicyIndex: req.Name}, client.UnsafeDisableDeepCopy); err != nil {
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
	if r.reported == nil {
		r.reported = map[types.NamespacedName]reportedPods{}
	}
	before := r.reported[req.NamespacedName]
	now := reportedPods{onPod: map[types.UID]bool{}, policy: before.policy, onPolicy: before.onPolicy}
	if policy != nil && policy.UID != before.policy {
		now.policy, now.onPolicy = policy.UID, nil
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		why := unprotected(pod, policy, r.SidecarImage)
		if why == "" {
			continue
		}
		now.onPod[pod.UID] = true
		if !before.onPod[pod.UID] {
			r.reportOnPod(pod, req, why)
		}
		if policy != nil && !now.onPolicy[pod.UID] {
			r.Recorder.Eventf(policy, pod, corev1.EventTypeWarning, ReasonUnprotectedPod, "Inject",
				"pod %s names this policy but runs without the tollgate sidecar (%s): requests reach it unauthenticated; recreate it in a namespace labelled %s=%s",
				pod.Name, why, authv1alpha1.InjectionLabel, authv1alpha1.InjectionEnabled)
		}
	}
	if policy != nil {
		// Every pod reported on is now reported on the policy too; neither map is
		// written again, so they may be one.
		now.onPolicy = now.onPod
	}
	if len(now.onPod) == 0 {
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
	policy.Status.UnprotectedPods = int32(len(now.onPod))
	if err := r.Status().Patch(ctx, policy, client.MergeFrom(base)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// reportOnPod writes the Event on an unprotected pod that names the policy req.
func (r *Reporter) reportOnPod(pod *corev1.Pod, req ctrl.Request, why string) {
	if why == noSidecar {
		r.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonUnprotected, "Inject",
			"pod runs without the tollgate sidecar that AuthPolicy %q asks for (annotation %s): it was created while namespace %q was not labelled %s=%s or while the webhook was bypassed; recreate the pod (kubectl rollout restart for a Deployment) to protect it",
			req.Name, authv1alpha1.PolicyAnnotation, req.Namespace, authv1alpha1.InjectionLabel, authv1alpha1.InjectionEnabled)
		return
	}
	r.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonUnprotected, "Inject",
		"pod runs a container named %s that is not the tollgate sidecar AuthPolicy %q asks for (%s): it was created past the webhook; remove that container and recreate the pod in a namespace labelled %s=%s",
		contract.ContainerName, req.Name, why, authv1alpha1.InjectionLabel, authv1alpha1.InjectionEnabled)
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
	if g, ok := pod.Annotations[authv1alpha1.PolicyGenerationAnnotation]; ok {
		out.Annotations[authv1alpha1.PolicyGenerationAnnotation] = g // for PodsCurrent
	}
	out.Status.Phase = pod.Status.Phase
	// Names only, but of the sidecar what tells it from a counterfeit.
	names := func(cs []corev1.Container) []corev1.Container {
		out := make([]corev1.Container, len(cs))
		for i, c := range cs {
			out[i] = corev1.Container{Name: c.Name}
			if c.Name != contract.ContainerName {
				continue
			}
			out[i] = corev1.Container{
				Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args,
				RestartPolicy: c.RestartPolicy, VolumeMounts: c.VolumeMounts,
			}
			for _, e := range c.Env {
				out[i].Env = append(out[i].Env, corev1.EnvVar{Name: e.Name})
			}
		}
		return out
	}
	out.Spec.InitContainers = names(pod.Spec.InitContainers)
	out.Spec.Containers = names(pod.Spec.Containers)
	for _, c := range pod.Spec.EphemeralContainers {
		out.Spec.EphemeralContainers = append(out.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.Name},
		})
	}
	for _, v := range pod.Spec.Volumes {
		if slices.Contains(injection.ReservedVolumes, v.Name) {
			out.Spec.Volumes = append(out.Spec.Volumes, v)
		}
	}
	return out, nil
}
