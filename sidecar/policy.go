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

package sidecar

import (
	"errors"
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
)

// MaxPolicyFileSize caps a policy manifest.
const MaxPolicyFileSize = 1 << 20

// LoadPolicy reads an AuthPolicy manifest (YAML or JSON, the whole object as `kubectl apply`
// takes it), applies the documented defaults and validates it.
func LoadPolicy(path string) (*spec.Policy, error) {
	data, err := readCapped(path, MaxPolicyFileSize)
	if err != nil {
		return nil, fmt.Errorf("reading the policy: %w", err)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy parses, defaults and validates an AuthPolicy manifest. Unknown fields are
// refused, so that a misspelt field fails loudly rather than being silently ignored.
func ParsePolicy(data []byte) (*spec.Policy, error) {
	if len(data) > MaxPolicyFileSize {
		return nil, fmt.Errorf("policy is %d bytes, more than the %d allowed", len(data), MaxPolicyFileSize)
	}
	var p spec.Policy
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return nil, fmt.Errorf("not an AuthPolicy manifest: %w", err)
	}
	if p.APIVersion != spec.APIVersion || p.Kind != "AuthPolicy" {
		return nil, fmt.Errorf("apiVersion/kind must be %s/AuthPolicy, not %q/%q", spec.APIVersion, p.APIVersion, p.Kind)
	}
	p.Default()
	if err := p.Validate(); err != nil {
		return nil, errors.New("invalid AuthPolicy: " + err.Error())
	}
	return &p, nil
}
