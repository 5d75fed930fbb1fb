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
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/tollgate-dev/tollgate/internal/otlptest"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// batch is two resources' spans, as otlptrace hands them to the client.
func batch(names ...string) []*tracepb.ResourceSpans {
	var out []*tracepb.ResourceSpans
	for i, name := range names {
		out = append(out, &tracepb.ResourceSpans{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{
				Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf("svc-%d", i)}},
			}}},
			ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
				TraceId: []byte("0123456789abcdef"), SpanId: []byte{1, 2, 3, 4, 5, 6, 7, byte(i)}, Name: name,
				StartTimeUnixNano: 1, EndTimeUnixNano: 2,
			}}}},
		})
	}
	return out
}

func testClient(t *testing.T, rc *otlptest.Receiver, env map[string]string) *client {
	t.Helper()
	cfg, err := configFromEnv(rc.URL, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(cfg)
	c.firstWait = 10 * time.Millisecond
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

func names(rc *otlptest.Receiver) []string {
	var out []string
	for _, s := range rc.Spans() {
		out = append(out, s.Service+"/"+s.GetName())
	}
	return out
}

// The request is the collector's ExportTraceServiceRequest, every resource in it, decoded
// by the generated OTLP types; the configured headers and gzip reach the collector.
func TestABatchReachesTheCollectorAsAnExportTraceServiceRequest(t *testing.T) {
	for _, compression := range []string{"none", "gzip"} {
		t.Run(compression, func(t *testing.T) {
			rc := otlptest.Start(t)
			c := testClient(t, rc, map[string]string{
				"OTEL_EXPORTER_OTLP_HEADERS":            "authorization=Bearer%20s3cr3t,x-tenant=shop",
				"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": compression,
			})
			if err := c.UploadTraces(t.Context(), batch("GET proxy", "POST /auth/login")); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(names(rc), " "); got != "svc-0/GET proxy svc-1/POST /auth/login" || len(rc.Errors()) > 0 {
				t.Fatalf("received %q, malformed %v", got, rc.Errors())
			}
			h := rc.Headers()[0]
			if h.Get("Authorization") != "Bearer s3cr3t" || h.Get("X-Tenant") != "shop" {
				t.Errorf("headers %v", h)
			}
			if gz := h.Get("Content-Encoding") == "gzip"; gz != (compression == "gzip") {
				t.Errorf("Content-Encoding %q with compression %s", h.Get("Content-Encoding"), compression)
			}
		})
	}
}

// 429, 502, 503 and 504 are retried, after the collector's Retry-After when it sends one.
func TestTheCollectorsBusyAnswersAreRetried(t *testing.T) {
	rc := otlptest.Start(t)
	rc.FailNext(
		otlptest.Failure{Status: http.StatusTooManyRequests, RetryAfter: "1"},
		otlptest.Failure{Status: http.StatusServiceUnavailable},
		otlptest.Failure{Status: http.StatusBadGateway, RetryAfter: "garbage"},
		otlptest.Failure{Status: http.StatusGatewayTimeout, RetryAfter: "0"},
	)
	c := testClient(t, rc, nil)
	if err := c.UploadTraces(t.Context(), batch("GET proxy")); err != nil {
		t.Fatal(err)
	}
	if got := len(rc.Headers()); got != 5 || len(rc.Spans()) != 1 {
		t.Fatalf("%d attempts, %d spans; want 5 and 1", got, len(rc.Spans()))
	}
}

// Other failures are not retried, and a batch the collector asks to hold longer than the
// client waits is dropped at once rather than queued behind.
func TestABatchIsDroppedWhenRetryingCannotHelp(t *testing.T) {
	for name, f := range map[string]otlptest.Failure{
		"bad request":           {Status: http.StatusBadRequest},
		"server error":          {Status: http.StatusInternalServerError},
		"an hour's Retry-After": {Status: http.StatusServiceUnavailable, RetryAfter: "3600"},
		"a date next year":      {Status: http.StatusTooManyRequests, RetryAfter: time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat)},
		"an absurd number":      {Status: http.StatusTooManyRequests, RetryAfter: "99999999999999999999"},
	} {
		t.Run(name, func(t *testing.T) {
			rc := otlptest.Start(t)
			rc.FailNext(f, f, f, f, f)
			c := testClient(t, rc, nil)
			if err := c.UploadTraces(t.Context(), batch("GET proxy")); err == nil {
				t.Fatal("no error")
			}
			if got := len(rc.Headers()); got != 1 {
				t.Fatalf("%d attempts, want 1", got)
			}
		})
	}
}

// A redirect is not followed: the headers, credentials maybe, go to the configured
// collector only.
func TestARedirectIsNotFollowed(t *testing.T) {
	rc, elsewhere := otlptest.Start(t), otlptest.Start(t)
	rc.FailNext(otlptest.Failure{Status: http.StatusTemporaryRedirect, Location: elsewhere.URL + "/v1/traces"})
	c := testClient(t, rc, map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=s3cr3t"})
	if err := c.UploadTraces(t.Context(), batch("GET proxy")); err == nil || !strings.Contains(err.Error(), "307") {
		t.Fatalf("error %v, want the redirect as a failure", err)
	}
	if got := len(elsewhere.Headers()); got != 0 {
		t.Fatalf("the redirect's target got %d requests", got)
	}
}

// A collector that stays busy gets a bounded number of tries, within the export's deadline.
func TestRetriesStopAtTheExportsDeadline(t *testing.T) {
	rc := otlptest.Start(t)
	busy := otlptest.Failure{Status: http.StatusServiceUnavailable, RetryAfter: "1"}
	rc.FailNext(busy, busy, busy, busy, busy, busy, busy, busy)
	c := testClient(t, rc, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	if err := c.UploadTraces(ctx, batch("GET proxy")); err == nil {
		t.Fatal("no error")
	}
	if got := len(rc.Headers()); got != 2 {
		t.Fatalf("%d attempts within 1.5 s of 1 s Retry-Afters, want 2", got)
	}
}

// Errors reach the log: they name the endpoint and the status, never a header value (a
// credential) nor what the collector answered (it may quote the spans).
func TestExportErrorsCarryNoHeaderNorAnswer(t *testing.T) {
	rc := otlptest.Start(t)
	rc.FailNext(otlptest.Failure{Status: http.StatusUnauthorized, Body: "bad token s3cr3t for span GET /users/42"})
	c := testClient(t, rc, map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20s3cr3t"})
	err := c.UploadTraces(t.Context(), batch("GET proxy"))
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), rc.URL+"/v1/traces") {
		t.Fatalf("error %v, want the endpoint and the status", err)
	}
	if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "/users/42") {
		t.Fatalf("error carries a header or the answer: %v", err)
	}
}

// A collector that takes the request but rejects spans says so in partial_success.
func TestRejectedSpansAreReported(t *testing.T) {
	rc := otlptest.Start(t)
	answer, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{PartialSuccess: &collectortrace.ExportTracePartialSuccess{
		RejectedSpans: 3, ErrorMessage: "span GET /users/42 too large",
	}})
	rc.FailNext(otlptest.Failure{Status: http.StatusOK, ContentType: "application/x-protobuf", Body: string(answer)})
	c := testClient(t, rc, nil)
	err := c.UploadTraces(t.Context(), batch("GET proxy"))
	if err == nil || !strings.Contains(err.Error(), "rejected 3 spans") || strings.Contains(err.Error(), "/users/42") {
		t.Fatalf("error %v, want the count of rejected spans and not the collector's message", err)
	}
}

