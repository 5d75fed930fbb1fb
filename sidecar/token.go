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
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate-dev/tollgate/keyset"
)

// MaxTokenSize caps a bearer token before any parsing: an ES256/EdDSA access token is
// about 400 bytes and an RS256 one about 700.
const MaxTokenSize = 4096

// TokenType is the JOSE `typ` of access tokens (RFC 9068).
const TokenType = "at+jwt"

// AccessClaims are the claims of an access token. SessionID (`sid`) is the refresh family
// the token was issued from, so revoking a session revokes its access tokens too.
type AccessClaims struct {
	Role      string `json:"role,omitempty"`
	SessionID string `json:"sid,omitempty"`
	jwt.RegisteredClaims
}

// Identity is what a valid access token says about its bearer.
type Identity struct {
	Subject   string
	Role      string
	SessionID string
	JTI       string
	IssuedAt  time.Time
	ExpiresAt time.Time

	// revocation is JTI and SessionID as the revocation list looks them up, decoded once
	// per verified token instead of on every request that carries it.
	revocation revocationKeys

	// headerValues holds Subject and Role as the proxy forwards them (X-Auth-Subject,
	// X-Auth-Role), built once per verified token instead of once per request. Nothing
	// writes to a header's values in place, and both slices are full (len == cap), so an
	// append copies.
	headerValues [2]string
}

// identityHeaders returns the values of X-Auth-Subject and X-Auth-Role for id.
func (id *Identity) identityHeaders() (subject, role []string) {
	if id.headerValues[0] != id.Subject || id.headerValues[1] != id.Role {
		return []string{id.Subject}, []string{id.Role}
	}
	return id.headerValues[0:1:1], id.headerValues[1:2:2]
}

// Tokens issues and verifies access tokens for one policy.
type Tokens struct {
	keys        *Keys
	issuer      string
	audiences   []string
	ttl         time.Duration
	skew        time.Duration
	revocations *Revocations
	cache       *tokenCache // nil: every request verifies a signature
	now         func() time.Time

	parser atomic.Pointer[parserFor]
}

// parserFor is a jwt parser that accepts the algorithms of one keyset, and the keys it
// verifies that keyset's keys with.
type parserFor struct {
	ks     *keyset.Keyset
	parser *jwt.Parser
	keys   verificationKeys
}

// TokensConfig configures Tokens.
type TokensConfig struct {
	Keys        *Keys
	Issuer      string
	Audiences   []string
	TTL         time.Duration
	ClockSkew   time.Duration
	Revocations *Revocations
	CacheSize   int // 0 disables the verified-token cache
	Now         func() time.Time
}

// NewTokens returns an issuer and verifier of access tokens.
func NewTokens(c TokensConfig) *Tokens {
	t := &Tokens{
		keys: c.Keys, issuer: c.Issuer, audiences: c.Audiences, ttl: c.TTL, skew: c.ClockSkew,
		revocations: c.Revocations, now: c.Now,
	}
	if t.now == nil {
		t.now = time.Now
	}
	if c.CacheSize > 0 {
		t.cache = newTokenCache(c.CacheSize)
	}
	return t
}

// Issue signs a new access token with the key active now.
func (t *Tokens) Issue(subject, role, sessionID string) (string, time.Duration, error) {
	key, err := t.SigningKey()
	if err != nil {
		return "", 0, err
	}
	return t.IssueWith(key, subject, role, sessionID)
}

// SigningKey is the key active now. Taking it before spending anything lets a caller
// refuse a request that could not be answered while the request is still harmless to retry.
func (t *Tokens) SigningKey() (*keyset.SigningKey, error) {
	key := t.keys.Keyset().Active(t.now())
	if key == nil {
		return nil, errors.New("no active signing key")
	}
	return key, nil
}

// IssueWith signs a new access token with key, which SigningKey returned a moment ago.
func (t *Tokens) IssueWith(key *keyset.SigningKey, subject, role, sessionID string) (string, time.Duration, error) {
	now := t.now()
	claims := AccessClaims{
		Role:      role,
		SessionID: sessionID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings(t.audiences),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			ID:        randomID(),
		},
	}
	tok := jwt.NewWithClaims(key.Algorithm.SigningMethod(), claims)
	tok.Header["kid"] = key.KID
	tok.Header["typ"] = TokenType
	s, err := tok.SignedString(key.SigningKey())
	if err != nil {
		return "", 0, fmt.Errorf("signing an access token with key %s: %w", key.KID, err)
	}
	return s, t.ttl, nil
}

// Verify checks an access token and returns its identity. The error says why a token was
// refused in words fit for a client (never the token itself).
func (t *Tokens) Verify(raw string) (*Identity, error) {
	if len(raw) > MaxTokenSize {
		return nil, errors.New("too large")
	}
	now := t.now()
	ks := t.keys.Keyset()
	if t.cache != nil {
		if id, ok := t.cache.get(raw, ks, now); ok {
			if t.revocations.revoked(id) {
				return nil, errors.New("revoked")
			}
			return id, nil
		}
	}
	if !isB64Token(raw) {
		return nil, errMalformedToken
	}
	id, err := t.verify(raw, ks, now)
	if err != nil {
		return nil, err
	}
	if t.revocations.revoked(id) {
		return nil, errors.New("revoked")
	}
	if t.cache != nil {
		t.cache.put(raw, id, ks, id.ExpiresAt.Add(t.skew))
	}
	return id, nil
}

