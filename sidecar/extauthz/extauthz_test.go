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

package extauthz_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"

	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/sidecar"
	"github.com/tollgate-dev/tollgate/sidecar/extauthz"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

const policyYAML = `
apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: shop-api, namespace: shop}
spec:
  routes:
  - {pathPrefix: /public, public: true}
  - {pathPrefix: /admin, roles: [admin]}
`

// authorizer is a sidecar in authorizer mode behind a real gRPC listener, and a grpc-go
// client connected to it, as Envoy would be.
func authorizer(t testing.TB) (authv3.AuthorizationClient, *sidecar.Server) {
	t.Helper()
	srv := newServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- extauthz.Serve(t.Context(), ln, srv, time.Second) }()
	t.Cleanup(func() {
		if err := <-stopped; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn), srv
}

// newServer is a sidecar in authorizer mode on policyYAML, with one ephemeral key.
func newServer(t testing.TB) *sidecar.Server {
	t.Helper()
	return newServerOn(t, policyYAML)
}

func newServerOn(t testing.TB, policyYAML string) *sidecar.Server {
	t.Helper()
	policy, err := sidecar.ParsePolicy([]byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sidecar.EphemeralKeys(keyset.ES256, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	t.Cleanup(func() { _ = st.Close() })
	srv, err := sidecar.NewServer(sidecar.Config{Policy: policy, Keys: keys, Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(t.Context())
	return srv
}

// fromGateway is ctx as a call from a gateway on 127.0.0.1 carries it.
func fromGateway(ctx context.Context) context.Context {
	return peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}})
}

// With trusted proxies in the policy, only they are answered: a check from elsewhere is
// denied whatever it asks.
func TestCheckAnswersOnlyTrustedGateways(t *testing.T) {
	for _, tc := range []struct {
		trusted string
		code    codes.Code
	}{{"[10.0.0.0/8]", codes.PermissionDenied}, {"[127.0.0.1]", codes.OK}, {"[]", codes.OK}} {
		t.Run(tc.trusted, func(t *testing.T) {
			srv := newServerOn(t, strings.Replace(policyYAML, "spec:\n", "spec:\n  sidecar: {trustedProxies: "+tc.trusted+"}\n", 1))
			svc := &extauthz.Service{Server: srv}
			resp, err := svc.Check(fromGateway(t.Context()), checkRequest("GET", "/public/x", nil))
			if err != nil {
				t.Fatal(err)
			}
			if got := codes.Code(resp.GetStatus().GetCode()); got != tc.code {
				t.Errorf("code %v, want %v", got, tc.code)
			}
			if resp, _ := svc.Check(t.Context(), checkRequest("GET", "/public/x", nil)); codes.Code(resp.GetStatus().GetCode()) != codes.PermissionDenied {
				t.Errorf("a call without a peer: %v", resp.GetStatus())
			}
		})
	}
}

func checkRequest(method, path string, headers map[string]string) *authv3.CheckRequest {
	h := map[string]string{":method": method, ":path": path, ":authority": "shop.example"}
	for k, v := range headers {
		h[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: method, Path: path, Host: "shop.example", Headers: h},
	}}}
}

