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

package es256

import (
	"crypto/sha256"

	"github.com/golang-jwt/jwt/v5"
)

// SigningMethod is golang-jwt's ES256 that also verifies with a *VerifyingKey. Given any
// other key, and for signing, it is jwt.SigningMethodES256, errors included.
//
// Importing this package registers it for "ES256", in place of golang-jwt's own: a parser
// finds a token's method by its alg, with no per-parser choice. Every program that links
// this package therefore verifies ES256 through it, and behaves as before for the
// *ecdsa.PublicKey it was given until now.
var SigningMethod jwt.SigningMethod = signingMethod{}

func init() {
	jwt.RegisterSigningMethod(SigningMethod.Alg(), func() jwt.SigningMethod { return SigningMethod })
}

type signingMethod struct{}

func (signingMethod) Alg() string { return jwt.SigningMethodES256.Alg() }

func (signingMethod) Sign(signingString string, key any) ([]byte, error) {
	return jwt.SigningMethodES256.Sign(signingString, key)
}

func (signingMethod) Verify(signingString string, sig []byte, key any) error {
	k, ok := key.(*VerifyingKey)
	if !ok {
		return jwt.SigningMethodES256.Verify(signingString, sig, key)
	}
	hash := sha256.Sum256([]byte(signingString))
	if !k.Verify(hash[:], sig) {
		return jwt.ErrECDSAVerification
	}
	return nil
}
