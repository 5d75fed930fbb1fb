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

package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The sidecar runs in every protected pod: it must not link a Kubernetes client, whose
// scheme alone costs about 18 MiB of resident memory (docs/design.md §1).
func TestSidecarLinksNoKubernetesClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps printed %d packages; expected the sidecar's full dependency list", len(deps))
	}
	// grpc and Envoy's protobufs register hundreds of descriptors at init: they belong to
	// tollgate-authorizer (gRPC apps are served by the standard library's HTTP/2,
	// sidecar/grpc.go). The OpenTelemetry SDK is linked, but not OTLP's collector service
	// package nor otlptracehttp, which bring gRPC and grpc-gateway along: 4 MiB resident
	// (internal/tracing/otlphttp.go). k8s.io/apimachinery (with klog, json-iterator, CBOR,
	// structured-merge-diff and x/net/http2) cost 1.5 MiB idle: the sidecar reads the
	// policy with package api/v1alpha1/spec, never api/v1alpha1 (docs/benchmarks.md).
	// sigs.k8s.io/yaml is the policy and users files' format and small.
	forbidden := []string{"k8s.io/", "sigs.k8s.io/", "github.com/json-iterator/", "github.com/fxamacker/cbor",
		"golang.org/x/net/http2", "google.golang.org/grpc", "github.com/envoyproxy/",
		"github.com/grpc-ecosystem/", "go.opentelemetry.io/proto/otlp/collector/",
		"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp", "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"}
	allowed := map[string]bool{"sigs.k8s.io/yaml": true}
	for _, d := range deps {
		if d == "github.com/tollgate-dev/tollgate/api/v1alpha1" {
			t.Errorf("tollgate-sidecar links %s: use its spec package, which links no Kubernetes library", d)
		}
		for _, f := range forbidden {
			if strings.HasPrefix(d, f) && !allowed[d] {
				t.Errorf("tollgate-sidecar links %s (via %s prefix): keep it out of the sidecar", d, f)
			}
		}
	}
}
