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
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/tollgate-dev/tollgate/sidecar"
	"github.com/tollgate-dev/tollgate/sidecar/extauthz"
)

// FuzzCheckRequest feeds arbitrary CheckRequest messages (protobuf bytes, as a gRPC peer can
// send them) to Check: it must never panic or fail the call, and may allow a clerk only for
// a path whose clean form is outside /admin.
func FuzzCheckRequest(f *testing.F) {
	srv := newServer(f)
	svc := &extauthz.Service{Server: srv}
	clerk, _, err := srv.Tokens().Issue("7", "clerk", "s")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []*authv3.CheckRequest{
		checkRequest("GET", "/public/x", nil),
		checkRequest("GET", "/admin/x", map[string]string{"authorization": "Bearer " + clerk}),
		checkRequest("GET", "/public/../admin", map[string]string{"authorization": "Bearer " + clerk}),
		checkRequest("POST", "/orders?_method=DELETE", map[string]string{"authorization": "Bearer " + clerk, "x-http-method": "GET"}),
		{},
	} {
		b, err := proto.Marshal(seed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req authv3.CheckRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		resp, err := svc.Check(fromGateway(t.Context()), &req)
		if err != nil {
			t.Fatalf("Check failed: %v", err)
		}
		if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
			if resp.GetDeniedResponse().GetStatus().GetCode() == 0 {
				t.Fatalf("denied without an HTTP status: %v", resp)
			}
			return
		}
		h := req.GetAttributes().GetRequest().GetHttp()
		escaped, _, _ := strings.Cut(h.GetPath(), "?")
		clean, err := sidecar.CleanPath(escaped)
		if err != nil {
			t.Fatalf("allowed %q, whose path CleanPath refuses", h.GetPath())
		}
		for _, hv := range resp.GetOkResponse().GetHeaders() {
			if strings.EqualFold(hv.GetHeader().GetKey(), sidecar.HeaderRole) && hv.GetHeader().GetValue() != "admin" &&
				(clean == "/admin" || strings.HasPrefix(clean, "/admin/")) {
				t.Fatalf("a %s passes for %s", hv.GetHeader().GetValue(), clean)
			}
		}
	})
}
