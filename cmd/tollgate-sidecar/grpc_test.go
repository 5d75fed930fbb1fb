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
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const grpcPolicy = `apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: shop-api, namespace: shop}
spec:
  sidecar: {upstreamProtocol: h2c}
  routes:
  - {path: /grpc.health.v1.Health/Watch, roles: [admin]}
  - {path: /grpc.health.v1.Health/List, roles: [nobody]}
`

// The binary with upstreamProtocol h2c serves a gRPC client over cleartext HTTP/2 and
// reaches a gRPC app the same way (grpc-go's health service): unary and server-streaming
// calls pass with a token, and refusals are gRPC statuses.
func TestSidecarBinaryServesGRPC(t *testing.T) {
	dir := t.TempDir()
	policy := writeFile(t, dir, "policy.yaml", grpcPolicy)
	users := writeFile(t, dir, "users.yaml", testUsers)

	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go func() { _ = gs.Serve(appLn) }()
	defer gs.Stop()

	p := startSidecar(t, buildSidecar(t), "--policy", policy, "--users-file", users, "--upstream", "http://"+appLn.Addr().String())
	resp, err := http.Post("http://"+p.addr+"/auth/login", "application/json",
		strings.NewReader(`{"email":"alice@example.com","password":"wonderland"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tr struct{ AccessToken string }
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("login: %d", resp.StatusCode)
	}

	conn, err := grpc.NewClient("passthrough:///"+p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tr.AccessToken)

	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a call without a token: %v", err)
	}
	res, err := client.Check(authed, &healthpb.HealthCheckRequest{})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check: %v, %v", res, err)
	}
	watch, err := client.Watch(authed, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := watch.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch: %v, %v", m, err)
	}
	if _, err := client.List(authed, &healthpb.HealthListRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a method for another role: %v", err)
	}
	if strings.Contains(p.Logs(), tr.AccessToken) {
		t.Fatal("the logs hold a token")
	}
}
