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

package keyset

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"time"
)

// Generate makes a new key of the algorithm, created and activating at now. The caller
// moves ActivatesAt to schedule it.
func Generate(alg Algorithm, now time.Time) (*SigningKey, error) {
	var priv any
	var err error
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, defaultRSABits)
	case HS256:
		secret := make([]byte, 32)
		_, err = rand.Read(secret)
		priv = secret
	default:
		return nil, fmt.Errorf("keyset: cannot generate a key for algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("keyset: generating a %s key: %w", alg, err)
	}
	now = now.UTC().Truncate(time.Second)
	return &SigningKey{KID: newKID(), Algorithm: alg, CreatedAt: now, ActivatesAt: now, Private: priv}, nil
}

// newKID returns 8 random bytes in hex: unique within any keyset, and revealing nothing.
func newKID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
