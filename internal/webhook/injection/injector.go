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

// Package injection is the admission webhook that injects the tollgate sidecar into the
// pods that name an AuthPolicy, or refuses the pods it cannot protect.
package injection

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

// InjectPath is where the webhook server serves the PodInjector.
const InjectPath = "/inject"

// The webhook also sees the ephemeral containers added to a running pod (kubectl debug),
// through a second rule that config/webhook adds: UPDATE of pods/ephemeralcontainers.
// +kubebuilder:webhook:path=/inject,mutating=true,failurePolicy=fail,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=inject.auth.tollgate.dev,admissionReviewVersions=v1,reinvocationPolicy=IfNeeded,timeoutSeconds=5,matchPolicy=Equivalent

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch

// PodInjector is the mutating webhook that gives every pod annotated with
// auth.tollgate.dev/policy the tollgate sidecar of that policy.
type PodInjector struct {
	// Client reads AuthPolicies from the manager's cache.
	Client client.Reader
	// APIReader reads past the cache, for a policy created a moment before its pod.
	APIReader client.Reader
	// SidecarImage is the image of the injected container.
	SidecarImage string

	decoder admission.Decoder
}

// NewPodInjector returns the injector, decoding pods with scheme.
func NewPodInjector(c, apiReader client.Reader, scheme *runtime.Scheme, image string) *PodInjector {
	return &PodInjector{Client: c, APIReader: apiReader, SidecarImage: image, decoder: admission.NewDecoder(scheme)}
}

// Handle injects the sidecar into a pod that names a policy, or refuses the pod with a
// message its author can act on. A pod without the annotation passes unchanged, unless it
// could read the keys Secret of a policy of its namespace.
func (i *PodInjector) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation == admissionv1.Update && req.SubResource == EphemeralContainersSubresource {
		return i.handleEphemeral(ctx, req)
	}
	if req.Operation != admissionv1.Create || req.SubResource != "" {
		return admission.Allowed("")
	}
	pod := &corev1.Pod{}
	if err := i.decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err))
	}
	namespace := req.Namespace
	if namespace == "" {
		namespace = pod.Namespace
	}
	name, ok := pod.Annotations[authv1alpha1.PolicyAnnotation]
	if !ok {
		return i.otherKeysResponse(ctx, namespace, pod, "")
	}
	log := logf.FromContext(ctx).WithValues("namespace", namespace, "pod", podName(pod), "policy", name)

	if name == "" {
		return admission.Denied(fmt.Sprintf("annotation %s is empty: set it to the name of an AuthPolicy in namespace %q", authv1alpha1.PolicyAnnotation, namespace))
	}
	policy, err := i.policy(ctx, namespace, name)
	if apierrors.IsNotFound(err) {
		return admission.Denied(fmt.Sprintf("AuthPolicy %q not found in namespace %q: create it or fix the %s annotation", name, namespace, authv1alpha1.PolicyAnnotation))
	}
	if err != nil {
		log.Error(err, "reading the AuthPolicy")
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("reading AuthPolicy %s/%s: %w", namespace, name, err))
	}

	in, err := planInjection(pod, policy, i.SidecarImage)
	if err != nil {
		var refused *RefusalError
		if errors.As(err, &refused) {
			log.V(1).Info("pod refused", "reason", err.Error())
			return admission.Denied(err.Error())
		}
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if resp := i.otherKeysResponse(ctx, namespace, pod, policy.Name); !resp.Allowed {
		return resp
	}
	if in.empty() {
		return admission.Allowed("")
	}
	return admission.Patched("", in.patch(pod)...)
}

// otherKeysResponse refuses a pod that could read the keys Secret of an AuthPolicy of its
// namespace other than own (a pod that names none: ""), the keys of own being
// planInjection's business. Without this, any pod of the namespace could mount them.
func (i *PodInjector) otherKeysResponse(ctx context.Context, namespace string, pod *corev1.Pod, own string) admission.Response {
	for _, name := range keysPolicies(pod) {
		if name == own {
			continue
		}
		_, err := i.policy(ctx, namespace, name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			logf.FromContext(ctx).Error(err, "reading the AuthPolicy", "namespace", namespace, "policy", name)
			return admission.Errored(http.StatusInternalServerError, fmt.Errorf("reading AuthPolicy %s/%s: %w", namespace, name, err))
		}
		if err := checkKeysUnread(pod, name, false); err != nil {
			return admission.Denied(err.Error())
		}
	}
	return admission.Allowed("")
}

