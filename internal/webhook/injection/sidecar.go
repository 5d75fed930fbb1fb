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
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// Default resources of the sidecar; pod annotations override each one.
var (
	DefaultSidecarCPURequest    = resource.MustParse("20m")
	DefaultSidecarMemoryRequest = resource.MustParse("32Mi")
	DefaultSidecarMemoryLimit   = resource.MustParse("64Mi")
)

// InjectSidecar gives pod the sidecar of policy, running image. It adds only what is
// absent, so injecting an injected pod changes nothing. A *RefusalError says why a pod
// cannot be protected as it is.
func InjectSidecar(pod *corev1.Pod, policy *authv1alpha1.AuthPolicy, image string) error {
	in, err := planInjection(pod, policy, image)
	if err != nil {
		return err
	}
	in.applyTo(pod)
	return nil
}

// injection is what a pod lacks of its sidecar. The webhook patches exactly these
// additions into the pod as its author sent it; InjectSidecar adds them to a typed pod.
type injection struct {
	// sidecar goes first among the init containers; nil when the pod has it already.
	sidecar *corev1.Container
	// volumes are appended to the pod's volumes.
	volumes []corev1.Volume
	// annotate: the status annotation is to be set.
	annotate bool
	// generation is the value of the policy-generation annotation to set; "" when the pod
	// has it already.
	generation string
}

func (in *injection) empty() bool {
	return in.sidecar == nil && len(in.volumes) == 0 && !in.annotate && in.generation == ""
}

func (in *injection) applyTo(pod *corev1.Pod) {
	pod.Spec.Volumes = append(pod.Spec.Volumes, in.volumes...)
	if in.sidecar != nil {
		// First among the init containers: ready before any other init container or the
		// app runs.
		pod.Spec.InitContainers = append([]corev1.Container{*in.sidecar}, pod.Spec.InitContainers...)
	}
	if in.annotate {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[authv1alpha1.StatusAnnotation] = authv1alpha1.StatusInjected
	}
	if in.generation != "" {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[authv1alpha1.PolicyGenerationAnnotation] = in.generation
	}
}

// planInjection decides what pod needs to run the sidecar of policy, or refuses it.
func planInjection(pod *corev1.Pod, policy *authv1alpha1.AuthPolicy, image string) (*injection, error) {
	p := policy.DeepCopy()
	p.Default()
	spec := p.Spec.Sidecar

	if err := checkIsolation(pod, spec.Port); err != nil {
		return nil, err
	}
	upstream, err := upstreamPort(pod, spec.UpstreamPort)
	if err != nil {
		return nil, err
	}
	if upstream == spec.Port || upstream == contract.MetricsPort {
		return nil, refuse("the upstream port %d is a port of the tollgate sidecar (spec.sidecar.port of AuthPolicy %q is %d, metrics %d): set %s to the port your app listens on",
			upstream, policy.Name, spec.Port, contract.MetricsPort, authv1alpha1.UpstreamPortAnnotation)
	}
	res, err := sidecarResources(pod.Annotations)
	if err != nil {
		return nil, err
	}
	sidecar := SidecarContainer(p, image, upstream, res)
	volumes := sidecarVolumes(p)
	if err := checkReservedNames(pod, policy.Name, sidecar, volumes); err != nil {
		return nil, err
	}
	if err := checkKeysPrivate(pod, policy.Name); err != nil {
		return nil, err
	}
	if err := checkPortsFree(pod, policy.Name, spec.Port); err != nil {
		return nil, err
	}

	in := &injection{annotate: pod.Annotations[authv1alpha1.StatusAnnotation] != authv1alpha1.StatusInjected}
	// Set also over a value the pod came with: PodsCurrent trusts it.
	if g := strconv.FormatInt(policy.Status.ObservedGeneration, 10); pod.Annotations[authv1alpha1.PolicyGenerationAnnotation] != g {
		in.generation = g
	}
	for _, v := range volumes {
		if !slices.ContainsFunc(pod.Spec.Volumes, func(x corev1.Volume) bool { return x.Name == v.Name }) {
			in.volumes = append(in.volumes, v)
		}
	}
	// checkReservedNames let through no container of this name but the genuine sidecar.
	if !HasSidecar(pod) {
		in.sidecar = &sidecar
	}
	return in, nil
}