// allowedHeaders are the only JOSE header parameters an access token may carry: anything
// else (jwk, jku, x5u, x5c, crit, ...) would ask the verifier to trust something the token
// brings along, and is refused.
var allowedHeaders = map[string]bool{"alg": true, "kid": true, "typ": true}

func (t *Tokens) verify(raw string, ks *keyset.Keyset, now time.Time) (*Identity, error) {
	var claims tokenClaims
	p := t.parserFor(ks)
	tok, err := p.parser.ParseWithClaims(raw, &claims, p.keyFunc(now))
	if err != nil {
		return nil, errors.New(describeJWTError(err, tok, &claims, ks.Algorithms()))
	}
	if claims.Subject == "" {
		return nil, errors.New("sub is missing")
	}
	if claims.ID == "" {
		return nil, errors.New("jti is missing")
	}
	if claims.IssuedAt == nil {
		return nil, errors.New("iat is missing")
	}
	return &Identity{
		Subject: claims.Subject, Role: claims.Role, SessionID: claims.SessionID, JTI: claims.ID,
		IssuedAt: claims.IssuedAt.Time, ExpiresAt: claims.ExpiresAt.Time,
		headerValues: [2]string{claims.Subject, claims.Role},
		revocation:   newRevocationKeys(claims.ID, claims.SessionID),
	}, nil
}

// keyFunc is the jwt key func of p's keyset at now: it checks what golang-jwt leaves to the
// caller in a token's header, then names the key to verify the token with.
func (p *parserFor) keyFunc(now time.Time) jwt.Keyfunc {
	return func(tok *jwt.Token) (any, error) {
		for h := range tok.Header {
			if !allowedHeaders[h] {
				return nil, fmt.Errorf("header %q is not accepted", truncate(h, 32))
			}
		}
		typ, _ := tok.Header["typ"].(string)
		if !strings.EqualFold(typ, TokenType) && !strings.EqualFold(typ, "application/"+TokenType) {
			return nil, errors.New("typ is not at+jwt")
		}
		kid, _ := tok.Header["kid"].(string)
		key := p.ks.Lookup(kid)
		if key == nil || key.State(now) == keyset.StateExpired {
			return nil, errors.New("unknown signing key")
		}
		// The key decides the algorithm, never the token: this is what defeats key confusion
		// (an HS256 token "signed" with a public key) and alg=none.
		if tok.Method.Alg() != string(key.Algorithm) {
			return nil, errors.New("algorithm does not match the key")
		}
		return p.keys.of(key), nil
	}
}

// parserFor returns a parser that accepts only the algorithms of ks's keys (normally just
// the policy's; two while an algorithm change rolls out), made once per keyset.
func (t *Tokens) parserFor(ks *keyset.Keyset) *parserFor {
	if p := t.parser.Load(); p != nil && p.ks == ks {
		return p
	}
	p := jwt.NewParser(
		jwt.WithValidMethods(ks.Algorithms()),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(t.audiences...),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(t.skew),
		jwt.WithTimeFunc(t.now),
		jwt.WithStrictDecoding(),
	)
	pf := &parserFor{ks: ks, parser: p, keys: newVerificationKeys(ks)}
	t.parser.Store(pf)
	return pf
}

// describeJWTError names the failed check without echoing token content. It goes by
// golang-jwt's exported errors and by what the token holds, never by the library's message
// text, so that an upgrade cannot change what clients are told. tok and claims are what the
// parser decoded (tok may be nil); allowed are the algorithms the parser accepted.
func describeJWTError(err error, tok *jwt.Token, claims jwt.Claims, allowed []string) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return lastCause(err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if tok == nil || tok.Method == nil || !slices.Contains(allowed, tok.Method.Alg()) {
			return "algorithm not allowed"
		}
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// exp, iss and aud are all required; say which one is absent.
		exp, _ := claims.GetExpirationTime()
		iss, _ := claims.GetIssuer()
		aud, _ := claims.GetAudience()
		switch {
		case exp == nil:
			return "exp is missing"
		case iss == "":
			return "iss is missing"
		case len(aud) == 0:
			return "aud is missing"
		}
		return "a required claim is missing"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return "invalid claims"
	}
	return "invalid"
}

// lastCause is the message of the innermost error of the keyfunc, which is ours and safe.
func lastCause(err error) string {
	for {
		var next error
		if m, ok := err.(interface{ Unwrap() []error }); ok {
			errs := m.Unwrap()
			if len(errs) == 0 {
				break
			}
			next = errs[len(errs)-1]
		} else if u := errors.Unwrap(err); u != nil {
			next = u
		} else {
			break
		}
		err = next
	}
	return err.Error()
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
