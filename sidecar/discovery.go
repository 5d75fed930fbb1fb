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
	"strings"
)

const (
	jwksPath       = "/.well-known/jwks.json"
	discoveryPath  = "/.well-known/openid-configuration"
	asMetadataPath = "/.well-known/oauth-authorization-server"
)

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) error {
	body, err := s.cfg.Keys.Keyset().JWKS(s.now())
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=60")
	_, _ = w.Write(body)
	return nil
}

// discovery serves OpenID Connect Discovery 1.0's document, so that standard JWT verifiers
// (go-oidc, jose libraries, Istio's jwksUri lookup) find the keys from the issuer alone and
// OAuth clients that discover through it (openid-client) find the token endpoint. It says
// only what exists: no authorization_endpoint, userinfo_endpoint or ID tokens. The fields
// the schema requires that have no meaning here are honest: response_types_supported is
// empty (there is no authorization endpoint), and id_token_signing_alg_values_supported
// names the algorithms of the JWTs the issuer signs, which is what verifiers read it for.
func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) error {
	m := s.serverMetadata()
	m["subject_types_supported"] = []string{"public"}
	m["id_token_signing_alg_values_supported"] = s.cfg.Keys.Keyset().Algorithms()
	writeJSON(w, http.StatusOK, m)
	return nil
}

// authorizationServerMetadata serves RFC 8414's document.
func (s *Server) authorizationServerMetadata(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, s.serverMetadata())
	return nil
}

// serverMetadata is what both documents say: the endpoints and grants that exist.
func (s *Server) serverMetadata() map[string]any {
	issuer := s.policy().spec.Issuer
	base := strings.TrimSuffix(issuer, "/")
	grants := []string{GrantRefreshToken}
	if s.cfg.Authenticator != nil {
		grants = []string{GrantPassword, GrantRefreshToken}
	}
	return map[string]any{
		"issuer":                                     issuer,
		"jwks_uri":                                   base + jwksPath,
		"token_endpoint":                             base + s.authPrefix + tokenEndpointPath,
		"revocation_endpoint":                        base + s.authPrefix + revokeEndpointPath,
		"grant_types_supported":                      grants,
		"response_types_supported":                   []string{},
		"token_endpoint_auth_methods_supported":      []string{"none"},
		"revocation_endpoint_auth_methods_supported": []string{"none"},
	}
}
