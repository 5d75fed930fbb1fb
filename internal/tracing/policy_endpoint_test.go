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

package tracing

import (
	"testing"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
)

// policyEndpoints are spec.sidecar.tracing.otlpEndpoint values: ones tollgate documents, and
// ones the policy's pattern once admitted although the sidecar's exporter refuses them (a
// bad percent escape, a port that is not a number, an unclosed IPv6 bracket), which made
// every injected sidecar of the policy exit at start.
var policyEndpoints = []string{
	"http://otel-collector:4318",
	"https://collector.observability.svc/otlp",
	"http://10.0.0.7:4318/",
	"http://[fd00::7]:4318",
	"http://x/%2Fa",
	"http://x/%zz",
	"http://x:4318/%",
	"http://x/a%2",
	"http://a:b",
	"http://a:b:c",
	"http://[::1",
	"http://a[b]",
	"http://[::1]x",
}

// checkPolicyEndpoint fails when a policy with endpoint passes validation (the CRD's pattern,
// which spec's Validate follows) but the sidecar's exporter would refuse it.
func checkPolicyEndpoint(t *testing.T, endpoint string) {
	t.Helper()
	p := &spec.Policy{}
	p.APIVersion, p.Kind, p.Name = spec.APIVersion, "AuthPolicy", "p"
	p.Default()
	p.Spec.Sidecar.Tracing = &spec.SidecarTracing{OTLPEndpoint: endpoint}
	if p.Validate() != nil {
		return
	}
	if _, err := ExportURL(endpoint, func(string) string { return "" }); err != nil {
		t.Errorf("the policy accepts otlpEndpoint %q, the sidecar's exporter refuses it: %v", endpoint, err)
	}
}

func TestEveryEndpointAPolicyAcceptsStartsTheExporter(t *testing.T) {
	for _, e := range policyEndpoints {
		checkPolicyEndpoint(t, e)
	}
}

func FuzzPolicyEndpointsStartTheExporter(f *testing.F) {
	for _, e := range policyEndpoints {
		f.Add(e)
	}
	f.Fuzz(checkPolicyEndpoint)
}
