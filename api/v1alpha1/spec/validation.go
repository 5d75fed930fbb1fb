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

package spec

import (
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec/internal/field"
)

var authPathPrefixPattern = regexp.MustCompile(`^/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-]$`)

// otlpEndpointPattern is the CRD's pattern of spec.sidecar.tracing.otlpEndpoint: an http(s)
// base URL without credentials, query or fragment, whose port is digits and whose percent
// escapes are whole, so that every URL it admits the sidecar's exporter parses (a policy it
// admits must not make its sidecars exit at start: FuzzPolicyEndpointsStartTheExporter).
// A bracketed host must also be an IPv6 address, which the CRD checks with isURL and
// Validate with parsesAsURL.
var otlpEndpointPattern = regexp.MustCompile(`^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/([A-Za-z0-9._~/-]|%[0-9A-Fa-f]{2})*)?$`)

var methods = map[Method]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "OPTIONS": true, "CONNECT": true, "TRACE": true,
}

// Validate checks a defaulted policy with the same rules the CRD schema enforces on the API
// server, so a manifest the standalone sidecar reads is refused exactly as `kubectl apply`
// would refuse it. Each error names the field.
func (p *Policy) Validate() error {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	s := &p.Spec

	if p.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "a policy needs a name"))
	} else if len(p.Name) > 63 {
		errs = append(errs, field.TooLong(field.NewPath("metadata", "name"), p.Name, 63))
	}
	if u, err := url.Parse(s.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, field.Invalid(spec.Child("issuer"), s.Issuer, "must be an http(s) URL"))
	}
	if len(s.Audiences) > 16 {
		errs = append(errs, field.TooMany(spec.Child("audiences"), len(s.Audiences), 16))
	}
	for i, a := range s.Audiences {
		if a == "" || len(a) > 256 {
			errs = append(errs, field.Invalid(spec.Child("audiences").Index(i), a, "must be 1 to 256 characters"))
		}
	}

	sig := spec.Child("signing")
	switch s.Signing.Algorithm {
	case ES256, EdDSA, RS256, HS256:
	default:
		errs = append(errs, field.NotSupported(sig.Child("algorithm"), s.Signing.Algorithm, []string{"ES256", "EdDSA", "RS256", "HS256"}))
	}
	errs = append(errs, durationIn(sig.Child("rotationInterval"), s.Signing.RotationInterval, time.Minute, 8760*time.Hour)...)
	errs = append(errs, durationIn(sig.Child("prePublish"), s.Signing.PrePublish, 10*time.Second, 720*time.Hour)...)
	if s.Signing.PrePublish != nil && s.Signing.RotationInterval != nil && s.Signing.PrePublish.Duration >= s.Signing.RotationInterval.Duration {
		errs = append(errs, field.Invalid(sig.Child("prePublish"), s.Signing.PrePublish.String(), "must be shorter than spec.signing.rotationInterval"))
	}

	tok := spec.Child("tokens")
	errs = append(errs, durationIn(tok.Child("accessTokenTTL"), s.Tokens.AccessTokenTTL, 10*time.Second, 24*time.Hour)...)
	errs = append(errs, durationIn(tok.Child("refreshTokenTTL"), s.Tokens.RefreshTokenTTL, time.Minute, 8760*time.Hour)...)
	errs = append(errs, durationIn(tok.Child("clockSkew"), s.Tokens.ClockSkew, 0, 5*time.Minute)...)
	errs = append(errs, durationIn(tok.Child("refreshReuseInterval"), s.Tokens.RefreshReuseInterval, 0, time.Minute)...)

	login := spec.Child("login")
	if s.Login.UsersSecretRef != nil && s.Login.VerifyURL != "" {
		errs = append(errs, field.Forbidden(login, "set at most one of spec.login.usersSecretRef and spec.login.verifyURL"))
	}
	if s.Login.UsersSecretRef != nil && s.Login.UsersSecretRef.Name == "" {
		errs = append(errs, field.Required(login.Child("usersSecretRef", "name"), ""))
	}
	if v := s.Login.VerifyURL; v != "" {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, field.Invalid(login.Child("verifyURL"), v, "must be an http(s) URL"))
		}
	}
	rl := login.Child("rateLimit")
	if n := s.Login.RateLimit.MaxAttempts; n < 1 || n > 10000 {
		errs = append(errs, field.Invalid(rl.Child("maxAttempts"), n, "must be between 1 and 10000"))
	}
	if n := s.Login.RateLimit.MaxAttemptsPerClient; n < 1 || n > 100000 {
		errs = append(errs, field.Invalid(rl.Child("maxAttemptsPerClient"), n, "must be between 1 and 100000"))
	}
	errs = append(errs, durationIn(rl.Child("window"), s.Login.RateLimit.Window, time.Second, 24*time.Hour)...)

	for i := range s.Routes {
		errs = append(errs, validateRoute(spec.Child("routes").Index(i), &s.Routes[i])...)
	}

	if r := s.Store.Redis; r != nil {
		rp := spec.Child("store", "redis")
		if len(r.Addresses) == 0 {
			errs = append(errs, field.Required(rp.Child("addresses"), "at least one host:port"))
		}
		for i, a := range r.Addresses {
			if a == "" || !strings.Contains(a, ":") {
				errs = append(errs, field.Invalid(rp.Child("addresses").Index(i), a, "must be host:port"))
			}
		}
		if u := r.Username; len(u) > 256 || strings.IndexFunc(u, func(c rune) bool { return c < '!' || c > '~' }) >= 0 {
			errs = append(errs, field.Invalid(rp.Child("username"), u, "must be at most 256 printable ASCII characters without spaces"))
		}
		if r.DB < 0 || r.DB > 15 {
			errs = append(errs, field.Invalid(rp.Child("db"), r.DB, "must be between 0 and 15"))
		}
		if ref := r.PasswordSecretRef; ref != nil && (ref.Name == "" || ref.Key == "") {
			errs = append(errs, field.Required(rp.Child("passwordSecretRef"), "name and key"))
		}
		if r.WaitReplicas < 0 || r.WaitReplicas > 5 {
			errs = append(errs, field.Invalid(rp.Child("waitReplicas"), r.WaitReplicas, "must be between 0 and 5"))
		}
	}

	sc := spec.Child("sidecar")
	if n := s.Sidecar.Port; n < 1 || n > 65535 {
		errs = append(errs, field.Invalid(sc.Child("port"), n, "must be between 1 and 65535"))
	}
	if n := s.Sidecar.UpstreamPort; n < 1 || n > 65535 {
		errs = append(errs, field.Invalid(sc.Child("upstreamPort"), n, "must be between 1 and 65535"))
	}
	if s.Sidecar.Port == s.Sidecar.UpstreamPort {
		errs = append(errs, field.Invalid(sc.Child("upstreamPort"), s.Sidecar.UpstreamPort, "must differ from spec.sidecar.port"))
	}
	if !authPathPrefixPattern.MatchString(s.Sidecar.AuthPathPrefix) || strings.Contains(s.Sidecar.AuthPathPrefix, "//") {
		errs = append(errs, field.Invalid(sc.Child("authPathPrefix"), s.Sidecar.AuthPathPrefix, "must be an absolute path without a trailing slash"))
	}
	errs = append(errs, validateTrustedProxies(sc.Child("trustedProxies"), s.Sidecar.TrustedProxies)...)
	switch s.Sidecar.MethodOverride {
	case MethodOverrideStrip, MethodOverrideEvaluate:
	default:
		errs = append(errs, field.NotSupported(sc.Child("methodOverride"), s.Sidecar.MethodOverride, []string{string(MethodOverrideStrip), string(MethodOverrideEvaluate)}))
	}
	errs = append(errs, validateCORS(spec.Child("cors"), s.CORS)...)
	switch s.Sidecar.UpstreamProtocol {
	case UpstreamHTTP1, UpstreamH2C:
	default:
		errs = append(errs, field.NotSupported(sc.Child("upstreamProtocol"), s.Sidecar.UpstreamProtocol, []string{string(UpstreamHTTP1), string(UpstreamH2C)}))
	}
	if tr := s.Sidecar.Tracing; tr != nil && (len(tr.OTLPEndpoint) > 512 || !otlpEndpointPattern.MatchString(tr.OTLPEndpoint) || !parsesAsURL(tr.OTLPEndpoint)) {
		errs = append(errs, field.Invalid(sc.Child("tracing", "otlpEndpoint"), tr.OTLPEndpoint, "must be an http:// or https:// base URL without credentials or query, such as http://otel-collector:4318"))
	}
	if tr := s.Sidecar.Tracing; tr != nil && tr.HeadersSecretRef != nil && (tr.HeadersSecretRef.Name == "" || tr.HeadersSecretRef.Key == "") {
		errs = append(errs, field.Required(sc.Child("tracing", "headersSecretRef"), "name and key"))
	}
	return errs.ToAggregate()
}

