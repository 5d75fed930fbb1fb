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
	"slices"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
)

func TestCheckMethod(t *testing.T) {
	for _, tc := range []struct {
		method string
		err    error
	}{
		{"GET", nil}, {"DELETE", nil}, {"PROPFIND", nil}, {"M-SEARCH", nil}, {"VERSION-CONTROL", nil},
		{"get", errMethodCase}, {"Get", errMethodCase}, {"pOST", errMethodCase}, {"DELETe", errMethodCase},
		{"", errMethodSyntax}, {"GET ", errMethodSyntax}, {"G\x00T", errMethodSyntax}, {"GET/", errMethodSyntax},
		{"GÉT", errMethodSyntax},
	} {
		t.Run(tc.method, func(t *testing.T) {
			if err := checkMethod(tc.method); !errors.Is(err, tc.err) {
				t.Fatalf("checkMethod(%q) = %v, want %v", tc.method, err, tc.err)
			}
		})
	}
}

func TestParseMethodOverride(t *testing.T) {
	for _, tc := range []struct {
		name    string
		header  http.Header
		method  string
		headers []string
		err     error
	}{
		{name: "none", header: http.Header{"Accept": {"*/*"}}},
		{name: "the usual header", header: http.Header{"X-Http-Method-Override": {"DELETE"}},
			method: "DELETE", headers: []string{"X-Http-Method-Override"}},
		{name: "lower case is upper-cased, as the frameworks do", header: http.Header{"X-Http-Method": {" delete\t"}},
			method: "DELETE", headers: []string{"X-Http-Method"}},
		{name: "underscore spelling", header: http.Header{"X_http_method_override": {"PUT"}},
			method: "PUT", headers: []string{"X-Http-Method-Override"}},
		{name: "every header agreeing", header: http.Header{
			"X-Method-Override": {"patch"}, "X-Http-Method-Override": {"PATCH"}, "X-HTTP-METHOD": {"Patch"},
		}, method: "PATCH", headers: []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}},
		{name: "an empty value is no override", header: http.Header{"X-Http-Method-Override": {""}}},
		{name: "two headers disagreeing", header: http.Header{
			"X-Http-Method-Override": {"GET"}, "X-Method-Override": {"DELETE"},
		}, err: errOverrideConflicts},
		{name: "two values disagreeing", header: http.Header{"X-Http-Method-Override": {"GET", "DELETE"}}, err: errOverrideConflicts},
		{name: "a list (Express takes the last)", header: http.Header{"X-Http-Method-Override": {"GET, DELETE"}}, err: errOverrideSyntax},
		{name: "not a token", header: http.Header{"X-Http-Method-Override": {"DE LETE"}}, err: errOverrideSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseMethodOverride(tc.header)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if o.Method != tc.method || !slices.Equal(o.Headers, tc.headers) {
				t.Fatalf("got %+v, want %q in %q", o, tc.method, tc.headers)
			}
		})
	}
}

