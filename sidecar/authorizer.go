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
	"net/netip"
	"net/url"
	"strings"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
)

// Authorizer mode: gateways and meshes ask whether a request may pass instead of routing it
// through the sidecar. Each check endpoint speaks one gateway's protocol and reads the
// original request from exactly one set of headers, so a client can never choose which
// header is believed:
//
//   - CheckOriginalPath (nginx auth_request): X-Original-Method and X-Original-URI, which
//     the gateway's configuration must set (proxy_set_header replaces a client's own);
//   - CheckForwardedPath (Traefik ForwardAuth, Caddy forward_auth): X-Forwarded-Method and
//     X-Forwarded-Uri, which those gateways set themselves, replacing a client's;
//   - CheckEnvoyPrefix (Envoy ext_authz, HTTP service, path_prefix): the check request's own
//     method, and its request target after the prefix, which Envoy copies from the original.
//
// The Host is not read: routes do not depend on it. A request whose original method or URI
// is missing is refused (400), never checked as some default. The endpoints answer only the
// gateway's question and change nothing, but they believe the headers above: only the
// gateway may reach the authorizer's port (a NetworkPolicy, or a listener on localhost), and
// when the policy names trusted proxies (spec.sidecar.trustedProxies, --trusted-proxies),
// checks are answered only for them (TrustsGateway).
const (
	CheckOriginalPath  = "/check/original"
	CheckForwardedPath = "/check/forwarded"
	CheckEnvoyPrefix   = "/check/envoy"
)

// CheckRequest is the request a gateway asks about, as the client sent it.
type CheckRequest struct {
	Method string
	// Target is the request target in origin form, as sent: the escaped path and an
	// optional query. The authorizer cleans it as the proxy cleans a path (CleanPath).
	Target string
	// Header holds the client's headers, as the gateway forwards them to the app.
	Header http.Header
}

// Decision is the authorizer's answer: 200 with the headers to set on the request the
// gateway forwards (Authorization, X-Auth-Subject, X-Auth-Role; none on a public route), or
// the status, headers (WWW-Authenticate, Retry-After) and JSON body the client gets.
type Decision struct {
	Status int
	Header http.Header
	Body   []byte
}

// Reasons a check is refused before its token is looked at.
var (
	errNotFound          = errStatus(http.StatusNotFound, "not found")
	errTargetMissing     = errStatus(http.StatusBadRequest, "the gateway sent no original request URI")
	errMethodMissing     = errStatus(http.StatusBadRequest, "the gateway sent no original request method")
	errOriginalRepeated  = errStatus(http.StatusBadRequest, "the gateway sent the original request twice")
	errTargetFragment    = errStatus(http.StatusBadRequest, "bad request target: '#' in it")
	errHeaderForTheApp   = errStatus(http.StatusBadRequest, "a header the app must not receive was sent (X-Auth-*, X-Original-URL, X-Rewrite-URL, a misspelt X-Forwarded-*, HTTP2-Settings): a gateway forwards it as sent")
	errUntrustedGateway  = errStatus(http.StatusForbidden, "checks are answered only for the gateways in spec.sidecar.trustedProxies")
	errOverrideNotStrips = errStatus(http.StatusBadRequest, "a method override header asks the app to run another method: not allowed behind a gateway unless spec.sidecar.methodOverride is Evaluate")
)

// Check decides whether req may pass, by the same rules as the proxy (see authorize), and
// refuses what the proxy would strip or rewrite before forwarding, since a gateway forwards
// the request as the client sent it.
func (s *Server) Check(req CheckRequest) Decision {
	r := &http.Request{Method: req.Method, Header: req.Header, URL: &url.URL{}}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	fwd, err := s.check(r, req.Target)
	if err != nil {
		return s.denial(r, err)
	}
	d := Decision{Status: http.StatusOK, Header: http.Header{}}
	if fwd.identity != nil {
		d.Header[HeaderSubject] = []string{fwd.identity.Subject}
		d.Header[HeaderRole] = []string{fwd.identity.Role}
		d.Header["Authorization"] = []string{"Bearer " + fwd.token}
	}
	return d
}

// denial is the answer to a refused check, in the shape errorWriter gives every error.
func (s *Server) denial(r *http.Request, err error) Decision {
	d := decisionWriter{header: http.Header{}}
	s.errs.write(&d, r, err)
	return Decision{Status: d.status, Header: d.header, Body: d.body}
}

// check parses the original request into r (its method and header are set) and decides.
func (s *Server) check(r *http.Request, target string) (*forwarding, error) {
	p := s.policy()
	if err := checkMethod(r.Method); err != nil {
		return nil, s.badCheck(errStatus(http.StatusBadRequest, err.Error()))
	}
	if target == "" {
		return nil, s.badCheck(errTargetMissing)
	}
	if strings.IndexByte(target, '#') >= 0 {
		return nil, s.badCheck(errTargetFragment)
	}
	escaped, query, _ := strings.Cut(target, "?")
	clean, err := CleanPath(escaped)
	if err != nil {
		return nil, s.badCheck(errStatus(http.StatusBadRequest, "bad path: "+err.Error()))
	}
	r.URL.Path, r.URL.RawQuery = clean, query
	if s.isVerifyPath(clean) {
		s.outcomes.forbidden.Inc()
		return nil, errVerifyPath
	}
	if err := unstrippable(p, r.Header); err != nil {
		return nil, s.badCheck(err)
	}
	fwd := &forwarding{} // the answer outlives this call: a check returns it
	if err := readForwarding(p, r, fwd); err != nil {
		return nil, s.badCheck(err)
	}
	if err := s.authorize(p, r, r.Method, clean, fwd); err != nil {
		return nil, err
	}
	return fwd, nil
}

