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
	// (internal/tracing/otlphttp.go).
	for _, forbidden := range []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime", "k8s.io/api/", "google.golang.org/grpc", "github.com/envoyproxy/",
		"github.com/grpc-ecosystem/", "go.opentelemetry.io/proto/otlp/collector/", "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp", "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"} {
		for _, d := range deps {
			if strings.HasPrefix(d, forbidden) {
				t.Errorf("tollgate-sidecar links %s (via %s prefix): keep Kubernetes clients out of the sidecar", d, forbidden)
			}
		}
	}
}
