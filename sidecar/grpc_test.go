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
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// A real grpc-go server (the interop TestService, so no protoc) behind the sidecar, and a
// real grpc-go client in front of it, over h2c both ways.

const grpcPolicyYAML = `
apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: shop-api, namespace: shop}
spec:
  issuer: https://shop-api.shop.svc
  audiences: [shop-api]
  sidecar: {upstreamProtocol: h2c}
  routes:
  - {path: /grpc.testing.TestService/EmptyCall, public: true}
  - {path: /grpc.testing.TestService/UnaryCall, roles: [admin, clerk]}
  - {path: /grpc.testing.TestService/FullDuplexCall, roles: [admin, clerk]}
  - {path: /grpc.testing.TestService/HalfDuplexCall, roles: [admin]}
`

const testService = "/grpc.testing.TestService/"

// grpcApp is the app: the interop TestService, telling the client (in response headers)
// which identity it received, and pausing server streams until the test lets them go on.
type grpcApp struct {
	testpb.UnimplementedTestServiceServer
	next     chan struct{} // StreamingOutputCall sends its next message on each receive
	received chan int      // StreamingInputCall reports each message it reads
	lastMD   atomic.Value  // metadata.MD of the last call
	calls    atomic.Int64  // calls that reached a method of the app
}

func newGRPCApp() *grpcApp {
	return &grpcApp{next: make(chan struct{}), received: make(chan int, 16)}
}

// seen records the call's metadata and answers with the identity the app got.
func (a *grpcApp) seen(ctx context.Context) {
	a.calls.Add(1)
	md, _ := metadata.FromIncomingContext(ctx)
	a.lastMD.Store(md)
	_ = grpc.SetHeader(ctx, metadata.Pairs(
		"seen-subject", strings.Join(md.Get("x-auth-subject"), ","),
		"seen-role", strings.Join(md.Get("x-auth-role"), ","),
		"seen-path", mustMethod(ctx),
	))
}

func mustMethod(ctx context.Context) string {
	m, _ := grpc.Method(ctx)
	return m
}

func (a *grpcApp) EmptyCall(ctx context.Context, _ *testpb.Empty) (*testpb.Empty, error) {
	a.seen(ctx)
	return &testpb.Empty{}, nil
}

func (a *grpcApp) UnaryCall(ctx context.Context, in *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	a.seen(ctx)
	_ = grpc.SetTrailer(ctx, metadata.Pairs("app-trailer", "unary"))
	if st := in.GetResponseStatus(); st != nil {
		return nil, status.Error(codes.Code(st.GetCode()), st.GetMessage())
	}
	return &testpb.SimpleResponse{Payload: in.GetPayload()}, nil
}

func (a *grpcApp) HalfDuplexCall(stream testpb.TestService_HalfDuplexCallServer) error {
	a.seen(stream.Context())
	return nil
}

// StreamingOutputCall sends one message per response parameter, each after the test says
// so (but the first), then ends with the status the request asks for.
func (a *grpcApp) StreamingOutputCall(in *testpb.StreamingOutputCallRequest, stream testpb.TestService_StreamingOutputCallServer) error {
	a.seen(stream.Context())
	stream.SetTrailer(metadata.Pairs("app-trailer", "server-stream"))
	for i, p := range in.GetResponseParameters() {
		if i > 0 {
			select {
			case <-a.next:
			case <-stream.Context().Done():
				return stream.Context().Err()
			}
		}
		body := make([]byte, p.GetSize())
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: body}}); err != nil {
			return err
		}
	}
	if st := in.GetResponseStatus(); st != nil {
		return status.Error(codes.Code(st.GetCode()), st.GetMessage())
	}
	return nil
}

func (a *grpcApp) StreamingInputCall(stream testpb.TestService_StreamingInputCallServer) error {
	a.seen(stream.Context())
	total := 0
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(total)})
		}
		if err != nil {
			return err
		}
		total += len(in.GetPayload().GetBody())
		a.received <- len(in.GetPayload().GetBody())
	}
}

// FullDuplexCall answers each message as it comes.
func (a *grpcApp) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	a.seen(stream.Context())
	stream.SetTrailer(metadata.Pairs("app-trailer", "bidi"))
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: in.GetPayload()}); err != nil {
			return err
		}
	}
}