func (s *Server) badCheck(err error) error {
	s.metrics.Requests.WithLabelValues("bad_request").Inc()
	return err
}

// unstrippable refuses the headers the proxy removes before the app sees them (see
// notForTheApp): behind a gateway they would reach the app. Method overrides are the
// policy's to allow (Evaluate), and are then checked as the proxy checks them.
func unstrippable(p *livePolicy, h http.Header) error {
	for k, vs := range h {
		if methodOverrideName(k) != "" {
			if p.spec.Sidecar.MethodOverride != spec.MethodOverrideEvaluate && anyNonBlank(vs) {
				return errOverrideNotStrips
			}
			continue
		}
		if notForTheApp(k) {
			return errHeaderForTheApp
		}
	}
	return nil
}

func anyNonBlank(vs []string) bool {
	for _, v := range vs {
		if strings.Trim(v, " \t") != "" {
			return true
		}
	}
	return false
}

// TrustsGateway reports whether a check from the TCP peer at addr ("host:port") may be
// answered: from anyone when the policy names no trusted proxies, else only from them.
func (s *Server) TrustsGateway(addr string) bool {
	tp := s.policy().trustedProxies
	if tp.Len() == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && tp.trusts(ap.Addr().WithZone("").Unmap())
}

// UntrustedGateway is the decision for a check from a peer TrustsGateway refuses.
func (s *Server) UntrustedGateway() Decision {
	s.outcomes.forbidden.Inc()
	return s.denial(&http.Request{URL: &url.URL{}}, errUntrustedGateway)
}

// AuthorizerHandler serves the port of an authorizer: the check endpoints, and the auth
// endpoints and discovery documents of Handler, which a gateway routes to it (everything
// else is 404). The check endpoints are matched on the request target as sent, before any
// cleaning, so no spelling of a path moves a check onto another endpoint.
func (s *Server) AuthorizerHandler() http.Handler {
	rest := s.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.RequestURI
		p, _, _ := strings.Cut(target, "?")
		isCheck := p == CheckOriginalPath || p == CheckForwardedPath || strings.HasPrefix(target, CheckEnvoyPrefix+"/")
		if isCheck && !s.TrustsGateway(r.RemoteAddr) {
			s.writeDecision(w, s.UntrustedGateway())
			return
		}
		switch {
		case p == CheckOriginalPath:
			s.serveCheck(w, r, "X-Original-Method", "X-Original-Uri")
		case p == CheckForwardedPath:
			s.serveCheck(w, r, "X-Forwarded-Method", "X-Forwarded-Uri")
		case strings.HasPrefix(target, CheckEnvoyPrefix+"/"):
			s.writeDecision(w, s.Check(CheckRequest{Method: r.Method, Target: target[len(CheckEnvoyPrefix):], Header: r.Header}))
		default:
			rest.ServeHTTP(w, r)
		}
	})
}

// serveCheck answers a forward-auth check whose original method and URI are in the named
// headers, each present exactly once.
func (s *Server) serveCheck(w http.ResponseWriter, r *http.Request, methodHeader, targetHeader string) {
	method, err := originalHeader(r.Header, methodHeader, errMethodMissing)
	if err == nil {
		var target string
		if target, err = originalHeader(r.Header, targetHeader, errTargetMissing); err == nil {
			s.writeDecision(w, s.Check(CheckRequest{Method: method, Target: target, Header: r.Header}))
			return
		}
	}
	s.metrics.Requests.WithLabelValues("bad_request").Inc()
	s.log.Warn("a gateway's check request lacks the original request: check its configuration", "error", err.Error())
	s.errs.write(w, r, err)
}

func originalHeader(h http.Header, name string, missing error) (string, error) {
	vs := h.Values(name)
	switch {
	case len(vs) > 1:
		return "", errOriginalRepeated
	case len(vs) == 0 || vs[0] == "":
		return "", missing
	}
	return vs[0], nil
}

func (s *Server) writeDecision(w http.ResponseWriter, d Decision) {
	h := w.Header()
	for k, vs := range d.Header {
		h[k] = vs
	}
	w.WriteHeader(d.Status)
	_, _ = w.Write(d.Body)
}

// decisionWriter keeps the answer errorWriter writes, so a denial has one shape whichever
// protocol carries it.
type decisionWriter struct {
	header http.Header
	status int
	body   []byte
}

func (d *decisionWriter) Header() http.Header    { return d.header }
func (d *decisionWriter) WriteHeader(status int) { d.status = status }
func (d *decisionWriter) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	d.body = append(d.body, b...)
	return len(b), nil
}
