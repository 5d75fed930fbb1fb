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
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// BenchmarkAuthorizer is the cost of one check in authorizer mode, next to BenchmarkProxy's
// cost of one proxied request: "check" is Server.Check alone (what the gRPC service adds
// its protobuf handling to), "nginx-http" a whole auth_request round trip over a real
// listener, client included, as BenchmarkProxy measures its cases.
func BenchmarkAuthorizer(b *testing.B) {
	for _, mode := range []struct {
		name  string
		cache int
	}{{"cached", DefaultTokenCacheSize}, {"cold", 0}} {
		s := benchAuthorizer(b, mode.cache)
		tok, _, err := s.Tokens().Issue("7", "clerk", "session")
		if err != nil {
			b.Fatal(err)
		}
		b.Run("check-"+mode.name, func(b *testing.B) {
			h := http.Header{"Authorization": {"Bearer " + tok}}
			b.ReportAllocs()
			for b.Loop() {
				if d := s.Check(CheckRequest{Method: "GET", Target: "/orders", Header: h}); d.Status != http.StatusOK {
					b.Fatalf("status %d %s", d.Status, d.Body)
				}
			}
		})
		b.Run("nginx-http-"+mode.name, func(b *testing.B) {
			front := httptest.NewServer(s.AuthorizerHandler())
			defer front.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}
			defer client.CloseIdleConnections()
			target := front.URL + CheckOriginalPath
			benchRoundTrips(b, client, func() *http.Request {
				req, _ := http.NewRequest("GET", target, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("X-Original-Method", "GET")
				req.Header.Set("X-Original-URI", "/orders")
				return req
			})
		})
	}
}

func benchAuthorizer(b *testing.B, cache int) *Server {
	b.Helper()
	policy, err := ParsePolicy([]byte(testPolicyYAML))
	if err != nil {
		b.Fatal(err)
	}
	keys, err := EphemeralKeys(keyset.ES256, time.Now().Add(-time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	st := store.NewMemory()
	b.Cleanup(func() { _ = st.Close() })
	s, err := NewServer(Config{Policy: policy, Keys: keys, Store: st, TokenCacheSize: cache, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	s.Start(b.Context())
	return s
}
