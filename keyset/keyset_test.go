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
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate-dev/tollgate/keyset"
)

var refTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// generated returns a copy of one key per algorithm, made once for the whole package:
// RSA generation is slow.
func generated(t testing.TB, alg keyset.Algorithm) *keyset.SigningKey {
	t.Helper()
	genMu.Lock()
	defer genMu.Unlock()
	k, ok := genKeys[alg]
	if !ok {
		var err error
		if k, err = keyset.Generate(alg, refTime); err != nil {
			t.Fatal(err)
		}
		k.KID = "key-" + strings.ToLower(string(alg))
		genKeys[alg] = k
	}
	c := *k
	return &c
}

var (
	genMu   sync.Mutex
	genKeys = map[keyset.Algorithm]*keyset.SigningKey{}
)

func TestMarshalParseRoundTrip(t *testing.T) {
	for _, alg := range keyset.Algorithms {
		t.Run(string(alg)+" keys survive Marshal and Parse", func(t *testing.T) {
			k := generated(t, alg)
			retiring := generated(t, alg)
			retiring.KID = "old-" + strings.ToLower(string(alg))
			retiring.ActivatesAt = refTime.Add(-48 * time.Hour)
			retiring.RetiresAt = refTime
			retiring.ExpiresAt = refTime.Add(time.Hour)
			in := &keyset.Keyset{Keys: []*keyset.SigningKey{retiring, k}}

			data, err := in.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			out, err := keyset.Parse(data)
			if err != nil {
				t.Fatalf("Parse of Marshal's output: %v", err)
			}
			if len(out.Keys) != 2 {
				t.Fatalf("%d keys back", len(out.Keys))
			}
			for i, want := range in.Keys {
				got := out.Keys[i]
				if got.KID != want.KID || got.Algorithm != want.Algorithm ||
					!got.CreatedAt.Equal(want.CreatedAt) || !got.ActivatesAt.Equal(want.ActivatesAt) ||
					!got.RetiresAt.Equal(want.RetiresAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
					t.Fatalf("key %d: got %+v, want %+v", i, got, want)
				}
				if !samePrivate(got.Private, want.Private) {
					t.Fatalf("key %s: the private key changed", want.KID)
				}
			}
			// A token signed with the original verifies with the parsed key.
			tok, err := jwt.New(alg.SigningMethod()).SignedString(k.SigningKey())
			if err != nil {
				t.Fatal(err)
			}
			_, err = jwt.Parse(tok, func(*jwt.Token) (any, error) { return out.Lookup(k.KID).VerificationKey(), nil },
				jwt.WithValidMethods([]string{string(alg)}))
			if err != nil {
				t.Fatalf("a token of the original key does not verify with the parsed one: %v", err)
			}
			// Marshal is stable.
			again, err := out.Marshal()
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("Marshal(Parse(Marshal(ks))) differs from Marshal(ks): %v", err)
			}
		})
	}
}

func samePrivate(a, b any) bool {
	switch a := a.(type) {
	case *ecdsa.PrivateKey:
		return a.Equal(b)
	case ed25519.PrivateKey:
		return a.Equal(b)
	case *rsa.PrivateKey:
		return a.Equal(b)
	case []byte:
		bb, ok := b.([]byte)
		return ok && bytes.Equal(a, bb)
	}
	return false
}

