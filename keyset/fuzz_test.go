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

package keyset_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/keyset"
)

// FuzzParseKeyset: keyset.json comes from a Secret anyone with write access to it can edit.
// Parse must never panic, must refuse with a "keyset: " error that quotes no whole line of
// key material, and whatever it accepts must survive Marshal and render a public JWKS.
func FuzzParseKeyset(f *testing.F) {
	// No RS256 seed: under the fuzzer's coverage instrumentation importing one RSA key takes
	// seconds, which would leave no time for anything else. keyset_test.go covers RSA.
	var pemLines []string
	for _, alg := range []keyset.Algorithm{keyset.ES256, keyset.EdDSA, keyset.HS256} {
		k := generated(f, alg)
		retiring := generated(f, alg)
		retiring.KID = "old"
		retiring.ActivatesAt, retiring.RetiresAt, retiring.ExpiresAt = refTime.Add(-time.Hour), refTime, refTime.Add(time.Hour)
		data, err := (&keyset.Keyset{Keys: []*keyset.SigningKey{retiring, k}}).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for _, line := range strings.Split(string(data), `\n`) {
			if len(line) >= 40 && !strings.Contains(line, "-----") {
				pemLines = append(pemLines, line)
			}
		}
	}
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kid":"a","algorithm":"none","createdAt":"2026-01-01T00:00:00Z","activatesAt":"2026-01-01T00:00:00Z","privateKey":"x"}]}`))
	f.Add([]byte(`{"keys":[{"kid":"a","algorithm":"HS256","createdAt":"2026-01-01T00:00:00Z","activatesAt":"2026-01-01T00:00:00Z","privateKey":"AAAA"}]}`))
	f.Add([]byte(`null`))

	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := keyset.Parse(data)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "keyset: ") {
				t.Fatalf("error %q", msg)
			}
			for _, l := range pemLines {
				if strings.Contains(msg, l) {
					t.Fatalf("error quotes key material: %q", msg)
				}
			}
			return
		}
		if len(ks.Keys) == 0 || len(ks.Keys) > keyset.MaxKeys {
			t.Fatalf("accepted %d keys", len(ks.Keys))
		}
		again, err := ks.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed keyset: %v", err)
		}
		back, err := keyset.Parse(again)
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(x))): %v", err)
		}
		if len(back.Keys) != len(ks.Keys) {
			t.Fatalf("%d keys, then %d", len(ks.Keys), len(back.Keys))
		}
		for i, k := range ks.Keys {
			b := back.Keys[i]
			if b.KID != k.KID || b.Algorithm != k.Algorithm || !b.ActivatesAt.Equal(k.ActivatesAt) || !samePrivate(b.Private, k.Private) {
				t.Fatalf("key %d changed in the round trip", i)
			}
		}
		jwks, err := ks.JWKS(refTime)
		if err != nil {
			t.Fatalf("JWKS: %v", err)
		}
		var doc struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(jwks, &doc); err != nil {
			t.Fatal(err)
		}
		for _, k := range doc.Keys {
			if _, ok := k["d"]; ok {
				t.Fatal("the JWKS holds a private key")
			}
			if _, ok := k["k"]; ok {
				t.Fatal("the JWKS holds a secret")
			}
		}
	})
}
