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

package sidecar

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkCORS is one proxied request through the handler, without the network between
// client and sidecar, so that allocs/op are exact: without spec.cors, with it and no Origin,
// with an allowed Origin; and a preflight, which the sidecar answers alone.
func BenchmarkCORS(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	}))
	b.Cleanup(upstream.Close)
	s, _ := benchServer(b, DefaultTokenCacheSize, upstream.URL)
	handler := s.Handler()
	tok, _, err := s.Tokens().Issue("7", "clerk", "session")
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name, policy, origin string
		preflight            bool
	}{
		{"off", testPolicyYAML, "", false},
		{"on-without-origin", corsPolicyYAML(testCORS), "", false},
		{"on-allowed-origin", corsPolicyYAML(testCORS), allowedOrigin, false},
		{"preflight", corsPolicyYAML(testCORS), allowedOrigin, true},
	} {
		p, err := ParsePolicy([]byte(tc.policy))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.ApplyPolicy(p); err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest("POST", "/orders", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			want := http.StatusOK
			if tc.preflight {
				req = httptest.NewRequest("OPTIONS", "/orders", nil)
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "authorization")
				want = http.StatusNoContent
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != want {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