func TestJWKSHoldsNoPrivateMaterial(t *testing.T) {
	var keys []*keyset.SigningKey
	for _, alg := range keyset.Algorithms {
		keys = append(keys, generated(t, alg))
	}
	expired := generated(t, keyset.ES256)
	expired.KID = "expired"
	expired.ActivatesAt, expired.RetiresAt, expired.ExpiresAt = refTime.Add(-72*time.Hour), refTime.Add(-48*time.Hour), refTime.Add(-time.Hour)
	keys = append(keys, expired)
	ks := &keyset.Keyset{Keys: keys}

	data, err := ks.JWKS(refTime)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range doc.Keys {
		kid, _ := k["kid"].(string)
		kids[kid] = true
		for _, private := range []string{"d", "k", "p", "q", "dp", "dq", "qi", "oth"} {
			if _, ok := k[private]; ok {
				t.Errorf("key %s publishes %q", kid, private)
			}
		}
		if k["use"] != "sig" || k["alg"] == "" || k["alg"] == "HS256" || k["kty"] == "oct" {
			t.Errorf("key %s: %v", kid, k)
		}
	}
	if len(doc.Keys) != 3 || !kids["key-es256"] || !kids["key-eddsa"] || !kids["key-rs256"] {
		t.Fatalf("the JWKS holds %v, want the ES256, EdDSA and RS256 keys only", kids)
	}
	secret := generated(t, keyset.HS256).Private.([]byte)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if bytes.Contains(data, []byte(enc.EncodeToString(secret))) {
			t.Fatal("the JWKS holds the HS256 secret")
		}
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() {
			t.Fatalf("key %s is not a valid public key", k.KeyID)
		}
	}
}