// FuzzMethodHandling checks, for any method and any override header, that what the sidecar
// accepts is what it forwards: an accepted method is upper case, an accepted override is one
// upper-case method that the outgoing request carries, alone, under the headers that asked
// for it, and with Strip no spelling of an override header reaches the app.
func FuzzMethodHandling(f *testing.F) {
	for _, s := range [][3]string{
		{"GET", "X-HTTP-Method-Override", "DELETE"},
		{"get", "X-HTTP-Method", "delete"},
		{"POST", "X_HTTP_Method_Override", "PUT"},
		{"POST", "X.HTTP.Method~Override", "PUT"},
		{"Post", "x-method-override", " patch "},
		{"M-SEARCH", "X-Http-Method-Override", "GET, DELETE"},
		{"DELETE", "X-Forwarded-Method", "GET"},
		{"", "X-HTTP-Method-Override", ""},
		{"G ET", "X-HTTP-METHOD-OVERRIDE", "D\x00"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, method, name, value string) {
		if err := checkMethod(method); err == nil {
			if method != strings.ToUpper(method) || !isToken(method) {
				t.Fatalf("checkMethod accepted %q", method)
			}
		} else if method == strings.ToUpper(method) && isToken(method) {
			t.Fatalf("checkMethod refused %q: %v", method, err)
		}

		h := http.Header{name: {value}, "Accept": {"*/*"}}
		isOverride := slices.Contains([]string{"X_HTTP_METHOD_OVERRIDE", "X_HTTP_METHOD", "X_METHOD_OVERRIDE"}, normalHeaderName(name))
		o, err := ParseMethodOverride(h)
		if err != nil {
			if !isOverride {
				t.Fatalf("header %q is no override, yet refused: %v", name, err)
			}
			return
		}
		if o.Method != "" {
			if !isOverride {
				t.Fatalf("header %q is no override, yet read as %+v", name, o)
			}
			if o.Method != strings.ToUpper(strings.Trim(value, " \t")) || checkMethod(o.Method) != nil {
				t.Fatalf("override %q read as %q", value, o.Method)
			}
		}

		for _, mode := range []*forwarding{{}, {override: o}} {
			out := h.Clone()
			mode.apply(out)
			var got []string
			for k, v := range out {
				if methodOverrideName(k) != "" {
					if len(v) != 1 || v[0] != mode.override.Method || !slices.Contains(mode.override.Headers, k) {
						t.Fatalf("forwarded %s: %q, decided %+v", k, v, mode.override)
					}
					got = append(got, k)
				}
			}
			if len(got) != len(mode.override.Headers) {
				t.Fatalf("forwarded overrides %q, decided %+v", got, mode.override)
			}
			if out.Get("Accept") != "*/*" {
				t.Fatal("an unrelated header was lost")
			}
		}
	})
}

func TestPolicyMethodOverride(t *testing.T) {
	p, err := ParsePolicy([]byte(testPolicyYAML))
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Sidecar.MethodOverride != spec.MethodOverrideStrip {
		t.Fatalf("default methodOverride %q, want Strip", p.Spec.Sidecar.MethodOverride)
	}
	if _, err := ParsePolicy([]byte(evaluatePolicyYAML)); err != nil {
		t.Fatal(err)
	}
	_, err = ParsePolicy([]byte(strings.Replace(evaluatePolicyYAML, "Evaluate", "Forward", 1)))
	if err == nil || !strings.Contains(err.Error(), "spec.sidecar.methodOverride") {
		t.Fatalf("methodOverride: Forward: %v", err)
	}
}

// FuzzQueryMethodOverride: every `_method` Go's own query parser finds is found too, and
// whatever is read as an override is one upper-case method.
func FuzzQueryMethodOverride(f *testing.F) {
	for _, q := range []string{
		"_method=DELETE", "a=1&_method=delete", "a=1;_method=PUT", "%5Fmethod=DELETE", "_METHOD=x",
		".method=DELETE", "+method=DELETE", "_method=%44ELETE", "_method=", "_method", "%zz=1&_method=GET",
		"_method=GET&_method=DELETE", "_method=GET%2C+DELETE", "q=_method%3DDELETE", "&&;;==",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		found := queryMethodOverrides(q)
		parsed, _ := url.ParseQuery(q)
		for _, v := range parsed["_method"] {
			if !slices.Contains(found, v) {
				t.Fatalf("?%s: Go reads _method=%q, the sidecar %q", q, v, found)
			}
		}
		if hasQueryMethodOverride(q) != slices.ContainsFunc(found, func(v string) bool { return strings.Trim(v, " \t") != "" }) {
			t.Fatalf("?%s: hasQueryMethodOverride disagrees with %q", q, found)
		}
		o, err := ParseQueryMethodOverride(MethodOverride{}, q)
		if err != nil {
			return
		}
		if o.Method != "" && (checkMethod(o.Method) != nil || !hasQueryMethodOverride(q)) {
			t.Fatalf("?%s read as %+v", q, o)
		}
	})
}
