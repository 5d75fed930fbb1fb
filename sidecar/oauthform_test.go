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
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// oauthFormSeeds are bodies worth mutating from: valid requests of each grant and
// revocation, and the shapes a hostile client tries.
var oauthFormSeeds = []string{
	"grant_type=password&username=alice%40example.com&password=wonderland",
	"grant_type=password&username=alice%40example.com&password=wonderland&client_id=shop-web",
	"grant_type=refresh_token&refresh_token=" + strings.Repeat("A", 43),
	"token=" + strings.Repeat("A", 43) + "&token_type_hint=refresh_token",
	"token=eyJhbGciOiJFUzI1NiJ9.e30.sig&token_type_hint=access_token",
	"grant_type=password&grant_type=refresh_token",
	"grant_type=password&username=a&password=b&password=",
	"grant_type=password;username=a&password=b",
	"grant_type=password&username=%ff%fe&password=b",
	"grant_type=password&username=a&password=b&scope=openid",
	"grant_type=password&username=a&password=b&client_secret=s",
	"grant_type=client_credentials",
	"grant_type=%zz",
	"username=a&password=b",
	"token=a&token=b",
	"=&&=&grant_type",
	"",
}

// validOAuthError reports whether e is one of the answers the endpoints may give to a form.
func validOAuthError(e *oauthError) bool {
	switch e.code {
	case oauthInvalidRequestCode, oauthUnsupportedGrantType, oauthInvalidScope:
		return e.status == http.StatusBadRequest && oauthDescriptions[e.desc]
	case oauthInvalidClient:
		return e.status == http.StatusUnauthorized && oauthDescriptions[e.desc]
	}
	return false
}

// repeated reports whether url.ParseQuery reads any of names more than once in body.
func repeated(body string, names []string) bool {
	values, err := url.ParseQuery(body)
	if err != nil {
		return false
	}
	for _, n := range names {
		if len(values[n]) > 1 {
			return true
		}
	}
	return false
}

// FuzzParseTokenRequest: the token endpoint's form parser never panics, answers every
// refusal with a fixed RFC 6749 error, and accepts only one complete grant whose every
// parameter was sent once.
func FuzzParseTokenRequest(f *testing.F) {
	for _, s := range oauthFormSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, oerr := ParseTokenRequest(body)
		if oerr != nil {
			if !validOAuthError(oerr) {
				t.Fatalf("refusal %+v", oerr)
			}
			return
		}
		if repeated(string(body), tokenParams) {
			t.Fatalf("accepted a repeated parameter: %q", body)
		}
		values, err := url.ParseQuery(string(body))
		if err != nil {
			t.Fatalf("accepted a body url.ParseQuery refuses: %q", body)
		}
		if values.Get("client_secret") != "" || values.Get("scope") != "" || values.Get("grant_type") != req.GrantType {
			t.Fatalf("accepted %q as %+v", body, req)
		}
		switch req.GrantType {
		case GrantPassword:
			l := req.Login
			if l.Email == "" || l.Password == "" || len(l.Email) > maxEmailLength || len(l.Password) > maxPasswordLength ||
				!utf8.ValidString(l.Email) || !utf8.ValidString(l.Password) ||
				l.Email != values.Get("username") || l.Password != values.Get("password") {
				t.Fatalf("accepted password grant %q as %+v", body, l)
			}
		case GrantRefreshToken:
			if req.RefreshToken == "" || req.RefreshToken != values.Get("refresh_token") {
				t.Fatalf("accepted refresh grant %q as %+v", body, req)
			}
		default:
			t.Fatalf("accepted grant type %q", req.GrantType)
		}
	})
}

// FuzzParseRevokeRequest: the same for the revocation endpoint's form.
func FuzzParseRevokeRequest(f *testing.F) {
	for _, s := range oauthFormSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, oerr := ParseRevokeRequest(body)
		if oerr != nil {
			if !validOAuthError(oerr) || oerr.code == oauthUnsupportedGrantType || oerr.code == oauthInvalidScope {
				t.Fatalf("refusal %+v", oerr)
			}
			return
		}
		values, err := url.ParseQuery(string(body))
		if err != nil || repeated(string(body), revokeParams) || req.Token == "" || req.Token != values.Get("token") ||
			!utf8.ValidString(req.Token) || values.Get("client_secret") != "" {
			t.Fatalf("accepted %q as %+v", body, req)
		}
	})
}

func TestParseTokenRequest(t *testing.T) {
	for _, tc := range []struct {
		body string
		want TokenRequest
		code string
	}{
		{body: "grant_type=password&username=alice%40example.com&password=a+b%26c",
			want: TokenRequest{GrantType: GrantPassword, Login: LoginRequest{Email: "alice@example.com", Password: "a b&c"}}},
		{body: "grant_type=refresh_token&refresh_token=abc&client_id=x&scope=",
			want: TokenRequest{GrantType: GrantRefreshToken, RefreshToken: "abc"}},
		{body: "grant_type=refresh_token&refresh_token=abc&unknown=1&unknown=2",
			want: TokenRequest{GrantType: GrantRefreshToken, RefreshToken: "abc"}},
		{body: "grant_type=refresh_token&refresh_token=abc&refresh_token=", code: oauthInvalidRequestCode},
		{body: "grant_type=refresh_token&refresh_token=abc&scope=read", code: oauthInvalidScope},
		{body: "grant_type=refresh_token&refresh_token=abc&client_secret=x", code: oauthInvalidClient},
		{body: "grant_type=implicit", code: oauthUnsupportedGrantType},
		{body: "grant_type=refresh_token&refresh_token=a%", code: oauthInvalidRequestCode},
	} {
		t.Run(tc.body, func(t *testing.T) {
			got, oerr := ParseTokenRequest([]byte(tc.body))
			switch {
			case tc.code != "" && (oerr == nil || oerr.code != tc.code):
				t.Fatalf("got %+v %v, want %s", got, oerr, tc.code)
			case tc.code == "" && (oerr != nil || got != tc.want):
				t.Fatalf("got %+v %v, want %+v", got, oerr, tc.want)
			}
		})
	}
}
