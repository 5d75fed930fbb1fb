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

package command

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// The operator renders the authorizer's Deployment (spec.authorizer); tollgate-authorizer
// parses its command line: every path flag in a mount of a volume the pod has, the ports
// the container declares, in authorizer mode with gRPC.
func TestTheAuthorizerAcceptsWhatTheOperatorRenders(t *testing.T) {
	policy := &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "shop"}}
	policy.Spec.Login.UsersSecretRef = &authv1alpha1.LocalObjectReference{Name: "gw-users"}
	policy.Spec.Sidecar.Port = 7000
	spec := injection.AuthorizerPodSpec(policy, "registry.example/tollgate:1")
	pod := &corev1.Pod{Spec: spec}
	c := spec.Containers[0]
	o, err := authorizerCommand.parseFlags(c.Args)
	if err != nil {
		t.Fatalf("tollgate-authorizer refuses the rendered args %q: %v", c.Args, err)
	}
	if o.mode != contract.ModeAuthorizer || o.upstream != "" {
		t.Errorf("mode %q upstream %q: want an authorizer", o.mode, o.upstream)
	}
	for _, f := range []struct{ flag, path, file string }{
		{"--policy", o.policy, contract.PolicyFile},
		{"--keys-dir", o.keysDir, ""},
		{"--users-file", o.usersFile, contract.UsersFileKey},
	} {
		if f.path == "" {
			t.Errorf("%s not rendered", f.flag)
			continue
		}
		checkMounted(t, pod, c, f.flag, f.path, f.file)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for _, l := range []struct {
		flag, addr, port string
		want             int32
	}{
		{"--listen", o.listen, contract.HTTPPortName, 7000},
		{"--grpc-listen", o.grpcListen, contract.GRPCPortName, contract.GRPCPort},
		{"--metrics-listen", o.metricsListen, contract.MetricsPortName, contract.MetricsPort},
	} {
		if got := listenPort(t, l.addr); got != ports[l.port] || got != l.want {
			t.Errorf("%s %q, container port %s %d, want %d", l.flag, l.addr, l.port, ports[l.port], l.want)
		}
	}
	if c.RestartPolicy != nil {
		t.Errorf("restartPolicy %v: only init containers may have one", *c.RestartPolicy)
	}
}