type grpcHarness struct {
	t      testing.TB
	server *Server
	front  string // the sidecar's address
	app    *grpcApp
	conns  atomic.Int64 // connections the sidecar accepted
	conn   *grpc.ClientConn
	client testpb.TestServiceClient
}

// newGRPCHarness starts the app on a real grpc.Server, the sidecar in front of it on an
// http.Server with the sidecar's Protocols (as tollgate-sidecar does), and a client.
// upstream, when set, replaces the app's address.
func newGRPCHarness(t testing.TB, upstream string) *grpcHarness {
	t.Helper()
	h := &grpcHarness{t: t, app: newGRPCApp()}
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	testpb.RegisterTestServiceServer(gs, h.app)
	go func() { _ = gs.Serve(appLn) }()
	t.Cleanup(gs.Stop)
	if upstream == "" {
		upstream = appLn.Addr().String()
	}

	policy, err := ParsePolicy([]byte(grpcPolicyYAML))
	if err != nil {
		t.Fatal(err)
	}
	key, err := keyset.Generate(keyset.ES256, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	t.Cleanup(func() { _ = st.Close() })
	up, _ := url.Parse("http://" + upstream)
	h.server, err = NewServer(Config{
		Policy: policy, Keys: NewKeys(&keyset.Keyset{Keys: []*keyset.SigningKey{key}}), Store: st, Upstream: up,
		TokenCacheSize: DefaultTokenCacheSize, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.server.Start(t.Context())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := NewHTTPServer("", h.server.Handler())
	hs.Protocols = h.server.Protocols()
	hs.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			h.conns.Add(1)
		}
	}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	h.front = ln.Addr().String()

	h.conn, err = grpc.NewClient("passthrough:///"+h.front, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.conn.Close() })
	h.client = testpb.NewTestServiceClient(h.conn)
	return h
}

// token issues an access token for a subject with a role.
func (h *grpcHarness) token(subject, role string) string {
	h.t.Helper()
	tok, _, err := h.server.Tokens().Issue(subject, role, "session-"+subject)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// ctx is a call context carrying `authorization: Bearer <token>` ("" for none) and the
// test's deadline: a proxy that buffered a stream would hang the call, not pass it.
func (h *grpcHarness) ctx(token string, md ...string) context.Context {
	ctx, cancel := context.WithTimeout(h.t.Context(), 30*time.Second)
	h.t.Cleanup(cancel)
	if token != "" {
		md = append(md, "authorization", "Bearer "+token)
	}
	return metadata.AppendToOutgoingContext(ctx, md...)
}

// logout revokes a token through the sidecar's own endpoint, over HTTP/1.1.
func (h *grpcHarness) logout(token string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.front+"/auth/logout", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		h.t.Fatalf("logout: %d", resp.StatusCode)
	}
}

func wantCode(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code || (msg != "" && st.Message() != msg) {
		t.Fatalf("got %v (%q), want %v (%q)", st.Code(), st.Message(), code, msg)
	}
}

// Every call on one h2c connection is a request of its own through the sidecar's checks:
// tokens, roles per method and the public route are decided per stream, never per
// connection.
func TestGRPCCallsOnOneConnectionAreCheckedSeparately(t *testing.T) {
	h := newGRPCHarness(t, "")
	admin, clerk := h.token("42", "admin"), h.token("7", "clerk")
	for _, tc := range []struct {
		name    string
		call    func(ctx context.Context) (metadata.MD, error)
		token   string
		code    codes.Code
		msg     string
		subject string
	}{
		{"a public method needs no token", h.emptyCall, "", codes.OK, "", ""},
		{"a method open to clerks refuses a call without a token", h.unaryCall, "", codes.Unauthenticated, "missing bearer token", ""},
		{"a method open to clerks takes a clerk", h.unaryCall, clerk, codes.OK, "", "7"},
		{"a forged token is refused", h.unaryCall, clerk[:len(clerk)-4] + "AAAA", codes.Unauthenticated, "invalid token: bad signature", ""},
		{"a malformed credential is refused", h.unaryCall, "not.a.jwt", codes.Unauthenticated, "invalid token: malformed", ""},
		{"an admin-only method refuses a clerk", h.halfDuplexCall, clerk, codes.PermissionDenied, "role not allowed", ""},
		{"an admin-only method takes an admin", h.halfDuplexCall, admin, codes.OK, "", "42"},
		{"a method no route names takes any valid token", h.streamingOutputCall, clerk, codes.OK, "", "7"},
		{"a method no route names refuses no token", h.streamingOutputCall, "", codes.Unauthenticated, "missing bearer token", ""},
		{"the public method after refusals still passes", h.emptyCall, "", codes.OK, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.app.calls.Load()
			hdr, err := tc.call(h.ctx(tc.token))
			wantCode(t, err, tc.code, tc.msg)
			reached := h.app.calls.Load() > before
			if reached != (tc.code == codes.OK) {
				t.Fatalf("the call reached the app: %v", reached)
			}
			if tc.code == codes.OK {
				if got := strings.Join(hdr.Get("seen-subject"), ","); got != tc.subject {
					t.Fatalf("the app got x-auth-subject %q, want %q", got, tc.subject)
				}
			}
		})
	}
	if n := h.conns.Load(); n != 1 {
		t.Fatalf("the client opened %d connections to the sidecar: the test is meant to run every call on one", n)
	}
}

