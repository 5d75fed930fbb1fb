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

// Package tracing starts OpenTelemetry tracing (the SDK, exporting over OTLP/HTTP) for
// tollgate's binaries. It is off unless an endpoint is configured, and then costs nothing:
// callers do not install it at all.
package tracing

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The standard variables that turn tracing on (and OTEL_SDK_DISABLED, off). The exporter
// reads the OTLP ones (config.go); the SDK reads OTEL_TRACES_SAMPLER, OTEL_BSP_*,
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES itself.
const (
	EndpointEnv       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	TracesEndpointEnv = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	DisabledEnv       = "OTEL_SDK_DISABLED"
)

// Enabled reports whether tracing is configured: an --otlp-endpoint flag, or one of the
// standard OTLP endpoint variables, and not OTEL_SDK_DISABLED=true.
func Enabled(endpoint string) bool {
	if strings.EqualFold(strings.TrimSpace(os.Getenv(DisabledEnv)), "true") {
		return false
	}
	return endpoint != "" || os.Getenv(EndpointEnv) != "" || os.Getenv(TracesEndpointEnv) != ""
}

// Provider is a running tracer provider; Shutdown flushes the spans not yet exported.
type Provider = sdktrace.TracerProvider

// Start installs a tracer provider that batches spans to an OTLP/HTTP collector, as the
// global provider, with the W3C trace context as the global propagator. endpoint is the
// collector's base URL (http://collector:4318; /v1/traces is appended, as for
// OTEL_EXPORTER_OTLP_ENDPOINT); empty: from the standard variables. service names the
// binary unless OTEL_SERVICE_NAME says otherwise. onError hears what the SDK and the
// exporter fail at (a collector down, a batch dropped); their errors carry no header and
// no span content.
func Start(ctx context.Context, endpoint, service, version string, onError func(error)) (*Provider, error) {
	cfg, err := configFromEnv(endpoint, os.Getenv)
	if err != nil {
		return nil, err
	}
	exp, err := otlptrace.New(ctx, newClient(cfg))
	if err != nil {
		return nil, fmt.Errorf("the OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service), attribute.String("service.version", version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("the trace resource: %w", err)
	}
	if onError != nil {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(onError))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp, nil
}
