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

// Package keyset holds a policy's signing keys: their life by the clock, the keyset.json
// format the operator writes and the sidecar reads, and the public JWKS.
package keyset

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Algorithm is a JWS algorithm name as it appears in keyset.json, the JWKS and token headers.
type Algorithm string

// The algorithms a keyset may hold.
const (
	ES256 Algorithm = "ES256"
	EdDSA Algorithm = "EdDSA"
	RS256 Algorithm = "RS256"
	HS256 Algorithm = "HS256"
)

// Algorithms lists the supported algorithms.
var Algorithms = []Algorithm{ES256, EdDSA, RS256, HS256}

// SigningMethod is the jwt signing method of the algorithm, or nil for an unknown one.
func (a Algorithm) SigningMethod() jwt.SigningMethod {
	switch a {
	case ES256:
		return jwt.SigningMethodES256
	case EdDSA:
		return jwt.SigningMethodEdDSA
	case RS256:
		return jwt.SigningMethodRS256
	case HS256:
		return jwt.SigningMethodHS256
	}
	return nil
}

// Symmetric reports whether the algorithm signs and verifies with one shared secret.
func (a Algorithm) Symmetric() bool { return a == HS256 }

// State is where a key stands in its life at some instant.
type State string

// A key is Next until ActivatesAt, Active until RetiresAt, Retired until ExpiresAt, then
// Expired (and removed by the operator).
const (
	StateNext    State = "Next"
	StateActive  State = "Active"
	StateRetired State = "Retired"
	StateExpired State = "Expired"
)

// Limits on keyset.json, which may come from a user.
const (
	MaxFileSize    = 1 << 20
	MaxKeys        = 64
	MinRSABits     = 2048
	MinHMACSecret  = 32
	maxKIDLength   = 64
	FileName       = "keyset.json"
	JWKSFileName   = "jwks.json"
	defaultRSABits = 2048
)

var kidPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// SigningKey is one key of a keyset with its schedule. RetiresAt and ExpiresAt are zero
// until a successor is scheduled.
type SigningKey struct {
	KID         string
	Algorithm   Algorithm
	CreatedAt   time.Time
	ActivatesAt time.Time
	RetiresAt   time.Time
	ExpiresAt   time.Time

	// Private is *ecdsa.PrivateKey, ed25519.PrivateKey, *rsa.PrivateKey, or []byte (HS256).
	Private any
}

// State is the key's state at now.
func (k *SigningKey) State(now time.Time) State {
	switch {
	case now.Before(k.ActivatesAt):
		return StateNext
	case k.RetiresAt.IsZero() || now.Before(k.RetiresAt):
		return StateActive
	case k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt):
		return StateRetired
	}
	return StateExpired
}

// SigningKey returns what jwt needs to sign with this key.
func (k *SigningKey) SigningKey() any { return k.Private }

// VerificationKey returns what jwt needs to verify a signature made with this key: the
// public half, or the secret for HS256.
func (k *SigningKey) VerificationKey() any {
	if s, ok := k.Private.(crypto.Signer); ok {
		return s.Public()
	}
	return k.Private
}

// Keyset is a policy's signing keys, ordered by ActivatesAt.
type Keyset struct {
	Keys []*SigningKey
}

// Sort orders the keys by ActivatesAt, then KID, so that files and JWKS are stable.
func (ks *Keyset) Sort() {
	sort.SliceStable(ks.Keys, func(i, j int) bool {
		a, b := ks.Keys[i], ks.Keys[j]
		if !a.ActivatesAt.Equal(b.ActivatesAt) {
			return a.ActivatesAt.Before(b.ActivatesAt)
		}
		return a.KID < b.KID
	})
}

// Active returns the key that signs at now: of the keys in state Active, the one that
// activated last. Nil when none is.
func (ks *Keyset) Active(now time.Time) *SigningKey {
	var best *SigningKey
	for _, k := range ks.Keys {
		if k.State(now) == StateActive && (best == nil || k.ActivatesAt.After(best.ActivatesAt)) {
			best = k
		}
	}
	return best
}

// Algorithms lists the distinct algorithms of the keys, in key order: normally the policy's
// one, two while an algorithm change rolls out.
func (ks *Keyset) Algorithms() []string {
	var algs []string
	for _, k := range ks.Keys {
		if !slices.Contains(algs, string(k.Algorithm)) {
			algs = append(algs, string(k.Algorithm))
		}
	}
	return algs
}

// Lookup returns the key with this kid, or nil.
func (ks *Keyset) Lookup(kid string) *SigningKey {
	for _, k := range ks.Keys {
		if k.KID == kid {
			return k
		}
	}
	return nil
}