// sidecarVolumes are the volumes the sidecar of a defaulted policy reads.
func sidecarVolumes(p *authv1alpha1.AuthPolicy) []corev1.Volume {
	vols := []corev1.Volume{
		{Name: contract.KeysVolume, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: authv1alpha1.SigningKeysSecretName(p.Name)},
		}},
		{Name: contract.PolicyVolume, VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: authv1alpha1.SidecarConfigMapName(p.Name)}},
		}},
	}
	if ref := p.Spec.Login.UsersSecretRef; ref != nil {
		vols = append(vols, corev1.Volume{Name: contract.UsersVolume, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: ref.Name, Items: []corev1.KeyToPath{{Key: contract.UsersFileKey, Path: contract.UsersFileKey}}},
		}})
	}
	return vols
}

// SidecarContainer is the injected container for a defaulted policy.
func SidecarContainer(p *authv1alpha1.AuthPolicy, image string, upstream int32, res corev1.ResourceRequirements) corev1.Container {
	spec := p.Spec.Sidecar
	args := contract.Args{
		Policy:        contract.PolicyPath,
		KeysDir:       contract.KeysDir,
		Listen:        contract.ListenOn(spec.Port),
		Upstream:      contract.LocalUpstream(upstream),
		MetricsListen: contract.ListenOn(contract.MetricsPort),
	}
	mounts := []corev1.VolumeMount{
		{Name: contract.KeysVolume, MountPath: contract.KeysDir, ReadOnly: true},
		{Name: contract.PolicyVolume, MountPath: contract.PolicyDir, ReadOnly: true},
	}
	if p.Spec.Login.UsersSecretRef != nil {
		args.UsersFile = contract.UsersPath
		mounts = append(mounts, corev1.VolumeMount{Name: contract.UsersVolume, MountPath: contract.UsersDir, ReadOnly: true})
	}
	var env []corev1.EnvVar
	fromSecret := func(name string, ref *authv1alpha1.SecretKeySelector) {
		env = append(env, corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name},
				Key:                  ref.Key,
			},
		}})
	}
	if r := p.Spec.Store.Redis; r != nil && r.PasswordSecretRef != nil {
		fromSecret(contract.RedisPasswordEnv, r.PasswordSecretRef)
	}
	if tr := spec.Tracing; tr != nil {
		args.OTLPEndpoint = tr.OTLPEndpoint
		if tr.HeadersSecretRef != nil {
			fromSecret(contract.TracingHeadersEnv, tr.HeadersSecretRef)
		}
	}
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromInt32(contract.MetricsPort), Scheme: corev1.URISchemeHTTP,
			}},
			PeriodSeconds: period, FailureThreshold: failures, TimeoutSeconds: 1, SuccessThreshold: 1,
		}
	}
	return corev1.Container{
		Name:    contract.ContainerName,
		Image:   image,
		Command: []string{contract.Command},
		Args:    args.Args(),
		Ports: []corev1.ContainerPort{
			{Name: contract.HTTPPortName, ContainerPort: spec.Port, Protocol: corev1.ProtocolTCP},
			{Name: contract.MetricsPortName, ContainerPort: contract.MetricsPort, Protocol: corev1.ProtocolTCP},
		},
		Env:       env,
		Resources: res,
		// A native sidecar: started before the app, kept running beside it.
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		// The app's containers start only once this passes: the sidecar is ready first.
		StartupProbe:             probe(contract.ReadyzPath, 1, 60),
		ReadinessProbe:           probe(contract.ReadyzPath, 5, 3),
		LivenessProbe:            probe(contract.HealthzPath, 10, 3),
		VolumeMounts:             mounts,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](contract.UID),
			RunAsGroup:               ptr.To[int64](contract.UID),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// upstreamPort is the app's port: the pod's annotation, else the policy's.
