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

// Names of the labels and annotations tollgate reads and writes.
const (
	// PolicyAnnotation on a pod names the AuthPolicy (same namespace) its sidecar enforces.
	PolicyAnnotation = "auth.tollgate.dev/policy"
	// StatusAnnotation is written by the webhook once a pod has its sidecar.
	StatusAnnotation = "auth.tollgate.dev/status"
	// StatusInjected is the value of StatusAnnotation on an injected pod.
	StatusInjected = "injected"
	// UpstreamPortAnnotation on a pod overrides spec.sidecar.upstreamPort.
	UpstreamPortAnnotation = "auth.tollgate.dev/upstream-port"
	// InjectionLabel on a namespace opts its pods into injection (value "enabled").
	InjectionLabel = "auth.tollgate.dev/injection"
	// RotateRequestedAtAnnotation on a policy asks for a rotation now whenever its value
	// changes (`tollgate rotate` sets it to the current time).
	RotateRequestedAtAnnotation = "auth.tollgate.dev/rotate-requested-at"
)

// Condition types and reasons of AuthPolicy status.
const (
	ConditionReady = "Ready"

	ReasonKeysReady       = "KeysReady"
	ReasonKeysetInvalid   = "KeysetInvalid"
	ReasonSecretRecreated = "SecretRecreated"
	ReasonReconcileFailed = "ReconcileFailed"
)
