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

// Command tollgate-authorizer answers gateways' and meshes' questions about requests with an
// AuthPolicy's rules: nginx auth_request, Traefik ForwardAuth and Envoy ext_authz over HTTP
// (--listen, with the auth endpoints), and Envoy's gRPC Authorization service
// (--grpc-listen), which Istio's CUSTOM action and Envoy Gateway use. It takes the sidecar's
// flags, in authorizer mode; it is its own binary because grpc and Envoy's protobufs would
// cost every injected sidecar memory (docs/design.md §1).
package main

import (
	"github.com/tollgate-dev/tollgate/sidecar/command"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
	"github.com/tollgate-dev/tollgate/sidecar/extauthz"
)

func main() {
	command.Command{Name: contract.AuthorizerCommand, DefaultMode: contract.ModeAuthorizer, GRPC: extauthz.Serve}.Main()
}
