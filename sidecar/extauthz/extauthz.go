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

// Package extauthz serves Envoy's external authorization gRPC API
// (envoy.service.auth.v3.Authorization/Check, which Istio's CUSTOM action and Envoy Gateway
// call) from a sidecar's decisions. It links grpc and Envoy's protobufs, so only
// tollgate-authorizer imports it, never tollgate-sidecar (docs/design.md §1).
package extauthz

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"

	"github.com/tollgate-dev/tollgate/sidecar"
)

// MaxMessageSize bounds a CheckRequest: headers (the sidecar reads at most 64 KiB of them
// over HTTP) and what else Envoy adds; a request body is never needed.
const MaxMessageSize = 256 << 10

// Service answers Check with the sidecar's decisions.
type Service struct {
	authv3.UnimplementedAuthorizationServer
	Server *sidecar.Server
}

// Check decides about the request Envoy describes. A denial is an answer, not an error: the
// status code says why (UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT, UNAVAILABLE)
// and the denied response carries the status, headers and JSON body the client gets.
func (s *Service) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	if p, ok := peer.FromContext(ctx); !ok || p.Addr == nil || !s.Server.TrustsGateway(p.Addr.String()) {
		return denied(s.Server.UntrustedGateway()), nil
	}
	h := req.GetAttributes().GetRequest().GetHttp()
	if h == nil {
		return denied(sidecar.Decision{Status: http.StatusBadRequest,
			Header: http.Header{"Content-Type": {"application/json"}},
			Body:   []byte(`{"error":"the check request describes no HTTP request"}` + "\n")}), nil
	}
	d := s.Server.Check(sidecar.CheckRequest{Method: h.GetMethod(), Target: h.GetPath(), Header: headerOf(h)})
	if d.Status != http.StatusOK {
		return denied(d), nil
	}
	ok := &authv3.OkHttpResponse{}
	for k, vs := range d.Header {
		for _, v := range vs {
			ok.Headers = append(ok.Headers, &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: strings.ToLower(k), Value: v},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			})
		}
	}
	return &authv3.CheckResponse{
		Status:       &status.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}, nil
}

// headerOf is the client's request headers as Envoy reports them: header_map (with
// encode_raw_headers, one entry per field line) or the headers map (lower-case names, repeated
// fields joined with commas). Pseudo-headers (:path, :method...) are not headers: the path
// and method come from their own fields.
func headerOf(h *authv3.AttributeContext_HttpRequest) http.Header {
	out := http.Header{}
	if m := h.GetHeaderMap(); m != nil {
		for _, hv := range m.GetHeaders() {
			k := hv.GetKey()
			if strings.HasPrefix(k, ":") {
				continue
			}
			v := hv.GetValue()
			if raw := hv.GetRawValue(); raw != nil {
				v = string(raw)
			}
			k = http.CanonicalHeaderKey(k)
			out[k] = append(out[k], v)
		}
		return out
	}
	for k, v := range h.GetHeaders() {
		if strings.HasPrefix(k, ":") {
			continue
		}
		k = http.CanonicalHeaderKey(k)
		out[k] = append(out[k], v)
	}
	return out
}

func denied(d sidecar.Decision) *authv3.CheckResponse {
	resp := &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode(d.Status)}, Body: string(d.Body)}
	for k, vs := range d.Header {
		for _, v := range vs {
			resp.Headers = append(resp.Headers, &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: strings.ToLower(k), Value: v},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			})
		}
	}
	return &authv3.CheckResponse{
		Status:       &status.Status{Code: int32(codeOf(d.Status)), Message: http.StatusText(d.Status)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: resp},
	}
}

func codeOf(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusNotFound:
		return codes.NotFound
	}
	return codes.InvalidArgument
}

// NewGRPCServer is a gRPC server with the Authorization service on srv's decisions, bounded
// messages and streams, and keepalives that drop dead gateways.
func NewGRPCServer(srv *sidecar.Server) *grpc.Server {
	gs := grpc.NewServer(
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxConcurrentStreams(1024),
		grpc.ConnectionTimeout(10*time.Second),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
	)
	authv3.RegisterAuthorizationServer(gs, &Service{Server: srv})
	return gs
}

// Serve serves the Authorization service on ln until ctx ends, then lets calls in flight
// finish for up to drain (tollgate-authorizer's command.Command.GRPC).
func Serve(ctx context.Context, ln net.Listener, srv *sidecar.Server, drain time.Duration) error {
	gs := NewGRPCServer(srv)
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, grpc.ErrServerStopped) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	t := time.NewTimer(drain)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		gs.Stop()
	}
	return nil
}