func TestCheckOverGRPC(t *testing.T) {
	client, srv := authorizer(t)
	admin, _, err := srv.Tokens().Issue("42", "admin", "s1")
	if err != nil {
		t.Fatal(err)
	}
	clerk, _, err := srv.Tokens().Issue("7", "clerk", "s2")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		req     *authv3.CheckRequest
		code    codes.Code
		status  int
		headers map[string]string // OK: headers to add upstream
	}{
		{"an admin on an admin path", checkRequest("GET", "/admin/users?page=2", map[string]string{"authorization": "Bearer " + admin}),
			codes.OK, 0, map[string]string{"x-auth-subject": "42", "x-auth-role": "admin", "authorization": "Bearer " + admin}},
		{"a public path", checkRequest("GET", "/public/x", nil), codes.OK, 0, map[string]string{}},
		{"the headers Istio's sidecar adds", checkRequest("GET", "/admin/x", map[string]string{"authorization": "Bearer " + admin,
			"x-forwarded-proto": "https", "x-forwarded-for": "10.0.0.7", "x-request-id": "7f1c", "x-envoy-attempt-count": "1",
			"x-forwarded-client-cert": "By=spiffe://cluster.local/ns/shop/sa/api;Hash=ab;Subject=\"\";URI=spiffe://cluster.local/ns/gw/sa/gw",
			"x-b3-traceid":            "80f198ee56343ba864fe8b2a57d3eff7", "x-envoy-internal": "true", "x-forwarded-host": "shop.example"}),
			codes.OK, 0, map[string]string{"x-auth-subject": "42", "x-auth-role": "admin", "authorization": "Bearer " + admin}},
		{"no token", checkRequest("GET", "/orders", nil), codes.Unauthenticated, 401, nil},
		{"a clerk on an admin path", checkRequest("GET", "/admin", map[string]string{"authorization": "Bearer " + clerk}), codes.PermissionDenied, 403, nil},
		{"dot segments out of a public prefix", checkRequest("GET", "/public/../admin", map[string]string{"authorization": "Bearer " + clerk}), codes.PermissionDenied, 403, nil},
		{"an encoded slash", checkRequest("GET", "/public%2F..%2Fadmin", nil), codes.InvalidArgument, 400, nil},
		{"two credentials, joined by Envoy", checkRequest("GET", "/orders", map[string]string{"authorization": "Bearer " + admin + ",Bearer " + clerk}), codes.InvalidArgument, 400, nil},
		{"a client's identity header", checkRequest("GET", "/public/x", map[string]string{"x_auth_role": "admin"}), codes.InvalidArgument, 400, nil},
		{"a method override (Strip mode)", checkRequest("POST", "/public/x", map[string]string{"x-http-method-override": "DELETE"}), codes.InvalidArgument, 400, nil},
		{"a pseudo-header is not the path", checkRequest("GET", "/admin", map[string]string{":path": "/public/x", "authorization": "Bearer " + clerk}), codes.PermissionDenied, 403, nil},
		{"no HTTP attributes", &authv3.CheckRequest{}, codes.InvalidArgument, 400, nil},
		{"no path", checkRequest("GET", "", nil), codes.InvalidArgument, 400, nil},
		{"raw headers, one entry per field", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/orders", HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
				{Key: "authorization", RawValue: []byte("Bearer " + admin)}, {Key: "authorization", RawValue: []byte("Bearer " + clerk)},
			}}}}}}, codes.InvalidArgument, 400, nil},
		{"raw headers, one credential", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/orders", HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
				{Key: ":path", RawValue: []byte("/public")}, {Key: "authorization", RawValue: []byte("Bearer " + clerk)},
			}}}}}}, codes.OK, 0, map[string]string{"x-auth-subject": "7", "x-auth-role": "clerk", "authorization": "Bearer " + clerk}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client.Check(t.Context(), tc.req)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got := codes.Code(resp.GetStatus().GetCode()); got != tc.code {
				t.Fatalf("code %v, want %v (%v)", got, tc.code, resp)
			}
			if tc.code == codes.OK {
				got := map[string]string{}
				for _, h := range resp.GetOkResponse().GetHeaders() {
					got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
					if h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
						t.Errorf("%s is appended: a client's own value would reach the app too", h.GetHeader().GetKey())
					}
				}
				if len(got) != len(tc.headers) {
					t.Errorf("headers to add %v, want %v", got, tc.headers)
				}
				for k, v := range tc.headers {
					if got[k] != v {
						t.Errorf("%s = %q, want %q", k, got[k], v)
					}
				}
				return
			}
			d := resp.GetDeniedResponse()
			if int(d.GetStatus().GetCode()) != tc.status {
				t.Errorf("denied with HTTP %d, want %d", d.GetStatus().GetCode(), tc.status)
			}
			var body struct{ Error string }
			if err := json.Unmarshal([]byte(d.GetBody()), &body); err != nil || body.Error == "" {
				t.Errorf("denied body %q is not the {\"error\": ...} shape", d.GetBody())
			}
			if tc.status == http.StatusUnauthorized {
				found := false
				for _, h := range d.GetHeaders() {
					found = found || (h.GetHeader().GetKey() == "www-authenticate" && strings.HasPrefix(h.GetHeader().GetValue(), "Bearer"))
				}
				if !found {
					t.Errorf("401 without WWW-Authenticate: Bearer: %v", d.GetHeaders())
				}
			}
		})
	}
}
