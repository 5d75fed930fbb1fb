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
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// newOAuthHarness serves a harness's sidecar on a real listener at the URL its policy names
// as issuer, as in a deployment, so that a client can find everything from the issuer
// alone. With tls, the listener speaks HTTPS with httptest's certificate for 127.0.0.1.
func newOAuthHarness(t *testing.T, tls bool, policy string, opts ...harnessOption) (*harness, *httptest.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	issuer := scheme + ln.Addr().String()
	h := newHarness(t, append(opts, withPolicy(strings.Replace(policy, "https://shop-api.shop.svc", issuer, 1)))...)
	srv := httptest.NewUnstartedServer(h.server.Handler())
	_ = srv.Listener.Close()
	srv.Listener = ln
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return h, srv
}

// TestOAuthGoClient drives the sidecar with golang.org/x/oauth2, unmodified: the password
// grant, then a TokenSource that refreshes through the store once the access token has
// expired. The policy's access tokens live 10s, which x/oauth2 already counts as expired
// (it renews 10s early), and the sidecar's clock is moved past their expiry, so that only a
// refreshed token can pass.
func TestOAuthGoClient(t *testing.T) {
	policy := strings.Replace(testPolicyYAML, "accessTokenTTL: 15m", "accessTokenTTL: 10s", 1)
	policy = strings.Replace(policy, "clockSkew: 30s", "clockSkew: 0s", 1)
	eachStore(t, func(t *testing.T, st harnessOption) {
		h, srv := newOAuthHarness(t, false, policy, st)
		ctx := context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client())
		provider, err := oidc.NewProvider(ctx, srv.URL)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		endpoint := provider.Endpoint()
		if endpoint.TokenURL != srv.URL+"/auth/token" {
			t.Fatalf("discovered token endpoint %q", endpoint.TokenURL)
		}
		endpoint.AuthStyle = oauth2.AuthStyleInParams // a public client: client_id in the form
		conf := &oauth2.Config{ClientID: "shop-web", Endpoint: endpoint}

		tok, err := conf.PasswordCredentialsToken(ctx, "alice@example.com", alicePassword)
		if err != nil {
			t.Fatalf("password grant: %v", err)
		}
		if tok.Type() != "Bearer" || tok.RefreshToken == "" || tok.ExpiresIn != 10 {
			t.Fatalf("token %+v", tok)
		}
		if id, err := h.server.Tokens().Verify(tok.AccessToken); err != nil || id.Subject != "42" {
			t.Fatalf("the access token: %v %+v", err, id)
		}

		h.clock.Advance(11 * time.Second)
		if resp, _ := h.do("GET", "/orders", tok.AccessToken, nil); resp.StatusCode != 401 {
			t.Fatalf("the first access token after its expiry: %d", resp.StatusCode)
		}
		refreshes := func() float64 { return valueOf(h.server.Metrics().Refreshes.WithLabelValues("success")) }
		before := refreshes()
		src := conf.TokenSource(ctx, tok)
		client := oauth2.NewClient(ctx, src)
		for i := range 2 {
			resp, err := client.Get(srv.URL + "/orders")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"subject":"42"`) {
				t.Fatalf("call %d through the TokenSource: %d %s", i+1, resp.StatusCode, body)
			}
			h.clock.Advance(11 * time.Second)
		}
		if got := refreshes() - before; got != 2 {
			t.Fatalf("%v refreshes through the store, want 2", got)
		}
		t.Run("the spent first refresh token is refused, and its reuse ends the session", func(t *testing.T) {
			_, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 {
				t.Fatalf("reuse: %v", err)
			}
			resp, err := client.Get(srv.URL + "/orders")
			if err == nil {
				resp.Body.Close()
				t.Fatalf("the TokenSource still works after its family was revoked: %d", resp.StatusCode)
			}
		})
		t.Run("with the default AuthStyle, x/oauth2 probes Basic first, and a wrong password still counts once", func(t *testing.T) {
			conf := &oauth2.Config{ClientID: "shop-web", Endpoint: provider.Endpoint()}
			for i := range 5 {
				_, err := conf.PasswordCredentialsToken(ctx, "bob@example.com", "guess")
				var re *oauth2.RetrieveError
				if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
					t.Fatalf("guess %d: %v", i+1, err)
				}
			}
			_, err := conf.PasswordCredentialsToken(ctx, "bob@example.com", bobPassword)
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.Response.StatusCode != http.StatusTooManyRequests || re.ErrorCode != "temporarily_unavailable" {
				t.Fatalf("after 5 failures: %v", err)
			}
			if _, err := conf.PasswordCredentialsToken(ctx, "alice@example.com", alicePassword); err != nil {
				t.Fatalf("the default AuthStyle: %v", err)
			}
		})
	})
}

// openIDClientDir is where hack/ensure-openid-client.sh installs node's openid-client.
const openIDClientDir = "../test/openid-client"

// TestOAuthNodeOpenIDClient drives the sidecar with node's openid-client, unmodified (its
// pinned version in test/openid-client), over HTTPS as it requires: discovery (OpenID and
// RFC 8414), the password and refresh grants, and revocation.
func TestOAuthNodeOpenIDClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if _, serr := os.Stat(filepath.Join(openIDClientDir, "node_modules", "openid-client")); err != nil || serr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node or openid-client missing (node: %v, module: %v): run hack/ensure-openid-client.sh", err, serr)
		}
		t.Skip("node or openid-client missing: run hack/ensure-openid-client.sh (make test does)")
	}
	eachStore(t, func(t *testing.T, st harnessOption) {
		h, srv := newOAuthHarness(t, true, testPolicyYAML, st)
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "client.mjs")
		cmd.Dir = openIDClientDir
		cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+ca, "ISSUER="+srv.URL,
			"USERNAME=alice@example.com", "PASSWORD="+alicePassword)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node client.mjs: %v\n%s", err, stderr.String())
		}
		type endpoints struct {
			TokenEndpoint      string `json:"token_endpoint"`
			RevocationEndpoint string `json:"revocation_endpoint"`
		}
		var res struct {
			OIDC, OAuth2          endpoints
			Password, Refreshed   OAuthTokenResponse
			Protected             int
			Revoked               bool
			AfterRevoke, BadLogin struct {
				Error  string
				Status int
			}
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		for name, d := range map[string]endpoints{"OpenID": res.OIDC, "RFC 8414": res.OAuth2} {
			if d.TokenEndpoint != srv.URL+"/auth/token" || d.RevocationEndpoint != srv.URL+"/auth/revoke" {
				t.Fatalf("%s discovery: %+v", name, d)
			}
		}
		// The script revoked the session at the end: its tokens are valid but revoked.
		if _, err := h.server.Tokens().Verify(res.Password.AccessToken); err == nil || err.Error() != "revoked" || res.Password.ExpiresIn != 900 {
			t.Fatalf("password grant: %v, expires_in %d", err, res.Password.ExpiresIn)
		}
		var claims struct{ Sub string }
		if err := json.Unmarshal(mustB64Decode(t, strings.Split(res.Password.AccessToken, ".")[1]), &claims); err != nil || claims.Sub != "42" {
			t.Fatalf("password grant: %v, sub %q", err, claims.Sub)
		}
		if res.Protected != 200 {
			t.Fatalf("a call with openid-client's access token: %d", res.Protected)
		}
		if res.Refreshed.RefreshToken == "" || res.Refreshed.RefreshToken == res.Password.RefreshToken {
			t.Fatalf("refresh grant: %+v", res.Refreshed)
		}
		if !res.Revoked || res.AfterRevoke.Error != "invalid_grant" || res.AfterRevoke.Status != 400 {
			t.Fatalf("revocation: %v, then refresh: %+v", res.Revoked, res.AfterRevoke)
		}
		if resp, _ := h.do("GET", "/orders", res.Refreshed.AccessToken, nil); resp.StatusCode != 401 {
			t.Fatalf("the revoked session's access token: %d", resp.StatusCode)
		}
		if res.BadLogin.Error != "invalid_grant" || res.BadLogin.Status != 400 {
			t.Fatalf("a wrong password: %+v", res.BadLogin)
		}
	})
}
