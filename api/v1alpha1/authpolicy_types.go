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

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
)

// KeyState is where a signing key stands in its life.
// +kubebuilder:validation:Enum=Next;Active;Retired
type KeyState string

// Key states, in the order a key lives them.
const (
	KeyNext    KeyState = "Next"
	KeyActive  KeyState = "Active"
	KeyRetired KeyState = "Retired"
)

// KeyStatus mirrors one key of the keys Secret.
type KeyStatus struct {
	KID         string         `json:"kid"`
	Algorithm   spec.Algorithm `json:"algorithm"`
	State       KeyState       `json:"state"`
	CreatedAt   metav1.Time    `json:"createdAt"`
	ActivatesAt metav1.Time    `json:"activatesAt"`
	// +optional
	RetiresAt *metav1.Time `json:"retiresAt,omitempty"`
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
}

// AuthPolicyStatus mirrors the keys Secret and says whether the policy is ready.
type AuthPolicyStatus struct {
	// ObservedGeneration is the generation the last successful pass saw.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready (keys and sidecar configuration written) and PodsCurrent (every
	// protected pod runs a sidecar started after status.restartRequiredGeneration).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ActiveKeyID is the kid that signs now.
	// +optional
	ActiveKeyID string `json:"activeKeyID,omitempty"`

	// NextKeyID is the published kid that signs next.
	// +optional
	NextKeyID string `json:"nextKeyID,omitempty"`

	// LastRotationTime is when the active key started signing.
	// +optional
	LastRotationTime *metav1.Time `json:"lastRotationTime,omitempty"`

	// NextRotationTime is when the active key will be replaced.
	// +optional
	NextRotationTime *metav1.Time `json:"nextRotationTime,omitempty"`

	// KeyCount is the number of keys in the set (for the wide printer column).
	// +optional
	KeyCount int32 `json:"keyCount,omitempty"`

	// Keys mirrors the keyset, oldest first.
	// +optional
	// +listType=atomic
	Keys []KeyStatus `json:"keys,omitempty"`

	// UnprotectedPods counts pods that name this policy but run without the sidecar.
	// +optional
	UnprotectedPods int32 `json:"unprotectedPods,omitempty"`

	// RestartRequiredGeneration is the generation of the last spec change to a field that
	// running sidecars apply only when their pods restart (spec.store, spec.sidecar ports,
	// authPathPrefix and upstreamProtocol, spec.login.usersSecretRef and verifyURL; a
	// RestartRequired Event names them). Pods injected before it keep the previous values: PodsCurrent counts them.
	// +optional
	RestartRequiredGeneration int64 `json:"restartRequiredGeneration,omitempty"`
}

// AuthPolicy gives the pods that name it JWT authentication: keys, login, routes, sessions.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ap,categories=tollgate
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters: it names the policy's Secret and ConfigMap and is a label value"
// +kubebuilder:printcolumn:name="Algorithm",type=string,JSONPath=`.spec.signing.algorithm`
// +kubebuilder:printcolumn:name="Active Key",type=string,JSONPath=`.status.activeKeyID`
// +kubebuilder:printcolumn:name="Next Rotation",type=string,JSONPath=`.status.nextRotationTime`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Last Rotation",type=date,JSONPath=`.status.lastRotationTime`,priority=1
// +kubebuilder:printcolumn:name="Keys",type=integer,JSONPath=`.status.keyCount`,priority=1
// +kubebuilder:printcolumn:name="Pods Current",type=string,JSONPath=`.status.conditions[?(@.type=="PodsCurrent")].status`,priority=1
type AuthPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   spec.AuthPolicySpec `json:"spec,omitempty"`
	Status AuthPolicyStatus    `json:"status,omitempty"`
}

// AuthPolicyList is a list of AuthPolicy.
//
// +kubebuilder:object:root=true
type AuthPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AuthPolicy `json:"items"`
}
