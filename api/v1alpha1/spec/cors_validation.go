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
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec/internal/field"
)

// DefaultCORSMaxAge is how long browsers may cache a preflight's answer when spec.cors sets
// no maxAge.
const DefaultCORSMaxAge = 10 * time.Minute

// originPattern is an origin as browsers serialize it (RFC 6454 §6.2): a lower-case scheme and
// host (a bracketed IPv6 address or dot-separated labels, no trailing dot), and a port only
// when it is not the default one. The CRD's CEL rule uses the same expression. Compiled on
// first use: a policy without spec.cors (and every sidecar's start) should not pay for it.
var originPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-z][a-z0-9+.-]*://([[][0-9a-f:.]+[]]|[a-z0-9]([a-z0-9-]*[a-z0-9])?([.][a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?$`)
})

// corsHeaderNamePattern is an RFC 9110 token without `*`, as the CRD's pattern.
var corsHeaderNamePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[!#$%&'+.^_|~0-9A-Za-z-]+$`) })

func (c *CORSSpec) defaults() {
	if c != nil {
		defaultDuration(&c.MaxAge, DefaultCORSMaxAge)
	}
}

// validateCORS follows the CRD's rules for spec.cors.
func validateCORS(p *field.Path, c *CORSSpec) field.ErrorList {
	if c == nil {
		return nil
	}
	var errs field.ErrorList
	op := p.Child("allowedOrigins")
	switch {
	case len(c.AllowedOrigins) == 0:
		errs = append(errs, field.Required(op, "at least one origin"))
	case len(c.AllowedOrigins) > 64:
		errs = append(errs, field.TooMany(op, len(c.AllowedOrigins), 64))
	}
	seen := map[string]bool{}
	for i, o := range c.AllowedOrigins {
		if seen[o] {
			errs = append(errs, field.Duplicate(op.Index(i), o))
		}
		seen[o] = true
		switch {
		case o == "*":
			if len(c.AllowedOrigins) > 1 {
				errs = append(errs, field.Invalid(op.Index(i), o, "* allows every origin and must be the only entry"))
			}
			if c.AllowCredentials {
				errs = append(errs, field.Invalid(p.Child("allowCredentials"), true, "spec.cors.allowCredentials cannot be combined with the origin *: list the origins that may send credentials"))
			}
		case o == "null":
			errs = append(errs, field.Invalid(op.Index(i), o, "null is the origin of sandboxed pages, file: URLs and redirects, which any site can produce: it cannot be allowed"))
		case len(o) > 253 || !originPattern().MatchString(o):
			errs = append(errs, field.Invalid(op.Index(i), o, "each origin must be scheme://host[:port] in lower case, with no path, no trailing slash or dot, and no wildcard"))
		case strings.HasPrefix(o, "http://") && strings.HasSuffix(o, ":80"), strings.HasPrefix(o, "https://") && strings.HasSuffix(o, ":443"):
			errs = append(errs, field.Invalid(op.Index(i), o, "omit the scheme's default port: browsers send https://host, never https://host:443"))
		}
	}
	if len(c.AllowedMethods) > 9 {
		errs = append(errs, field.TooMany(p.Child("allowedMethods"), len(c.AllowedMethods), 9))
	}
	for i, m := range c.AllowedMethods {
		if !methods[m] {
			errs = append(errs, field.NotSupported(p.Child("allowedMethods").Index(i), m, []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}))
		}
	}
	errs = append(errs, validateHeaderNames(p.Child("allowedHeaders"), c.AllowedHeaders)...)
	errs = append(errs, validateHeaderNames(p.Child("exposedHeaders"), c.ExposedHeaders)...)
	errs = append(errs, durationIn(p.Child("maxAge"), c.MaxAge, 0, 24*time.Hour)...)
	return errs
}

func validateHeaderNames(p *field.Path, names []string) field.ErrorList {
	var errs field.ErrorList
	if len(names) > 64 {
		errs = append(errs, field.TooMany(p, len(names), 64))
	}
	seen := map[string]bool{}
	for i, n := range names {
		if seen[n] {
			errs = append(errs, field.Duplicate(p.Index(i), n))
		}
		seen[n] = true
		if len(n) > 128 || !corsHeaderNamePattern().MatchString(n) {
			errs = append(errs, field.Invalid(p.Index(i), n, "must be a header name (`*` is not supported)"))
		}
	}
	return errs
}
