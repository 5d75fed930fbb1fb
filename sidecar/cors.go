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
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
)

// CORS (the Fetch standard's cross-origin protocol), as spec.cors sets it. Without spec.cors
// the sidecar adds nothing and removes nothing: an app that does CORS itself keeps doing it.
// With spec.cors the sidecar owns CORS for the pod:
//   - it answers every preflight itself (an OPTIONS request with an Origin and an
//     Access-Control-Request-Method), whatever the path and without a token: 204 with the
//     policy's answer when the origin, the method and the headers are allowed, 403 without
//     any CORS header otherwise. A preflight never reaches the app.
//   - every other response (the auth endpoints', the proxied app's, the sidecar's own 401, 403
//     and 502) loses whatever Access-Control-* headers the app set, so an app that reflects
//     any Origin cannot widen the policy and no response carries two answers, and gets the
//     policy's: the request's exact origin (or `*`), credentials, and the exposed headers.
//
// The semantics are exact on purpose: an origin is allowed when it equals, byte for byte, one
// of spec.cors.allowedOrigins (which the schema keeps in the lower-case form browsers send);
// a request with several Origin headers has no origin; `null` is never allowed by name.
// rs/cors was considered: it lower-cases origins and upper-cases methods before matching
// (the sidecar refuses lower-case methods, so a preflight it allowed would announce a request
// the sidecar refuses), reads only the first of several Origin headers, and sets its headers
// before the handler runs, so an app's own Access-Control-Allow-Origin would be sent as well.

// corsPolicy is spec.cors compiled for requests. It is part of a livePolicy: never changed.
type corsPolicy struct {
	anyOrigin   bool                // allowedOrigins: ["*"]
	origins     map[string]struct{} // otherwise: the exact origins
	methods     map[string]struct{} // methods a preflight may ask for besides GET, HEAD, POST
	headers     map[string]struct{} // header names (lower case) a preflight may ask for
	credentials bool
	// The preflight and response header values, built once. Each is a one-element slice of
	// capacity one, shared by every response: an append to one (Header.Add) copies it.
	allowMethods, allowHeaders, exposeHeaders, maxAge []string
}

// Header values every response may share (see corsPolicy).
var (
	corsAnyOrigin     = []string{"*"}
	corsTrue          = []string{"true"}
	corsNoStore       = []string{"no-store"}
	corsVaryOrigin    = []string{"Origin"}
	corsVaryPreflight = []string{"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}
)

// shared is v as a header value the responses share.
func shared(v string) []string { return []string{v}[:1:1] }

// alwaysAllowedHeaders may be asked for by every preflight: the sidecar's own protocol needs
// Authorization and Content-Type (application/json), and the others are the CORS-safelisted
// request headers, which a browser lists only when their value is unusual (a long Accept).
var alwaysAllowedHeaders = []string{"authorization", "content-type", "accept", "accept-language", "content-language", "range"}

// alwaysExposedHeaders say why a call was refused and when to retry.
var alwaysExposedHeaders = []string{"WWW-Authenticate", "Retry-After"}

// newCORSPolicy compiles a defaulted, valid spec.cors; nil when the policy has none.
func newCORSPolicy(spec *spec.CORSSpec) *corsPolicy {
	if spec == nil {
		return nil
	}
	c := &corsPolicy{
		origins:     map[string]struct{}{},
		methods:     map[string]struct{}{},
		headers:     map[string]struct{}{},
		credentials: spec.AllowCredentials,
	}
	for _, o := range spec.AllowedOrigins {
		if o == "*" {
			c.anyOrigin = true
		}
		c.origins[o] = struct{}{}
	}
	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost}
	for _, m := range spec.AllowedMethods {
		if m := string(m); !isSafelistedMethod(m) {
			c.methods[m] = struct{}{}
			methods = append(methods, m)
		}
	}
	headers := append([]string(nil), alwaysAllowedHeaders...)
	for _, h := range alwaysAllowedHeaders {
		c.headers[h] = struct{}{}
	}
	for _, h := range spec.AllowedHeaders {
		h = strings.ToLower(h)
		if _, dup := c.headers[h]; !dup {
			c.headers[h] = struct{}{}
			headers = append(headers, h)
		}
	}
	exposed := append([]string(nil), alwaysExposedHeaders...)
	for _, h := range spec.ExposedHeaders {
		if !containsFold(exposed, h) {
			exposed = append(exposed, h)
		}
	}
	c.allowMethods = shared(strings.Join(methods, ", "))
	c.allowHeaders = shared(strings.Join(headers, ", "))
	c.exposeHeaders = shared(strings.Join(exposed, ", "))
	if spec.MaxAge != nil && spec.MaxAge.Duration >= time.Second {
		c.maxAge = shared(strconv.Itoa(int(spec.MaxAge.Duration / time.Second)))
	}
	return c
}

func isSafelistedMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodPost
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// withCORS applies the policy in force's spec.cors around next. Without spec.cors it costs a
// pointer load: the proxy's hot path stays as it is.
func (s *Server) withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := s.policy().cors
		if c == nil {
			next.ServeHTTP(w, r)
			return
		}
		origin, allowed := c.origin(r.Header)
		if isPreflight(r) {
			s.answerPreflight(w, r, c, origin, allowed)
			return
		}
		next.ServeHTTP(&corsWriter{ResponseWriter: w, cors: c, origin: origin, allowed: allowed}, r)
	})
}

// isPreflight reports whether r is a CORS preflight: OPTIONS with an Origin and an
// Access-Control-Request-Method (Fetch §4.8). An OPTIONS without them is an ordinary request.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && len(r.Header["Origin"]) > 0 && len(r.Header["Access-Control-Request-Method"]) > 0
}

// origin returns the request's origin and whether the policy allows it. A request has an
// origin only when it carries exactly one Origin header: browsers never send two, and a
// request that does is read as having none rather than by whichever a reader picks.
func (c *corsPolicy) origin(h http.Header) (string, bool) {
	vs := h["Origin"]
	if len(vs) != 1 {
		return "", false
	}
	if c.anyOrigin {
		return vs[0], true
	}
	_, ok := c.origins[vs[0]]
	return vs[0], ok
}

// Why a preflight is refused: fixed phrases, nothing the request wrote is echoed.
const (
	corsRefusedOrigin  = "CORS preflight refused: origin not allowed"
	corsRefusedMethod  = "CORS preflight refused: method not allowed"
	corsRefusedHeaders = "CORS preflight refused: request headers not allowed"
)

// answerPreflight answers a preflight without the app: 204 with the policy's answer, or 403
// without any CORS header, which the browser reads as a refusal.
func (s *Server) answerPreflight(w http.ResponseWriter, r *http.Request, c *corsPolicy, origin string, allowed bool) {
	// The sidecar answers: an unexpected body gets the deadline of the others it answers.
	if r.Body != http.NoBody {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.AuthBodyTimeout))
	}
	h := w.Header()
	if !c.anyOrigin {
		addVary(h, corsVaryPreflight)
	}
	refusal := ""
	switch {
	case !allowed:
		refusal = corsRefusedOrigin
	case !c.allowsMethod(r.Header["Access-Control-Request-Method"]):
		refusal = corsRefusedMethod
	case !c.allowsHeaders(r.Header["Access-Control-Request-Headers"]):
		refusal = corsRefusedHeaders
	}
	if refusal != "" {
		s.metrics.Requests.WithLabelValues("preflight_refused").Inc()
		s.errs.write(w, r, errStatus(http.StatusForbidden, refusal))
		return
	}
	s.metrics.Requests.WithLabelValues("preflight").Inc()
	c.allowOrigin(h, origin)
	h["Access-Control-Allow-Methods"] = c.allowMethods
	h["Access-Control-Allow-Headers"] = c.allowHeaders
	if c.maxAge != nil {
		h["Access-Control-Max-Age"] = c.maxAge
	}
	h["Cache-Control"] = corsNoStore
	w.WriteHeader(http.StatusNoContent)
}

