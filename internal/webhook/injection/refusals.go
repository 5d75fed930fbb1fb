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

package injection

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tollgate-dev/tollgate/sidecar/contract"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

// The pod author chooses every name and volume of a pod. What the webhook lets through
// never takes the sidecar's place, never feeds it other inputs, and never lets the pod's
// own containers at the signing keys the sidecar mounts.

// RefusalError is why a pod cannot get its sidecar: something its author must change.
type RefusalError struct{ msg string }

func (e *RefusalError) Error() string { return e.msg }

func refuse(format string, args ...any) error {
	return &RefusalError{msg: fmt.Sprintf(format, args...)}
}

// ReservedVolumes are the names of the sidecar's volumes.
var ReservedVolumes = []string{contract.KeysVolume, contract.PolicyVolume, contract.UsersVolume}

// ServiceAccountTokenPath is where the ServiceAccount admission plugin mounts the API token
// into every container, the sidecar included when the webhook is called again.
const ServiceAccountTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// checkIsolation refuses pods whose other processes could reach into the sidecar: through
// the node's network, or through /proc/<pid>/root of a shared process namespace, where the
// mounted keyset.json of the sidecar can be read.
func checkIsolation(pod *corev1.Pod, port int32) error {
	switch {
	case pod.Spec.HostNetwork:
		return refuse("pod uses hostNetwork: the tollgate sidecar would listen on the node's ports %d and %d and the app would be reachable around it; run the pod without hostNetwork, or remove the %s annotation",
			port, contract.MetricsPort, authv1alpha1.PolicyAnnotation)
	case pod.Spec.HostPID:
		return refuse("pod uses hostPID: processes outside the pod could read the tollgate sidecar's signing keys through /proc/<pid>/root; run the pod without hostPID, or remove the %s annotation",
			authv1alpha1.PolicyAnnotation)
	case pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace:
		return refuse("pod sets shareProcessNamespace: its other containers could read the tollgate sidecar's signing keys through /proc/<pid>/root; remove shareProcessNamespace, or the %s annotation",
			authv1alpha1.PolicyAnnotation)
	}
	return nil
}