// fileKey is one key as keyset.json spells it.
type fileKey struct {
	KID         string     `json:"kid"`
	Algorithm   Algorithm  `json:"algorithm"`
	CreatedAt   time.Time  `json:"createdAt"`
	ActivatesAt time.Time  `json:"activatesAt"`
	RetiresAt   *time.Time `json:"retiresAt,omitempty"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
	PrivateKey  string     `json:"privateKey"`
}

type file struct {
	Keys []fileKey `json:"keys"`
}

// Marshal renders the keyset as keyset.json (private material included).
func (ks *Keyset) Marshal() ([]byte, error) {
	out := file{Keys: make([]fileKey, 0, len(ks.Keys))}
	for _, k := range ks.Keys {
		priv, err := encodePrivate(k)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.KID, err)
		}
		fk := fileKey{
			KID: k.KID, Algorithm: k.Algorithm,
			CreatedAt: k.CreatedAt.UTC(), ActivatesAt: k.ActivatesAt.UTC(),
			PrivateKey: priv,
		}
		if !k.RetiresAt.IsZero() {
			t := k.RetiresAt.UTC()
			fk.RetiresAt = &t
		}
		if !k.ExpiresAt.IsZero() {
			t := k.ExpiresAt.UTC()
			fk.ExpiresAt = &t
		}
		out.Keys = append(out.Keys, fk)
	}
	return json.MarshalIndent(out, "", "  ")
}

// Parse reads keyset.json. It refuses a malformed file with an error that names the key and
// the field, and never quotes private material.
func Parse(data []byte) (*Keyset, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("keyset: file is %d bytes, more than the %d allowed", len(data), MaxFileSize)
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("keyset: not valid keyset.json: %w", redactJSONError(err))
	}
	if dec.More() {
		return nil, errors.New("keyset: trailing data after the JSON object")
	}
	if len(f.Keys) == 0 {
		return nil, errors.New("keyset: keys: no keys")
	}
	if len(f.Keys) > MaxKeys {
		return nil, fmt.Errorf("keyset: keys: %d keys, more than the %d allowed", len(f.Keys), MaxKeys)
	}
	ks := &Keyset{Keys: make([]*SigningKey, 0, len(f.Keys))}
	seen := make(map[string]bool, len(f.Keys))
	for i, fk := range f.Keys {
		k, err := parseKey(fk)
		if err != nil {
			name := fmt.Sprintf("keys[%d]", i)
			if kidPattern.MatchString(fk.KID) {
				name = fmt.Sprintf("key %q (keys[%d])", fk.KID, i)
			}
			return nil, fmt.Errorf("keyset: %s: %w", name, err)
		}
		if seen[k.KID] {
			return nil, fmt.Errorf("keyset: key %q (keys[%d]): kid: duplicate", k.KID, i)
		}
		seen[k.KID] = true
		ks.Keys = append(ks.Keys, k)
	}
	ks.Sort()
	return ks, nil
}

func parseKey(fk fileKey) (*SigningKey, error) {
	if !kidPattern.MatchString(fk.KID) {
		return nil, fmt.Errorf("kid: must be 1 to %d characters of A-Z a-z 0-9 _ -", maxKIDLength)
	}
	if fk.Algorithm.SigningMethod() == nil {
		return nil, errors.New("algorithm: must be one of ES256, EdDSA, RS256, HS256")
	}
	if fk.CreatedAt.IsZero() {
		return nil, errors.New("createdAt: required")
	}
	if fk.ActivatesAt.IsZero() {
		return nil, errors.New("activatesAt: required")
	}
	k := &SigningKey{KID: fk.KID, Algorithm: fk.Algorithm, CreatedAt: fk.CreatedAt, ActivatesAt: fk.ActivatesAt}
	if fk.RetiresAt != nil {
		if fk.RetiresAt.Before(fk.ActivatesAt) {
			return nil, errors.New("retiresAt: before activatesAt")
		}
		k.RetiresAt = *fk.RetiresAt
	}
	if fk.ExpiresAt != nil {
		if fk.RetiresAt == nil {
			return nil, errors.New("expiresAt: set without retiresAt")
		}
		if fk.ExpiresAt.Before(*fk.RetiresAt) {
			return nil, errors.New("expiresAt: before retiresAt")
		}
		k.ExpiresAt = *fk.ExpiresAt
	}
	priv, err := decodePrivate(fk.Algorithm, fk.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("privateKey: %w", err)
	}
	k.Private = priv
	return k, nil
}

func decodePrivate(alg Algorithm, s string) (any, error) {
	if s == "" {
		return nil, errors.New("required")
	}
	if alg == HS256 {
		secret, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, errors.New("not standard base64")
		}
		if len(secret) < MinHMACSecret {
			return nil, fmt.Errorf("HS256 secret is %d bytes, at least %d required", len(secret), MinHMACSecret)
		}
		return secret, nil
	}
	block, rest := pem.Decode([]byte(s))
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PKCS#8 PEM block (BEGIN PRIVATE KEY)")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("data after the PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not a valid PKCS#8 private key")
	}
	switch alg {
	case ES256:
		ec, ok := key.(*ecdsa.PrivateKey)
		if !ok || ec.Curve != elliptic.P256() {
			return nil, errors.New("ES256 needs an ECDSA P-256 key")
		}
		return ec, nil
	case EdDSA:
		ed, ok := key.(ed25519.PrivateKey)
		if !ok {
			return nil, errors.New("EdDSA needs an Ed25519 key")
		}
		return ed, nil
	case RS256:
		r, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("RS256 needs an RSA key")
		}
		if r.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("RSA key has %d bits, at least %d required", r.N.BitLen(), MinRSABits)
		}
		return r, nil
	}
	return nil, fmt.Errorf("unsupported algorithm %q", alg)
}

func encodePrivate(k *SigningKey) (string, error) {
	if k.Algorithm == HS256 {
		secret, ok := k.Private.([]byte)
		if !ok {
			return "", errors.New("privateKey: HS256 needs a []byte secret")
		}
		return base64.StdEncoding.EncodeToString(secret), nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return "", errors.New("privateKey: cannot encode as PKCS#8")
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// redactJSONError keeps the position and kind of a JSON error but drops any quoted value,
// which could be key material.
func redactJSONError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("syntax error at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %s: expected %s, got JSON %s", te.Field, te.Type, te.Value)
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return errors.New("a time is not RFC 3339")
	}
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return errors.New(msg)
}
