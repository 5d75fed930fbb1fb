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
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// The compact encoding is exact: an id is revoked only if that very id was.
func TestRevocationIDsAreExact(t *testing.T) {
	until := time.Now().Add(time.Hour)
	now := time.Now()
	canonical := randomID()
	// The same 16 bytes with the last character's unused bits set: another id, which a
	// lenient base64 decoder would take for the first.
	b := []byte(canonical)
	b[21] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[base64url[b[21]]|1]
	twin := string(b)
	if lenient, err := base64.RawURLEncoding.DecodeString(twin); err != nil || base64.RawURLEncoding.EncodeToString(lenient) != canonical {
		t.Fatalf("the twin %q does not decode to the canonical id's bytes (%v): the test proves nothing", twin, err)
	}
	for _, tc := range []struct {
		name, revoked string
		others        []string
	}{
		{"a canonical id", canonical, []string{twin, canonical[:21], canonical + "A", otherFirst(canonical[0]) + canonical[1:]}},
		{"a non-canonical twin", twin, []string{canonical}},
		{"a foreign id", "not-a-tollgate-jti", []string{"not-a-tollgate-jt", "not-a-tollgate-jti "}},
		{"22 characters outside base64url", "!!!!!!!!!!!!!!!!!!!!!!", []string{"!!!!!!!!!!!!!!!!!!!!!\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rv := NewRevocations()
			rv.Add(store.Revocation{Kind: store.RevokedToken, ID: tc.revoked, Until: until})
			rv.Add(store.Revocation{Kind: store.RevokedSession, ID: tc.revoked, Until: until})
			if !rv.Revoked(tc.revoked, "", "", now) || !rv.Revoked("other", tc.revoked, "", now) {
				t.Fatal("the revoked id is not revoked")
			}
			// A verified token's ids, decoded when it was verified, and an Identity whose
			// ids were not (its keys are worked out on the spot).
			verified := func(jti, sid string) *Identity {
				return &Identity{JTI: jti, SessionID: sid, revocation: newRevocationKeys(jti, sid)}
			}
			if !rv.revoked(verified(tc.revoked, "")) || !rv.revoked(verified("other", tc.revoked)) ||
				!rv.revoked(&Identity{JTI: tc.revoked}) || !rv.revoked(&Identity{JTI: "other", SessionID: tc.revoked}) {
				t.Fatal("the revoked id is not revoked for a verified token")
			}
			for _, o := range tc.others {
				if rv.Revoked(o, o, "", now) || rv.revoked(verified(o, o)) || rv.revoked(&Identity{JTI: o, SessionID: o}) {
					t.Errorf("%q is revoked, but only %q was", o, tc.revoked)
				}
			}
			if stale := verified(tc.revoked, ""); rv.revoked(&Identity{JTI: "other", revocation: stale.revocation}) {
				t.Error("keys decoded for another token's ids were used")
			}
			rv.Sweep(until)
			if rv.Len() != 0 || rv.Revoked(tc.revoked, tc.revoked, "", now) {
				t.Fatal("the revocation outlived its end")
			}
		})
	}
}

// otherFirst is a base64url character other than c: an id that differs from one only in its
// first character.
func otherFirst(c byte) string {
	if c == 'x' {
		return "y"
	}
	return "x"
}

func FuzzCompactID(f *testing.F) {
	for _, s := range []string{randomID(), "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAB", "____________________-w", "", "x", "!!!!!!!!!!!!!!!!!!!!!!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, ok := compactID(s)
		// encoding/base64 skips CR and LF; an id with them is not a canonical encoding.
		std, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if want := err == nil && len(std) == 16 && !strings.ContainsAny(s, "\r\n"); ok != want {
			t.Fatalf("compactID(%q) ok = %v, the strict decoder says %v", s, ok, want)
		}
		if ok && base64.RawURLEncoding.EncodeToString(k[:]) != s {
			t.Fatalf("compactID(%q) = %x, which encodes otherwise", s, k)
		}
	})
}