// checkReservedNames refuses a pod that brings a container or volume under one of the
// sidecar's names, unless it is exactly what injection makes (the webhook called again on
// a pod it injected, or a pod copied from one): a container of that name would stand in
// for the sidecar, a volume of that name would feed it other keys, routes or users.
func checkReservedNames(pod *corev1.Pod, policy string, sidecar corev1.Container, volumes []corev1.Volume) error {
	for _, c := range pod.Spec.Containers {
		if c.Name == contract.ContainerName {
			return refuse("container name %q is reserved for the sidecar that the webhook injects as an init container: rename the pod's container", contract.ContainerName)
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == contract.ContainerName {
			return refuse("container name %q is reserved for the sidecar that the webhook injects as an init container: rename the pod's ephemeral container", contract.ContainerName)
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == contract.ContainerName && !sameAsInjected(c, sidecar) {
			return refuse("init container %q is not the sidecar that AuthPolicy %q injects, and the name is reserved: remove it (the webhook adds the sidecar itself) or rename it", contract.ContainerName, policy)
		}
	}
	for _, v := range pod.Spec.Volumes {
		if !slices.Contains(ReservedVolumes, v.Name) {
			continue
		}
		i := slices.IndexFunc(volumes, func(w corev1.Volume) bool { return w.Name == v.Name })
		if i < 0 || !SameVolume(v, volumes[i]) {
			return refuse("volume %q is not the one that AuthPolicy %q gives the tollgate sidecar, and the names %s are reserved: rename the pod's volume",
				v.Name, policy, strings.Join(ReservedVolumes, ", "))
		}
	}
	return nil
}

// sameAsInjected: have is the container want as the API server and its admission plugins
// store it. They may fill in the image pull policy (AlwaysPullImages too) and the
// termination message path, set resources (LimitRanger), and mount the service account
// token (ServiceAccount); nothing else may differ.
func sameAsInjected(have, want corev1.Container) bool {
	h := have.DeepCopy()
	h.ImagePullPolicy = want.ImagePullPolicy
	if h.TerminationMessagePath == corev1.TerminationMessagePathDefault {
		h.TerminationMessagePath = want.TerminationMessagePath
	}
	// The sidecar's resources protect nothing but the sidecar.
	h.Resources = want.Resources
	h.VolumeMounts = slices.DeleteFunc(h.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.MountPath == ServiceAccountTokenPath && m.ReadOnly && m.SubPath == "" && m.SubPathExpr == "" &&
			!slices.Contains(ReservedVolumes, m.Name)
	})
	return equality.Semantic.DeepEqual(*h, want)
}

// sameVolume: have is want, as the API server stores it (a default mode filled in).
func SameVolume(have, want corev1.Volume) bool {
	h := have.DeepCopy()
	if s := h.Secret; s != nil && want.Secret != nil && want.Secret.DefaultMode == nil &&
		s.DefaultMode != nil && *s.DefaultMode == corev1.SecretVolumeSourceDefaultMode {
		s.DefaultMode = nil
	}
	if c := h.ConfigMap; c != nil && want.ConfigMap != nil && want.ConfigMap.DefaultMode == nil &&
		c.DefaultMode != nil && *c.DefaultMode == corev1.ConfigMapVolumeSourceDefaultMode {
		c.DefaultMode = nil
	}
	return equality.Semantic.DeepEqual(*h, want)
}

// checkKeysPrivate refuses a pod that carries the sidecar of policy and whose own
// containers could read its signing keys: through the node (a hostPath volume, a
// privileged container), or as checkKeysUnread says. It runs after checkReservedNames: an
// init container named like the sidecar is the sidecar.
func checkKeysPrivate(pod *corev1.Pod, policy string) error {
	for _, v := range pod.Spec.Volumes {
		// The kubelet keeps the sidecar's keys in a directory of the node, readable by
		// every user; the node's /proc leads into the sidecar like hostPID does.
		if v.HostPath != nil {
			return refuse("volume %q is a hostPath: through the node's files (the kubelet's directory holds the mounted keys Secret, /proc the sidecar's processes) the pod could read the tollgate sidecar's signing keys; remove the volume, or the %s annotation",
				v.Name, authv1alpha1.PolicyAnnotation)
		}
	}
	for _, o := range ownContainers(pod, true) {
		// A privileged container is root on the node, the kubelet's directory included.
		if sc := o.c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
			return refuse("%s %q is privileged: it could read the tollgate sidecar's signing keys from the node; run it unprivileged, or remove the %s annotation",
				o.kind, o.c.Name, authv1alpha1.PolicyAnnotation)
		}
	}
	return checkKeysUnread(pod, policy, true)
}

// checkKeysUnread refuses a pod whose own containers could read the keys Secret of
// policy: a volume of it (projected too), a mount of one of the sidecar's volumes, or an
// environment variable from it. With sidecar, the pod carries that policy's sidecar, whose
// keys volume and container are not the pod's own.
func checkKeysUnread(pod *corev1.Pod, policy string, sidecar bool) error {
	keys := authv1alpha1.SigningKeysSecretName(policy)
	for _, v := range pod.Spec.Volumes {
		if (v.Name != contract.KeysVolume || !sidecar) && volumeHoldsSecret(v.VolumeSource, keys) {
			return refuse("volume %q holds Secret %q, the signing keys of AuthPolicy %q: only its tollgate sidecar may read them; remove the volume", v.Name, keys, policy)
		}
	}
	for _, o := range ownContainers(pod, sidecar) {
		if err := containerKeysPrivate(o.c, o.kind, keys); err != nil {
			return err
		}
	}
	return nil
}

type ownContainer struct {
	kind string
	c    corev1.Container
}

// ownContainers are the pod's containers of every kind, without the sidecar if it has it.
func ownContainers(pod *corev1.Pod, sidecar bool) []ownContainer {
	var own []ownContainer
	for _, c := range pod.Spec.InitContainers {
		if !sidecar || c.Name != contract.ContainerName {
			own = append(own, ownContainer{"init container", c})
		}
	}
	for _, c := range pod.Spec.Containers {
		own = append(own, ownContainer{"container", c})
	}
	for _, c := range pod.Spec.EphemeralContainers {
		own = append(own, ownContainer{"ephemeral container", corev1.Container(c.EphemeralContainerCommon)})
	}
	return own
}

