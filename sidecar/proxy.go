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
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
)

// Identity headers the app receives. Whatever a client sends under the X-Auth- prefix (or
// X_Auth_, in any case) is removed first, so the app can trust them.
const (
	HeaderSubject = "X-Auth-Subject"
	HeaderRole    = "X-Auth-Role"
)

// forwarding is what serveProxy decided about a request. It is written into the request's
// own headers before the proxy copies them (apply), and what hop-by-hop removal then takes
// from the copy is put back by the proxy's Rewrite hook (restoreDecided): a client may name
// any header in Connection, but the app gets what the sidecar decided.
type forwarding struct {
	identity *Identity // nil on public routes
	token    string    // the verified access token, forwarded as the only Authorization
	// override is the method override the routes were checked against (Evaluate mode).
	override MethodOverride
}

// serveProxy validates the request against the policy's routes and forwards it.
func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request, clean string) {
	p := s.policy()
	var fwd forwarding
	if err := readForwarding(p, r, &fwd); err != nil {
		s.metrics.Requests.WithLabelValues("bad_request").Inc()
		s.errs.write(w, r, err)
		return
	}
	if err := s.authorize(p, r, r.Method, clean, &fwd); err != nil {
		s.errs.write(w, r, err)
		return
	}
	// What is forwarded is what was matched: the clean path, re-encoded canonically, and
	// the headers as decided. The request is the sidecar's own from here on: changing it in
	// place costs nothing, where handing the decision to the proxy in a new context cost
	// three allocations per request.
	r.URL.Path, r.URL.RawPath = clean, ""
	fwd.apply(r.Header)
	grpc := carriesGRPC(r.Header) // over either protocol: see carriesGRPC
	if fwd.identity != nil && (grpc || len(r.Header["Upgrade"]) > 0) {
		// An upgraded connection (a WebSocket) or a gRPC stream outlives the request that
		// checked its token: it lasts only as long as the token stays valid. The proxy
		// closes it when ctx ends.
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		go s.watchTunnel(ctx, cancel, fwd.token)
		r = r.WithContext(ctx)
	}
	// The body goes to the app, at the pace the client and the app agree on.
	if r.Body != http.NoBody {
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	}
	if grpc {
		s.proxyGRPC(w, r)
		return
	}
	s.proxy.ServeHTTP(w, r)
}

// readForwarding reads what, in a request's headers and query, decides how it is checked and
// forwarded, and refuses what cannot be forwarded faithfully: several credentials, an h2c
// upgrade, a `_method` query parameter (Strip mode: the query is forwarded as sent, so it
// cannot be stripped) and a malformed method override (Evaluate mode).
func readForwarding(p *livePolicy, r *http.Request, fwd *forwarding) error {
	h := r.Header
	if err := singleCredential(h); err != nil {
		return err
	}
	if upgradesToH2C(h) {
		return errH2CUpgrade
	}
	if p.spec.Sidecar.MethodOverride != spec.MethodOverrideEvaluate {
		if hasQueryMethodOverride(r.URL.RawQuery) {
			return errStatus(http.StatusBadRequest, errOverrideInQuery.Error())
		}
		return nil
	}
	o, err := ParseMethodOverride(h)
	if err == nil {
		o, err = ParseQueryMethodOverride(o, r.URL.RawQuery)
	}
	if err != nil {
		return errStatus(http.StatusBadRequest, err.Error())
	}
	fwd.override = o
	return nil
}

// tunnelCheckInterval is how often the token of an upgraded connection or a gRPC call is
// checked again.
const tunnelCheckInterval = time.Second

// watchTunnel ends an upgraded connection or a gRPC call once the token that opened it is
// no longer valid: expired, revoked (logout, a revoked session or subject) or signed by a
// removed key. The refusal is the cause of the end.
func (s *Server) watchTunnel(ctx context.Context, end context.CancelCauseFunc, token string) {
	t := time.NewTicker(tunnelCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// The policy in force at each check: a reload that stops accepting the token
			// (other audiences, issuer) ends the connection too.
			if _, err := s.policy().tokens.Verify(token); err != nil {
				s.log.Info("closing an upgraded connection or a gRPC call: its token is no longer valid", "reason", err.Error())
				end(invalidToken(err.Error()))
				return
			}
		}
	}
}