func (h *grpcHarness) emptyCall(ctx context.Context) (metadata.MD, error) {
	var hdr metadata.MD
	_, err := h.client.EmptyCall(ctx, &testpb.Empty{}, grpc.Header(&hdr))
	return hdr, err
}

func (h *grpcHarness) unaryCall(ctx context.Context) (metadata.MD, error) {
	var hdr metadata.MD
	_, err := h.client.UnaryCall(ctx, &testpb.SimpleRequest{}, grpc.Header(&hdr))
	return hdr, err
}

func (h *grpcHarness) halfDuplexCall(ctx context.Context) (metadata.MD, error) {
	stream, err := h.client.HalfDuplexCall(ctx)
	if err != nil {
		return nil, err
	}
	_ = stream.CloseSend()
	_, err = stream.Recv()
	if errors.Is(err, io.EOF) {
		err = nil
	}
	hdr, _ := stream.Header()
	return hdr, err
}

func (h *grpcHarness) streamingOutputCall(ctx context.Context) (metadata.MD, error) {
	stream, err := h.client.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{
		ResponseParameters: []*testpb.ResponseParameters{{Size: 3}},
	})
	if err != nil {
		return nil, err
	}
	for err == nil {
		_, err = stream.Recv()
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	hdr, _ := stream.Header()
	return hdr, err
}

