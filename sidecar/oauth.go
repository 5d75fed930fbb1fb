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
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// The OAuth 2.0 endpoints under the auth prefix: the token endpoint (RFC 6749) serves the
// same grants as login and refresh, and revoke (RFC 7009) ends what logout ends, in the
// shapes standard clients (golang.org/x/oauth2, openid-client, Spring) speak.
const (
	tokenEndpointPath  = "/token"
	revokeEndpointPath = "/revoke"
)

// OAuthTokenResponse is RFC 6749 §5.1's answer to a successful token request.
type OAuthTokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// token serves POST {prefix}/token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) error {
	if oerr := checkFormRequest(r); oerr != nil {
		return oerr
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	req, oerr := ParseTokenRequest(body)
	if oerr != nil {
		return oerr
	}
	var pair issuedPair
	switch req.GrantType {
	case GrantPassword:
		pair, err = s.passwordGrant(r, req.Login)
	case GrantRefreshToken:
		pair, err = s.refreshGrant(r, req.RefreshToken)
	}
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Pragma", "no-cache") // with writeJSON's Cache-Control: no-store (RFC 6749 §5.1)
	writeJSON(w, http.StatusOK, OAuthTokenResponse{
		AccessToken: pair.access, TokenType: "Bearer", ExpiresIn: int(pair.ttl / time.Second), RefreshToken: pair.refresh,
	})
	return nil
}

