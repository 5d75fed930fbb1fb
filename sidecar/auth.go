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
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// MaxAuthBodySize caps the JSON bodies of login, refresh and logout.
const MaxAuthBodySize = 8 << 10

// Limits of a login's email and password. bcrypt reads 72 bytes at most: longer passwords
// would be silently truncated.
const (
	maxEmailLength    = 320
	maxPasswordLength = 72
)

// refreshTokenBytes is the entropy of a refresh token: 256 bits.
const refreshTokenBytes = 32

// LoginRequest is the body of POST /auth/login. Username is accepted for Email.
type LoginRequest struct {
	Email    string `json:"email"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// RefreshRequest is the body of POST /auth/refresh.
type RefreshRequest struct {
	RefreshToken string `json:"refreshToken"`
}

// LogoutRequest is the optional body of POST /auth/logout.
type LogoutRequest struct {
	RefreshToken string `json:"refreshToken"`
	All          bool   `json:"all"`
}

// TokenResponse is the answer to a successful login or refresh.
type TokenResponse struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	TokenType    string `json:"tokenType"`
	ExpiresIn    int    `json:"expiresIn"`
}

// ParseLoginRequest decodes and checks a login body.
func ParseLoginRequest(body []byte) (LoginRequest, error) {
	var req LoginRequest
	if err := decodeBody(body, &req, false); err != nil {
		return req, err
	}
	return req, req.check()
}

// check fills Email from Username and checks what any login endpoint accepts.
func (req *LoginRequest) check() error {
	if req.Email == "" {
		req.Email = req.Username
	}
	switch {
	case req.Email == "":
		return errors.New("email is required")
	case req.Password == "":
		return errors.New("password is required")
	case len(req.Email) > maxEmailLength:
		return errors.New("email is too long")
	case len(req.Password) > maxPasswordLength:
		return errors.New("password is longer than 72 bytes")
	}
	return nil
}

// ParseRefreshRequest decodes and checks a refresh body.
func ParseRefreshRequest(body []byte) (RefreshRequest, error) {
	var req RefreshRequest
	if err := decodeBody(body, &req, false); err != nil {
		return req, err
	}
	if req.RefreshToken == "" {
		return req, errors.New("refreshToken is required")
	}
	return req, nil
}

// ParseLogoutRequest decodes a logout body, which may be empty.
func ParseLogoutRequest(body []byte) (LogoutRequest, error) {
	var req LogoutRequest
	err := decodeBody(body, &req, true)
	return req, err
}

func decodeBody(body []byte, v any, emptyOK bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return errors.New("a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return errors.New("not a JSON object of the expected shape")
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAuthBodySize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errBodyTooLarge
		}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			w.Header().Set("Connection", "close")
			return nil, errBodyTimeout
		}
		return nil, errMalformed
	}
	return body, nil
}

func malformed(err error) error {
	return &httpError{status: http.StatusBadRequest, msg: "malformed request: " + err.Error()}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	req, err := ParseLoginRequest(body)
	if err != nil {
		return malformed(err)
	}
	pair, err := s.passwordGrant(r, req)
	if err != nil {
		return err
	}
	writePair(w, pair)
	return nil
}

// issuedPair is what a successful login or refresh hands the client, whichever endpoint
// (JSON or RFC 6749 form) it came through.
type issuedPair struct {
	access  string
	ttl     time.Duration
	refresh string
}

// passwordGrant checks a login's password under the login rate limits and starts a session:
// POST /auth/login and grant_type=password at the token endpoint.
func (s *Server) passwordGrant(r *http.Request, req LoginRequest) (issuedPair, error) {
	if s.cfg.Authenticator == nil {
		return issuedPair{}, errStatus(http.StatusNotImplemented, s.cfg.LoginDisabled)
	}
	ctx := r.Context()
	p := s.policy()
	client := p.clientAddr(r)
	attempt, err := s.reserveLogin(ctx, p, client, req.Email)
	if err != nil {
		var he *httpError
		if errors.As(err, &he) && he.status == http.StatusTooManyRequests {
			s.metrics.Logins.WithLabelValues("rate_limited").Inc()
		} else {
			s.metrics.Logins.WithLabelValues("error").Inc()
		}
		return issuedPair{}, err
	}
	id, err := s.cfg.Authenticator.Authenticate(ctx, req.Email, req.Password)
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		s.metrics.Logins.WithLabelValues("invalid").Inc()
		s.log.Info("login failed", "client", client)
		return issuedPair{}, errInvalidCredentials // the reservations stay: they are this failure
	case err != nil:
		s.metrics.Logins.WithLabelValues("error").Inc()
		if errors.Is(err, ErrPasswordCheckDown) && ctx.Err() == nil {
			attempt.undecided(ctx)
		} // else an answer outside the contract, or the client left mid-check: it counts,
		// or either would be a free guess
		return issuedPair{}, unavailable("password check unavailable", err)
	}
	if err := attempt.succeeded(ctx); err != nil {
		s.metrics.Logins.WithLabelValues("error").Inc()
		return issuedPair{}, err
	}

	now := s.now()
	refresh, hash := newRefreshToken()
	rec := store.RefreshToken{
		Hash: hash, Subject: id.Subject, Role: id.Role, Family: randomID(),
		IssuedAt: now, ExpiresAt: now.Add(p.spec.Tokens.RefreshTokenTTL.Duration),
	}
	if err := s.store.CreateRefresh(ctx, rec); err != nil {
		s.metrics.Logins.WithLabelValues("error").Inc()
		return issuedPair{}, s.storeFailed("create_refresh", err)
	}
	s.setStoreUp(true) // an answer from the store is the freshest health check
	access, ttl, err := p.tokens.Issue(id.Subject, id.Role, rec.Family)
	if err != nil {
		s.metrics.Logins.WithLabelValues("error").Inc()
		return issuedPair{}, unavailable("no signing key available", err)
	}
	s.metrics.Logins.WithLabelValues("success").Inc()
	s.log.Info("login", "subject", id.Subject, "session", rec.Family, "client", client)
	return issuedPair{access: access, ttl: ttl, refresh: refresh}, nil
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	req, err := ParseRefreshRequest(body)
	if err != nil {
		return malformed(err)
	}
	pair, err := s.refreshGrant(r, req.RefreshToken)
	if err != nil {
		return err
	}
	writePair(w, pair)
	return nil
}

// refreshGrant spends a refresh token for a new pair, with rotation and reuse detection:
// POST /auth/refresh and grant_type=refresh_token at the token endpoint.
func (s *Server) refreshGrant(r *http.Request, token string) (issuedPair, error) {
	if !wellFormedRefreshToken(token) {
		s.metrics.Refreshes.WithLabelValues("invalid").Inc()
		return issuedPair{}, errInvalidRefresh
	}
	ctx := r.Context()
	p := s.policy()
	// Without a key to sign with, answer before the token is spent: the client retries later.
	key, err := p.tokens.SigningKey()
	if err != nil {
		s.metrics.Refreshes.WithLabelValues("error").Inc()
		return issuedPair{}, unavailable("no signing key available", err)
	}
	now := s.now()
	oldHash := hashHex(token)
	next, nextHash := newRefreshToken()
	old, err := s.store.RotateRefresh(ctx, oldHash, store.RefreshToken{Hash: nextHash, IssuedAt: now}, now,
		p.spec.Tokens.RefreshReuseInterval.Duration)
	switch {
	case errors.Is(err, store.ErrReused):
		s.metrics.Refreshes.WithLabelValues("reused").Inc()
		s.metrics.Reuse.Inc()
		// The store has revoked the family and published it; enforce it here at once too,
		// whatever the pub/sub delay.
		if old.Family != "" {
			s.revocations.Add(store.Revocation{Kind: store.RevokedSession, ID: old.Family, Until: now.Add(p.accessLifetime())})
		}
		s.log.Warn("spent refresh token presented again: its whole session is revoked", "client", p.clientAddr(r))
		return issuedPair{}, errInvalidRefresh
	case errors.Is(err, store.ErrTampered):
		s.metrics.Refreshes.WithLabelValues("invalid").Inc()
		s.recordRejected(p, r)
		return issuedPair{}, errInvalidRefresh
	case errors.Is(err, store.ErrNotFound):
		s.metrics.Refreshes.WithLabelValues("invalid").Inc()
		return issuedPair{}, errInvalidRefresh
	case err != nil:
		s.metrics.Refreshes.WithLabelValues("error").Inc()
		return issuedPair{}, s.storeFailed("rotate_refresh", err)
	}
	s.setStoreUp(true)
	role := old.Role
	if s.cfg.Users != nil {
		// With a users file, a deleted user's sessions end at their next refresh and a
		// changed role applies from it.
		u := s.cfg.Users.Users().ByID(old.Subject)
		if u == nil {
			s.metrics.Refreshes.WithLabelValues("invalid").Inc()
			if err := s.store.RevokeFamily(ctx, old.Family, now.Add(p.accessLifetime())); err != nil {
				return issuedPair{}, s.storeFailed("revoke_family", err)
			}
			return issuedPair{}, errInvalidRefresh
		}
		role = u.Role
	}
	access, ttl, err := p.tokens.IssueWith(key, old.Subject, role, old.Family)
	if err != nil {
		s.metrics.Refreshes.WithLabelValues("error").Inc()
		// Nothing reached the client: give the spent token back so that it can retry.
		if uerr := s.store.UndoRotation(ctx, oldHash, nextHash); uerr != nil {
			s.log.Warn("a refresh failed after spending its token and could not be undone: the client's retry will count as reuse", "error", uerr)
		}
		return issuedPair{}, unavailable("signing failed", err)
	}
	s.metrics.Refreshes.WithLabelValues("success").Inc()
	return issuedPair{access: access, ttl: ttl, refresh: next}, nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	raw, err := bearerToken(r)
	if err != nil {
		return err
	}
	p := s.policy()
	id, err := p.tokens.Verify(raw)
	if err != nil {
		return invalidToken(err.Error())
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	req, err := ParseLogoutRequest(body)
	if err != nil {
		return malformed(err)
	}
	ctx := r.Context()
	now := s.now()
	until := now.Add(p.accessLifetime())

	if err := s.revokeAccessToken(ctx, p, id); err != nil {
		return err
	}

	// The access token's own session always ends. A refresh token in the body ends its
	// session too when it is the same subject's (a client that logs out with a stale pair);
	// another subject's is ignored, so a leaked refresh token is no lever on its owner.
	var families []string
	if id.SessionID != "" {
		families = append(families, id.SessionID)
	}
	if req.RefreshToken != "" && wellFormedRefreshToken(req.RefreshToken) {
		rt, err := s.store.LookupRefresh(ctx, hashHex(req.RefreshToken), now)
		switch {
		case err == nil && rt.Subject == id.Subject && rt.Family != id.SessionID:
			families = append(families, rt.Family)
		case errors.Is(err, store.ErrTampered):
			s.recordRejected(p, r)
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return s.storeFailed("lookup_refresh", err)
		}
	}
	for _, family := range families {
		if err := s.endSession(ctx, family, until); err != nil {
			return err
		}
	}
	if req.All {
		// Every session the store knows for the subject goes, by sid: exact, whatever the
		// clocks, and a login right after (even in the same second) starts a live session.
		revoked, err := s.store.RevokeSubject(ctx, id.Subject, until)
		if err != nil {
			return s.storeFailed("revoke_subject", err)
		}
		for _, r := range revoked {
			s.revocations.Add(r)
		}
		s.metrics.Revoked.WithLabelValues("subject").Inc()
	}
	s.log.Info("logout", "subject", id.Subject, "sessions", families, "all", req.All)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// recordRejected reports a refresh token record that failed authentication: someone with
// write access to the store, but not this policy's record key, wrote or changed it.
func (s *Server) recordRejected(p *livePolicy, r *http.Request) {
	s.metrics.Forged.Inc()
	s.log.Warn("a refresh token record in the store failed authentication and was refused: something without this policy's record key wrote it; check who can write the policy's keys in Redis", "client", p.clientAddr(r))
}

// accessLifetime is how long after now an access token issued now may still validate.
func (p *livePolicy) accessLifetime() time.Duration {
	return p.spec.Tokens.AccessTokenTTL.Duration + p.spec.Tokens.ClockSkew.Duration
}

func writePair(w http.ResponseWriter, pair issuedPair) {
	writeJSON(w, http.StatusOK, TokenResponse{
		AccessToken: pair.access, RefreshToken: pair.refresh, TokenType: "Bearer", ExpiresIn: int(pair.ttl / time.Second),
	})
}

// newRefreshToken returns a fresh opaque refresh token and the hash the store keeps.
func newRefreshToken() (token, hash string) {
	b := make([]byte, refreshTokenBytes)
	_, _ = rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashHex(token)
}

func wellFormedRefreshToken(t string) bool {
	if len(t) != base64.RawURLEncoding.EncodedLen(refreshTokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(t)
	return err == nil
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// bearerToken extracts the token of the request's one `Authorization: Bearer` header: the
// scheme, spaces, and a b64token (RFC 6750 §2.1). A request with no or several
// Authorization headers has none (which one counts would be each reader's guess): the token
// is missing. One Bearer credential that is not a b64token is a malformed token, which the
// client is told (error="invalid_token").
func bearerToken(r *http.Request) (string, error) {
	t, err := bearerCredential(r)
	if err != nil {
		return "", err
	}
	if !isB64Token(t) {
		return "", invalidToken(errMalformedToken.Error())
	}
	return t, nil
}

// bearerCredential is bearerToken without the b64token check, for a caller that hands the
// credential to Tokens.Verify, which makes that check itself where it is needed: a token
// the cache knows is the very string that was verified, and checking its characters again
// on every request cost more than the cache lookup.
func bearerCredential(r *http.Request) (string, error) {
	vs := r.Header["Authorization"] // keys are canonical: the server made them so
	if len(vs) != 1 {
		return "", errMissingToken
	}
	h := vs[0]
	const scheme = "bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", errMissingToken
	}
	return strings.TrimSpace(h[len(scheme):]), nil
}

var errMalformedToken = errors.New("malformed")

// isB64Token reports whether t is an RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." /
// "_" / "~" / "+" / "/" ) *"=".
func isB64Token(t string) bool {
	body := strings.TrimRight(t, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		if !b64TokenChar[body[i]] {
			return false
		}
	}
	return true
}

// b64TokenChar is the character class of a b64token, as a table: every request's token is
// checked character by character.
var b64TokenChar = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", byte(c)) >= 0
	}
	return t
}()