// allowsMethod: exactly one Access-Control-Request-Method, GET, HEAD, POST or one of the
// policy's. Compared as sent: methods are case-sensitive, and the sidecar refuses `patch`.
func (c *corsPolicy) allowsMethod(vs []string) bool {
	if len(vs) != 1 {
		return false
	}
	if isSafelistedMethod(vs[0]) {
		return true
	}
	_, ok := c.methods[vs[0]]
	return ok
}

// allowsHeaders: every name of Access-Control-Request-Headers is allowed.
func (c *corsPolicy) allowsHeaders(vs []string) bool {
	names, ok := ParseRequestHeaderNames(vs)
	if !ok {
		return false
	}
	for _, n := range names {
		if _, ok := c.headers[n]; !ok {
			return false
		}
	}
	return true
}

// maxRequestHeaderNames bounds the names one preflight may ask for: a browser asks for the
// few a script set, and the sidecar allows at most 70.
const maxRequestHeaderNames = 128

// ParseRequestHeaderNames reads Access-Control-Request-Headers (all its lines): header
// names separated by commas, with optional spaces and tabs around them. It returns the names
// in lower case, and false when an element is not an RFC 9110 token or there are more than
// maxRequestHeaderNames. Empty elements are skipped, as the list syntax of RFC 9110 §5.6.1
// allows.
func ParseRequestHeaderNames(vs []string) ([]string, bool) {
	var names []string
	for _, v := range vs {
		for len(v) > 0 {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			elem = strings.Trim(elem, " \t")
			if elem == "" {
				continue
			}
			if !isToken(elem) || len(names) == maxRequestHeaderNames {
				return nil, false
			}
			names = append(names, strings.ToLower(elem))
		}
	}
	return names, true
}

// allowOrigin writes the allowed origin's answer shared by preflights and responses.
func (c *corsPolicy) allowOrigin(h http.Header, origin string) {
	if c.anyOrigin {
		h["Access-Control-Allow-Origin"] = corsAnyOrigin
		return
	}
	h["Access-Control-Allow-Origin"] = []string{origin}
	if c.credentials {
		h["Access-Control-Allow-Credentials"] = corsTrue
	}
}

// addVary adds v to the response's Vary, after the app's own.
func addVary(h http.Header, v []string) {
	if old := h["Vary"]; len(old) > 0 {
		h["Vary"] = append(old, v[0])
		return
	}
	h["Vary"] = v
}

// corsWriter puts the policy's CORS headers on a response when its header is written, after
// the proxy has copied the app's: the app's own Access-Control-* headers are dropped first.
type corsWriter struct {
	http.ResponseWriter
	cors    *corsPolicy
	origin  string
	allowed bool
	done    bool
}

func (cw *corsWriter) WriteHeader(code int) {
	// Informational answers (100 Continue, 103 Early Hints) are not the response.
	if !cw.done && (code >= 200 || code == http.StatusSwitchingProtocols) {
		cw.done = true
		cw.decorate(cw.Header())
	}
	cw.ResponseWriter.WriteHeader(code)
}

func (cw *corsWriter) Write(b []byte) (int, error) {
	if !cw.done {
		cw.WriteHeader(http.StatusOK)
	}
	return cw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes, deadlines, upgrades).
func (cw *corsWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }

func (cw *corsWriter) decorate(h http.Header) {
	for k := range h {
		if headerNameHasPrefix(k, "access-control-") {
			delete(h, k)
		}
	}
	c := cw.cors
	if c.anyOrigin {
		// The same answer for every request, Origin or not: a cache may share it.
		h["Access-Control-Allow-Origin"] = corsAnyOrigin
		h["Access-Control-Expose-Headers"] = c.exposeHeaders
		return
	}
	addVary(h, corsVaryOrigin)
	if cw.allowed {
		c.allowOrigin(h, cw.origin)
		h["Access-Control-Expose-Headers"] = c.exposeHeaders
	}
}
