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
	"net/http"
	"net/url"
	"strings"
)

// Reasons a request's method or method override is refused.
var (
	errMethodSyntax      = errors.New("method is not an HTTP token")
	errMethodCase        = errors.New("method must be in upper case: methods are case-sensitive")
	errOverrideSyntax    = errors.New("method override is not one HTTP method")
	errOverrideConflicts = errors.New("method overrides disagree")
	errOverrideInQuery   = errors.New("a _method query parameter asks the app to run another method: not allowed unless spec.sidecar.methodOverride is Evaluate")
)

// checkMethod refuses a request method that is not a token in upper case. Methods are
// case-sensitive (RFC 9110 §9.1): `get` is not GET to the sidecar's routes, but many apps
// upper-case it and run it as GET, so it is refused rather than matched as one thing and
// served as another.
func checkMethod(m string) error {
	if m == "" || !isToken(m) {
		return errMethodSyntax
	}
	for i := 0; i < len(m); i++ {
		if 'a' <= m[i] && m[i] <= 'z' {
			return errMethodCase
		}
	}
	return nil
}

// methodOverrideHeaders are the headers with which frameworks run a request as another
// method (Express's method-override, Rails' Rack::MethodOverride, Laravel, Symfony, OData),
// in lower case with `-`.
var methodOverrideHeaders = []string{"x-http-method-override", "x-http-method", "x-method-override"}

// methodOverrideName returns the canonical name of k when it is a method-override header
// however spelled (any case, `_`, `.` or other punctuation for `-`, which CGI-style servers
// read the same), "" if not.
func methodOverrideName(k string) string {
	for _, n := range methodOverrideHeaders {
		if len(k) == len(n) && headerNameHasPrefix(k, n) {
			return http.CanonicalHeaderKey(n)
		}
	}
	return ""
}

// MethodOverride is the method a request's override headers ask the app to run instead of
// its own, and the headers that asked.
type MethodOverride struct {
	Method  string   // upper case; "" when the request has no override
	Headers []string // canonical names, in methodOverrideHeaders order
}

// ParseMethodOverride reads a request's method-override headers. Frameworks upper-case the
// value before they use it, so it is matched and forwarded upper-cased. Each value must be
// one token; several headers (or values) must all name the same method. Empty values are no
// override, as they are to the frameworks.
func ParseMethodOverride(h http.Header) (MethodOverride, error) {
	var o MethodOverride
	seen := map[string]bool{}
	for k, vs := range h {
		name := methodOverrideName(k)
		if name == "" {
			continue
		}
		for _, v := range vs {
			v = strings.Trim(v, " \t")
			if v == "" {
				continue
			}
			if !isToken(v) {
				return MethodOverride{}, errOverrideSyntax
			}
			v = strings.ToUpper(v)
			if o.Method != "" && o.Method != v {
				return MethodOverride{}, errOverrideConflicts
			}
			o.Method = v
			seen[name] = true
		}
	}
	for _, n := range methodOverrideHeaders {
		if c := http.CanonicalHeaderKey(n); seen[c] {
			o.Headers = append(o.Headers, c)
		}
	}
	return o, nil
}

// ParseQueryMethodOverride reads the `_method` query parameters with which Express
// (method-override with a query getter), Laravel and Symfony run a request as another method,
// and adds them to o, under the same rules as the headers.
func ParseQueryMethodOverride(o MethodOverride, rawQuery string) (MethodOverride, error) {
	for _, v := range queryMethodOverrides(rawQuery) {
		v = strings.Trim(v, " \t")
		if v == "" {
			continue
		}
		if !isToken(v) {
			return MethodOverride{}, errOverrideSyntax
		}
		v = strings.ToUpper(v)
		if o.Method != "" && o.Method != v {
			return MethodOverride{}, errOverrideConflicts
		}
		o.Method = v
	}
	return o, nil
}

// hasQueryMethodOverride reports whether the query asks for another method (a `_method`
// parameter that is not empty).
func hasQueryMethodOverride(rawQuery string) bool {
	for _, v := range queryMethodOverrides(rawQuery) {
		if strings.Trim(v, " \t") != "" {
			return true
		}
	}
	return false
}

// queryMethodOverrides returns the values of a query's `_method` parameters however a
// framework may read the name: percent-decoded, in any case, and with any character but a
// letter or digit for `_` (PHP reads `.method` and ` method` as `_method`). Pairs are split
// at `&` and at `;`, which some parsers still accept.
func queryMethodOverrides(rawQuery string) []string {
	var vs []string
	for rawQuery != "" {
		pair := rawQuery
		if i := strings.IndexAny(rawQuery, "&;"); i >= 0 {
			pair, rawQuery = rawQuery[:i], rawQuery[i+1:]
		} else {
			rawQuery = ""
		}
		k, v, _ := strings.Cut(pair, "=")
		if d, err := url.QueryUnescape(k); err == nil {
			k = d
		}
		if len(k) != len("_method") || !headerNameHasPrefix(k, "-method") {
			continue
		}
		if d, err := url.QueryUnescape(v); err == nil {
			v = d
		}
		vs = append(vs, v)
	}
	return vs
}