// TestParseRefusesHostileFiles feeds keyset.json files that are wrong in one way each: every
// one is refused with an error naming the key and the field, and no error quotes private
// material.
func TestParseRefusesHostileFiles(t *testing.T) {
	es := generated(t, keyset.ES256)
	hs := generated(t, keyset.HS256)
	base, err := (&keyset.Keyset{Keys: []*keyset.SigningKey{es, hs}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Secrets an error must never quote: every line of every PEM body and the HMAC secret.
	var secrets []string
	var doc map[string]any
	_ = json.Unmarshal(base, &doc)
	for _, k := range doc["keys"].([]any) {
		pk := k.(map[string]any)["privateKey"].(string)
		for _, line := range strings.Split(pk, "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				secrets = append(secrets, line[:16])
			}
		}
	}

	pemOf := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	pkcs8 := func(k any) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pemOf("PRIVATE KEY", der)
	}
	ecKey := es.Private.(*ecdsa.PrivateKey)
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(ecKey.Public())
	esPEM := doc["keys"].([]any)[0].(map[string]any)["privateKey"].(string)
	hsSecret := doc["keys"].([]any)[1].(map[string]any)["privateKey"].(string)
	secrets = append(secrets, hsSecret[:16])

	const esName, hsName = `key "key-es256" (keys[0])`, `key "key-hs256" (keys[1])`
	for _, tc := range []struct {
		name   string
		edit   func(es, hs map[string]any, doc map[string]any)
		raw    string // instead of edit: the whole file
		wantIn []string
	}{
		{name: "an empty kid", edit: func(es, _, _ map[string]any) { es["kid"] = "" }, wantIn: []string{"keys[0]: kid:"}},
		{name: "a path for a kid", edit: func(es, _, _ map[string]any) { es["kid"] = "../../etc/passwd" }, wantIn: []string{"keys[0]: kid:"}},
		{name: "a NUL in the kid", edit: func(es, _, _ map[string]any) { es["kid"] = "key\x00" }, wantIn: []string{"keys[0]: kid:"}},
		{name: "a 65-character kid", edit: func(es, _, _ map[string]any) { es["kid"] = strings.Repeat("a", 65) }, wantIn: []string{"keys[0]: kid:"}},
		{name: "a duplicate kid", edit: func(es, hs, _ map[string]any) { hs["kid"] = "key-es256" }, wantIn: []string{`key "key-es256" (keys[1]): kid: duplicate`}},
		{name: "algorithm none", edit: func(es, _, _ map[string]any) { es["algorithm"] = "none" }, wantIn: []string{esName, "algorithm:"}},
		{name: "algorithm HS512", edit: func(_, hs, _ map[string]any) { hs["algorithm"] = "HS512" }, wantIn: []string{hsName, "algorithm:"}},
		{name: "algorithm es256 in lower case", edit: func(es, _, _ map[string]any) { es["algorithm"] = "es256" }, wantIn: []string{esName, "algorithm:"}},
		{name: "no algorithm", edit: func(es, _, _ map[string]any) { delete(es, "algorithm") }, wantIn: []string{esName, "algorithm:"}},
		{name: "the private key in the algorithm field", edit: func(es, _, _ map[string]any) { es["algorithm"] = esPEM }, wantIn: []string{esName, "algorithm:"}},
		{name: "the HS256 secret in the algorithm field", edit: func(_, hs, _ map[string]any) { hs["algorithm"] = hsSecret }, wantIn: []string{hsName, "algorithm:"}},
		{name: "no createdAt", edit: func(es, _, _ map[string]any) { delete(es, "createdAt") }, wantIn: []string{esName, "createdAt: required"}},
		{name: "no activatesAt", edit: func(es, _, _ map[string]any) { delete(es, "activatesAt") }, wantIn: []string{esName, "activatesAt: required"}},
		{name: "retiresAt before activatesAt", edit: func(es, _, _ map[string]any) { es["retiresAt"] = "2020-01-01T00:00:00Z" }, wantIn: []string{esName, "retiresAt: before activatesAt"}},
		{name: "expiresAt without retiresAt", edit: func(es, _, _ map[string]any) { es["expiresAt"] = "2030-01-01T00:00:00Z" }, wantIn: []string{esName, "expiresAt: set without retiresAt"}},
		{name: "expiresAt before retiresAt", edit: func(es, _, _ map[string]any) {
			es["retiresAt"] = "2030-01-01T00:00:00Z"
			es["expiresAt"] = "2029-01-01T00:00:00Z"
		}, wantIn: []string{esName, "expiresAt: before retiresAt"}},
		{name: "no private key", edit: func(es, _, _ map[string]any) { delete(es, "privateKey") }, wantIn: []string{esName, "privateKey: required"}},
		{name: "a private key that is not PEM", edit: func(es, _, _ map[string]any) { es["privateKey"] = strings.ReplaceAll(esPEM, "-----", "") }, wantIn: []string{esName, "privateKey:"}},
		{name: "a SEC1 EC key", edit: func(es, _, _ map[string]any) { es["privateKey"] = pemOf("EC PRIVATE KEY", sec1) }, wantIn: []string{esName, "privateKey:", "PKCS#8"}},
		{name: "a public key", edit: func(es, _, _ map[string]any) { es["privateKey"] = pemOf("PUBLIC KEY", pub) }, wantIn: []string{esName, "privateKey:"}},
		{name: "a corrupt PKCS#8 body", edit: func(es, _, _ map[string]any) { es["privateKey"] = pemOf("PRIVATE KEY", sec1) }, wantIn: []string{esName, "privateKey: not a valid PKCS#8 private key"}},
		{name: "data after the PEM block", edit: func(es, _, _ map[string]any) { es["privateKey"] = esPEM + "trailing" }, wantIn: []string{esName, "privateKey: data after the PEM block"}},
		{name: "two PEM blocks", edit: func(es, _, _ map[string]any) { es["privateKey"] = esPEM + pkcs8(edKey) }, wantIn: []string{esName, "privateKey: data after the PEM block"}},
		{name: "an Ed25519 key for ES256", edit: func(es, _, _ map[string]any) { es["privateKey"] = pkcs8(edKey) }, wantIn: []string{esName, "privateKey: ES256 needs"}},
		{name: "a P-384 key for ES256", edit: func(es, _, _ map[string]any) { es["privateKey"] = pkcs8(p384) }, wantIn: []string{esName, "privateKey: ES256 needs"}},
		{name: "an EC key for EdDSA", edit: func(es, _, _ map[string]any) { es["algorithm"] = "EdDSA" }, wantIn: []string{esName, "privateKey: EdDSA needs"}},
		{name: "an EC key for RS256", edit: func(es, _, _ map[string]any) { es["algorithm"] = "RS256" }, wantIn: []string{esName, "privateKey: RS256 needs"}},
		{name: "a 1024-bit RSA key", edit: func(es, _, _ map[string]any) {
			es["algorithm"] = "RS256"
			es["privateKey"] = pkcs8(rsa1024)
		}, wantIn: []string{esName, "privateKey: RSA key has 1024 bits"}},
		{name: "a PEM key for HS256", edit: func(_, hs, _ map[string]any) { hs["privateKey"] = esPEM }, wantIn: []string{hsName, "privateKey: not standard base64"}},
		{name: "an HS256 secret in base64url", edit: func(_, hs, _ map[string]any) {
			hs["privateKey"] = strings.NewReplacer("+", "-", "/", "_").Replace(hsSecret) + "-_"
		}, wantIn: []string{hsName, "privateKey: not standard base64"}},
		{name: "a 16-byte HS256 secret", edit: func(_, hs, _ map[string]any) {
			hs["privateKey"] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16))
		}, wantIn: []string{hsName, "privateKey: HS256 secret is 16 bytes"}},
		{name: "an HS256 secret for ES256", edit: func(es, _, _ map[string]any) { es["privateKey"] = hsSecret }, wantIn: []string{esName, "privateKey: not a PKCS#8 PEM block"}},
		{name: "a number for a private key", edit: func(es, _, _ map[string]any) { es["privateKey"] = 42 }, wantIn: []string{"privateKey"}},
		{name: "a time that is not RFC 3339", edit: func(es, _, _ map[string]any) { es["createdAt"] = "yesterday" }, wantIn: []string{"RFC 3339"}},
		{name: "an unknown field holding the key", edit: func(es, _, _ map[string]any) { es["d"] = esPEM }, wantIn: []string{`unknown field "d"`}},
		{name: "no keys", edit: func(_, _, doc map[string]any) { doc["keys"] = []any{} }, wantIn: []string{"keys: no keys"}},
		{name: "null keys", edit: func(_, _, doc map[string]any) { doc["keys"] = nil }, wantIn: []string{"keys: no keys"}},
		{name: "65 keys", edit: func(es, _, doc map[string]any) {
			var many []any
			for i := range 65 {
				c := map[string]any{}
				for k, v := range es {
					c[k] = v
				}
				c["kid"] = fmt.Sprintf("k%d", i)
				many = append(many, c)
			}
			doc["keys"] = many
		}, wantIn: []string{"keys: 65 keys"}},
		{name: "trailing data", raw: string(base) + "{}", wantIn: []string{"trailing data"}},
		{name: "not JSON", raw: "keys:\n- kid: a\n", wantIn: []string{"not valid keyset.json"}},
		{name: "a truncated file", raw: string(base[:len(base)/2]), wantIn: []string{"not valid keyset.json"}},
		{name: "a JSON list", raw: "[]", wantIn: []string{"not valid keyset.json"}},
		{name: "over a megabyte", raw: `{"keys":[],"x":"` + strings.Repeat("a", keyset.MaxFileSize) + `"}`, wantIn: []string{"more than the"}},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			data := []byte(tc.raw)
			if tc.edit != nil {
				var d map[string]any
				if err := json.Unmarshal(base, &d); err != nil {
					t.Fatal(err)
				}
				keys := d["keys"].([]any)
				tc.edit(keys[0].(map[string]any), keys[1].(map[string]any), d)
				data, err = json.Marshal(d)
				if err != nil {
					t.Fatal(err)
				}
			}
			ks, err := keyset.Parse(data)
			if err == nil {
				t.Fatalf("accepted, with %d keys", len(ks.Keys))
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "keyset: ") {
				t.Errorf("error %q does not say it is about the keyset", msg)
			}
			for _, w := range tc.wantIn {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			for _, s := range secrets {
				if strings.Contains(msg, s) {
					t.Fatalf("error %q quotes private material", msg)
				}
			}
			if len(msg) > 300 {
				t.Errorf("error of %d bytes", len(msg))
			}
		})
	}
}