// The identity the app reads is the token's, whatever metadata the client sends under the
// same names; the token itself reaches the app as the only authorization.
func TestGRPCAppGetsTheTokensIdentityNotTheClients(t *testing.T) {
	h := newGRPCHarness(t, "")
	clerk := h.token("7", "clerk")
	hdr, err := h.unaryCall(h.ctx(clerk, "x-auth-subject", "42", "x-auth-role", "admin", "x_auth_role", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	if s, r := hdr.Get("seen-subject"), hdr.Get("seen-role"); strings.Join(s, ",") != "7" || strings.Join(r, ",") != "clerk" {
		t.Fatalf("the app got subject %q and role %q, want 7 and clerk", s, r)
	}
	md := h.app.lastMD.Load().(metadata.MD)
	if got := md.Get("x_auth_role"); len(got) != 0 {
		t.Fatalf("the app got x_auth_role %q", got)
	}
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+clerk {
		t.Fatalf("the app got authorization %q", got)
	}
}

// What the app answers reaches the client whole: messages, response headers, trailers,
// and statuses, whether in a trailers-only response or after messages.
func TestGRPCAppStatusesAndTrailersPassThrough(t *testing.T) {
	h := newGRPCHarness(t, "")
	clerk := h.token("7", "clerk")

	t.Run("a unary call's trailer", func(t *testing.T) {
		var trailer metadata.MD
		resp, err := h.client.UnaryCall(h.ctx(clerk), &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("hello")}}, grpc.Trailer(&trailer))
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.GetPayload().GetBody()) != "hello" {
			t.Fatalf("payload %q", resp.GetPayload().GetBody())
		}
		if got := trailer.Get("app-trailer"); len(got) != 1 || got[0] != "unary" {
			t.Fatalf("trailer app-trailer %q, want unary", got)
		}
	})
	t.Run("an app's error status in a trailers-only response", func(t *testing.T) {
		var trailer metadata.MD
		_, err := h.client.UnaryCall(h.ctx(clerk), &testpb.SimpleRequest{
			ResponseStatus: &testpb.EchoStatus{Code: int32(codes.NotFound), Message: "no such order: 100% gone"},
		}, grpc.Trailer(&trailer))
		wantCode(t, err, codes.NotFound, "no such order: 100% gone")
		if got := trailer.Get("app-trailer"); len(got) != 1 || got[0] != "unary" {
			t.Fatalf("trailer app-trailer %q, want unary", got)
		}
	})
	t.Run("an app's error status after streamed messages", func(t *testing.T) {
		stream, err := h.client.StreamingOutputCall(h.ctx(clerk), &testpb.StreamingOutputCallRequest{
			ResponseParameters: []*testpb.ResponseParameters{{Size: 1}},
			ResponseStatus:     &testpb.EchoStatus{Code: int32(codes.FailedPrecondition), Message: "stock ran out"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatalf("first message: %v", err)
		}
		_, err = stream.Recv()
		wantCode(t, err, codes.FailedPrecondition, "stock ran out")
		if got := stream.Trailer().Get("app-trailer"); len(got) != 1 || got[0] != "server-stream" {
			t.Fatalf("trailer app-trailer %q, want server-stream", got)
		}
	})
}

// Streams pass message by message, both ways: each step below waits for the other side to
// have seen the previous message, so a proxy that buffered a request or a response body
// would hang the call until its deadline.
func TestGRPCStreamsPassWithoutBuffering(t *testing.T) {
	h := newGRPCHarness(t, "")
	clerk := h.token("7", "clerk")

	t.Run("server streaming", func(t *testing.T) {
		stream, err := h.client.StreamingOutputCall(h.ctx(clerk), &testpb.StreamingOutputCallRequest{
			ResponseParameters: []*testpb.ResponseParameters{{Size: 1}, {Size: 2}, {Size: 3}},
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			if i > 1 {
				h.app.next <- struct{}{} // the app sends message i only now
			}
			m, err := stream.Recv()
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if len(m.GetPayload().GetBody()) != i {
				t.Fatalf("message %d has %d bytes", i, len(m.GetPayload().GetBody()))
			}
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("end of stream: %v", err)
		}
	})
	t.Run("client streaming", func(t *testing.T) {
		stream, err := h.client.StreamingInputCall(h.ctx(clerk))
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, i)}}); err != nil {
				t.Fatal(err)
			}
			if n := <-h.app.received; n != i { // the app read message i before i+1 is sent
				t.Fatalf("the app read %d bytes, want %d", n, i)
			}
		}
		resp, err := stream.CloseAndRecv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetAggregatedPayloadSize() != 6 {
			t.Fatalf("aggregated %d bytes, want 6", resp.GetAggregatedPayloadSize())
		}
	})
	t.Run("bidirectional streaming", func(t *testing.T) {
		stream, err := h.client.FullDuplexCall(h.ctx(clerk))
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range []string{"ping", "pong", "ping again"} {
			if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte(msg)}}); err != nil {
				t.Fatal(err)
			}
			m, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if string(m.GetPayload().GetBody()) != msg {
				t.Fatalf("echo %q, want %q", m.GetPayload().GetBody(), msg)
			}
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("end of stream: %v", err)
		}
		if got := stream.Trailer().Get("app-trailer"); len(got) != 1 || got[0] != "bidi" {
			t.Fatalf("trailer app-trailer %q, want bidi", got)
		}
	})
}

// A token revoked while a client's connection stays open is refused from the next call on.
func TestGRPCRevokedTokenIsRefusedForNewCalls(t *testing.T) {
	h := newGRPCHarness(t, "")
	clerk, other := h.token("7", "clerk"), h.token("8", "clerk")
	if _, err := h.unaryCall(h.ctx(clerk)); err != nil {
		t.Fatal(err)
	}
	h.logout(clerk)
	_, err := h.unaryCall(h.ctx(clerk))
	wantCode(t, err, codes.Unauthenticated, "invalid token: revoked")
	stream, err := h.client.FullDuplexCall(h.ctx(clerk))
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.Unauthenticated, "invalid token: revoked")
	if _, err := h.unaryCall(h.ctx(other)); err != nil {
		t.Fatalf("another subject's call on the same connection: %v", err)
	}
}

