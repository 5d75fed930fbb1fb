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

// Package sidecar is tollgate's per-pod HTTP server: login, refresh and logout, the JWKS and
// discovery documents, and the reverse proxy that validates every request's access token.
package sidecar

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// httpError is an error with the answer it deserves. Handlers return errors; errorWriter is
// the one place that turns them into the `{"error": ...}` shape, or, for a gRPC call, into
// its gRPC status.
type httpError struct {
	status     int
	msg        string
	bearer     string        // WWW-Authenticate error code: "", "invalid_token", "insufficient_scope"
	retryAfter time.Duration // 429 and 503
	cause      error         // logged, never sent
}

func (e *httpError) Error() string { return e.msg }
func (e *httpError) Unwrap() error { return e.cause }

func errStatus(status int, msg string) *httpError { return &httpError{status: status, msg: msg} }

// Errors with a fixed answer.
var (
	errMalformed          = errStatus(http.StatusBadRequest, "malformed request body")
	errInvalidCredentials = errStatus(http.StatusUnauthorized, "invalid credentials")
	errMissingToken       = errStatus(http.StatusUnauthorized, "missing bearer token")
	// The revocation list is not loaded yet (the store has not answered since start).
	errRevocationsNotLoaded = unavailable("revocation list not loaded yet: the session store has not answered since start", nil)
	errInvalidRefresh       = errStatus(http.StatusUnauthorized, "invalid refresh token")
	errBodyTooLarge         = errStatus(http.StatusRequestEntityTooLarge, "request body too large")
	errBodyTimeout          = errStatus(http.StatusRequestTimeout, "request body not received in time")
)

// invalidToken is the 401 for a refused token. reason is Tokens.Verify's, which may quote
// what the token carries (a header's name); only the fixed descriptions below are ever sent,
// in the body and in WWW-Authenticate's error_description, so no token can write into a
// response header, and none breaks its quoted-string.
func invalidToken(reason string) *httpError {
	desc, ok := tokenErrorDescriptions[reason]
	switch {
	case ok:
	case strings.HasPrefix(reason, "header "):
		desc = "header not accepted"
	default:
		desc = "invalid"
	}
	return &httpError{status: http.StatusUnauthorized, msg: "invalid token: " + desc, bearer: "invalid_token"}
}

// tokenErrorDescriptions are the reasons for refusing a token that a client is told.
var tokenErrorDescriptions = func() map[string]string {
	m := map[string]string{}
	for _, d := range []string{
		"malformed", "too large", "expired", "not valid yet", "issued in the future", "revoked",
		"bad signature", "algorithm not allowed", "algorithm does not match the key",
		"unknown signing key", "typ is not at+jwt", "wrong issuer", "wrong audience",
		"invalid claims", "a required claim is missing", "exp is missing", "iss is missing",
		"aud is missing", "sub is missing", "jti is missing", "iat is missing", "invalid",
	} {
		m[d] = d
	}
	return m
}()

func forbidden(msg string) *httpError {
	return &httpError{status: http.StatusForbidden, msg: msg, bearer: "insufficient_scope"}
}

func unavailable(msg string, cause error) *httpError {
	return &httpError{status: http.StatusServiceUnavailable, msg: msg, retryAfter: time.Second, cause: cause}
}

// handlerFunc is an http handler that returns its failure instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// errorWriter wraps handlers and writes the errors they return.
type errorWriter struct {
	log *slog.Logger
}

func (ew errorWriter) wrap(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			ew.write(w, r, err)
		}
	})
}

func (ew errorWriter) write(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = &httpError{status: http.StatusInternalServerError, msg: "internal error", cause: err}
	}
	if he.cause != nil || he.status >= 500 {
		ew.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", he.status, "error", he.msg, "cause", errString(he.cause))
	}
	h := w.Header()
	switch {
	case he.status == http.StatusUnauthorized && he.bearer != "":
		h.Set("WWW-Authenticate", `Bearer realm="tollgate", error="`+he.bearer+`", error_description="`+he.msg+`"`)
	case he.status == http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="tollgate"`)
	case he.status == http.StatusForbidden && he.bearer != "":
		h.Set("WWW-Authenticate", `Bearer realm="tollgate", error="`+he.bearer+`"`)
	}
	if he.retryAfter > 0 {
		secs := int((he.retryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	if isGRPC(r) {
		writeGRPCStatus(w, he)
		return
	}
	writeJSON(w, he.status, map[string]string{"error": he.msg})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
