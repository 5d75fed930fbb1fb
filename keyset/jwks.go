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
	"encoding/json"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// JWKS renders the public keys (RFC 7517) of every key a valid token can carry at now:
// Next, Active and Retired. It never holds private material, and HS256 keys, whose only
// material is the secret, are left out.
func (ks *Keyset) JWKS(now time.Time) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range ks.Keys {
		if k.Algorithm.Symmetric() || k.State(now) == StateExpired {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key:       k.VerificationKey(),
			KeyID:     k.KID,
			Algorithm: string(k.Algorithm),
			Use:       "sig",
		})
	}
	return json.Marshal(set)
}
