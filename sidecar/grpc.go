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
	"net/http"
	"strconv"
	"strings"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
)

// gRPC apps (spec.sidecar.upstreamProtocol h2c): the proxy speaks HTTP/2 cleartext to the
// app, clients may speak it to the sidecar, and the sidecar's own refusals reach gRPC
// clients as gRPC statuses. The standard library does all of HTTP/2 (Go 1.24's
// http.Protocols); nothing here links grpc.

// upstreamProtocols is what the proxy's transport speaks to the app: nil (the standard
// library's default, HTTP/1.1 to an http:// app) for http1; for h2c, HTTP/2 with prior
// knowledge and nothing else, so a gRPC app never gets an HTTP/1.1 request it cannot serve.
func upstreamProtocols(p spec.UpstreamProtocol) *http.Protocols {
	if p != spec.UpstreamH2C {
		return nil
	}
	var ps http.Protocols
	ps.SetUnencryptedHTTP2(true)
	return &ps
}

// Protocols is what the client-facing port should speak (http.Server.Protocols): nil, the
// standard library's default, for an HTTP/1.1 app; with an h2c app, HTTP/1.1 and HTTP/2
// cleartext with prior knowledge, which gRPC clients use. Each HTTP/2 stream is a request
// of its own through Handler, checked like any other, so one connection may carry streams
// of different tokens and only the allowed ones pass. An HTTP/1.1 `Upgrade: h2c` stays
// refused (errH2CUpgrade): the standard library does not serve it, and a backend that did
// would take the connection past the checks.
func (s *Server) Protocols() *http.Protocols {
	if s.started.Spec.Sidecar.UpstreamProtocol != spec.UpstreamH2C {
		return nil
	}
	var ps http.Protocols
	ps.SetHTTP1(true)
	ps.SetHTTP2(true) // over TLS, where a server terminates it
	ps.SetUnencryptedHTTP2(true)
	return &ps
}

// isGRPC reports whether r is a gRPC call: HTTP/2 with Content-Type application/grpc or
// application/grpc+<codec> or application/grpc;<params> (gRPC over HTTP2, "Requests"), in
// any case, as media types are. gRPC-Web (application/grpc-web) is not: it is gRPC only
// after a gateway's translation, and reaches the sidecar as gRPC from there.
func isGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && carriesGRPC(r.Header)
}

// carriesGRPC reports whether any of the request's Content-Type values is a gRPC one,
// whatever the protocol the client spoke: it is what decides whether a call is bound to its
// token. grpc-go serves a call when any of its content-type values is gRPC, and the proxy
// speaks HTTP/2 to an h2c app whatever the client spoke, so a client that writes a call
// over HTTP/1.1, or puts another Content-Type first, still reaches the app with a gRPC call.
func carriesGRPC(h http.Header) bool {
	for _, ct := range h["Content-Type"] {
		if isGRPCContentType(ct) {
			return true
		}
	}
	return false
}

func isGRPCContentType(ct string) bool {
	const base = "application/grpc"
	if len(ct) < len(base) || !strings.EqualFold(ct[:len(base)], base) {
		return false
	}
	return len(ct) == len(base) || ct[len(base)] == '+' || ct[len(base)] == ';'
}

// gRPC status codes (google.golang.org/grpc/codes), those the sidecar answers with.
const (
	grpcUnknown           = 2
	grpcDeadlineExceeded  = 4
	grpcPermissionDenied  = 7
	grpcResourceExhausted = 8
	grpcUnimplemented     = 12
	grpcInternal          = 13
	grpcUnavailable       = 14
	grpcUnauthenticated   = 16
)

// grpcCode is the gRPC status of one of the sidecar's HTTP errors. It follows gRPC's own
// mapping of HTTP statuses (doc/http-grpc-status-mapping.md, which Envoy applies too),
// except that a rate limit is RESOURCE_EXHAUSTED (what gRPC servers answer for one, and
// not retried as UNAVAILABLE would be), as are bodies too large.
func grpcCode(status int) int {
	switch status {
	case http.StatusUnauthorized:
		return grpcUnauthenticated
	case http.StatusForbidden:
		return grpcPermissionDenied
	case http.StatusTooManyRequests, http.StatusRequestEntityTooLarge:
		return grpcResourceExhausted
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return grpcUnavailable
	case http.StatusRequestTimeout:
		return grpcDeadlineExceeded
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return grpcUnimplemented
	case http.StatusBadRequest, http.StatusInternalServerError:
		return grpcInternal
	}
	return grpcUnknown
}

// writeGRPCStatus answers a refused gRPC call the way a gRPC server does: a trailers-only
// response (HTTP 200, one HEADERS frame that ends the stream) carrying grpc-status and
// grpc-message. The message is the error's fixed text, never a token or a cause.
func writeGRPCStatus(w http.ResponseWriter, he *httpError) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(grpcCode(he.status)))
	h.Set("Grpc-Message", grpcMessage(he.msg))
	w.WriteHeader(http.StatusOK)
}

// grpcMessage percent-encodes msg as gRPC requires of grpc-message: every byte outside
// printable ASCII, and '%' itself.
func grpcMessage(msg string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// proxyGRPC forwards a gRPC call. When the call's token stops being valid while the app's
// answer streams (watchTunnel), the proxy aborts the copy; the call then ends as a gRPC
// server would end it, with the refusal's status in its trailers, not with a reset stream.
func (s *Server) proxyGRPC(w http.ResponseWriter, r *http.Request) {
	// Once the app has answered, the HTTP/2 transport notices the end of the request's
	// context only between reads of the client's body, and a client stream may send nothing
	// for hours: closing the body is what ends the call.
	stop := context.AfterFunc(r.Context(), func() { _ = r.Body.Close() })
	defer stop()
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		ended := tokenEnded(r.Context())
		if v != http.ErrAbortHandler || ended == nil { //nolint:errorlint // ReverseProxy panics with this very value, unwrapped
			panic(v)
		}
		s.outcomes.unauthorized.Inc()
		h := w.Header()
		h.Set(http.TrailerPrefix+"Grpc-Status", strconv.Itoa(grpcCode(ended.status)))
		h.Set(http.TrailerPrefix+"Grpc-Message", grpcMessage(ended.msg))
	}()
	s.proxy.ServeHTTP(w, r)
}

// tokenEnded is the refusal with which watchTunnel ended a request's context, nil if it
// did not.
func tokenEnded(ctx context.Context) *httpError {
	var he *httpError
	if errors.As(context.Cause(ctx), &he) {
		return he
	}
	return nil
}
