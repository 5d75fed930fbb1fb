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
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tollgate-dev/tollgate/internal/otlptest"
)

// A client chooses the path its request's span records. A path that is not UTF-8 must not
// make the batch it is in unencodable (every span in it lost: OTLP strings are UTF-8), and
// a long one must not be kept whole in every queued span (2,048 spans of 64 KiB paths, the
// sidecar's request size, are 128 MiB in a pod whose collector is slow). Both go through the
// real exporter to a real OTLP receiver.
func TestHostilePathsNeitherLoseTheBatchNorGrowTheSpans(t *testing.T) {
	rc := otlptest.Start(t)
	cfg, err := configFromEnv(rc.URL, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	exp, err := otlptrace.New(t.Context(), newClient(cfg))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tp, nil)

	long := "/" + strings.Repeat("a", 60<<10)
	for _, target := range []string{"/fine", "/caf%C3%A9%FF%FE", long} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, target, nil))
	}
	if err := tp.ForceFlush(t.Context()); err != nil {
		t.Fatalf("exporting the batch: %v", err)
	}
	spans := rc.Spans()
	if len(spans) != 3 {
		t.Fatalf("the collector got %d spans, want 3 (errors: %v)", len(spans), rc.Errors())
	}
	for _, s := range spans {
		for _, a := range s.GetAttributes() {
			if a.GetKey() != "url.path" {
				continue
			}
			v := a.GetValue().GetStringValue()
			if !utf8.ValidString(v) || len(v) > maxPathAttribute {
				t.Errorf("url.path of %d bytes (UTF-8: %v), want UTF-8 of at most %d", len(v), utf8.ValidString(v), maxPathAttribute)
			}
		}
	}
}

func FuzzPathAttribute(f *testing.F) {
	for _, s := range []string{"/fine", "/caf\xc3\xa9\xff\xfe", strings.Repeat("é", 600), strings.Repeat("a", 1023) + "é", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got := pathAttribute(p)
		if !utf8.ValidString(got) || len(got) > maxPathAttribute {
			t.Fatalf("pathAttribute(%q) = %q: %d bytes, UTF-8 %v", p, got, len(got), utf8.ValidString(got))
		}
		if len(p) <= maxPathAttribute && utf8.ValidString(p) && got != p {
			t.Fatalf("pathAttribute(%q) = %q, want it unchanged", p, got)
		}
		if valid := strings.ToValidUTF8(p, "\uFFFD"); !strings.HasPrefix(valid, got) || len(valid)-len(got) > 0 && len(got) < maxPathAttribute-utf8.UTFMax {
			t.Fatalf("pathAttribute(%q) = %q, not the longest valid prefix", p, got)
		}
	})
}
