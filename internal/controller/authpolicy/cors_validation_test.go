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

package authpolicy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

// The API server's schema (CEL rules, patterns) and the Go validation the standalone sidecar
// runs refuse the same spec.cors values, each naming the field.
func TestCORSManifestsAreRefusedWithTheFieldNamed(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	origins := func(o ...string) func(*authv1alpha1.AuthPolicy) {
		return func(p *authv1alpha1.AuthPolicy) { p.Spec.CORS = &authv1alpha1.CORSSpec{AllowedOrigins: o} }
	}
	many := make([]string, 65)
	for i := range many {
		many[i] = fmt.Sprintf("https://a%d.example", i)
	}
	const badOrigin = "each origin must be scheme://host[:port] in lower case"
	for _, tc := range []struct {
		name   string
		mutate func(*authv1alpha1.AuthPolicy)
		want   []string // substrings of the error; empty: accepted
	}{
		{"exact origins", origins("https://app.example.com", "http://localhost:3000", "http://[::1]:8080", "capacitor://localhost"), nil},
		{"every origin", origins("*"), nil},
		{"every setting", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.CORS = &authv1alpha1.CORSSpec{
				AllowedOrigins: []string{"https://app.example.com"}, AllowedMethods: []authv1alpha1.Method{"PUT", "DELETE"},
				AllowedHeaders: []string{"X-Trace"}, ExposedHeaders: []string{"X-Request-Id"}, AllowCredentials: true,
				MaxAge: &authv1alpha1.Duration{Duration: time.Hour},
			}
		}, nil},
		{"no origin", origins(), []string{"spec.cors.allowedOrigins"}},
		{"65 origins", origins(many...), []string{"spec.cors.allowedOrigins", "65"}},
		{"null", origins("null"), []string{"spec.cors.allowedOrigins", "null is the origin of sandboxed pages"}},
		{"a path", origins("https://app.example.com/app"), []string{"spec.cors.allowedOrigins", badOrigin}},
		{"a trailing slash", origins("https://app.example.com/"), []string{"spec.cors.allowedOrigins", badOrigin}},
		{"a trailing dot", origins("https://app.example.com."), []string{"spec.cors.allowedOrigins", badOrigin}},
		{"upper case", origins("https://App.example.com"), []string{"spec.cors.allowedOrigins", badOrigin}},
		{"a wildcard subdomain", origins("https://*.example.com"), []string{"spec.cors.allowedOrigins", badOrigin}},
		{"no scheme", origins("app.example.com"), []string{"spec.cors.allowedOrigins", badOrigin}},
		{"userinfo", origins("https://u@app.example.com"), []string{"spec.cors.allowedOrigins", badOrigin}},
		{"port 0", origins("http://localhost:0"), []string{"spec.cors.allowedOrigins", badOrigin}},
		{"port 65536", origins("http://localhost:65536"), []string{"spec.cors.allowedOrigins", badOrigin}},
		{"the default https port", origins("https://app.example.com:443"), []string{"spec.cors.allowedOrigins", "omit the scheme's default port"}},
		{"the default http port", origins("http://app.example.com:80"), []string{"spec.cors.allowedOrigins", "omit the scheme's default port"}},
		{"* with another origin", origins("*", "https://app.example.com"), []string{"spec.cors.allowedOrigins", "must be the only entry"}},
		{"a duplicate origin", origins("https://a.example", "https://a.example"), []string{"spec.cors.allowedOrigins[1]", "Duplicate"}},
		{"* with credentials", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.CORS = &authv1alpha1.CORSSpec{AllowedOrigins: []string{"*"}, AllowCredentials: true}
		}, []string{"spec.cors", "allowCredentials cannot be combined with the origin *"}},
		{"a header name with a space", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.CORS = &authv1alpha1.CORSSpec{AllowedOrigins: []string{"https://a.example"}, AllowedHeaders: []string{"X Trace"}}
		}, []string{"spec.cors.allowedHeaders[0]"}},
		{"* as an exposed header", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.CORS = &authv1alpha1.CORSSpec{AllowedOrigins: []string{"https://a.example"}, ExposedHeaders: []string{"*"}}
		}, []string{"spec.cors.exposedHeaders[0]"}},
		{"an unknown method", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.CORS = &authv1alpha1.CORSSpec{AllowedOrigins: []string{"https://a.example"}, AllowedMethods: []authv1alpha1.Method{"put"}}
		}, []string{"spec.cors.allowedMethods[0]", "Unsupported value"}},
		{"a max age of 25h", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.CORS = &authv1alpha1.CORSSpec{AllowedOrigins: []string{"https://a.example"}, MaxAge: &authv1alpha1.Duration{Duration: 25 * time.Hour}}
		}, []string{"spec.cors.maxAge", "between 0s and 24h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPolicy(ns, "c-"+fmt.Sprint(time.Now().UnixNano()), tc.mutate)
			local := p.DeepCopy()
			local.Default()
			localErr := local.Validate()
			err := k8s.Create(context.Background(), p)
			for side, e := range map[string]error{"the API server": err, "Validate": localErr} {
				if tc.want == nil {
					if e != nil {
						t.Errorf("%s refused: %v", side, e)
					}
					continue
				}
				if e == nil {
					t.Errorf("%s accepted", side)
					continue
				}
				for _, w := range tc.want {
					if !strings.Contains(e.Error(), w) {
						t.Errorf("%s: error %q does not contain %q", side, e, w)
					}
				}
			}
		})
	}
}
