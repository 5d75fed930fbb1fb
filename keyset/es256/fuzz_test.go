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

package es256_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate-dev/tollgate/keyset/es256"
)

// fuzzKey is fixed, so that the committed corpus holds signatures that verify.
func fuzzKey(f *testing.F) *ecdsa.PrivateKey {
	d := sha256.Sum256([]byte("tollgate es256 fuzz key"))
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		f.Fatal(err)
	}
	return priv
}

// FuzzVerify: the signature of a token comes from whoever sent it. For any signing input and
// signature, the fast verifier and golang-jwt's ES256 (crypto/ecdsa) with the public key must
// agree; so must they on the input's own signature, its high-s twin, and a signature whose
// hash puts R at infinity.
func FuzzVerify(f *testing.F) {
	priv := fuzzKey(f)
	key, err := es256.NewVerifyingKey(priv)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0", "", "a.b"} {
		sig, err := jwt.SigningMethodES256.Sign(s, priv)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s, sig)
		f.Add(s, sig[:63])
		r, sv := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		f.Add(s, jws(r, new(big.Int).Sub(n, sv)))
		f.Add(s, jws(n, sv))
		f.Add(s, jws(r, n))
	}
	f.Add("x", make([]byte, 64))

	f.Fuzz(func(t *testing.T, signingString string, sig []byte) {
		agree(t, key, priv, signingString, sig)

		hash := sha256.Sum256([]byte(signingString))
		own := sign(t, priv, hash[:])
		r, s := new(big.Int).SetBytes(own[:32]), new(big.Int).SetBytes(own[32:])
		if !key.Verify(hash[:], own) || !key.Verify(hash[:], jws(r, new(big.Int).Sub(n, s))) {
			t.Fatal("a valid signature or its high-s twin is refused")
		}

		if len(sig) == es256.SignatureSize {
			// The hash that zeroes u1 + u2·d for the fuzzed r.
			fr := new(big.Int).SetBytes(sig[:32])
			zero := zeroScalarHash(priv, fr)
			if got, want := key.Verify(zero, sig), stdlib(&priv.PublicKey, zero, sig); got || want {
				t.Fatalf("R at infinity: es256 says %v, crypto/ecdsa says %v", got, want)
			}
		}
	})
}

func agree(t *testing.T, key *es256.VerifyingKey, priv *ecdsa.PrivateKey, signingString string, sig []byte) {
	t.Helper()
	got := es256.SigningMethod.Verify(signingString, sig, key)
	want := jwt.SigningMethodES256.Verify(signingString, sig, &priv.PublicKey)
	if (got == nil) != (want == nil) || (want != nil && got.Error() != want.Error()) {
		t.Fatalf("es256 says %v, golang-jwt says %v", got, want)
	}
	hash := sha256.Sum256([]byte(signingString))
	if g, w := key.Verify(hash[:], sig), stdlib(&priv.PublicKey, hash[:], sig); g != w {
		t.Fatalf("es256 says %v, crypto/ecdsa says %v", g, w)
	}
}
