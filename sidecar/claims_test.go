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
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// claimSeeds are claims objects in the forms tollgate issues and in the forms only the
// library's decoders handle: the fuzz target's seed corpus, and the table of the test.
var claimSeeds = []string{
	`{"role":"clerk","sid":"s1","iss":"https://shop","sub":"7","aud":["shop"],"exp":1764770000,"nbf":1764769100,"iat":1764769100,"jti":"AAAAAAAAAAAAAAAAAAAAAA"}`,
	`{"aud":["a","b"],"exp":1764770000.5,"iat":-1.25e3,"nbf":0}`,
	`{"aud":"shop","exp":"1764770000","iat":"1e3"}`,
	`{"aud":[ "shop" ],"exp":1.7e9 }`,
	`{"aud":["sh\u006fp","\u00e9"],"exp":"\u0031"}`,
	"{\"aud\":[\"caf\xc3\xa9\",\"\xff\"]}",
	`{"aud":[],"exp":null,"iat":null,"nbf":null}`,
	`{"aud":null}`,
	`{"aud":["a",1]}`,
	`{"aud":[["a"]]}`,
	`{"aud":{"a":"b"}}`,
	`{"aud":true}`,
	`{"aud":["a"],"AUD":["b"],"Exp":1,"EXP":2}`,
	`{"exp":1e400}`,
	`{"exp":-1e400}`,
	`{"exp":"x"}`,
	`{"exp":true}`,
	`{"exp":[1]}`,
	`{"iat":9223372036854775807}`,
	`{"exp":0.0000000001,"nbf":-0}`,
	`{"sub":"a","sub":"b"}`,
	// encoding/json matches keys case-insensitively, with Unicode folding (ſ is s, K is k):
	// both decoders go through it, so both must take the same key, the last.
	"{\"\u017fub\":\"a\",\"SUB\":\"b\",\"\u017fid\":\"c\",\"EXP\":1,\"exp\":null,\"Aud\":[\"x\"],\"aud\":\"y\"}",
	`{"exp":1,"exp":"2","iat":-0,"nbf":-0.0e-0,"aud":["a"],"aud":[]}`,
	`{"jti":"a\u0000b","sid":"\ud800","role":"\u00e9"}`,
	`{"exp":123456789012345678901234567890,"iat":1e-400,"nbf":4.9e-324}`,
	`[]`,
	`null`,
	`{`,
	`{"aud":["a"`,
}

// checkClaimsAgree decodes data as golang-jwt's RegisteredClaims (AccessClaims) and as
// tokenClaims, and fails unless both refuse it or both read the same claims.
func checkClaimsAgree(t *testing.T, data []byte) {
	t.Helper()
	var lib AccessClaims
	var ours tokenClaims
	// golang-jwt decodes into a jwt.Claims interface holding the pointer.
	var libI, oursI jwt.Claims = &lib, &ours
	libErr := json.Unmarshal(data, &libI)
	oursErr := json.Unmarshal(data, &oursI)
	if (libErr == nil) != (oursErr == nil) {
		t.Fatalf("%q: library error %v, ours %v", data, libErr, oursErr)
	}
	if libErr != nil {
		return
	}
	if (libI == nil) != (oursI == nil) {
		t.Fatalf("%q: library claims %v, ours %v", data, libI, oursI)
	}
	if libI == nil {
		return // null: the parser validates the claims it was given, still empty
	}
	date := func(name string, a *jwt.NumericDate, b *numericDate) {
		switch {
		case a == nil && b == nil:
		case a == nil || b == nil:
			t.Errorf("%q: %s: library %v, ours %v", data, name, a, b)
		case !a.Equal(b.Time) || a.Location() != b.Location():
			t.Errorf("%q: %s: library %v, ours %v", data, name, a.Time, b.Time)
		}
	}
	date("exp", lib.ExpiresAt, ours.ExpiresAt)
	date("nbf", lib.NotBefore, ours.NotBefore)
	date("iat", lib.IssuedAt, ours.IssuedAt)
	if !slices.Equal(lib.Audience, jwt.ClaimStrings(ours.Audience)) || (lib.Audience == nil) != (ours.Audience == nil) {
		t.Errorf("%q: aud: library %q, ours %q", data, lib.Audience, ours.Audience)
	}
	if lib.Issuer != ours.Issuer || lib.Subject != ours.Subject || lib.ID != ours.ID ||
		lib.Role != ours.Role || lib.SessionID != ours.SessionID {
		t.Errorf("%q: library %+v, ours %+v", data, lib, ours)
	}
	// The validator reads both through the same interface.
	for _, c := range []jwt.Claims{&lib, &ours} {
		if _, err := c.GetExpirationTime(); err != nil {
			t.Fatal(err)
		}
	}
	libExp, _ := libI.GetExpirationTime()
	oursExp, _ := oursI.GetExpirationTime()
	if (libExp == nil) != (oursExp == nil) || libExp != nil && !libExp.Equal(oursExp.Time) {
		t.Errorf("%q: GetExpirationTime: library %v, ours %v", data, libExp, oursExp)
	}
}

func TestTheVerifiersClaimDecodersAgreeWithTheLibrary(t *testing.T) {
	for _, s := range claimSeeds {
		t.Run(s, func(t *testing.T) { checkClaimsAgree(t, []byte(s)) })
	}
}

func FuzzClaimDecodersAgreeWithTheLibrary(f *testing.F) {
	for _, s := range claimSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkClaimsAgree(t, data) })
}

// The short way to a date is taken for what tollgate issues, and gives the library's time.
func TestTheVerifiersDatesAreTheLibrarys(t *testing.T) {
	now := time.Unix(1764769100, 0)
	issued, err := json.Marshal(jwt.NewNumericDate(now))
	if err != nil {
		t.Fatal(err)
	}
	var d numericDate
	if err := d.UnmarshalJSON(issued); err != nil || !d.Equal(now) {
		t.Fatalf("numericDate(%s) = %v, %v; want %v", issued, d.Time, err, now)
	}
	aud, err := json.Marshal(jwt.ClaimStrings{"shop-api", "other"})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := plainStrings(aud); !ok || !slices.Equal(got, audience{"shop-api", "other"}) {
		t.Fatalf("plainStrings(%s) = %q, %v", aud, got, ok)
	}
}