// validateTrustedProxies follows the CRD's isCIDR(p) || isIP(p).
func validateTrustedProxies(p *field.Path, list []string) field.ErrorList {
	var errs field.ErrorList
	if len(list) > 64 {
		errs = append(errs, field.TooMany(p, len(list), 64))
	}
	seen := map[string]bool{}
	for i, v := range list {
		if seen[v] {
			errs = append(errs, field.Duplicate(p.Index(i), v))
		}
		seen[v] = true
		var addr netip.Addr
		if pfx, err := netip.ParsePrefix(v); err == nil {
			addr = pfx.Addr()
		} else if addr, err = netip.ParseAddr(v); err != nil || addr.Zone() != "" {
			addr = netip.Addr{}
		}
		if len(v) > 64 || !addr.IsValid() || addr.Is4In6() {
			errs = append(errs, field.Invalid(p.Index(i), v, "must be an IP address or a CIDR (no zone, no IPv4-mapped IPv6)"))
		}
	}
	return errs
}

func validateRoute(p *field.Path, r *Route) field.ErrorList {
	var errs field.ErrorList
	if (r.Path == "") == (r.PathPrefix == "") {
		errs = append(errs, field.Invalid(p, "", "set exactly one of path and pathPrefix"))
	}
	for _, f := range []struct{ name, v string }{{"path", r.Path}, {"pathPrefix", r.PathPrefix}} {
		if f.v != "" && (!strings.HasPrefix(f.v, "/") || len(f.v) > 1024) {
			errs = append(errs, field.Invalid(p.Child(f.name), f.v, "must start with / and be at most 1024 characters"))
		}
	}
	if r.Public && len(r.Roles) > 0 {
		errs = append(errs, field.Invalid(p.Child("roles"), r.Roles, "a public route takes no roles"))
	}
	for i, m := range r.Methods {
		if !methods[m] {
			errs = append(errs, field.NotSupported(p.Child("methods").Index(i), m, []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}))
		}
	}
	for i, role := range r.Roles {
		if role == "" {
			errs = append(errs, field.Required(p.Child("roles").Index(i), "a role name"))
		}
	}
	return errs
}

func durationIn(p *field.Path, d *Duration, lo, hi time.Duration) field.ErrorList {
	if d == nil {
		return field.ErrorList{field.Required(p, "")}
	}
	if d.Duration < lo || d.Duration > hi {
		return field.ErrorList{field.Invalid(p, d.String(), "must be between "+lo.String()+" and "+hi.String())}
	}
	return nil
}

// parsesAsURL is the CRD's isURL(self): net/url parses s (it refuses a bracketed host that is
// not an IPv6 address, which the pattern does not).
func parsesAsURL(s string) bool {
	_, err := url.Parse(s)
	return err == nil
}
