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
	"strings"
	"testing"
)

// Validate follows the CRD's pattern of spec.sidecar.tracing.otlpEndpoint (the sidecar
// validates the policy it reads with it).
func TestValidateOTLPEndpoint(t *testing.T) {
	for endpoint, ok := range map[string]bool{
		"http://otel-collector:4318":               true,
		"https://collector.observability.svc/otlp": true,
		"http://10.0.0.7:4318/":                    true,
		"http://[fd00::7]:4318":                    true,
		"":                                         false,
		"otel-collector:4318":                      false,
		"grpc://otel-collector:4317":               false,
		"http://user:pass@otel-collector:4318":     false,
		"http://otel-collector:4318/?key=secret":   false,
		"http://otel-collector:4318/#x":            false,
		"http://otel-collector:4318/\n":            false,
		"http://" + strings.Repeat("a", 510):       false,
	} {
		p := &AuthPolicy{}
		p.Name = "p"
		p.Default()
		p.Spec.Sidecar.Tracing = &SidecarTracing{OTLPEndpoint: endpoint}
		err := p.Validate()
		if (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), "spec.sidecar.tracing.otlpEndpoint")) {
			t.Errorf("%q: %v, want accepted %v", endpoint, err, ok)
		}
	}
}
