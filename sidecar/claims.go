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
	"math"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenClaims are an access token's claims as the verifier decodes them: the fields of
// AccessClaims, flat, with decoders for the forms tollgate issues (a JSON number for a date,
// an array of plain strings for aud) that do not start another encoding/json decoder per
// claim, as golang-jwt's NumericDate and ClaimStrings do (a decoder, a json.Number or an
// []any, and copies: 19 of the 78 allocations of a verification). Any other form goes to the
// library's own decoder, so what is accepted, and how, stays the library's
// (FuzzClaimDecodersAgreeWithTheLibrary). golang-jwt's parser decodes into it, and its
// validator checks it through the jwt.Claims methods below, as it checks RegisteredClaims.
type tokenClaims struct {
	Issuer    string       `json:"iss,omitempty"`
	Subject   string       `json:"sub,omitempty"`
	Audience  audience     `json:"aud,omitempty"`
	ExpiresAt *numericDate `json:"exp,omitempty"`
	NotBefore *numericDate `json:"nbf,omitempty"`
	IssuedAt  *numericDate `json:"iat,omitempty"`
	ID        string       `json:"jti,omitempty"`
	Role      string       `json:"role,omitempty"`
	SessionID string       `json:"sid,omitempty"`
}

var _ jwt.Claims = (*tokenClaims)(nil)

func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.jwt(), nil }
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.jwt(), nil }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.jwt(), nil }
func (c *tokenClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *tokenClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings(c.Audience), nil
}

// numericDate is jwt.NumericDate with a shorter way to a JSON number.
type numericDate struct{ jwt.NumericDate }

func (d *numericDate) jwt() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &d.NumericDate
}

// UnmarshalJSON reads a JSON number as golang-jwt does (a float64 of seconds, split into
// seconds and nanoseconds, truncated to jwt.TimePrecision), without a json.Number and a
// second decoder. The enclosing decoder has already checked that b is one JSON value, so a
// first byte '-' or a digit means a number. Anything else, and a number ParseFloat refuses,
// is the library's to decode or refuse.
func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && (b[0] == '-' || '0' <= b[0] && b[0] <= '9') {
		if f, err := strconv.ParseFloat(string(b), 64); err == nil {
			round, frac := math.Modf(f)
			d.NumericDate = *jwt.NewNumericDate(time.Unix(int64(round), int64(frac*1e9)))
			return nil
		}
	}
	return d.NumericDate.UnmarshalJSON(b)
}

// audience is jwt.ClaimStrings with a shorter way to an array of plain strings.
type audience []string

// UnmarshalJSON reads `["a","b"]` (no spaces, no escapes, printable ASCII only: what
// tollgate issues) directly; anything else goes to jwt.ClaimStrings. The enclosing decoder
// has already checked that b is one JSON value, so a string without a backslash ends at the
// next quote, and printable ASCII decodes to itself.
func (a *audience) UnmarshalJSON(b []byte) error {
	if s, ok := plainStrings(b); ok {
		*a = s
		return nil
	}
	return (*jwt.ClaimStrings)(a).UnmarshalJSON(b)
}

// plainStrings decodes a JSON array of one or more strings written without whitespace,
// escapes or bytes outside printable ASCII, and reports false for anything else.
func plainStrings(b []byte) (audience, bool) {
	if len(b) < 4 || b[0] != '[' || b[len(b)-1] != ']' {
		return nil, false
	}
	var out audience
	rest := b[1 : len(b)-1]
	for {
		if len(rest) < 2 || rest[0] != '"' {
			return nil, false
		}
		end := 1
		for end < len(rest) && rest[end] != '"' {
			if c := rest[end]; c < 0x20 || c >= 0x7f || c == '\\' {
				return nil, false
			}
			end++
		}
		if end == len(rest) {
			return nil, false
		}
		out = append(out, string(rest[1:end]))
		rest = rest[end+1:]
		if len(rest) == 0 {
			return out, true
		}
		if rest[0] != ',' {
			return nil, false
		}
		rest = rest[1:]
	}
}