// A gRPC method name is a path like any other: it is cleaned before it is matched, and the
// app gets the clean path that was matched, so no spelling reaches a method past its rule.
func TestGRPCMethodPathsAreMatchedAsForwarded(t *testing.T) {
	h := newGRPCHarness(t, "")
	clerk := h.token("7", "clerk")
	for _, tc := range []struct {
		name, method, token string
		code                codes.Code
		msg                 string
		appPath             string // the method the app ran
	}{
		{"a dot-dot out of the public method", testService + "EmptyCall/../UnaryCall", "", codes.Unauthenticated, "missing bearer token", ""},
		{"a dot-dot out of the public method with a token runs the clean method", testService + "EmptyCall/../UnaryCall", clerk, codes.OK, "", testService + "UnaryCall"},
		{"a dot-dot into the admin-only method", testService + "UnaryCall/../HalfDuplexCall", clerk, codes.PermissionDenied, "role not allowed", ""},
		{"a doubled slash before the admin-only method", "/grpc.testing.TestService//HalfDuplexCall", clerk, codes.PermissionDenied, "role not allowed", ""},
		{"a percent-encoded admin-only method", testService + "%48alfDuplexCall", clerk, codes.PermissionDenied, "role not allowed", ""},
		{"an encoded slash", "/grpc.testing.TestService%2FHalfDuplexCall", clerk, codes.Internal, "bad path: encoded '/' or '\\' in the path", ""},
		{"a semicolon parameter", testService + "HalfDuplexCall;x", clerk, codes.Internal, "bad path: ';' in the path", ""},
		{"the admin-only method in another case reaches no method", testService + "halfDuplexCall", clerk, codes.Unimplemented, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.app.calls.Load()
			var hdr metadata.MD
			err := h.conn.Invoke(h.ctx(tc.token), tc.method, &testpb.Empty{}, &testpb.Empty{}, grpc.Header(&hdr))
			wantCode(t, err, tc.code, tc.msg)
			if tc.appPath != "" {
				if got := strings.Join(hdr.Get("seen-path"), ","); got != tc.appPath {
					t.Fatalf("the app ran %q, want %q", got, tc.appPath)
				}
			} else if h.app.calls.Load() != before {
				t.Fatal("a method of the app ran")
			}
		})
	}
}

// gRPC method paths match routes like any path: a service is a whole segment, so a prefix
// rule on it covers its methods and no other service whose name merely starts the same.
func TestRoutesMatchGRPCMethods(t *testing.T) {
	routes := NewRoutes([]spec.Route{
		{PathPrefix: "/grpc.health.v1.Health", Public: true},
		{PathPrefix: "/shop.v1.Admin", Roles: []string{"admin"}},
		{Path: "/shop.v1.Orders/CreateOrder", Methods: []spec.Method{"POST"}, Roles: []string{"clerk"}},
	})
	for _, tc := range []struct {
		path   string
		rule   int
		public bool
	}{
		{"/grpc.health.v1.Health/Check", 0, true},
		{"/grpc.health.v1.Health/Watch", 0, true},
		{"/grpc.health.v1.HealthX/Check", -1, false},
		{"/shop.v1.Admin/DeleteUser", 1, false},
		{"/shop.v1.AdminTools/DeleteUser", -1, false},
		{"/shop.v1.Orders/CreateOrder", 2, false},
		{"/shop.v1.Orders/CreateOrder/", 2, false},
		{"/shop.v1.Orders/CreateOrders", -1, false},
		{"/shop.v1.orders/CreateOrder", -1, false},
	} {
		clean, err := CleanPath(tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if a := routes.Match("POST", clean); a.Rule != tc.rule || a.Public != tc.public {
			t.Errorf("%s: rule %d (public %v), want %d (public %v)", tc.path, a.Rule, a.Public, tc.rule, tc.public)
		}
	}
}

// An app that does not answer is UNAVAILABLE to gRPC clients, which retry on it.
func TestGRPCAppDownIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	h := newGRPCHarness(t, down)
	_, err = h.unaryCall(h.ctx(h.token("7", "clerk")))
	wantCode(t, err, codes.Unavailable, "upstream unavailable")
}

