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
	"errors"
	"net/url"
	"path"
	"strings"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
)

// Routes are a policy's access rules, first match wins.
type Routes struct {
	rules []rule
}

type rule struct {
	exact   string // exact path, without trailing slash (except "/")
	prefix  string // path prefix, without trailing slash ("" matches everything)
	methods map[string]bool
	roles   map[string]bool
	public  bool
	index   int
}

// Access is what the matching rule asks of a request.
type Access struct {
	Public bool
	Roles  map[string]bool // empty: any authenticated subject
	Rule   int             // index in spec.routes, -1 for the default rule
	also   *Access         // a second rule the request must pass too (see And)
}

// Allows reports whether a subject with this role passes.
func (a Access) Allows(role string) bool {
	if a.also != nil && !a.also.Allows(role) {
		return false
	}
	return len(a.Roles) == 0 || a.Roles[role]
}

// And is the access a request needs to pass both a and b: public only if both are, and only
// roles both allow.
func (a Access) And(b Access) Access {
	if a.also != nil {
		b = b.And(*a.also)
	}
	a.Public = a.Public && b.Public
	a.also = &b
	return a
}

// NewRoutes compiles spec.routes.
func NewRoutes(specs []spec.Route) *Routes {
	r := &Routes{}
	for i, s := range specs {
		ru := rule{public: s.Public, index: i}
		if s.Path != "" {
			ru.exact = trimSlash(cleanRulePath(s.Path))
		} else {
			ru.prefix = strings.TrimSuffix(cleanRulePath(s.PathPrefix), "/")
		}
		if len(s.Methods) > 0 {
			ru.methods = map[string]bool{}
			for _, m := range s.Methods {
				ru.methods[string(m)] = true
			}
		}
		if len(s.Roles) > 0 {
			ru.roles = map[string]bool{}
			for _, role := range s.Roles {
				ru.roles[role] = true
			}
		}
		r.rules = append(r.rules, ru)
	}
	return r
}

// Match returns the access rule for a request with this method and clean path (see
// CleanPath). Paths no rule matches need a valid token and nothing more.
func (r *Routes) Match(method, cleanPath string) Access {
	method = strings.ToUpper(method)
	for i := range r.rules {
		ru := &r.rules[i]
		if !ru.matchesPath(cleanPath) || !ru.matchesMethod(method) {
			continue
		}
		return Access{Public: ru.public, Roles: ru.roles, Rule: ru.index}
	}
	return Access{Rule: -1}
}

func (ru *rule) matchesPath(p string) bool {
	if ru.exact != "" {
		// A trailing slash does not make a different resource to most apps, so it must not
		// make a different rule either.
		return trimSlash(p) == ru.exact
	}
	// Whole segments: /admin matches /admin and /admin/x, never /administrator.
	return ru.prefix == "" || p == ru.prefix || strings.HasPrefix(p, ru.prefix+"/")
}

func (ru *rule) matchesMethod(m string) bool {
	if ru.methods == nil || ru.methods[m] {
		return true
	}
	// Apps answer HEAD with their GET handler: a rule about GET is a rule about HEAD.
	return m == "HEAD" && ru.methods["GET"]
}

func trimSlash(p string) string {
	if len(p) > 1 {
		return strings.TrimSuffix(p, "/")
	}
	return p
}

func cleanRulePath(p string) string {
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// Reasons CleanPath refuses a path.
var (
	errPathEncodedSeparator = errors.New("encoded '/' or '\\' in the path")
	errPathBackslash        = errors.New("'\\' in the path")
	errPathParameters       = errors.New("';' in the path")
	errPathControl          = errors.New("control character in the path")
	errPathNotAbsolute      = errors.New("path must start with '/'")
	errPathEncoding         = errors.New("bad percent-encoding in the path")
)

// CleanPath turns a request's path, as sent (escaped), into the one form that is both
// matched against the routes and forwarded to the app: percent-decoded once, with `.` and
// `..` segments resolved and repeated slashes collapsed; a trailing slash is kept.
//
// It refuses what different servers read differently, so that no spelling of a path can
// reach the app as one resource while being matched as another: an encoded slash or
// backslash, a raw backslash, `;` path parameters (Tomcat and Spring strip them), and
// control characters.
func CleanPath(escaped string) (string, error) {
	if !strings.HasPrefix(escaped, "/") {
		return "", errPathNotAbsolute
	}
	lower := strings.ToLower(escaped)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return "", errPathEncodedSeparator
	}
	decoded, err := url.PathUnescape(escaped)
	if err != nil {
		return "", errPathEncoding
	}
	for i := 0; i < len(decoded); i++ {
		switch c := decoded[i]; {
		case c == '\\':
			return "", errPathBackslash
		case c == ';':
			return "", errPathParameters
		case c < 0x20 || c == 0x7f:
			return "", errPathControl
		}
	}
	clean := path.Clean(decoded)
	if strings.HasSuffix(decoded, "/") && clean != "/" {
		clean += "/"
	}
	return clean, nil
}
