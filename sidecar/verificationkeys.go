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
	"crypto/fips140"

	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/keyset/es256"
)

// verificationKeys is what the jwt parser verifies each key of one keyset with. The sidecar
// holds the private half of every key, so an ES256 key verifies with es256's VerifyingKey:
// one fixed-base multiplication instead of crypto/ecdsa's two, for the same answers. A key
// es256 refuses (its private and public halves disagree) verifies with its public half, as
// every other key does. In FIPS 140-3 mode (GODEBUG=fips140=on or only) every key verifies
// through Go's validated module, which es256 is not part of.
type verificationKeys map[*keyset.SigningKey]any

func newVerificationKeys(ks *keyset.Keyset) verificationKeys {
	keys := make(verificationKeys, len(ks.Keys))
	for _, k := range ks.Keys {
		keys[k] = k.VerificationKey()
		if priv, ok := k.Private.(*ecdsa.PrivateKey); ok && k.Algorithm == keyset.ES256 && !fips140.Enabled() {
			if fast, err := es256.NewVerifyingKey(priv); err == nil {
				keys[k] = fast
			}
		}
	}
	return keys
}

// of returns the verification key of k, a key of the keyset v was made for.
func (v verificationKeys) of(k *keyset.SigningKey) any {
	if key, ok := v[k]; ok {
		return key
	}
	return k.VerificationKey()
}
