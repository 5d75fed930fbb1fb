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
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/tollgate-dev/tollgate/keyset"
)

// newIssuerHarness returns a harness whose policy's issuer is the URL the sidecar is served
// at, as in a real deployment, so that a verifier can find everything from the issuer alone.
// The listener is opened first to know that URL; the harness's own server stays usable.
func newIssuerHarness(t *testing.T, alg keyset.Algorithm) (*harness, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	policy := strings.Replace(testPolicyYAML, "https://shop-api.shop.svc", issuer, 1)
	policy = strings.Replace(policy, "algorithm: ES256", "algorithm: "+string(alg), 1)
	h := newHarness(t, withAlgorithm(alg), withPolicy(policy))
	srv := httptest.NewUnstartedServer(h.server.Handler())
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return h, issuer
}

func TestInteropGoOIDC(t *testing.T) {
	for _, alg := range []keyset.Algorithm{keyset.ES256, keyset.EdDSA, keyset.RS256} {
		t.Run(string(alg)+" tokens verify with go-oidc from the discovery URL alone", func(t *testing.T) {
			h, issuer := newIssuerHarness(t, alg)
			tok := h.login("bob@example.com", bobPassword).AccessToken
			ctx := t.Context()

			provider, err := oidc.NewProvider(ctx, issuer)
			if err != nil {
				t.Fatalf("discovery: %v", err)
			}
			for name, cfg := range map[string]*oidc.Config{
				"the algorithms discovery announces": {ClientID: "shop-api"},
				"the policy's algorithm only":        {ClientID: "shop-api", SupportedSigningAlgs: []string{string(alg)}},
			} {
				t.Run("accepting "+name, func(t *testing.T) {
					idt, err := provider.Verifier(cfg).Verify(ctx, tok)
					if err != nil {
						t.Fatalf("go-oidc refused the sidecar's token: %v", err)
					}
					var claims struct {
						Role string `json:"role"`
						JTI  string `json:"jti"`
					}
					if err := idt.Claims(&claims); err != nil {
						t.Fatal(err)
					}
					if idt.Subject != "7" || idt.Issuer != issuer || claims.Role != "clerk" || claims.JTI == "" {
						t.Fatalf("go-oidc read sub %q iss %q role %q jti %q", idt.Subject, idt.Issuer, claims.Role, claims.JTI)
					}
					if d := time.Until(idt.Expiry); d < 14*time.Minute || d > 16*time.Minute {
						t.Fatalf("expiry in %v", d)
					}
				})
			}
			t.Run("and go-oidc refuses what it should", func(t *testing.T) {
				if _, err := provider.Verifier(&oidc.Config{ClientID: "another-api"}).Verify(ctx, tok); err == nil {
					t.Fatal("go-oidc accepted a token for another audience: the check above proves nothing")
				}
				foreign, err := keyset.Generate(alg, h.clock.Now().Add(-time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				foreign.KID = h.activeKey().KID
				forged := signWith(t, foreign, h.claimsFor("7", "admin"), nil)
				if _, err := provider.Verifier(&oidc.Config{ClientID: "shop-api"}).Verify(ctx, forged); err == nil {
					t.Fatal("go-oidc accepted a token signed by a foreign key")
				}
			})
		})
	}
}

func TestInteropGoJOSE(t *testing.T) {
	for _, alg := range []keyset.Algorithm{keyset.ES256, keyset.EdDSA, keyset.RS256} {
		t.Run(string(alg)+" tokens verify with go-jose and the published JWKS", func(t *testing.T) {
			h, issuer := newIssuerHarness(t, alg)
			tok := h.login("bob@example.com", bobPassword).AccessToken

			var discovery struct {
				Issuer  string   `json:"issuer"`
				JWKSURI string   `json:"jwks_uri"`
				Algs    []string `json:"id_token_signing_alg_values_supported"`
			}
			getJSON(t, issuer+"/.well-known/openid-configuration", &discovery)
			if discovery.Issuer != issuer || len(discovery.Algs) != 1 || discovery.Algs[0] != string(alg) {
				t.Fatalf("discovery: %+v", discovery)
			}
			var set jose.JSONWebKeySet
			getJSON(t, discovery.JWKSURI, &set)

			parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			hdr := parsed.Headers[0]
			if typ := hdr.ExtraHeaders[jose.HeaderType]; typ != TokenType {
				t.Fatalf("typ %v", typ)
			}
			keys := set.Key(hdr.KeyID)
			if len(keys) != 1 || keys[0].Algorithm != string(alg) || keys[0].Use != "sig" || !keys[0].IsPublic() {
				t.Fatalf("JWKS entry for kid %q: %+v", hdr.KeyID, keys)
			}
			var std josejwt.Claims
			var custom struct {
				Role string `json:"role"`
				SID  string `json:"sid"`
			}
			if err := parsed.Claims(keys[0].Key, &std, &custom); err != nil {
				t.Fatalf("go-jose refused the signature: %v", err)
			}
			err = std.ValidateWithLeeway(josejwt.Expected{
				Issuer: issuer, AnyAudience: josejwt.Audience{"shop-api"}, Subject: "7", Time: h.clock.Now(),
			}, 0)
			if err != nil {
				t.Fatalf("go-jose refused the claims: %v", err)
			}
			if custom.Role != "clerk" || custom.SID == "" || std.ID == "" {
				t.Fatalf("claims: %+v %+v", std, custom)
			}

			// The same check fails on a modified payload, so it is a real check.
			parts := strings.Split(tok, ".")
			forgedPayload := strings.Replace(string(mustB64Decode(t, parts[1])), `"clerk"`, `"admin"`, 1)
			forged, err := josejwt.ParseSigned(parts[0]+"."+b64([]byte(forgedPayload))+"."+parts[2], []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			if err := forged.Claims(keys[0].Key, &std); err == nil {
				t.Fatal("go-jose accepted a modified payload")
			}
		})
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
}

func mustB64Decode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
