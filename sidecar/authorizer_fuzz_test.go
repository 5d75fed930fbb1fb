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
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// FuzzCheck asks the authorizer about arbitrary original requests, as a gateway relays them
// (method, request target, one header): it must never panic, answer only 200, 400, 401 or
// 403, and allow only what the proxy's rules allow: a clerk's token never passes for a path
// whose clean form is under /admin, and nothing passes whose path CleanPath refuses.
func FuzzCheck(f *testing.F) {
	policy, err := ParsePolicy([]byte(testPolicyYAML))
	if err != nil {
		f.Fatal(err)
	}
	keys, err := EphemeralKeys(keyset.ES256, time.Now().Add(-time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	st := store.NewMemory()
	f.Cleanup(func() { _ = st.Close() })
	s, err := NewServer(Config{Policy: policy, Keys: keys, Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	s.Start(f.Context())
	clerk, _, err := s.Tokens().Issue("7", "clerk", "session")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []struct{ method, target, name, value string }{
		{"GET", "/public/x", "", ""},
		{"GET", "/admin/x", "", ""},
		{"GET", "/public/../admin", "Accept", "*/*"},
		{"GET", "/public/%2e%2e/admin", "", ""},
		{"GET", "//admin", "", ""},
		{"GET", "/%61dmin?x=1", "", ""},
		{"GET", "/public%2F..%2Fadmin", "", ""},
		{"POST", "/orders?_method=DELETE", "", ""},
		{"POST", "/orders", "X-HTTP-Method-Override", "GET"},
		{"get", "/public/x", "X_Auth_Role", "admin"},
		{"GET", "/public/x#/../admin", "X-Original-URL", "/admin"},
		{"GET", "*", "Upgrade", "h2c"},
		{"GET", "http://h/admin", "Authorization", "Bearer a, Bearer b"},
	} {
		f.Add(seed.method, seed.target, seed.name, seed.value)
	}
	f.Fuzz(func(t *testing.T, method, target, name, value string) {
		h := http.Header{"Authorization": {"Bearer " + clerk}}
		if name != "" {
			h[name] = append(h[name], value)
		}
		d := s.Check(CheckRequest{Method: method, Target: target, Header: h})
		switch d.Status {
		case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		default:
			t.Fatalf("%q %q (%s: %q): status %d", method, target, name, value, d.Status)
		}
		if d.Status != http.StatusOK {
			if len(d.Body) == 0 {
				t.Fatalf("%q %q: %d without a body", method, target, d.Status)
			}
			return
		}
		escaped, _, _ := strings.Cut(target, "?")
		clean, err := CleanPath(escaped)
		if err != nil {
			t.Fatalf("%q %q: allowed, but CleanPath refuses its path: %v", method, target, err)
		}
		if clean == "/admin" || strings.HasPrefix(clean, "/admin/") {
			t.Fatalf("%q %q (%s: %q): a clerk passes for %s", method, target, name, value, clean)
		}
	})
}