// EphemeralContainersSubresource is how kubectl debug adds a container to a running pod.
const EphemeralContainersSubresource = "ephemeralcontainers"

// handleEphemeral refuses ephemeral containers that could read the signing keys of the
// pod's sidecar. The pod as it was and as it is to be are both decoded: a container
// admitted before (or before the webhook was installed) does not block the next one.
func (i *PodInjector) handleEphemeral(ctx context.Context, req admission.Request) admission.Response {
	pod, old := &corev1.Pod{}, &corev1.Pod{}
	if err := i.decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err))
	}
	if len(req.OldObject.Raw) > 0 {
		if err := i.decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err))
		}
	}
	if err := checkEphemeralContainers(pod, old); err != nil {
		logf.FromContext(ctx).V(1).Info("ephemeral container refused", "namespace", req.Namespace, "pod", req.Name, "reason", err.Error())
		return admission.Denied(err.Error())
	}
	// The new ephemeral containers, also of pods without a sidecar, take no variables
	// from the keys of any policy of the namespace.
	added := &corev1.Pod{}
	for _, e := range pod.Spec.EphemeralContainers {
		if !slices.ContainsFunc(old.Spec.EphemeralContainers, func(o corev1.EphemeralContainer) bool { return o.Name == e.Name }) {
			added.Spec.EphemeralContainers = append(added.Spec.EphemeralContainers, e)
		}
	}
	return i.otherKeysResponse(ctx, req.Namespace, added, "")
}

// patch is the injection as JSON patch operations that only add. The pod as its author
// sent it keeps every field, also those newer than the manager's API types, which a patch
// computed from a re-encoded typed pod would remove. pod is that pod, decoded: its lists
// have as many items as the JSON it came from.
func (in *injection) patch(pod *corev1.Pod) []jsonpatch.JsonPatchOperation {
	add := func(path string, value any) jsonpatch.JsonPatchOperation {
		return jsonpatch.JsonPatchOperation{Operation: "add", Path: path, Value: value}
	}
	var ops []jsonpatch.JsonPatchOperation
	if in.sidecar != nil {
		if len(pod.Spec.InitContainers) == 0 {
			ops = append(ops, add("/spec/initContainers", []corev1.Container{*in.sidecar}))
		} else {
			ops = append(ops, add("/spec/initContainers/0", in.sidecar))
		}
	}
	if len(in.volumes) > 0 {
		if len(pod.Spec.Volumes) == 0 {
			ops = append(ops, add("/spec/volumes", in.volumes))
		} else {
			for _, v := range in.volumes {
				ops = append(ops, add("/spec/volumes/-", v))
			}
		}
	}
	annotations := map[string]string{}
	if in.annotate {
		annotations[authv1alpha1.StatusAnnotation] = authv1alpha1.StatusInjected
	}
	if in.generation != "" {
		annotations[authv1alpha1.PolicyGenerationAnnotation] = in.generation
	}
	switch {
	case len(annotations) == 0:
	case len(pod.Annotations) == 0:
		ops = append(ops, add("/metadata/annotations", annotations))
	default:
		// "add" of an existing member replaces its value (RFC 6902).
		for _, k := range slices.Sorted(maps.Keys(annotations)) {
			ops = append(ops, add("/metadata/annotations/"+jsonPointerEscape(k), annotations[k]))
		}
	}
	return ops
}

// jsonPointerEscape escapes one reference token of a JSON pointer (RFC 6901).
func jsonPointerEscape(token string) string {
	return strings.ReplaceAll(strings.ReplaceAll(token, "~", "~0"), "/", "~1")
}

func (i *PodInjector) policy(ctx context.Context, namespace, name string) (*authv1alpha1.AuthPolicy, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	p := &authv1alpha1.AuthPolicy{}
	err := i.Client.Get(ctx, key, p)
	if apierrors.IsNotFound(err) && i.APIReader != nil {
		// Applied together with its pod: the cache may not have it yet.
		err = i.APIReader.Get(ctx, key, p)
	}
	return p, err
}

func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "<generated>"
}
