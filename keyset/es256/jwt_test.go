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
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate-dev/tollgate/keyset/es256"
)

func TestSigningMethodIsRegisteredForES256(t *testing.T) {
	if got := jwt.GetSigningMethod("ES256"); got != es256.SigningMethod {
		t.Fatalf("jwt finds %T for ES256", got)
	}
	if es256.SigningMethod.Alg() != "ES256" {
		t.Fatalf("Alg is %q", es256.SigningMethod.Alg())
	}
}

// TestSigningMethodDelegatesEveryOtherKey: with any key but a *VerifyingKey the registered
// method answers what golang-jwt's ES256 answers, so a program that links this package and
// verifies with an *ecdsa.PublicKey (or a wrong key) sees no change.
func TestSigningMethodDelegatesEveryOtherKey(t *testing.T) {
	priv, other := newKey(t), newKey(t)
	edPub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	const signingString = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0"
	valid, err := es256.SigningMethod.Sign(signingString, priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := es256.SigningMethod.Sign(signingString, &priv.PublicKey); !errors.Is(err, jwt.ErrInvalidKeyType) {
		t.Errorf("signing with a public key: %v", err)
	}
	keys := map[string]any{
		"its public key": &priv.PublicKey, "another public key": &other.PublicKey,
		"its private key": priv, "an Ed25519 key": edPub, "an HMAC secret": []byte("secret"), "no key": nil,
	}
	sigs := map[string][]byte{"valid": valid, "short": valid[:63], "empty": nil, "zero": make([]byte, 64)}
	for kname, key := range keys {
		for sname, sig := range sigs {
			want := jwt.SigningMethodES256.Verify(signingString, sig, key)
			got := es256.SigningMethod.Verify(signingString, sig, key)
			if (got == nil) != (want == nil) || (want != nil && got.Error() != want.Error()) {
				t.Errorf("%s, %s signature: %v, golang-jwt says %v", kname, sname, got, want)
			}
		}
	}
	if err := es256.SigningMethod.Verify(signingString, valid, &priv.PublicKey); err != nil {
		t.Errorf("its public key refuses a valid signature: %v", err)
	}
}

func TestSigningMethodVerifiesWithAVerifyingKey(t *testing.T) {
	priv := newKey(t)
	key := verifyingKey(t, priv)
	const signingString = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0"
	sig, err := jwt.SigningMethodES256.Sign(signingString, priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := es256.SigningMethod.Verify(signingString, sig, key); err != nil {
		t.Errorf("a valid signature: %v", err)
	}
	if err := es256.SigningMethod.Verify(signingString+"x", sig, key); !errors.Is(err, jwt.ErrECDSAVerification) {
		t.Errorf("another signing string: %v", err)
	}
	if err := es256.SigningMethod.Verify(signingString, sig[:63], key); !errors.Is(err, jwt.ErrECDSAVerification) {
		t.Errorf("a short signature: %v", err)
	}
	otherKey := verifyingKey(t, newKey(t))
	if err := es256.SigningMethod.Verify(signingString, sig, otherKey); !errors.Is(err, jwt.ErrECDSAVerification) {
		t.Errorf("another key: %v", err)
	}

	// Through a parser, as the sidecar uses it.
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.RegisteredClaims{
		Subject: "a", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]any{"verifying key": key, "public key": &priv.PublicKey} {
		parsed, err := jwt.NewParser(jwt.WithValidMethods([]string{"ES256"})).Parse(tok, func(*jwt.Token) (any, error) { return k, nil })
		if err != nil || !parsed.Valid || parsed.Method != es256.SigningMethod {
			t.Errorf("parsing with the %s: %v", name, err)
		}
	}
}
