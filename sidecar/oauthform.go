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
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// OAuth 2.0 grant types the token endpoint serves.
const (
	GrantPassword     = "password"
	GrantRefreshToken = "refresh_token"
)

// TokenRequest is a parsed RFC 6749 token request: the password grant (§4.3) or the
// refresh grant (§6) of a public client (§2.1).
type TokenRequest struct {
	GrantType string
	// Login holds username and password of the password grant (Email is the username).
	Login LoginRequest
	// RefreshToken is the refresh grant's token.
	RefreshToken string
}

// RevokeRequest is a parsed RFC 7009 revocation request. The hint is not kept: a refresh
// token and an access token never look alike, so the token's shape says what it is.
type RevokeRequest struct {
	Token string
}

// The parameters each endpoint knows. RFC 6749 §3.1 says unknown ones are ignored; a known
// one sent twice is refused (§3.2: parameters must not be included more than once), so no
// two readers can disagree on which copy counts.
var (
	tokenParams  = []string{"grant_type", "username", "password", "scope", "refresh_token", "client_id", "client_secret"}
	revokeParams = []string{"token", "token_type_hint", "client_id", "client_secret"}
)

// ParseTokenRequest parses the body of a token request.
func ParseTokenRequest(body []byte) (TokenRequest, *oauthError) {
	var req TokenRequest
	form, oerr := parseForm(body, tokenParams)
	if oerr != nil {
		return req, oerr
	}
	if form["client_secret"] != "" {
		return req, errClientAuthentication
	}
	if form["scope"] != "" {
		return req, errScope
	}
	req.GrantType = form["grant_type"]
	switch req.GrantType {
	case "":
		return req, oauthInvalidRequest(descGrantTypeRequired)
	case GrantPassword:
		req.Login = LoginRequest{Email: form["username"], Password: form["password"]}
		switch {
		case req.Login.Email == "":
			return req, oauthInvalidRequest(descUsernameRequired)
		case req.Login.Password == "":
			return req, oauthInvalidRequest(descPasswordRequired)
		case len(req.Login.Email) > maxEmailLength:
			return req, oauthInvalidRequest(descUsernameTooLong)
		case len(req.Login.Password) > maxPasswordLength:
			return req, oauthInvalidRequest(descPasswordTooLong)
		}
	case GrantRefreshToken:
		req.RefreshToken = form["refresh_token"]
		if req.RefreshToken == "" {
			return req, oauthInvalidRequest(descRefreshTokenRequired)
		}
	default:
		return req, errUnsupportedGrantType
	}
	return req, nil
}

// ParseRevokeRequest parses the body of a revocation request.
func ParseRevokeRequest(body []byte) (RevokeRequest, *oauthError) {
	form, oerr := parseForm(body, revokeParams)
	if oerr != nil {
		return RevokeRequest{}, oerr
	}
	if form["client_secret"] != "" {
		return RevokeRequest{}, errClientAuthentication
	}
	if form["token"] == "" {
		return RevokeRequest{}, oauthInvalidRequest(descTokenRequired)
	}
	return RevokeRequest{Token: form["token"]}, nil
}

// parseForm parses an application/x-www-form-urlencoded body into the one value of each
// known parameter. A parameter without a value counts as absent (RFC 6749 §3.1).
func parseForm(body []byte, known []string) (map[string]string, *oauthError) {
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, oauthInvalidRequest(descMalformedForm)
	}
	form := make(map[string]string, len(known))
	for _, name := range known {
		vs := values[name]
		switch {
		case len(vs) > 1:
			return nil, oauthInvalidRequest(descRepeatedParameter)
		case len(vs) == 0:
			continue
		case !utf8.ValidString(vs[0]):
			return nil, oauthInvalidRequest(descMalformedForm)
		}
		form[name] = vs[0]
	}
	return form, nil
}

// checkFormRequest checks what a token or revocation request carries outside its body:
// a form body, no parameters in the URL (they would end up in access logs), and no client
// authentication (clients are public: RFC 6749 §2.1).
func checkFormRequest(r *http.Request) *oauthError {
	if len(r.Header.Values("Authorization")) > 0 {
		return errClientAuthentication
	}
	if r.URL.RawQuery != "" {
		return oauthInvalidRequest(descQueryParameters)
	}
	cts := r.Header.Values("Content-Type")
	if len(cts) != 1 {
		return errContentType
	}
	mt, params, err := mime.ParseMediaType(cts[0])
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return errContentType
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errContentType
	}
	return nil
}