// Stop interrupts a batch waiting to be retried: shutdown is never held by a collector.
func TestStopInterruptsRetries(t *testing.T) {
	rc := otlptest.Start(t)
	rc.FailNext(otlptest.Failure{Status: http.StatusServiceUnavailable, RetryAfter: "10"})
	c := testClient(t, rc, nil)
	done := make(chan error, 1)
	go func() { done <- c.UploadTraces(context.Background(), batch("GET proxy")) }()
	testwait.Until(t, 10*time.Second, "the first attempt", func() (bool, string) { return len(rc.Headers()) == 1, "" })
	_ = c.Stop(context.Background())
	if err := <-done; err == nil {
		t.Fatal("no error after Stop")
	}
	if got := len(rc.Headers()); got != 1 {
		t.Fatalf("%d attempts, want 1", got)
	}
}

// Start wires the SDK to the client: a span ended in this process reaches the collector
// with the service's name.
func TestStartExportsTheSpansOfTheProcess(t *testing.T) {
	rc := otlptest.Start(t)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "10")
	var exportErrs []error
	tp, err := Start(t.Context(), rc.URL, "tollgate-test", "v0", func(err error) { exportErrs = append(exportErrs, err) })
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(t.Context(), "GET proxy")
	span.End()
	if err := tp.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	spans := rc.Spans()
	if len(spans) != 1 || spans[0].Service != "tollgate-test" || spans[0].GetName() != "GET proxy" ||
		hex.EncodeToString(spans[0].GetSpanId()) != span.SpanContext().SpanID().String() {
		t.Fatalf("received %v (errors %v)", spans, exportErrs)
	}
}

