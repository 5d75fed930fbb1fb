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
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// What a client is told depends on golang-jwt's exported errors and on the token, not on the
// library's wording: here the wording is one a later release might choose.
func TestDescribeJWTErrorIgnoresTheLibrarysWording(t *testing.T) {
	es256 := &jwt.Token{Method: jwt.SigningMethodES256}
	hs256 := &jwt.Token{Method: jwt.SigningMethodHS256}
	exp := jwt.NewNumericDate(time.Now().Add(time.Minute))
	full := &AccessClaims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp, Issuer: "https://shop", Audience: jwt.ClaimStrings{"shop"}}}
	noIss := &AccessClaims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp, Audience: jwt.ClaimStrings{"shop"}}}
	noAud := &AccessClaims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp, Issuer: "https://shop"}}
	noExp := &AccessClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "https://shop", Audience: jwt.ClaimStrings{"shop"}}}
	wrap := func(sentinel error, text string) error {
		return fmt.Errorf("token is invalid: %w", errors.Join(sentinel, errors.New(text)))
	}
	for _, tc := range []struct {
		name   string
		err    error
		tok    *jwt.Token
		claims *AccessClaims
		want   string
	}{
		{"an algorithm the parser does not accept", wrap(jwt.ErrTokenSignatureInvalid, "alg HS256 refused"), hs256, full, "algorithm not allowed"},
		{"a bad signature whose message mentions a signing method", wrap(jwt.ErrTokenSignatureInvalid, "signing method ES256: verification failed"), es256, full, "bad signature"},
		{"no token decoded", wrap(jwt.ErrTokenSignatureInvalid, "?"), nil, full, "algorithm not allowed"},
		{"a missing iss, however worded", wrap(jwt.ErrTokenRequiredClaimMissing, "claim \"issuer\" absent"), es256, noIss, "iss is missing"},
		{"a missing aud, however worded", wrap(jwt.ErrTokenRequiredClaimMissing, "no audience"), es256, noAud, "aud is missing"},
		{"a missing exp, however worded", wrap(jwt.ErrTokenRequiredClaimMissing, "expiry needed"), es256, noExp, "exp is missing"},
		{"an expired token", wrap(jwt.ErrTokenExpired, "too old"), es256, full, "expired"},
		{"something else", errors.New("boom"), es256, full, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := describeJWTError(tc.err, tc.tok, tc.claims, []string{"ES256"}); got != tc.want {
				t.Errorf("describeJWTError(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
