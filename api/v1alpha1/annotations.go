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
	"encoding/json"
	"fmt"
	"strings"
)

// Names of the labels and annotations tollgate reads and writes.
const (
	// PolicyAnnotation on a pod names the AuthPolicy (same namespace) its sidecar enforces.
	PolicyAnnotation = "auth.tollgate.dev/policy"
	// StatusAnnotation is written by the webhook once a pod has its sidecar.
	StatusAnnotation = "auth.tollgate.dev/status"
	// StatusInjected is the value of StatusAnnotation on an injected pod.
	StatusInjected = "injected"
	// PolicyGenerationAnnotation is written by the webhook on the pods it injects: the
	// policy's status.observedGeneration at injection, the newest generation whose sidecar
	// ConfigMap existed when the pod was admitted, and so the oldest one its sidecar can
	// have started with. The PodsCurrent condition compares it with
	// status.restartRequiredGeneration.
	PolicyGenerationAnnotation = "auth.tollgate.dev/policy-generation"
	// RestartRequiredGenerationAnnotation on the sidecar ConfigMap is the generation of the
	// last change to a restart-only field (see RestartFields), written in the same update
	// as the policy.yaml it describes; status.restartRequiredGeneration mirrors it.
	RestartRequiredGenerationAnnotation = "auth.tollgate.dev/restart-required-generation"
	// UpstreamPortAnnotation on a pod overrides spec.sidecar.upstreamPort.
	UpstreamPortAnnotation = "auth.tollgate.dev/upstream-port"
	// InjectionLabel on a namespace opts its pods into injection (value "enabled").
	InjectionLabel = "auth.tollgate.dev/injection"
	// InjectionEnabled is the value of InjectionLabel that opts a namespace in.
	InjectionEnabled = "enabled"
	// SidecarCPURequestAnnotation, SidecarCPULimitAnnotation, SidecarMemoryRequestAnnotation
	// and SidecarMemoryLimitAnnotation on a pod override the injected sidecar's resources
	// (Kubernetes quantities: "50m", "64Mi").
	SidecarCPURequestAnnotation    = "auth.tollgate.dev/sidecar-cpu-request"
	SidecarCPULimitAnnotation      = "auth.tollgate.dev/sidecar-cpu-limit"
	SidecarMemoryRequestAnnotation = "auth.tollgate.dev/sidecar-memory-request"
	SidecarMemoryLimitAnnotation   = "auth.tollgate.dev/sidecar-memory-limit"
	// RotateRequestedAtAnnotation on a policy asks for a rotation now whenever its value
	// changes (`tollgate rotate` sets it to the current time).
	RotateRequestedAtAnnotation = "auth.tollgate.dev/rotate-requested-at"
	// RevokeKeysAnnotation on a policy asks for keys to be revoked at once: a JSON object
	// from kid to reason, {"3f2a9c0e": "leaked in a CI log"}. `tollgate revoke-key` adds to
	// it; the operator removes each kid once its revocation is in the keys Secret, and
	// records the reason in a KeyRevoked Event.
	RevokeKeysAnnotation = "auth.tollgate.dev/revoke-keys"

	// ManagedByLabel marks the Secrets and ConfigMaps the operator owns; the operator
	// caches only objects that carry it.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of ManagedByLabel on those objects.
	ManagedByValue = "tollgate"
	// PolicyLabel on the objects the operator owns names their AuthPolicy.
	PolicyLabel = "auth.tollgate.dev/policy"
)

// Suffixes of the objects the operator makes for a policy (their data keys are in
// sidecar/contract).
const (
	SigningKeysSecretSuffix = "-signing-keys"
	SidecarConfigMapSuffix  = "-sidecar"
)

// SigningKeysSecretName is the name of the policy's keys Secret.
func SigningKeysSecretName(policy string) string { return policy + SigningKeysSecretSuffix }

// SidecarConfigMapName is the name of the policy's sidecar ConfigMap.
func SidecarConfigMapName(policy string) string { return policy + SidecarConfigMapSuffix }

// Condition types and reasons of AuthPolicy status.
const (
	ConditionReady = "Ready"
	// ConditionPodsCurrent is True when every protected pod of the policy runs a sidecar
	// started after the last change to a field that needs a restart
	// (status.restartRequiredGeneration); False names the pods that lag.
	ConditionPodsCurrent = "PodsCurrent"

	// ReasonPodsCurrent and ReasonPodsRestartPending are the reasons of PodsCurrent.
	ReasonPodsCurrent        = "PodsCurrent"
	ReasonPodsRestartPending = "RestartPending"

	ReasonKeysReady       = "KeysReady"
	ReasonKeysetInvalid   = "KeysetInvalid"
	ReasonSecretRecreated = "SecretRecreated"
	ReasonReconcileFailed = "ReconcileFailed"
	ReasonInvalidSpec     = "InvalidSpec"
	// ReasonNameConflict: a Secret or ConfigMap the policy would own exists and is not the
	// policy's; the operator neither adopts nor overwrites it.
	ReasonNameConflict = "NameConflict"
)

// ParseRevokeRequests reads the revoke-keys annotation: a JSON object from kid to reason.
func ParseRevokeRequests(value string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(value) == "" {
		return out, nil
	}
	if err := json.Unmarshal([]byte(value), &out); err != nil {
		return nil, fmt.Errorf("annotation %s must be a JSON object from kid to reason: %w", RevokeKeysAnnotation, err)
	}
	if out == nil { // the JSON was null
		out = map[string]string{}
	}
	return out, nil
}

// FormatRevokeRequests renders the revoke-keys annotation.
func FormatRevokeRequests(reqs map[string]string) string {
	b, _ := json.Marshal(reqs) // a map of strings always marshals
	return string(b)
}
