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
	"net/http"
	"testing"
)

// A request with a token the cache knows must cost the sidecar no allocation of its own on
// the way to the proxy: the cache lookup hashes the token in place, and the identity headers
// are built once per verified token. Every allocation here would be paid by every request
// (issue 16: at most five over a bare reverse proxy, counting the app's).
func TestTheCachedProxyPathAllocatesNothingOfItsOwn(t *testing.T) {
	h := newHarness(t)
	tok := h.login("bob@example.com", bobPassword).AccessToken
	tokens := h.server.Tokens()
	id, err := tokens.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := tokens.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("a cached Verify allocates %v times", n)
	}

	fwd := forwarding{identity: id, token: tok}
	hdr := http.Header{"Authorization": {"Bearer " + tok}, "User-Agent": {"Go-http-client/1.1"}, "Accept-Encoding": {"gzip"}}
	if n := testing.AllocsPerRun(100, func() { fwd.apply(hdr) }); n != 0 {
		t.Errorf("forwarding.apply allocates %v times", n)
	}
	if got := hdr[HeaderSubject]; len(got) != 1 || got[0] != id.Subject {
		t.Errorf("X-Auth-Subject %q, want %q", got, id.Subject)
	}
	if got := hdr[HeaderRole]; len(got) != 1 || got[0] != id.Role {
		t.Errorf("X-Auth-Role %q, want %q", got, id.Role)
	}
	out := hdr.Clone()
	for range 3 {
		out["X-Forwarded-"+string(rune('A'+len(out)))] = []string{"full small map"}
	}
	if n := testing.AllocsPerRun(100, func() { restoreDecided(hdr, out) }); n != 0 {
		t.Errorf("restoreDecided allocates %v times", n)
	}

	// A non-canonical credential is rewritten, never forwarded as the client spelled it.
	hdr = http.Header{"Authorization": {"bearer   " + tok}}
	fwd.apply(hdr)
	if got := hdr.Get("Authorization"); got != "Bearer "+tok {
		t.Errorf("Authorization forwarded as %.20q..., want the canonical Bearer form", got)
	}
}