var errH2CUpgrade = errStatus(http.StatusBadRequest, "upgrade to h2c is not allowed")

// upgradesToH2C reports whether the request asks to switch to cleartext HTTP/2: a backend
// that accepts would take every later request on the connection past the sidecar's rules.
func upgradesToH2C(h http.Header) bool {
	for _, v := range h["Upgrade"] {
		for _, p := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(p), "/")
			if strings.EqualFold(name, "h2c") {
				return true
			}
		}
	}
	return false
}

var errSeveralCredentials = errStatus(http.StatusBadRequest, "more than one Authorization credential")

// singleCredential refuses a request with several Authorization headers, or several bearer
// tokens joined in one: the sidecar would verify one and the app might read another.
func singleCredential(h http.Header) error {
	vs := h["Authorization"]
	if len(vs) > 1 {
		return errSeveralCredentials
	}
	if len(vs) == 1 && len(vs[0]) > 7 && strings.EqualFold(vs[0][:7], "bearer ") && strings.Contains(vs[0], ",") {
		return errSeveralCredentials
	}
	return nil
}

// apply writes the forwarding decision into the headers the proxy will forward: first every
// header the client may not send the app is removed, then the identity is set. On the
// common path it allocates nothing: the client's own Authorization is kept when it already
// is the canonical `Bearer <token>`, and the identity's header values are built once per
// verified token (Identity.identityHeaders).
func (f *forwarding) apply(h http.Header) {
	for k := range h {
		if notForTheApp(k) {
			delete(h, k)
		}
	}
	for _, name := range f.override.Headers {
		h[name] = []string{f.override.Method}
	}
	if f.identity != nil {
		if v := h["Authorization"]; len(v) != 1 || !isBearer(v[0], f.token) {
			h["Authorization"] = []string{"Bearer " + f.token}
		}
		h[HeaderSubject], h[HeaderRole] = f.identity.identityHeaders()
	}
}

// isBearer reports whether v is exactly `Bearer <token>`.
func isBearer(v, token string) bool {
	return len(v) == len("Bearer ")+len(token) && v[:len("Bearer ")] == "Bearer " && v[len("Bearer "):] == token
}

// restoreDecided puts back into the outgoing headers what the sidecar set (apply) and
// hop-by-hop removal took out of the copy because the client named it in Connection: the
// identity of an authenticated request and the method override the routes were checked
// against (Evaluate mode). Client-sent X-Auth- and method-override headers are gone from in
// by then, so one there is the sidecar's own. A header still in out holds in's values (out
// is a copy): only a missing one is written, because assigning even an existing key of a
// full small map makes the runtime grow it, three allocations per request.
func restoreDecided(in, out http.Header) {
	if _, ok := in[HeaderSubject]; ok {
		restoreMissing(in, out, identityHeaderNames[:])
	}
	restoreMissing(in, out, overrideHeaderNames)
}

func restoreMissing(in, out http.Header, names []string) {
	for _, k := range names {
		if v, ok := in[k]; ok {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	}
}

// overrideHeaderNames are the canonical names under which apply forwards a method override.
var overrideHeaderNames = func() []string {
	ns := make([]string, len(methodOverrideHeaders))
	for i, n := range methodOverrideHeaders {
		ns[i] = http.CanonicalHeaderKey(n)
	}
	return ns
}()

var identityHeaderNames = [...]string{HeaderSubject, HeaderRole, "Authorization"}

// notForTheApp reports whether a client's header k must not reach the app, in one pass over
// the headers per request:
//   - a name that starts with X-Auth-, in any case and with any other punctuation for `-`:
//     CGI-style servers (Rack, PHP, WSGI) read X_Auth_Role as HTTP_X_AUTH_ROLE, the very
//     variable X-Auth-Role becomes, and lighttpd does the same with X.Auth.Role or
//     X~Auth~Role (Go keeps such names as sent, so names are compared, not looked up);
//   - a method override, however spelled (methodOverrideName);
//   - a path override (X-Original-URL, X-Rewrite-URL), however spelled: IIS-era frameworks
//     (Zend Framework 1, older Symfony and Laminas) route by it instead of the checked path;
//   - X-Forwarded-For/-Host/-Proto spelled another way (X_Forwarded_For): a CGI-style server
//     reads it as the variable the proxy's own header becomes, and may let it win;
//   - HTTP2-Settings, only ever meant for an h2c upgrade, which is refused.
func notForTheApp(k string) bool {
	if headerNameHasPrefix(k, "x-auth-") || methodOverrideName(k) != "" || k == "Http2-Settings" {
		return true
	}
	for _, n := range pathOverrideHeaders {
		if len(k) == len(n) && headerNameHasPrefix(k, n) {
			return true
		}
	}
	for i, n := range forwardedNames {
		if k != forwardedHeaders[i] && len(k) == len(n) && headerNameHasPrefix(k, n) {
			return true
		}
	}
	return false
}

var pathOverrideHeaders = []string{"x-original-url", "x-rewrite-url"}

// forwardedHeaders are the headers the proxy sets (SetXForwarded) after removing the
// client's; forwardedNames the same in lower case, as headerNameHasPrefix compares.
var (
	forwardedHeaders = []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}
	forwardedNames   = []string{"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"}
)