// Each of the sidecar's refusals has its gRPC status; only HTTP/2 requests whose
// Content-Type is gRPC's get one, every other request the JSON error.
func TestGRPCStatusOfEachRefusal(t *testing.T) {
	ew := errorWriter{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"a missing token", errMissingToken, "16"},
		{"an invalid token", invalidToken("revoked"), "16"},
		{"a role not allowed", forbidden("role not allowed"), "7"},
		{"a rate limit", &httpError{status: http.StatusTooManyRequests, msg: "too many attempts", retryAfter: time.Second}, "8"},
		{"a body too large", errBodyTooLarge, "8"},
		{"revocations not loaded", errRevocationsNotLoaded, "14"},
		{"the app unreachable", &httpError{status: http.StatusBadGateway, msg: "upstream unavailable", cause: errors.New("dial tcp: refused")}, "14"},
		{"a malformed request", errSeveralCredentials, "13"},
		{"a body too slow", errBodyTimeout, "4"},
		{"an error without a status", errors.New("secret cause"), "13"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, "/grpc.testing.TestService/UnaryCall", nil)
			r.ProtoMajor, r.ProtoMinor = 2, 0
			r.Header.Set("Content-Type", "application/grpc+proto")
			w := httptest.NewRecorder()
			ew.write(w, r, tc.err)
			if w.Code != http.StatusOK || w.Header().Get("Grpc-Status") != tc.code || w.Body.Len() != 0 {
				t.Fatalf("got %d grpc-status %q body %q, want a trailers-only 200 with grpc-status %s", w.Code, w.Header().Get("Grpc-Status"), w.Body, tc.code)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/grpc" {
				t.Fatalf("Content-Type %q", ct)
			}
			if m := w.Header().Get("Grpc-Message"); strings.Contains(m, "secret") || m == "" {
				t.Fatalf("grpc-message %q", m)
			}
		})
	}
}

func TestGRPCContentTypes(t *testing.T) {
	for _, tc := range []struct {
		ct    string
		proto int
		grpc  bool
	}{
		{"application/grpc", 2, true},
		{"application/grpc+proto", 2, true},
		{"application/grpc+json", 2, true},
		{"application/grpc;charset=utf-8", 2, true},
		{"Application/GRPC", 2, true},
		{"application/grpc", 1, false}, // gRPC is HTTP/2 only: an HTTP/1.1 client gets the JSON error
		{"application/grpc-web", 2, false},
		{"application/grpc-web+proto", 2, false},
		{"application/grpcx", 2, false},
		{"application/grp", 2, false},
		{"application/json", 2, false},
		{"", 2, false},
		{" application/grpc", 2, false},
		{"text/plain; application/grpc", 2, false},
	} {
		r, _ := http.NewRequest(http.MethodPost, "/", nil)
		r.ProtoMajor = tc.proto
		r.Header.Set("Content-Type", tc.ct)
		if got := isGRPC(r); got != tc.grpc {
			t.Errorf("HTTP/%d %q: gRPC %v, want %v", tc.proto, tc.ct, got, tc.grpc)
		}
		w := httptest.NewRecorder()
		errorWriter{log: slog.New(slog.NewTextHandler(io.Discard, nil))}.write(w, r, errMissingToken)
		if tc.grpc != (w.Code == http.StatusOK) {
			t.Errorf("HTTP/%d %q: answered %d", tc.proto, tc.ct, w.Code)
		}
		if !tc.grpc && errorOf(t, w.Body.Bytes()) != "missing bearer token" {
			t.Errorf("HTTP/%d %q: body %s", tc.proto, tc.ct, w.Body)
		}
	}
}

// grpc-message is percent-encoded as gRPC reads it (grpc-go's decodeGrpcMessage): every
// byte outside printable ASCII and '%' itself, so no message breaks the header.
func FuzzGRPCMessage(f *testing.F) {
	for _, s := range []string{"", "missing bearer token", "100% gone", "caf\u00e9", "line\r\nInjected: 1", "%41", "\x00\x7f\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		enc := grpcMessage(msg)
		for i := 0; i < len(enc); i++ {
			if enc[i] < 0x20 || enc[i] > 0x7e {
				t.Fatalf("grpcMessage(%q) = %q holds byte %#x", msg, enc, enc[i])
			}
		}
		dec, err := url.PathUnescape(enc)
		if err != nil || dec != msg {
			t.Fatalf("grpcMessage(%q) = %q decodes to %q, %v", msg, enc, dec, err)
		}
	})
}

