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

package store

import (
	"strings"
	"testing"
	"time"
)

func TestDecodeRevocation(t *testing.T) {
	until := time.UnixMilli(1767225600000)
	tests := []struct {
		payload string
		want    Revocation
	}{
		{`{"kind":"jti","id":"abc","issuedBefore":0,"until":1767225600000}`, Revocation{Kind: RevokedToken, ID: "abc", Until: until}},
		{`{"kind":"sid","id":"fam\/1","issuedBefore":0,"until":1767225600000}`, Revocation{Kind: RevokedSession, ID: "fam/1", Until: until}},
		{`{"kind":"sub","id":"42","issuedBefore":1767220000000,"until":1767225600000}`, Revocation{Kind: RevokedSubject, ID: "42", IssuedBefore: time.UnixMilli(1767220000000), Until: until}},
		// A field a later version adds is ignored; a jti revocation has no IssuedBefore.
		{`{"kind":"jti","id":"x","issuedBefore":5,"until":1767225600000,"extra":true}`, Revocation{Kind: RevokedToken, ID: "x", Until: until}},
	}
	for _, tt := range tests {
		got, err := decodeRevocation(tt.payload)
		if err != nil {
			t.Errorf("decodeRevocation(%s): %v", tt.payload, err)
			continue
		}
		if got.Kind != tt.want.Kind || got.ID != tt.want.ID || !got.Until.Equal(tt.want.Until) || !got.IssuedBefore.Equal(tt.want.IssuedBefore) {
			t.Errorf("decodeRevocation(%s) = %+v, want %+v", tt.payload, got, tt.want)
		}
	}
}

func TestDecodeRevocationRefuses(t *testing.T) {
	for _, p := range []string{
		``, `null`, `[]`, `"jti"`, `{}`, `not json`,
		`{"kind":"jti","id":"a"}`,
		`{"kind":"jti","id":"a","until":-1}`,
		`{"kind":"jti","id":"a","until":1.5}`,
		`{"kind":"jti","id":"a","until":99999999999999999999}`,
		`{"kind":"jti","id":"","until":1}`,
		`{"kind":"jti","id":5,"until":1}`,
		`{"kind":"sub","id":"a","until":1}`,
		`{"kind":"JTI","id":"a","until":1}`,
		`{"kind":"jti","id":"` + strings.Repeat("a", maxIDLen+1) + `","until":1}`,
		`{"kind":"jti","id":"a","until":1,"pad":"` + strings.Repeat("a", maxRevocationPayload) + `"}`,
	} {
		if r, err := decodeRevocation(p); err == nil {
			t.Errorf("decodeRevocation(%.80s) = %+v, want an error", p, r)
		}
	}
}

func FuzzDecodeRevocation(f *testing.F) {
	for _, s := range []string{
		`{"kind":"jti","id":"abc","issuedBefore":0,"until":1767225600000}`,
		`{"kind":"sub","id":"42","issuedBefore":1767220000000,"until":1767225600000}`,
		`{"kind":"sid","id":"\u00fc\/\"","issuedBefore":0,"until":1}`,
		`{"kind":"jti"}`, `[]`, `{`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		r, err := decodeRevocation(payload)
		if err != nil {
			return
		}
		if checkRevocation(r) != nil {
			t.Fatalf("decodeRevocation(%q) = %+v, which the store would not accept", payload, r)
		}
		if r.Until.UnixMilli() <= 0 {
			t.Fatalf("decodeRevocation(%q): until %v", payload, r.Until)
		}
	})
}
