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

import "encoding/json"

// The group, version and kind of an AuthPolicy manifest.
const (
	Group      = "auth.tollgate.dev"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
	Kind       = "AuthPolicy"
)

// Policy is an AuthPolicy manifest as a file holds it: the standalone sidecar's --policy file
// and the policy.yaml of the operator's sidecar ConfigMap. It reads everything
// v1alpha1.AuthPolicy reads, uses only the name, namespace, generation and spec, and
// ignores the status.
type Policy struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	ObjectMeta `json:"metadata,omitempty"`
	Spec       AuthPolicySpec  `json:"spec,omitempty"`
	Status     json.RawMessage `json:"status,omitempty"`
}

// ObjectMeta has the keys of Kubernetes' object metadata (metav1.ObjectMeta, a test keeps the
// two in step), so that a manifest from `kubectl get -o yaml` reads; the sidecar uses the
// name, namespace and generation.
type ObjectMeta struct {
	Name                       string            `json:"name,omitempty"`
	GenerateName               string            `json:"generateName,omitempty"`
	Namespace                  string            `json:"namespace,omitempty"`
	SelfLink                   string            `json:"selfLink,omitempty"`
	UID                        string            `json:"uid,omitempty"`
	ResourceVersion            string            `json:"resourceVersion,omitempty"`
	Generation                 int64             `json:"generation,omitempty"`
	CreationTimestamp          json.RawMessage   `json:"creationTimestamp,omitempty"`
	DeletionTimestamp          json.RawMessage   `json:"deletionTimestamp,omitempty"`
	DeletionGracePeriodSeconds *int64            `json:"deletionGracePeriodSeconds,omitempty"`
	Labels                     map[string]string `json:"labels,omitempty"`
	Annotations                map[string]string `json:"annotations,omitempty"`
	OwnerReferences            json.RawMessage   `json:"ownerReferences,omitempty"`
	Finalizers                 []string          `json:"finalizers,omitempty"`
	ManagedFields              json.RawMessage   `json:"managedFields,omitempty"`
}

// Key returns "<namespace>/<name>", the policy's identity in store key names.
func (p *Policy) Key() string {
	ns := p.Namespace
	if ns == "" {
		ns = "default"
	}
	return ns + "/" + p.Name
}