// A sidecar in front of an HTTP/1.1 app speaks no cleartext HTTP/2: prior knowledge is only
// on where the app speaks it too.
func TestProtocolsFollowUpstreamProtocol(t *testing.T) {
	for _, tc := range []struct {
		protocol string
		h2c      bool
	}{{"http1", false}, {"h2c", true}} {
		policy, err := ParsePolicy([]byte(strings.Replace(grpcPolicyYAML, "upstreamProtocol: h2c", "upstreamProtocol: "+tc.protocol, 1)))
		if err != nil {
			t.Fatal(err)
		}
		key, _ := keyset.Generate(keyset.ES256, time.Now().Add(-time.Hour))
		up, _ := url.Parse("http://127.0.0.1:1")
		s, err := NewServer(Config{Policy: policy, Keys: NewKeys(&keyset.Keyset{Keys: []*keyset.SigningKey{key}}), Store: store.NewMemory(), Upstream: up})
		if err != nil {
			t.Fatal(err)
		}
		p := s.Protocols()
		if got := p != nil && p.UnencryptedHTTP2(); got != tc.h2c {
			t.Errorf("upstreamProtocol %s: h2c on the client port %v", tc.protocol, got)
		}
		if tc.h2c && !p.HTTP1() {
			t.Errorf("upstreamProtocol %s: no HTTP/1.1 on the client port", tc.protocol)
		}
		tr := s.proxy.Transport.(*http.Transport)
		if got := tr.Protocols != nil && tr.Protocols.UnencryptedHTTP2() && !tr.Protocols.HTTP1(); got != tc.h2c {
			t.Errorf("upstreamProtocol %s: h2c-only transport %v", tc.protocol, got)
		}
	}
}

// A gRPC stream outlives the call that checked its token, as a WebSocket does: it lasts only
// as long as the token stays valid, and then ends with the refusal's status in its trailers.
func TestGRPCStreamsEndWhenTheirTokenIsRevoked(t *testing.T) {
	h := newGRPCHarness(t, "")
	clerk, other := h.token("7", "clerk"), h.token("8", "clerk")

	t.Run("a bidirectional stream the app is answering", func(t *testing.T) {
		stream, err := h.client.FullDuplexCall(h.ctx(clerk))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("ping")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		kept, err := h.client.FullDuplexCall(h.ctx(other))
		if err != nil {
			t.Fatal(err)
		}
		h.logout(clerk)
		_, err = stream.Recv() // the app sends nothing more: only the sidecar ends the stream
		wantCode(t, err, codes.Unauthenticated, "invalid token: revoked")
		// Another token's stream on the same connection goes on.
		if err := kept.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("still here")}}); err != nil {
			t.Fatal(err)
		}
		if m, err := kept.Recv(); err != nil || string(m.GetPayload().GetBody()) != "still here" {
			t.Fatalf("the other stream: %v, %v", m, err)
		}
		_ = kept.CloseSend()
	})
	t.Run("a call the app has not answered yet", func(t *testing.T) {
		tok := h.token("9", "clerk")
		stream, err := h.client.StreamingInputCall(h.ctx(tok))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
		<-h.app.received
		h.logout(tok)
		_, err = stream.Header() // the app never answers before the client closes
		if err == nil {
			_, err = stream.CloseAndRecv()
		}
		wantCode(t, err, codes.Unauthenticated, "invalid token: revoked")
	})
}

// BenchmarkGRPCProxy is the cost of the sidecar on a unary gRPC call: the same call straight
// to the app, and through the sidecar with a token (cached, as a client reusing it sees).
func BenchmarkGRPCProxy(b *testing.B) {
	h := newGRPCHarness(b, "")
	direct, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(h.server.cfg.Upstream.String(), "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Close()
	ctx := h.ctx(h.token("7", "clerk"))
	for _, tc := range []struct {
		name   string
		client testpb.TestServiceClient
	}{
		{"direct", testpb.NewTestServiceClient(direct)},
		{"sidecar", h.client},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("order 42")}}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := tc.client.UnaryCall(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