func upstreamPort(pod *corev1.Pod, def int32) (int32, error) {
	v, ok := pod.Annotations[authv1alpha1.UpstreamPortAnnotation]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
	if err != nil || n < 1 {
		return 0, refuse("annotation %s: %q is not a port number (1-65535)", authv1alpha1.UpstreamPortAnnotation, v)
	}
	return int32(n), nil
}

// checkPortsFree refuses a pod whose containers already declare a port the sidecar needs.
func checkPortsFree(pod *corev1.Pod, policy string, port int32) error {
	containers := slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers)
	for _, c := range containers {
		if c.Name == contract.ContainerName {
			continue
		}
		for _, cp := range c.Ports {
			switch cp.ContainerPort {
			case port:
				return refuse("container %q already uses port %d, the tollgate sidecar's port (spec.sidecar.port of AuthPolicy %q): let the app listen on another port (the upstream port) or change spec.sidecar.port",
					c.Name, port, policy)
			case contract.MetricsPort:
				return refuse("container %q already uses port %d, the tollgate sidecar's metrics port: move it to another port",
					c.Name, contract.MetricsPort)
			}
		}
	}
	return nil
}

// plainQuantity is a Kubernetes quantity without exponent: 250m, 0.5, 64Mi, 1G.
var plainQuantity = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,9})?(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$`)

// sidecarResources are the defaults with the pod's annotations applied.
func sidecarResources(ann map[string]string) (corev1.ResourceRequirements, error) {
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    DefaultSidecarCPURequest,
			corev1.ResourceMemory: DefaultSidecarMemoryRequest,
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: DefaultSidecarMemoryLimit},
	}
	explicitLimit := map[corev1.ResourceName]bool{}
	for _, o := range []struct {
		annotation string
		list       corev1.ResourceList
		name       corev1.ResourceName
		limit      bool
	}{
		{authv1alpha1.SidecarCPURequestAnnotation, res.Requests, corev1.ResourceCPU, false},
		{authv1alpha1.SidecarMemoryRequestAnnotation, res.Requests, corev1.ResourceMemory, false},
		{authv1alpha1.SidecarCPULimitAnnotation, res.Limits, corev1.ResourceCPU, true},
		{authv1alpha1.SidecarMemoryLimitAnnotation, res.Limits, corev1.ResourceMemory, true},
	} {
		v, ok := ann[o.annotation]
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		// A plain quantity only: an exponent like 1e2000000000 parses, and comparing it
		// would make the webhook compute a number of two billion digits.
		if !plainQuantity.MatchString(v) {
			return res, refuse("annotation %s: %q is not a quantity (examples: %q, %q)", o.annotation, v, "50m", "64Mi")
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return res, refuse("annotation %s: %q is not a quantity (examples: %q, %q)", o.annotation, v, "50m", "64Mi")
		}
		if q.Sign() <= 0 {
			return res, refuse("annotation %s: %q must be greater than zero", o.annotation, v)
		}
		// As the API server stores it: rounded up to a thousandth. A reinvoked webhook
		// compares the stored sidecar with a fresh one.
		q.RoundUp(resource.Milli)
		o.list[o.name] = q
		if o.limit {
			explicitLimit[o.name] = true
		}
	}
	for name, req := range res.Requests {
		lim, ok := res.Limits[name]
		if !ok || req.Cmp(lim) <= 0 {
			continue
		}
		if explicitLimit[name] {
			return res, refuse("the tollgate sidecar's %s request %s exceeds its limit %s: fix the %s annotations", name, req.String(), lim.String(), "auth.tollgate.dev/sidecar-"+string(name)+"-*")
		}
		// Only the default limit is below an asked-for request: the request wins.
		res.Limits[name] = req
	}
	return res, nil
}

// HasSidecar reports whether pod has the tollgate sidecar.
func HasSidecar(pod *corev1.Pod) bool {
	named := func(c corev1.Container) bool { return c.Name == contract.ContainerName }
	return slices.ContainsFunc(pod.Spec.InitContainers, named) || slices.ContainsFunc(pod.Spec.Containers, named)
}