// headerNameHasPrefix reports whether name starts with prefix (lower case, with `-`),
// ignoring case and reading every character but a letter or digit as `-`, as CGI-style
// servers read them all as `_`.
func headerNameHasPrefix(name, prefix string) bool {
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		default:
			c = '-'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// upstreamFailed answers 502 in the JSON error shape when the app cannot be reached. The
// request's body is then the sidecar's to read, so it gets the deadline of the others the
// sidecar answers itself.
func (s *Server) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.AuthBodyTimeout))
	if ended := tokenEnded(r.Context()); ended != nil {
		// watchTunnel ended the request before the app answered.
		s.outcomes.unauthorized.Inc()
		s.errs.write(w, r, ended)
		return
	}
	s.metrics.Requests.WithLabelValues("upstream_error").Inc()
	s.errs.write(w, r, &httpError{status: http.StatusBadGateway, msg: "upstream unavailable", cause: err})
}

// newProxy forwards to the upstream over kept-alive connections (HTTP/1.1, or HTTP/2
// cleartext for an h2c app), streaming bodies both ways and trailers back, and hands
// failures to reach it to onError.
func newProxy(upstream *url.URL, protocol spec.UpstreamProtocol, onError func(http.ResponseWriter, *http.Request, error)) *httputil.ReverseProxy {
	transport := &http.Transport{
		Proxy: nil, // the app is local: never route it through HTTP(S)_PROXY
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
		Protocols:             upstreamProtocols(protocol),
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			in := pr.In.URL
			pr.SetURL(upstream)
			pr.Out.URL.Path = joinPath(upstream.Path, in.Path)
			pr.Out.URL.RawPath = ""
			pr.Out.URL.RawQuery = in.RawQuery
			pr.Out.Host = pr.In.Host // the app sees the Host the client asked for
			pr.SetXForwarded()
			restoreDecided(pr.In.Header, pr.Out.Header)
		},
		// Default flushing: the standard library already flushes every write of a response
		// of unknown length (chunked streams, Server-Sent Events) at once, and forcing it on
		// every response costs a write per response for nothing.
		Transport:    transport,
		ErrorHandler: onError,
		BufferPool:   copyBuffers{},
	}
}

// copyBufferSize is the size of the buffer ReverseProxy copies bodies through (its default).
const copyBufferSize = 32 << 10

// copyBuffers lends ReverseProxy its copy buffers. Without a pool it allocates a fresh
// 32 KiB buffer for every response, by far the largest allocation of a proxied request:
// it sets the pace of garbage collection, which was a fifth of the sidecar's instructions
// per request. Buffers go back as array pointers, so lending costs no allocation either.
type copyBuffers struct{}

var copyBufferPool = sync.Pool{New: func() any { return new([copyBufferSize]byte) }}

func (copyBuffers) Get() []byte { return copyBufferPool.Get().(*[copyBufferSize]byte)[:] }

func (copyBuffers) Put(b []byte) {
	if len(b) == copyBufferSize {
		copyBufferPool.Put((*[copyBufferSize]byte)(b))
	}
}

func joinPath(base, p string) string {
	if base == "" || base == "/" {
		return p
	}
	return strings.TrimSuffix(base, "/") + p
}
