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
	jwksPath      = "/.well-known/jwks.json"
	discoveryPath = "/.well-known/openid-configuration"
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

// discovery serves enough of OpenID Connect Discovery for standard JWT verifiers (go-oidc,
// jose libraries, Istio's jwksUri lookup) to find the keys from the issuer alone.
func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) error {
	issuer := s.policy().spec.Issuer
	iss := strings.TrimSuffix(issuer, "/")
	algs := s.cfg.Keys.Keyset().Algorithms()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              iss + jwksPath,
		"token_endpoint":                        iss + s.authPrefix + "/login",
		"response_types_supported":              []string{"token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": algs,
		"token_endpoint_auth_methods_supported": []string{"none"},
		"claims_supported":                      []string{"iss", "aud", "sub", "role", "sid", "iat", "nbf", "exp", "jti"},
	})
	return nil
}
