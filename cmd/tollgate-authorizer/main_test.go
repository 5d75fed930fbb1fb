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

package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tollgate-dev/tollgate/internal/testproc"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

const testPolicy = `apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: shop-api, namespace: shop}
spec:
  routes:
  - {pathPrefix: /public, public: true}
  - {pathPrefix: /admin, roles: [admin]}
`

const testUsers = `- email: alice@example.com
  id: "42"
  role: admin
  passwordHash: $2a$04$ZYe5j153F9qXAd9VPTHyIeNa/ERn07J8H4EwWxHqypHt7aUjL39lG
`

// The built binary serves login over HTTP and answers Envoy's gRPC Check with what login
// issued, on the ports its flags name.
func TestAuthorizerBinary(t *testing.T) {
	dir := t.TempDir()
	bin, err := testproc.Build(".", dir)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	httpAddr, opsAddr, grpcAddr := testwait.FreeAddr(t), testwait.FreeAddr(t), testwait.FreeAddr(t)
	p := testproc.Start(t, bin, "http://"+opsAddr+"/readyz", "--policy", write("policy.yaml", testPolicy),
		"--users-file", write("users.yaml", testUsers), "--listen", httpAddr, "--metrics-listen", opsAddr,
		"--grpc-listen", grpcAddr, "--log-format", "text")

	resp, err := http.Post("http://"+httpAddr+"/auth/login", "application/json", strings.NewReader(`{"email":"alice@example.com","password":"wonderland"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tr struct{ AccessToken string }
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("login: %d", resp.StatusCode)
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	check := func(path, auth string) *authv3.CheckResponse {
		h := map[string]string{}
		if auth != "" {
			h["authorization"] = auth
		}
		r, err := authv3.NewAuthorizationClient(conn).Check(t.Context(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: path, Headers: h}}}})
		if err != nil {
			t.Fatalf("Check %s: %v", path, err)
		}
		return r
	}
	if r := check("/admin/x", "Bearer "+tr.AccessToken); codes.Code(r.GetStatus().GetCode()) != codes.OK {
		t.Errorf("an admin's token on /admin: %v", r)
	}
	if r := check("/admin/x", ""); codes.Code(r.GetStatus().GetCode()) != codes.Unauthenticated {
		t.Errorf("no token on /admin: %v", r)
	}
	// The HTTP check answers on the same policy.
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/check/forwarded", nil)
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Uri", "/admin/x")
	req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Auth-Subject") != "42" {
		t.Errorf("HTTP check: %d %v", resp.StatusCode, resp.Header)
	}
	if strings.Contains(p.Logs(), tr.AccessToken) {
		t.Error("the logs hold a token")
	}
	if err := p.Terminate(10 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v\n%s", err, p.Logs())
	}

}