// revoke serves POST {prefix}/revoke. A refresh token ends its session (its whole family,
// and the access tokens issued from it); an access token is revoked by its jti until it
// expires. A token that is unknown, invalid or already ended gets the same 200 (RFC 7009
// §2.2): nothing is left to revoke, and the answer tells a guesser nothing.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) error {
	if oerr := checkFormRequest(r); oerr != nil {
		return oerr
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	req, oerr := ParseRevokeRequest(body)
	if oerr != nil {
		return oerr
	}
	ctx := r.Context()
	p := s.policy()
	if wellFormedRefreshToken(req.Token) {
		if err := s.revokeRefresh(r, p, req.Token); err != nil {
			return err
		}
	} else if id, err := p.tokens.Verify(req.Token); err == nil {
		if err := s.revokeAccessToken(ctx, p, id); err != nil {
			return err
		}
		s.log.Info("revoked", "what", "access token", "subject", id.Subject)
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	return nil
}

// revokeRefresh ends the session of a refresh token presented for revocation. The token is
// spent as a refresh spends it, with no reuse interval, in one step in the store: a live
// one's session then ends here; a spent one is reuse, whose session the store ends. A spent
// token is what its owner holds after a thief refreshed first (or raced the revocation): the
// owner's revocation must end the thief's successor too, not answer 200 and leave it live.
func (s *Server) revokeRefresh(r *http.Request, p *livePolicy, token string) error {
	ctx := r.Context()
	now := s.now()
	until := now.Add(p.accessLifetime())
	_, nextHash := newRefreshToken() // never handed out: the session ends below
	rt, err := s.store.RotateRefresh(ctx, hashHex(token), store.RefreshToken{Hash: nextHash, IssuedAt: now}, now, 0)
	switch {
	case errors.Is(err, store.ErrReused):
		s.metrics.Reuse.Inc()
		if rt.Family != "" {
			s.revocations.Add(store.Revocation{Kind: store.RevokedSession, ID: rt.Family, Until: until})
		}
		s.log.Warn("spent refresh token presented for revocation: its whole session is revoked", "client", p.clientAddr(r))
	case errors.Is(err, store.ErrTampered):
		s.recordRejected(p, r)
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return s.storeFailed("rotate_refresh", err)
	default:
		if err := s.endSession(ctx, rt.Family, until); err != nil {
			return err
		}
		s.log.Info("revoked", "what", "session", "subject", rt.Subject, "session", rt.Family)
	}
	return nil
}

// revokeAccessToken revokes one access token by its jti, until it would expire anyway.
func (s *Server) revokeAccessToken(ctx context.Context, p *livePolicy, id *Identity) error {
	rev := store.Revocation{Kind: store.RevokedToken, ID: id.JTI, Until: id.ExpiresAt.Add(p.spec.Tokens.ClockSkew.Duration)}
	if err := s.store.Revoke(ctx, rev); err != nil {
		return s.storeFailed("revoke", err)
	}
	s.revocations.Add(rev) // enforced here at once, whatever the pub/sub delay
	s.metrics.Revoked.WithLabelValues("token").Inc()
	return nil
}

// endSession revokes a refresh family: its refresh tokens, and its access tokens until the
// last one issued could have expired.
func (s *Server) endSession(ctx context.Context, family string, until time.Time) error {
	if err := s.store.RevokeFamily(ctx, family, until); err != nil {
		return s.storeFailed("revoke_family", err)
	}
	s.revocations.Add(store.Revocation{Kind: store.RevokedSession, ID: family, Until: until})
	s.metrics.Revoked.WithLabelValues("session").Inc()
	return nil
}

// oauthError is an RFC 6749 §5.2 error: {"error": code, "error_description": desc}.
type oauthError struct {
	status     int
	code       string
	desc       string // one of oauthDescriptions: never anything the request carried
	retryAfter time.Duration
	cause      error // logged, never sent
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }
func (e *oauthError) Unwrap() error { return e.cause }

// RFC 6749 §5.2 error codes, and temporarily_unavailable (§4.1.2.1) for what a client
// should retry later: a rate limit (429) or a store, password check or key that is down (503).
const (
	oauthInvalidRequestCode   = "invalid_request"
	oauthInvalidClient        = "invalid_client"
	oauthInvalidGrant         = "invalid_grant"
	oauthInvalidScope         = "invalid_scope"
	oauthUnsupportedGrantType = "unsupported_grant_type"
	oauthTemporarilyDown      = "temporarily_unavailable"
	oauthServerError          = "server_error"
)

// The error descriptions a client can be told: fixed text, so that no request can write
// into an answer, and within RFC 6749's error_description charset.
const (
	descMalformedForm        = "the body is not a valid application/x-www-form-urlencoded form"
	descRepeatedParameter    = "a parameter is included more than once"
	descQueryParameters      = "parameters must be sent in the request body, not in the URL"
	descContentType          = "the content type must be application/x-www-form-urlencoded"
	descClientAuthentication = "client authentication is not supported: clients are public and send client_id only"
	descScope                = "scopes are not supported: omit scope"
	descGrantTypeRequired    = "grant_type is required"
	descUnsupportedGrantType = "supported grant types: password, refresh_token"
	descPasswordGrantOff     = "the password grant is not enabled on this server"
	descUsernameRequired     = "username is required"
	descPasswordRequired     = "password is required"
	descUsernameTooLong      = "username is too long"
	descPasswordTooLong      = "password is longer than 72 bytes"
	descRefreshTokenRequired = "refresh_token is required"
	descTokenRequired        = "token is required"
	descInvalidCredentials   = "invalid username or password"
	descInvalidRefresh       = "invalid refresh token"
	descBodyTooLarge         = "request body too large"
	descBodyTimeout          = "request body not received in time"
	descMethod               = "method not allowed: use POST"
	descTooManyLogins        = "too many login attempts"
	descUnavailable          = "temporarily unavailable: retry later"
	descInternal             = "internal error"
)

var oauthDescriptions = map[string]bool{
	descMalformedForm: true, descRepeatedParameter: true, descQueryParameters: true,
	descContentType: true, descClientAuthentication: true, descScope: true,
	descGrantTypeRequired: true, descUnsupportedGrantType: true, descPasswordGrantOff: true,
	descUsernameRequired: true, descPasswordRequired: true, descUsernameTooLong: true,
	descPasswordTooLong: true, descRefreshTokenRequired: true, descTokenRequired: true,
	descInvalidCredentials: true, descInvalidRefresh: true, descBodyTooLarge: true,
	descBodyTimeout: true, descMethod: true, descTooManyLogins: true, descUnavailable: true,
	descInternal: true,
}

func oauthInvalidRequest(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: oauthInvalidRequestCode, desc: desc}
}

