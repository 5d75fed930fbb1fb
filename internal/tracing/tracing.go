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

// Package tracing starts OpenTelemetry tracing (the SDK with the OTLP/HTTP exporter) for
// tollgate's binaries. It is off unless an endpoint is configured, and then costs nothing:
// callers do not install it at all.
package tracing

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The standard variables that turn tracing on (and OTEL_SDK_DISABLED, off). The SDK reads
// the others itself: OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, OTEL_BSP_*,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES...
const (
	EndpointEnv       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	TracesEndpointEnv = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	DisabledEnv       = "OTEL_SDK_DISABLED"
)

// tracesPath is what OTLP/HTTP appends to a base endpoint.
const tracesPath = "/v1/traces"

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
// binary unless OTEL_SERVICE_NAME says otherwise.
//
// The exporter is OTLP over HTTP with protobuf, not gRPC: gRPC's packages would cost every
// sidecar memory for nothing else.
func Start(ctx context.Context, endpoint, service, version string) (*Provider, error) {
	var opts []otlptracehttp.Option
	if endpoint != "" {
		u, err := endpointURL(endpoint)
		if err != nil {
			return nil, err
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("the OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service), attribute.String("service.version", version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("the trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp, nil
}

// endpointURL checks an --otlp-endpoint value and appends the traces path.
func endpointURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("--otlp-endpoint %q: must be an http:// or https:// URL such as http://otel-collector:4318", endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + tracesPath
	return u.String(), nil
}
