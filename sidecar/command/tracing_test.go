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

package command

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
)

type countingHandler struct{ n int }

func (h *countingHandler) ServeHTTP(http.ResponseWriter, *http.Request) { h.n++ }

// Tracing off costs a request nothing: the sidecar serves with its own handler, not a
// wrapper that checks a flag, whatever OTEL_* variables other than the endpoints say.
func TestTracingOffLeavesTheHandlerUntouched(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=x")
	t.Setenv("OTEL_TRACES_SAMPLER", "always_on")
	base := &countingHandler{}
	for name, c := range map[string]struct {
		flag   string
		policy *spec.SidecarTracing
		env    string
	}{
		"nothing configured":                  {},
		"an endpoint but OTEL_SDK_DISABLED":   {flag: "http://collector:4318", env: "true"},
		"the policy's, but OTEL_SDK_DISABLED": {policy: &spec.SidecarTracing{OTLPEndpoint: "http://collector:4318"}, env: "TRUE"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("OTEL_SDK_DISABLED", c.env)
			p := &spec.Policy{}
			p.Spec.Sidecar.Tracing = c.policy
			h, stop, err := traced(t.Context(), options{otlpEndpoint: c.flag}, p, base, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			stop()
			if h != http.Handler(base) {
				t.Fatalf("handler %T, want the sidecar's own", h)
			}
		})
	}
}
