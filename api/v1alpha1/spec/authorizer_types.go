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

package spec

// AuthorizerSpec makes the operator run tollgate-authorizer for the policy: a Deployment and
// a Service named <policy>-authorizer, which gateways and meshes ask whether a request may
// pass (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz over HTTP and gRPC, Istio's
// CUSTOM action), so a gateway-only user injects nothing.
type AuthorizerSpec struct {
	// Replicas of the authorizer. More than one needs spec.store.redis: sessions and
	// revocations are otherwise per replica.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Replicas int32 `json:"replicas"`
}

// AuthorizerSuffix names the Deployment and Service of a policy's authorizer.
const AuthorizerSuffix = "-authorizer"

// AuthorizerName is the name of the Deployment and Service of a policy's authorizer.
func AuthorizerName(policy string) string { return policy + AuthorizerSuffix }
