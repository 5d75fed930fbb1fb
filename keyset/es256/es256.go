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

// Package es256 verifies ES256 signatures with one fixed-base scalar multiplication, for a
// verifier that holds the signing key's private half (the sidecar does: it issues the
// tokens it checks).
//
// ECDSA verification computes R = u1·G + u2·Q. With Q = d·G that is R = (u1 + u2·d)·G: one
// fixed-base multiplication instead of a fixed-base and a variable-base one, about four
// times faster. The accept/reject predicate is the one of FIPS 186-5 section 6.4.2, which
// crypto/ecdsa implements; differential tests and a fuzz target hold the two together.
//
// Importing the package registers SigningMethod for golang-jwt's "ES256".
package es256

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/subtle"
	"errors"
	"math/big"

	"filippo.io/bigmod"
	"filippo.io/nistec"
)

// SignatureSize is the length of a JWS ES256 signature: r and s, 32 bytes each (RFC 7518
// section 3.4).
const SignatureSize = 64

const scalarSize = 32

// orderInt and order are n, the order of P-256's base point.
var (
	orderInt = elliptic.P256().Params().N
	order    = newModulus(orderInt)
)

func newModulus(n *big.Int) *bigmod.Modulus {
	m, err := bigmod.NewModulus(n.FillBytes(make([]byte, scalarSize)))
	if err != nil {
		panic("es256: the order of P-256 is not a modulus: " + err.Error())
	}
	return m
}

// VerifyingKey verifies ES256 signatures of one P-256 key whose private half it holds.
// It is safe for concurrent use.
type VerifyingKey struct {
	public *ecdsa.PublicKey
	// d is the private scalar. Everything that touches it runs in constant time: bigmod's
	// arithmetic modulo n and nistec's fixed-base multiplication.
	d *bigmod.Nat
}

// NewVerifyingKey returns the verifying key of priv. It refuses a key that is not P-256 or
// whose private scalar does not match its public point (Q ≠ d·G), so that the caller falls
// back to crypto/ecdsa with the public key. Its errors hold no key material.
func NewVerifyingKey(priv *ecdsa.PrivateKey) (*VerifyingKey, error) {
	if priv == nil || priv.Curve != elliptic.P256() {
		return nil, errors.New("es256: not a P-256 key")
	}
	raw, err := priv.Bytes()
	if err != nil {
		return nil, errors.New("es256: invalid private key")
	}
	d, err := bigmod.NewNat().SetBytes(raw, order)
	clear(raw)
	if err != nil || d.IsZero() == 1 {
		return nil, errors.New("es256: private scalar out of range")
	}
	q, err := priv.PublicKey.Bytes()
	if err != nil {
		return nil, errors.New("es256: invalid public key")
	}
	scalar := d.Bytes(order)
	dG, err := nistec.NewP256Point().ScalarBaseMult(scalar)
	clear(scalar)
	if err != nil || subtle.ConstantTimeCompare(dG.Bytes(), q) != 1 {
		return nil, errors.New("es256: private scalar does not match the public key")
	}
	pub := priv.PublicKey
	return &VerifyingKey{public: &pub, d: d}, nil
}

// Public returns the public key.
func (k *VerifyingKey) Public() *ecdsa.PublicKey { return k.public }

// Verify reports whether sig, r and s big-endian in 32 bytes each as JWS spells them, is a
// valid signature of hash by the key. It accepts exactly what crypto/ecdsa.Verify accepts
// for the same hash, r and s, high-s signatures included.
func (k *VerifyingKey) Verify(hash, sig []byte) bool {
	if len(sig) != SignatureSize {
		return false
	}
	// r and s are public: the checks on them may branch, and s⁻¹ may take variable time.
	r, err := bigmod.NewNat().SetBytes(sig[:scalarSize], order)
	if err != nil || r.IsZero() == 1 {
		return false
	}
	w, ok := inverse(sig[scalarSize:])
	if !ok {
		return false
	}

	// scalar = u1 + u2·d = (e + r·d)·w, in constant time from here on.
	scalar, _ := bigmod.NewNat().SetBytes(sig[:scalarSize], order) // r again: cheaper than a copy by Mod
	scalar.Mul(k.d, order).Add(hashToScalar(hash), order).Mul(w, order)
	// scalar is zero only when r·d ≡ -e (mod n), which whoever chose r and e can aim for
	// only by knowing d already; the point is then at infinity, and BytesX refuses it.
	p, err := nistec.NewP256Point().ScalarBaseMult(scalar.Bytes(order))
	if err != nil {
		return false
	}
	x, err := p.BytesX()
	if err != nil {
		return false
	}
	// x is below p, which is above n: reduce it as crypto/ecdsa does before comparing.
	v, err := bigmod.NewNat().SetOverflowingBytes(x, order)
	if err != nil {
		return false
	}
	return v.Equal(r) == 1
}

// inverse returns s⁻¹ mod n, or false unless 0 < s < n. math/big's extended Euclid takes
// 2 µs where bigmod's constant-time-friendly binary GCD takes 18.
func inverse(s []byte) (*bigmod.Nat, bool) {
	si := new(big.Int).SetBytes(s)
	if si.Sign() == 0 || si.Cmp(orderInt) >= 0 {
		return nil, false
	}
	var buf [scalarSize]byte
	w, err := bigmod.NewNat().SetBytes(new(big.Int).ModInverse(si, orderInt).FillBytes(buf[:]), order)
	return w, err == nil // n is prime: every 0 < s < n has an inverse
}

// hashToScalar is crypto/ecdsa's bits2int for P-256: the leftmost 32 bytes of the hash as a
// big-endian integer, reduced modulo n.
func hashToScalar(hash []byte) *bigmod.Nat {
	if len(hash) > scalarSize {
		hash = hash[:scalarSize]
	}
	e, err := bigmod.NewNat().SetOverflowingBytes(hash, order)
	if err != nil {
		panic("es256: a 32-byte hash overflows P-256's order size") // n has 256 bits
	}
	return e
}
