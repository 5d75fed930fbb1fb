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
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate-dev/tollgate/keyset/es256"
)

var n = elliptic.P256().Params().N

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func verifyingKey(t testing.TB, priv *ecdsa.PrivateKey) *es256.VerifyingKey {
	t.Helper()
	k, err := es256.NewVerifyingKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// scalar renders x as 32 big-endian bytes, keeping only the low 256 bits of a larger x.
func scalar(x *big.Int) []byte {
	b := x.Bytes()
	if len(b) > 32 {
		b = b[len(b)-32:]
	}
	return append(make([]byte, 32-len(b)), b...)
}

func jws(r, s *big.Int) []byte { return append(scalar(r), scalar(s)...) }

// sign returns a JWS signature of hash by priv.
func sign(t testing.TB, priv *ecdsa.PrivateKey, hash []byte) []byte {
	t.Helper()
	r, s, err := ecdsa.Sign(rand.Reader, priv, hash)
	if err != nil {
		t.Fatal(err)
	}
	return jws(r, s)
}

// stdlib is what crypto/ecdsa decides about a JWS signature, the way golang-jwt asks it.
func stdlib(pub *ecdsa.PublicKey, hash, sig []byte) bool {
	if len(sig) != es256.SignatureSize {
		return false
	}
	return ecdsa.Verify(pub, hash, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

func privateScalar(priv *ecdsa.PrivateKey) *big.Int {
	d, err := priv.Bytes()
	if err != nil {
		panic(err)
	}
	return new(big.Int).SetBytes(d)
}

// keyWith pairs a public key with a private scalar that may not be its own.
func keyWith(pub ecdsa.PublicKey, d *big.Int) *ecdsa.PrivateKey {
	return &ecdsa.PrivateKey{PublicKey: pub, D: d} //nolint:staticcheck // a broken key, on purpose
}

// zeroScalarHash returns a hash for which u1 + u2·d ≡ 0 (mod n) whatever s is: e = -r·d.
// Verifying it puts R at infinity, which both verifiers must refuse.
func zeroScalarHash(priv *ecdsa.PrivateKey, r *big.Int) []byte {
	e := new(big.Int).Mul(r, privateScalar(priv))
	e.Neg(e).Mod(e, n)
	return scalar(e)
}

func TestVerifyAgreesWithCryptoECDSA(t *testing.T) {
	priv, other := newKey(t), newKey(t)
	key := verifyingKey(t, priv)
	hash := sha256.Sum256([]byte("header.payload"))
	valid := sign(t, priv, hash[:])
	r, s := new(big.Int).SetBytes(valid[:32]), new(big.Int).SetBytes(valid[32:])
	highS := jws(r, new(big.Int).Sub(n, s))
	one, nMinus1, nPlus1 := big.NewInt(1), new(big.Int).Sub(n, big.NewInt(1)), new(big.Int).Add(n, big.NewInt(1))
	allOnes := bytes.Repeat([]byte{0xff}, 32)
	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 1
		return b
	}
	long := sha256.Sum256([]byte("another message"))

	cases := []struct {
		name       string
		hash, sig  []byte
		wantAccept bool
	}{
		{"a valid signature is accepted", hash[:], valid, true},
		{"its high-s twin is accepted too, as crypto/ecdsa does", hash[:], highS, true},
		{"a signature of another hash is refused", long[:], valid, false},
		{"a signature by another key is refused", hash[:], sign(t, other, hash[:]), false},
		{"a flipped bit in r is refused", hash[:], flip(valid, 31), false},
		{"a flipped bit in s is refused", hash[:], flip(valid, 63), false},
		{"a flipped bit in the hash is refused", flip(hash[:], 0), valid, false},
		{"r = 0 is refused", hash[:], jws(new(big.Int), s), false},
		{"s = 0 is refused", hash[:], jws(r, new(big.Int)), false},
		{"r = s = 0 with a zero hash is refused", make([]byte, 32), make([]byte, 64), false},
		{"r = 0 with a hash of n is refused", scalar(n), jws(new(big.Int), s), false},
		{"r = n is refused", hash[:], jws(n, s), false},
		{"s = n is refused", hash[:], jws(r, n), false},
		{"r = n + 1 is refused", hash[:], jws(nPlus1, s), false},
		{"s = n + 1 is refused", hash[:], jws(r, nPlus1), false},
		{"r + n (its low 256 bits) is refused", hash[:], jws(new(big.Int).Add(r, n), s), false},
		{"r = n - 1 is refused", hash[:], jws(nMinus1, s), false},
		{"s = n - 1 is refused", hash[:], jws(r, nMinus1), false},
		{"r = 1, s = 1 is refused", hash[:], jws(one, one), false},
		{"all-0xff r is refused", hash[:], append(bytes.Clone(allOnes), valid[32:]...), false},
		{"all-0xff s is refused", hash[:], append(bytes.Clone(valid[:32]), allOnes...), false},
		{"all-0xff r and s are refused", hash[:], bytes.Repeat([]byte{0xff}, 64), false},
		{"63 bytes are refused", hash[:], valid[:63], false},
		{"65 bytes are refused", hash[:], append(bytes.Clone(valid), 0), false},
		{"65 bytes with a leading zero are refused", hash[:], append([]byte{0}, valid...), false},
		{"no signature is refused", hash[:], nil, false},
		{"a zero scalar (R at infinity) is refused", zeroScalarHash(priv, r), valid, false},
		{"a zero scalar with r = 1 is refused", zeroScalarHash(priv, one), jws(one, s), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := stdlib(&priv.PublicKey, tc.hash, tc.sig)
			if want != tc.wantAccept {
				t.Fatalf("crypto/ecdsa says %v, the case expects %v", want, tc.wantAccept)
			}
			if got := key.Verify(tc.hash, tc.sig); got != want {
				t.Errorf("es256 says %v, crypto/ecdsa says %v", got, want)
			}
		})
	}
}

// TestVerifyTruncatesHashesAsCryptoECDSA: hashes that are not 32 bytes long are cut or
// padded exactly as crypto/ecdsa does (bits2int), which signs and verifies them too.
func TestVerifyTruncatesHashesAsCryptoECDSA(t *testing.T) {
	priv := newKey(t)
	key := verifyingKey(t, priv)
	for _, size := range []int{0, 1, 20, 31, 33, 48, 64} {
		hash := make([]byte, size)
		_, _ = rand.Read(hash)
		sig := sign(t, priv, hash)
		if !stdlib(&priv.PublicKey, hash, sig) || !key.Verify(hash, sig) {
			t.Errorf("a %d-byte hash: es256 %v, crypto/ecdsa %v", size, key.Verify(hash, sig), stdlib(&priv.PublicKey, hash, sig))
		}
		if size > 32 {
			// Only the leftmost 32 bytes count.
			changed := bytes.Clone(hash)
			changed[size-1] ^= 1
			if !key.Verify(changed, sig) {
				t.Errorf("a %d-byte hash changed past byte 32 is refused", size)
			}
		}
		if size > 0 {
			changed := bytes.Clone(hash)
			changed[0] ^= 0x80
			if key.Verify(changed, sig) {
				t.Errorf("a %d-byte hash changed in its first byte is accepted", size)
			}
		}
	}
	// A hash of n or above is reduced modulo n: n + e signs like e.
	e := big.NewInt(12345)
	sig := sign(t, priv, scalar(e))
	above := scalar(new(big.Int).Add(n, e))
	if !stdlib(&priv.PublicKey, above, sig) || !key.Verify(above, sig) {
		t.Errorf("hash n + e: es256 %v, crypto/ecdsa %v", key.Verify(above, sig), stdlib(&priv.PublicKey, above, sig))
	}
}

// TestVerifyManyKeysAndMessages compares the two verifiers on many fresh keys and
// signatures, each also mutated.
func TestVerifyManyKeysAndMessages(t *testing.T) {
	for i := range 50 {
		priv := newKey(t)
		key := verifyingKey(t, priv)
		hash := sha256.Sum256([]byte{byte(i)})
		sig := sign(t, priv, hash[:])
		mutated := bytes.Clone(sig)
		mutated[i%64] ^= byte(1 << (i % 8))
		for _, s := range [][]byte{sig, mutated} {
			if got, want := key.Verify(hash[:], s), stdlib(&priv.PublicKey, hash[:], s); got != want {
				t.Fatalf("key %d: es256 says %v, crypto/ecdsa says %v", i, got, want)
			}
		}
		if !key.Verify(hash[:], sig) {
			t.Fatalf("key %d: a valid signature is refused", i)
		}
	}
}

// TestVerifyConcurrently: one key serves every request of a sidecar at once (run with -race).
func TestVerifyConcurrently(t *testing.T) {
	priv := newKey(t)
	key := verifyingKey(t, priv)
	hash := sha256.Sum256([]byte("header.payload"))
	valid := sign(t, priv, hash[:])
	invalid := bytes.Clone(valid)
	invalid[40] ^= 1
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if !key.Verify(hash[:], valid) || key.Verify(hash[:], invalid) {
					t.Error("a wrong answer under concurrent use")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNewVerifyingKeyRefuses(t *testing.T) {
	priv, other := newKey(t), newKey(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d := privateScalar(priv)
	mismatched := keyWith(other.PublicKey, d)
	zero := keyWith(priv.PublicKey, new(big.Int))
	atN := keyWith(priv.PublicKey, new(big.Int).Set(n))
	// d + n names the same point as d: refused all the same, as out of range.
	wrapped := keyWith(priv.PublicKey, new(big.Int).Add(d, n))
	cases := map[string]*ecdsa.PrivateKey{
		"no key":                                 nil,
		"a P-384 key":                            p384,
		"a P-224 key":                            p224,
		"a private scalar of another public key": mismatched,
		"a zero private scalar":                  zero,
		"a private scalar of n":                  atN,
		"a private scalar of d + n":              wrapped,
	}
	for name, k := range cases {
		t.Run(name, func(t *testing.T) {
			vk, err := es256.NewVerifyingKey(k)
			if err == nil || vk != nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), "es256: ") {
				t.Errorf("error %q", err)
			}
			if k != nil && k != p384 && k != p224 {
				for _, secret := range []string{d.String(), d.Text(16)} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q holds the private scalar", err)
					}
				}
			}
		})
	}
	if vk := verifyingKey(t, priv); !vk.Public().Equal(&priv.PublicKey) {
		t.Error("Public is not the key's public half")
	}
}

func BenchmarkVerify(b *testing.B) {
	priv := newKey(b)
	hash := sha256.Sum256([]byte("header.payload"))
	sig := sign(b, priv, hash[:])
	b.Run("crypto-ecdsa", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !stdlib(&priv.PublicKey, hash[:], sig) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("es256", func(b *testing.B) {
		key := verifyingKey(b, priv)
		b.ReportAllocs()
		for b.Loop() {
			if !key.Verify(hash[:], sig) {
				b.Fatal("refused")
			}
		}
	})
}