var (
	errContentType          = oauthInvalidRequest(descContentType)
	errScope                = &oauthError{status: http.StatusBadRequest, code: oauthInvalidScope, desc: descScope}
	errUnsupportedGrantType = &oauthError{status: http.StatusBadRequest, code: oauthUnsupportedGrantType, desc: descUnsupportedGrantType}
	// RFC 6749 §5.2: 401 for a client that tried to authenticate, with a challenge in the
	// scheme it tried when that was the Authorization header; clients here are public, so
	// every authentication attempt fails before anything is counted or spent.
	errClientAuthentication = &oauthError{status: http.StatusUnauthorized, code: oauthInvalidClient, desc: descClientAuthentication}
)

// asOAuthError turns what the shared login and refresh code returns into its §5.2 form.
func asOAuthError(err error) *oauthError {
	if oe, ok := errors.AsType[*oauthError](err); ok {
		return oe
	}
	he, ok := errors.AsType[*httpError](err)
	if !ok {
		return &oauthError{status: http.StatusInternalServerError, code: oauthServerError, desc: descInternal, cause: err}
	}
	switch {
	case he == errInvalidCredentials:
		return &oauthError{status: http.StatusBadRequest, code: oauthInvalidGrant, desc: descInvalidCredentials}
	case he == errInvalidRefresh:
		return &oauthError{status: http.StatusBadRequest, code: oauthInvalidGrant, desc: descInvalidRefresh}
	case he == errBodyTooLarge:
		return &oauthError{status: http.StatusRequestEntityTooLarge, code: oauthInvalidRequestCode, desc: descBodyTooLarge}
	case he == errBodyTimeout:
		return &oauthError{status: http.StatusRequestTimeout, code: oauthInvalidRequestCode, desc: descBodyTimeout}
	case he.status == http.StatusMethodNotAllowed:
		return &oauthError{status: he.status, code: oauthInvalidRequestCode, desc: descMethod}
	case he.status == http.StatusNotImplemented:
		return &oauthError{status: http.StatusBadRequest, code: oauthUnsupportedGrantType, desc: descPasswordGrantOff}
	case he.status == http.StatusTooManyRequests:
		return &oauthError{status: he.status, code: oauthTemporarilyDown, desc: descTooManyLogins, retryAfter: he.retryAfter}
	case he.status == http.StatusServiceUnavailable:
		return &oauthError{status: he.status, code: oauthTemporarilyDown, desc: descUnavailable, retryAfter: he.retryAfter, cause: he}
	case he.status >= 500:
		return &oauthError{status: he.status, code: oauthServerError, desc: descInternal, cause: he}
	default:
		return &oauthError{status: http.StatusBadRequest, code: oauthInvalidRequestCode, desc: descMalformedForm, cause: he}
	}
}

// wrapOAuth is wrap for the OAuth endpoints: their errors take RFC 6749 §5.2's shape.
func (ew errorWriter) wrapOAuth(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			ew.writeOAuth(w, r, err)
		}
	})
}

func (ew errorWriter) writeOAuth(w http.ResponseWriter, r *http.Request, err error) {
	oe := asOAuthError(err)
	if oe.cause != nil || oe.status >= 500 {
		ew.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", oe.status, "error", oe.code, "cause", errString(oe.cause))
	}
	h := w.Header()
	if oe == errClientAuthentication && len(r.Header.Values("Authorization")) > 0 {
		h.Set("WWW-Authenticate", `Basic realm="tollgate"`)
	}
	if oe.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((oe.retryAfter+time.Second-1)/time.Second)))
	}
	h.Set("Pragma", "no-cache")
	body := map[string]string{"error": oe.code}
	if oauthDescriptions[oe.desc] {
		body["error_description"] = oe.desc
	}
	writeJSON(w, oe.status, body)
}
