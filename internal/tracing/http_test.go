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
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// traced is a proxy to an app that records the trace context it receives, wrapped by
// Handler, with the spans it ends in a recorder.
type traced struct {
	handler  http.Handler
	recorder *tracetest.SpanRecorder
	appSaw   chan http.Header
}

func newTraced(t testing.TB) *traced {
	t.Helper()
	tr := &traced{recorder: tracetest.NewSpanRecorder(), appSaw: make(chan http.Header, 1)}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.appSaw <- r.Header.Clone()
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusBadGateway)
		}
		io.WriteString(w, "app")
	}))
	t.Cleanup(app.Close)
	u, _ := url.Parse(app.URL)
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) }}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tr.recorder))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	mux := http.NewServeMux()
	mux.HandleFunc("/auth/login", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	mux.Handle("/", proxy)
	tr.handler = Handler(mux, tp, []string{"/auth/login"})
	return tr
}

func (tr *traced) serve(t *testing.T, method, target string, header http.Header) (*httptest.ResponseRecorder, sdktrace.ReadOnlySpan) {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	tr.handler.ServeHTTP(w, r)
	ended := tr.recorder.Ended()
	if len(ended) == 0 {
		t.Fatal("no span ended")
	}
	return w, ended[len(ended)-1]
}

func (tr *traced) appHeader(t *testing.T) http.Header {
	t.Helper()
	select {
	case h := <-tr.appSaw:
		return h
	default:
		t.Fatal("the request did not reach the app")
		return nil
	}
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

const clientTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestAProxiedRequestContinuesTheClientsTraceAndTheAppContinuesTheSidecarsSpan(t *testing.T) {
	tr := newTraced(t)
	w, span := tr.serve(t, http.MethodGet, "/orders/7?access_token=secret", http.Header{"Traceparent": {clientTraceparent}})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if got := span.SpanContext().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("span trace id %s, want the client's", got)
	}
	if got := span.Parent().SpanID().String(); got != "00f067aa0ba902b7" {
		t.Errorf("span parent %s, want the client's span", got)
	}
	if span.Name() != "GET proxy" || span.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v, want a server span GET proxy", span.Name(), span.SpanKind())
	}
	app := tr.appHeader(t)
	want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + span.SpanContext().SpanID().String() + "-01"
	if got := app.Get("Traceparent"); got != want {
		t.Errorf("the app got traceparent %q, want the sidecar span's %q", got, want)
	}
	a := attrs(span)
	if a["url.path"] != "/orders/7" || a["http.request.method"] != "GET" || a["http.response.status_code"] != "200" {
		t.Errorf("attributes %v", a)
	}
	for k, v := range a {
		if strings.Contains(v, "secret") {
			t.Errorf("attribute %s carries the query: %q", k, v)
		}
	}
}

func TestARequestWithoutTraceContextStartsATraceThatReachesTheApp(t *testing.T) {
	tr := newTraced(t)
	_, span := tr.serve(t, http.MethodPost, "/orders", nil)
	if span.Parent().IsValid() {
		t.Errorf("span has parent %v", span.Parent())
	}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(t.Context(), propagation.HeaderCarrier(tr.appHeader(t))))
	if sc.SpanID() != span.SpanContext().SpanID() || sc.TraceID() != span.SpanContext().TraceID() {
		t.Errorf("the app got %v, want the sidecar's span %v", sc, span.SpanContext())
	}
}

// A client's forged or malformed trace context never reaches the app as sent: the app sees
// the sidecar's span, and the client's tracestate is dropped with an invalid traceparent.
func TestHostileTraceContextIsReplacedBeforeTheApp(t *testing.T) {
	for name, h := range map[string]http.Header{
		"malformed traceparent":   {"Traceparent": {"00-zz-zz-01"}, "Tracestate": {"evil=1"}},
		"all-zero trace id":       {"Traceparent": {"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}},
		"two traceparent headers": {"Traceparent": {"garbage", clientTraceparent}},
		"huge traceparent":        {"Traceparent": {strings.Repeat("a", 8<<10)}},
	} {
		t.Run(name, func(t *testing.T) {
			tr := newTraced(t)
			_, span := tr.serve(t, http.MethodGet, "/", h)
			app := tr.appHeader(t)
			if got := app.Values("Traceparent"); len(got) != 1 || !strings.Contains(got[0], span.SpanContext().SpanID().String()) {
				t.Errorf("the app got traceparent %q, want only the sidecar span's", got)
			}
			if got := app.Get("Tracestate"); got == "evil=1" {
				t.Errorf("the app got the client's tracestate with an invalid traceparent")
			}
		})
	}
}

func TestSpanNamesAreAFixedList(t *testing.T) {
	tr := newTraced(t)
	for _, c := range []struct{ method, path, want string }{
		{"POST", "/auth/login", "POST /auth/login"},
		{"GET", "/auth/login/../../admin", "GET proxy"},
		{"BREW", "/coffee", "_OTHER proxy"},
		{"GET", "/users/42/secret-report", "GET proxy"},
	} {
		_, span := tr.serve(t, c.method, c.path, nil)
		if span.Name() != c.want {
			t.Errorf("%s %s: span %q, want %q", c.method, c.path, span.Name(), c.want)
		}
		select {
		case <-tr.appSaw:
		default:
		}
	}
}

func TestAServerErrorMarksTheSpan(t *testing.T) {
	tr := newTraced(t)
	_, span := tr.serve(t, http.MethodGet, "/fail", nil)
	if span.Status().Code.String() != "Error" || attrs(span)["http.response.status_code"] != "502" {
		t.Errorf("status %v, attributes %v", span.Status(), attrs(span))
	}
	_, span = tr.serve(t, http.MethodPost, "/auth/login", nil)
	if span.Status().Code.String() == "Error" || attrs(span)["http.response.status_code"] != "401" {
		t.Errorf("a 401 is not a server error: status %v, attributes %v", span.Status(), attrs(span))
	}
}

// FuzzTraceHeaders: whatever trace headers a client sends, the app receives exactly one
// traceparent, the sidecar span's.
func FuzzTraceHeaders(f *testing.F) {
	f.Add(clientTraceparent, "rojo=00f067aa0ba902b7")
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "")
	f.Add("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a=b,c=d")
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", strings.Repeat("k=v,", 64))
	f.Add("", "\x00\xff")
	tr := newTraced(f)
	f.Fuzz(func(t *testing.T, traceparent, tracestate string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Traceparent"] = []string{traceparent}
		r.Header["Tracestate"] = []string{tracestate}
		tr.handler.ServeHTTP(httptest.NewRecorder(), r)
		app := <-tr.appSaw
		ended := tr.recorder.Ended()
		span := ended[len(ended)-1]
		tr.recorder.Reset()
		if got := app.Values("Traceparent"); len(got) != 1 || !strings.Contains(got[0], span.SpanContext().SpanID().String()) {
			t.Fatalf("traceparent %q: the app got %q", traceparent, got)
		}
	})
}
