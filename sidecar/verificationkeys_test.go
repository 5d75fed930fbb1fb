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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/fips140"
	"encoding/base64"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/keyset/es256"
)

func verificationTestTokens(t *testing.T, now time.Time, keys ...*keyset.SigningKey) *Tokens {
	t.Helper()
	return NewTokens(TokensConfig{
		Keys: NewKeys(&keyset.Keyset{Keys: keys}), Issuer: "https://shop-api.shop.svc", Audiences: []string{"shop-api"},
		TTL: 15 * time.Minute, ClockSkew: 30 * time.Second, Revocations: NewRevocations(),
		Now: func() time.Time { return now },
	})
}

func generatedKey(t *testing.T, alg keyset.Algorithm, kid string, now time.Time) *keyset.SigningKey {
	t.Helper()
	k, err := keyset.Generate(alg, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	k.KID = kid
	return k
}

// mismatchedES256 is an ES256 key whose private scalar is not its public point's: the
// scalar of signer, the public point of another key.
func mismatchedES256(t *testing.T, signer *keyset.SigningKey, now time.Time) *keyset.SigningKey {
	t.Helper()
	other := generatedKey(t, keyset.ES256, signer.KID, now)
	priv := signer.Private.(*ecdsa.PrivateKey)
	bad := *signer
	bad.Private = &ecdsa.PrivateKey{PublicKey: other.Private.(*ecdsa.PrivateKey).PublicKey, D: priv.D} //nolint:staticcheck // a broken key, on purpose
	return &bad
}

func TestES256KeysVerifyWithTheirPrivateHalf(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	es := generatedKey(t, keyset.ES256, "es", now)
	ed := generatedKey(t, keyset.EdDSA, "ed", now)
	hs := generatedKey(t, keyset.HS256, "hs", now)
	bad := mismatchedES256(t, generatedKey(t, keyset.ES256, "bad", now), now)
	keys := newVerificationKeys(&keyset.Keyset{Keys: []*keyset.SigningKey{es, ed, hs, bad}})

	if _, ok := keys.of(es).(*es256.VerifyingKey); !ok && !fips140.Enabled() {
		t.Errorf("the ES256 key verifies with %T", keys.of(es))
	}
	for _, k := range []*keyset.SigningKey{ed, hs, bad} {
		got, want := keys.of(k), k.VerificationKey()
		if pub, ok := want.(interface{ Equal(crypto any) bool }); ok && !pub.Equal(got) {
			t.Errorf("key %s verifies with %T, not its public half", k.KID, got)
		}
		if _, ok := got.(*es256.VerifyingKey); ok {
			t.Errorf("key %s verifies with es256", k.KID)
		}
	}
}

// TestES256TokensVerifyAsBefore: through Tokens, the fast verifier accepts what golang-jwt's
// ES256 accepted (high-s twins included) and refuses the rest with the same words.
func TestES256TokensVerifyAsBefore(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	key := generatedKey(t, keyset.ES256, "k", now)
	tokens := verificationTestTokens(t, now, key)
	tok, _, err := tokens.Issue("7", "clerk", "s")
	if err != nil {
		t.Fatal(err)
	}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := tokens.parserFor(tokens.keys.Keyset()).keyFunc(now)(parsed); err != nil {
		t.Fatal(err)
	} else if _, ok := k.(*es256.VerifyingKey); !ok {
		t.Fatalf("the sidecar verifies ES256 with %T", k)
	}
	dot := strings.LastIndex(tok, ".")
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil {
		t.Fatal(err)
	}
	withSig := func(r, s *big.Int) string {
		b := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		return tok[:dot+1] + base64.RawURLEncoding.EncodeToString(b)
	}
	n := elliptic.P256().Params().N
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])

	if id, err := tokens.Verify(tok); err != nil || id.Subject != "7" {
		t.Fatalf("a valid token: %v", err)
	}
	if id, err := tokens.Verify(withSig(r, new(big.Int).Sub(n, s))); err != nil || id.Subject != "7" {
		t.Errorf("its high-s twin, which crypto/ecdsa accepts: %v", err)
	}
	for name, forged := range map[string]string{
		"s + 1":            withSig(r, new(big.Int).Add(s, big.NewInt(1))),
		"r = n":            withSig(n, s),
		"s = 0":            withSig(r, new(big.Int)),
		"a truncated sig":  tok[:len(tok)-2],
		"another payload":  strings.Replace(tok, tok[strings.Index(tok, ".")+1:dot], base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"8"}`)), 1),
		"a signature of 0": withSig(new(big.Int), new(big.Int)),
	} {
		if _, err := tokens.Verify(forged); err == nil {
			t.Errorf("%s: accepted", name)
		} else if err.Error() != "bad signature" && err.Error() != "malformed" {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestAnES256KeyWhoseHalvesDisagreeVerifiesWithItsPublicHalf: a keyset whose private scalar
// is not its public point's must not let tokens signed with the scalar through, as it did
// not before (the public point verified).
func TestAnES256KeyWhoseHalvesDisagreeVerifiesWithItsPublicHalf(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	signer := generatedKey(t, keyset.ES256, "k", now)
	tok, _, err := verificationTestTokens(t, now, signer).Issue("7", "clerk", "s")
	if err != nil {
		t.Fatal(err)
	}
	mismatched := verificationTestTokens(t, now, mismatchedES256(t, signer, now))
	if _, err := mismatched.Verify(tok); err == nil || err.Error() != "bad signature" {
		t.Fatalf("a token signed with the private scalar of a key whose public point is another's: %v", err)
	}
}

// TestFIPSModeVerifiesThroughGosModule runs TestES256KeysVerifyWithThePublicHalfInFIPSMode
// in a process started with GODEBUG=fips140=on: FIPS mode is chosen at start.
func TestFIPSModeVerifiesThroughGosModule(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestES256KeysVerifyWithThePublicHalfInFIPSMode$", "-test.v")
	cmd.Env = append(os.Environ(), "GODEBUG=fips140=on", "TOLLGATE_TEST_FIPS=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestES256KeysVerifyWithThePublicHalfInFIPSMode") {
		t.Fatalf("in FIPS mode (%v):\n%s", err, out)
	}
}

func TestES256KeysVerifyWithThePublicHalfInFIPSMode(t *testing.T) {
	if os.Getenv("TOLLGATE_TEST_FIPS") == "" {
		t.Skip("run by TestFIPSModeVerifiesThroughGosModule")
	}
	if !fips140.Enabled() {
		t.Fatal("GODEBUG=fips140=on did not enable FIPS mode")
	}
	now := time.Now().Truncate(time.Second)
	es := generatedKey(t, keyset.ES256, "es", now)
	keys := newVerificationKeys(&keyset.Keyset{Keys: []*keyset.SigningKey{es}})
	if _, ok := keys.of(es).(*ecdsa.PublicKey); !ok {
		t.Errorf("in FIPS mode the ES256 key verifies with %T, not through crypto/ecdsa", keys.of(es))
	}
	tokens := verificationTestTokens(t, now, es)
	tok, _, err := tokens.Issue("7", "clerk", "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Verify(tok); err != nil {
		t.Errorf("a token refused in FIPS mode: %v", err)
	}
}
