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
	corev1 "k8s.io/api/core/v1"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// AuthorizerPodLabels are the labels of a policy's authorizer pods: its Service selects
// them, and the sidecars' PodMonitor (config/prometheus) scrapes pods named so.
func AuthorizerPodLabels(policy *authv1alpha1.AuthPolicy) map[string]string {
	return map[string]string{"app.kubernetes.io/name": contract.AuthorizerCommand, authv1alpha1.PolicyLabel: policy.Name}
}

// AuthorizerPodSpec is the pod of a policy's tollgate-authorizer Deployment: the injected
// sidecar's container, mounts, probes and hardening, running the authorizer binary (no
// upstream; the HTTP checks on spec.sidecar.port, the gRPC service on contract.GRPCPort) as
// an ordinary container.
func AuthorizerPodSpec(policy *authv1alpha1.AuthPolicy, image string) corev1.PodSpec {
	p := policy.DeepCopy()
	p.Default()
	c := SidecarContainer(p, image, 0, corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: DefaultSidecarCPURequest, corev1.ResourceMemory: DefaultSidecarMemoryRequest},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: DefaultSidecarMemoryLimit},
	})
	args := contract.Args{
		GRPCListen:    contract.ListenOn(contract.GRPCPort),
		Policy:        contract.PolicyPath,
		KeysDir:       contract.KeysDir,
		Listen:        contract.ListenOn(p.Spec.Sidecar.Port),
		MetricsListen: contract.ListenOn(contract.MetricsPort),
	}
	if p.Spec.Login.UsersSecretRef != nil {
		args.UsersFile = contract.UsersPath
	}
	c.Name = contract.AuthorizerCommand
	c.Command = []string{contract.AuthorizerCommand}
	c.Args = args.Args()
	c.RestartPolicy = nil // an ordinary container: native sidecars are for init containers
	c.Ports = append(c.Ports, corev1.ContainerPort{Name: contract.GRPCPortName, ContainerPort: contract.GRPCPort, Protocol: corev1.ProtocolTCP})
	automount := false
	return corev1.PodSpec{
		Containers:                   []corev1.Container{c},
		Volumes:                      sidecarVolumes(p),
		AutomountServiceAccountToken: &automount,
	}
}