func TestConfigFromTheStandardVariables(t *testing.T) {
	for _, c := range []struct {
		name, flag string
		env        map[string]string
		wantURL    string
		check      func(exportConfig) bool
	}{
		{name: "the flag is a base URL", flag: "http://collector:4318", wantURL: "http://collector:4318/v1/traces"},
		{name: "the flag with a path", flag: "https://gw.example/otlp/", wantURL: "https://gw.example/otlp/v1/traces"},
		{name: "the flag over the variables", flag: "http://a:4318", env: map[string]string{TracesEndpointEnv: "http://b:4318/x"}, wantURL: "http://a:4318/v1/traces"},
		{name: "the traces endpoint is used as is", env: map[string]string{TracesEndpointEnv: "http://b:4318/custom", EndpointEnv: "http://c:4318"}, wantURL: "http://b:4318/custom"},
		{name: "the general endpoint is a base URL", env: map[string]string{EndpointEnv: "http://c:4318"}, wantURL: "http://c:4318/v1/traces"},
		{name: "defaults", flag: "http://a:4318", wantURL: "http://a:4318/v1/traces", check: func(c exportConfig) bool {
			return c.timeout == 10*time.Second && !c.gzip && c.tls == nil && len(c.headers) == 0
		}},
		{name: "timeout and compression, the traces form first", flag: "http://a:4318", wantURL: "http://a:4318/v1/traces", env: map[string]string{
			"OTEL_EXPORTER_OTLP_TIMEOUT": "5000", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "250", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
		}, check: func(c exportConfig) bool { return c.timeout == 250*time.Millisecond && c.gzip }},
		{name: "headers, the traces form over the general one", flag: "http://a:4318", wantURL: "http://a:4318/v1/traces", env: map[string]string{
			"OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": " api-key = k%3Dv%2C , x=y ,",
		}, check: func(c exportConfig) bool {
			return c.headers.Get("Api-Key") == "k=v," && c.headers.Get("X") == "y" && c.headers.Get("A") == ""
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := configFromEnv(c.flag, func(k string) string { return c.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.url != c.wantURL || (c.check != nil && !c.check(cfg)) {
				t.Fatalf("config %+v, want url %s", cfg, c.wantURL)
			}
		})
	}
}

// Hostile or mistaken settings stop the binary at start with the variable's name, and never
// echo a header's value.
func TestBadSettingsAreRefusedWithoutEchoingSecrets(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"credentials in the endpoint":   {EndpointEnv: "http://user:s3cr3t@collector:4318"},
		"a query in the endpoint":       {TracesEndpointEnv: "http://collector:4318/v1/traces?key=s3cr3t"},
		"not a URL":                     {EndpointEnv: "collector:4318"},
		"a gRPC collector":              {EndpointEnv: "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
		"JSON":                          {EndpointEnv: "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
		"a header without a value":      {EndpointEnv: "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "authorization"},
		"a header with a newline":       {EndpointEnv: "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "authorization=s3cr3t%0D%0AHost: evil"},
		"a header name with a space":    {EndpointEnv: "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "bad name=s3cr3t"},
		"a bad escape":                  {EndpointEnv: "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "a=s3cr3t%zz"},
		"a timeout in seconds":          {EndpointEnv: "http://c:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"},
		"an unknown compression":        {EndpointEnv: "http://c:4318", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
		"a missing CA file":             {EndpointEnv: "https://c:4318", "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"},
		"a client key without its cert": {EndpointEnv: "https://c:4318", "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/tmp/key.pem"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := configFromEnv("", func(k string) string { return env[k] })
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("the error echoes a secret: %v", err)
			}
		})
	}
	if _, err := configFromEnv("http://u:s3cr3t@c:4318", func(string) string { return "" }); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("--otlp-endpoint with credentials: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"-1":                            0,
		"1.5":                           0,
		"99999999999999999999":          24 * time.Hour,
		"Thu, 01 Jan 2026 00:00:07 GMT": 7 * time.Second,
		"Wed, 31 Dec 2025 00:00:00 GMT": 0,
		"Fri, 01 Jan 2027 00:00:00 GMT": 24 * time.Hour,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("Retry-After %q: %s, want %s", v, got, want)
		}
	}
}

// FuzzCollectorAnswer: whatever a collector (or whatever answers at its address) sends
// back, reading it neither panics nor reports a negative count, and a Retry-After is a
// wait between 0 and a day.
func FuzzCollectorAnswer(f *testing.F) {
	ok, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{PartialSuccess: &collectortrace.ExportTracePartialSuccess{RejectedSpans: 2, ErrorMessage: "x"}})
	f.Add(ok, "120")
	f.Add([]byte{0x0a, 0x02, 0x08, 0xff}, "Fri, 01 Jan 2027 00:00:00 GMT")
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, "-5")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, answer []byte, after string) {
		if n := rejectedSpans(answer); n < 0 {
			t.Fatalf("%d rejected spans", n)
		}
		if d := retryAfter(after, time.Now()); d < 0 || d > 24*time.Hour {
			t.Fatalf("Retry-After %q: %s", after, d)
		}
	})
}

// FuzzHeaders: a headers variable is accepted only as valid HTTP headers, and a refusal
// never quotes it.
func FuzzHeaders(f *testing.F) {
	f.Add("authorization=Bearer%20token")
	f.Add("a=1,b=2,,c = 3 ")
	f.Add("a=%0d%0aInjected: yes")
	f.Add("=v")
	f.Fuzz(func(t *testing.T, v string) {
		h, err := parseHeaders(v)
		if err != nil {
			if len(v) > 8 && strings.Contains(err.Error(), v) {
				t.Fatalf("the error quotes the variable: %v", err)
			}
			return
		}
		req, _ := http.NewRequest(http.MethodPost, "http://c/v1/traces", nil)
		req.Header = h
		if err := req.Header.Write(&strings.Builder{}); err != nil {
			t.Fatal(err)
		}
		for k, vs := range h {
			if !validHeaderName(k) {
				t.Fatalf("header name %q", k)
			}
			for _, x := range vs {
				if strings.ContainsAny(x, "\r\n\x00") {
					t.Fatalf("header %s value %q", k, x)
				}
			}
		}
	})
}

// A collector's answer is bounded in its headers as in its body: a hostile or broken one
// cannot make every sidecar that exports to it read megabytes of header lines (net/http's
// default allows 10 MiB per answer).
func TestACollectorsHugeHeadersAreRefused(t *testing.T) {
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("X-Padding", strings.Repeat("a", 1<<20))
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	cfg, err := configFromEnv(srv.URL, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(cfg)
	c.firstWait = time.Millisecond
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	if err := c.UploadTraces(t.Context(), batch("GET proxy")); err == nil {
		t.Fatal("an answer with 1 MiB of headers was taken")
	}
	if served.Load() == 0 {
		t.Fatal("the collector was never reached")
	}
}

// A collector's answer is bounded in its body too: one that sends 128 MiB (or never stops)
// gets a few hundred KiB read, at most what the sockets buffer besides, and the batch
// counts as taken; the sidecar neither holds the answer in memory nor waits for its end.
func TestACollectorsHugeAnswerIsReadOnlyInPart(t *testing.T) {
	const size = 128 << 20
	var written atomic.Int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
		chunk := make([]byte, 32<<10) // zeros: field number 0, malformed, so 0 rejected spans
		for written.Load() < size {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	cfg, err := configFromEnv(srv.URL, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(cfg)
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	if err := c.UploadTraces(t.Context(), batch("GET proxy")); err != nil {
		t.Fatalf("a 200 with an endless body: %v", err)
	}
	select {
	case <-done:
	case <-t.Context().Done():
		t.Fatal("the collector's handler never ended")
	}
	if n := written.Load(); n >= size/4 {
		t.Fatalf("the collector got %d MiB of its answer read, want a bounded part", n>>20)
	}
}
