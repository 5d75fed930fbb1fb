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

package command

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/sidecar"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

const testPolicy = `apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: shop-api, namespace: shop}
spec:
  routes:
  - {pathPrefix: /public, public: true}
`

// authorizerCommand stands for tollgate-authorizer: a command with a gRPC service.
var authorizerCommand = Command{Name: contract.AuthorizerCommand, DefaultMode: contract.ModeAuthorizer,
	GRPC: func(context.Context, net.Listener, *sidecar.Server, time.Duration) error { return nil }}

func TestModeFlags(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cmd      Command
		args     []string
		mode     string
		upstream string
		grpc     string
		err      string
	}{
		{"the sidecar proxies by default", Sidecar, nil, contract.ModeProxy, contract.DefaultUpstream, "", ""},
		{"the sidecar as an authorizer forwards nowhere", Sidecar, []string{"--mode=authorizer"}, contract.ModeAuthorizer, "", "", ""},
		{"an authorizer refuses an upstream", Sidecar, []string{"--mode=authorizer", "--upstream=http://127.0.0.1:8080"}, "", "", "", "--upstream means nothing"},
		{"an unknown mode", Sidecar, []string{"--mode=gateway"}, "", "", "", `--mode "gateway"`},
		{"the sidecar has no gRPC service", Sidecar, []string{"--mode=authorizer", "--grpc-listen=:9001"}, "", "", "", "has no gRPC service"},
		{"tollgate-authorizer is an authorizer with gRPC by default", authorizerCommand, nil, contract.ModeAuthorizer, "", contract.DefaultGRPCListen, ""},
		{"tollgate-authorizer on another gRPC port", authorizerCommand, []string{"--grpc-listen=127.0.0.1:7000"}, contract.ModeAuthorizer, "", "127.0.0.1:7000", ""},
		{"gRPC needs authorizer mode", authorizerCommand, []string{"--mode=proxy", "--grpc-listen=:7000"}, "", "", "", "needs --mode=authorizer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := tc.cmd.parseFlags(tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.mode != tc.mode || o.upstream != tc.upstream || o.grpcListen != tc.grpc {
				t.Errorf("mode %q upstream %q grpc %q, want %q %q %q", o.mode, o.upstream, o.grpcListen, tc.mode, tc.upstream, tc.grpc)
			}
		})
	}
}

// What contract.Args renders, the command parses back: the operator's rendering of an
// authorizer Deployment depends on it.
func TestAuthorizerArgsRoundTrip(t *testing.T) {
	a := contract.Args{Mode: contract.ModeAuthorizer, GRPCListen: ":9001", Policy: "/p.yaml", KeysDir: "/k", Listen: ":8000"}
	o, err := authorizerCommand.parseFlags(a.Args())
	if err != nil {
		t.Fatal(err)
	}
	if o.mode != contract.ModeAuthorizer || o.grpcListen != ":9001" || o.policy != "/p.yaml" || o.keysDir != "/k" || o.upstream != "" {
		t.Errorf("parsed %+v from %q", o, a.Args())
	}
}
