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
	"net/http"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// maxPathAttribute bounds the url.path a span records (the client chooses it).
const maxPathAttribute = 1024

// pathAttribute is p as a span records it: valid UTF-8 (OTLP's strings must be: one
// invalid path would make the whole batch it is in unencodable, every span in it lost),
// and at most maxPathAttribute bytes (a queued span must not hold a 64 KiB path).
func pathAttribute(p string) string {
	if len(p) <= maxPathAttribute && utf8.ValidString(p) {
		return p
	}
	p = strings.ToValidUTF8(p, "\uFFFD")
	if len(p) <= maxPathAttribute {
		return p
	}
	end := maxPathAttribute
	for end > 0 && !utf8.RuneStart(p[end]) {
		end--
	}
	return p[:end]
}

// tracerName is the instrumentation scope of the HTTP spans.
const tracerName = "github.com/tollgate-dev/tollgate/internal/tracing"

// Handler wraps h, the sidecar's Handler, so that every request is a server span of tp:
// a child of the client's W3C traceparent when it sent one, and the parent of the app's
// work, since the proxied request carries the span's own traceparent. Spans carry the
// method, the path (never the query, which may hold credentials), and the status; never a
// token, a claim or a password. A request to one of endpoints (the paths the sidecar
// answers itself) is named after its path; any other is "proxy": span names stay a short,
// fixed list whatever clients send. The sidecar installs it only when tracing is
// configured, so a sidecar without tracing runs its handler untouched.
func Handler(h http.Handler, tp trace.TracerProvider, endpoints []string) http.Handler {
	tracer := tp.Tracer(tracerName)
	prop := propagation.TraceContext{}
	names := map[string]string{}
	for _, p := range endpoints {
		names[p] = p
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		name, ok := names[r.URL.Path]
		if !ok {
			name = "proxy"
		}
		ctx, span := tracer.Start(ctx, spanMethod(r.Method)+" "+name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", spanMethod(r.Method)),
				attribute.String("url.path", pathAttribute(r.URL.Path)),
			))
		defer span.End()
		// The app continues the sidecar's span, not the client's: replace what the client
		// sent (an invalid traceparent included) with the span's context.
		r.Header.Del("Traceparent")
		r.Header.Del("Tracestate")
		prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r.WithContext(ctx))
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	})
}

// spanMethod bounds the methods that name spans, as OpenTelemetry's HTTP conventions do: a
// client's made-up method is _OTHER.
func spanMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// statusWriter records the status of the answer. Unwrap gives http.ResponseController (the
// proxy's flushes and deadlines, upgrades) the connection's own writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