// keysPolicies are the policies whose keys Secret the pod refers to by name
// (`<policy>-signing-keys`), whether such a policy exists or not.
func keysPolicies(pod *corev1.Pod) []string {
	var names []string
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			names = append(names, v.Secret.SecretName)
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.Secret != nil {
					names = append(names, s.Secret.Name)
				}
			}
		}
	}
	for _, o := range ownContainers(pod, false) {
		for _, e := range o.c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				names = append(names, e.ValueFrom.SecretKeyRef.Name)
			}
		}
		for _, e := range o.c.EnvFrom {
			if e.SecretRef != nil {
				names = append(names, e.SecretRef.Name)
			}
		}
	}
	var policies []string
	for _, n := range names {
		if p, ok := strings.CutSuffix(n, authv1alpha1.SigningKeysSecretSuffix); ok && p != "" {
			policies = append(policies, p)
		}
	}
	slices.Sort(policies)
	return slices.Compact(policies)
}

// checkEphemeralContainers refuses the ephemeral containers that pod gains over old when
// they could read the keys of its sidecar: by sharing the sidecar's process namespace
// (its /proc/<pid>/root), by mounting its volumes, by taking variables from the keys
// Secret, or as privileged containers. A pod without the sidecar has no keys to guard.
func checkEphemeralContainers(pod, old *corev1.Pod) error {
	if !HasSidecar(pod) {
		return nil
	}
	keys := ""
	for _, v := range pod.Spec.Volumes {
		if v.Name == contract.KeysVolume && v.Secret != nil {
			keys = v.Secret.SecretName
		}
	}
	for _, e := range pod.Spec.EphemeralContainers {
		if slices.ContainsFunc(old.Spec.EphemeralContainers, func(o corev1.EphemeralContainer) bool { return o.Name == e.Name }) {
			continue
		}
		c := corev1.Container(e.EphemeralContainerCommon)
		switch {
		case c.Name == contract.ContainerName:
			return refuse("container name %q is reserved for the tollgate sidecar: rename the ephemeral container", contract.ContainerName)
		case e.TargetContainerName == contract.ContainerName:
			return refuse("ephemeral container %q targets the tollgate sidecar: it would share the sidecar's processes and read its signing keys through /proc/<pid>/root; target the app's container instead", c.Name)
		case c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged:
			return refuse("ephemeral container %q is privileged: it could read the tollgate sidecar's signing keys from the node; debug without privileges", c.Name)
		}
		if err := containerKeysPrivate(c, "ephemeral container", keys); err != nil {
			return err
		}
	}
	return nil
}

// containerKeysPrivate refuses a container of the pod's own that mounts one of the
// sidecar's volumes or takes variables from the keys Secret.
func containerKeysPrivate(c corev1.Container, kind, keys string) error {
	for _, m := range c.VolumeMounts {
		if slices.Contains(ReservedVolumes, m.Name) {
			return refuse("%s %q mounts volume %q, which belongs to the tollgate sidecar: remove the mount", kind, c.Name, m.Name)
		}
	}
	if keys == "" {
		return nil
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == keys {
			return refuse("%s %q takes variable %s from Secret %q, the tollgate sidecar's signing keys: only the sidecar may read them; remove the variable", kind, c.Name, e.Name, keys)
		}
	}
	for _, e := range c.EnvFrom {
		if e.SecretRef != nil && e.SecretRef.Name == keys {
			return refuse("%s %q takes its environment from Secret %q, the tollgate sidecar's signing keys: only the sidecar may read them; remove the envFrom entry", kind, c.Name, keys)
		}
	}
	return nil
}

// volumeHoldsSecret: the volume mounts Secret name, directly or projected.
func volumeHoldsSecret(v corev1.VolumeSource, name string) bool {
	if v.Secret != nil && v.Secret.SecretName == name {
		return true
	}
	if v.Projected != nil {
		for _, s := range v.Projected.Sources {
			if s.Secret != nil && s.Secret.Name == name {
				return true
			}
		}
	}
	return false
}
