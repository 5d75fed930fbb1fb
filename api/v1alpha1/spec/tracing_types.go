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

// SidecarTracing turns on OpenTelemetry tracing in the injected sidecars: a span per
// request, exported over OTLP/HTTP, with the W3C traceparent passed on to the app.
type SidecarTracing struct {
	// OTLPEndpoint is the collector's OTLP/HTTP base URL, such as
	// http://otel-collector.observability:4318 (/v1/traces is appended). The injector
	// writes it as the sidecar's --otlp-endpoint; pods injected before a change keep the
	// previous value until they restart.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="isURL(self)",message="must be an http:// or https:// base URL without credentials or query, such as http://otel-collector:4318"
	// +kubebuilder:validation:Pattern=`^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/([A-Za-z0-9._~/-]|%[0-9A-Fa-f]{2})*)?$`
	OTLPEndpoint string `json:"otlpEndpoint"`

	// HeadersSecretRef names a key of a Secret in the policy's namespace whose value is
	// sent as headers with every export (the collector's credentials, say), in the form of
	// OTEL_EXPORTER_OTLP_HEADERS: key=value pairs separated by commas, values
	// percent-encoded (authorization=Bearer%20abc). The injector passes it as the
	// sidecar's OTEL_EXPORTER_OTLP_TRACES_HEADERS, from the Secret.
	// +optional
	HeadersSecretRef *SecretKeySelector `json:"headersSecretRef,omitempty"`
}
