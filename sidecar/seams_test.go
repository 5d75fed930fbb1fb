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
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
)

// Attacks on the seams between the OAuth endpoints, CORS and gRPC and the rest.

// grpcFrame is one length-prefixed gRPC message, as a client writes it on the wire.
func grpcFrame(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 5, 5+len(b))
	binary.BigEndian.PutUint32(out[1:], uint32(len(b)))
	return append(out, b...)
}

// A gRPC call is bound to its token however the client reaches the app: grpc-go takes a
// call whose content-type is gRPC in any of its values, and the sidecar's transport speaks
// HTTP/2 to an h2c app whatever the client spoke. A client that hand-writes its call over
// HTTP/1.1, or that sends a second Content-Type first, must not get a stream that outlives
// a logout.
func TestGRPCStreamsEndWhenTheirTokenIsRevokedWhateverTheClientSpeaks(t *testing.T) {
	h := newGRPCHarness(t, "")
	for _, tc := range []struct {
		name         string
		h2c          bool
		contentTypes []string
		subject      string // each its own session: a logout ends the session
	}{
		{"HTTP/1.1", false, []string{"application/grpc"}, "7"},
		{"HTTP/2 with a second Content-Type", true, []string{"text/plain", "application/grpc"}, "8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := h.token(tc.subject, "clerk")
			tr := &http.Transport{}
			if tc.h2c {
				tr.Protocols = new(http.Protocols)
				tr.Protocols.SetUnencryptedHTTP2(true)
			}
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			body := grpcFrame(t, &testpb.StreamingOutputCallRequest{
				ResponseParameters: []*testpb.ResponseParameters{{Size: 1}, {Size: 2}},
			})
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+h.front+testService+"StreamingOutputCall", bytes.NewReader(body))
			req.Header["Content-Type"] = tc.contentTypes
			req.Header.Set("Te", "trailers")
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			first := make([]byte, 5+3) // the first message: 1 byte of payload, as 3 bytes of protobuf
			if _, err := io.ReadFull(resp.Body, first); err != nil {
				t.Fatalf("%d %v: the first message: %v", resp.StatusCode, resp.Header, err)
			}
			// The app now waits for the test before its second message: only the sidecar
			// can end the call.
			h.logout(tok)
			_, err = io.Copy(io.Discard, resp.Body)
			if ctx.Err() != nil {
				t.Fatalf("the call went on after its token was revoked, until the test's deadline (%v)", err)
			}
			if got := resp.Trailer.Get("Grpc-Status"); got != "16" {
				t.Fatalf("the call ended with %v, grpc-status %q; want 16 (UNAUTHENTICATED)", err, got)
			}
		})
	}
}

// A refresh token stolen and spent by an attacker is spent when its owner revokes it
// (RFC 7009, at logout): the owner's revocation is the second presentation of a spent token,
// which reuse detection exists to catch. It must end the session, the attacker's successor
// included, not answer 200 and leave the attacker in.
func TestOAuthRevokeWithASpentRefreshTokenEndsItsSession(t *testing.T) {
	withInterval := strings.Replace(testPolicyYAML, "clockSkew: 30s}", "clockSkew: 30s, refreshReuseInterval: 10s}", 1)
	eachStore(t, func(t *testing.T, st harnessOption) {
		for name, policy := range map[string]string{"no reuse interval": testPolicyYAML, "within the reuse interval": withInterval} {
			t.Run(name, func(t *testing.T) { revokeASpentRefreshToken(t, newHarness(t, st, withPolicy(policy))) })
		}
	})
}

func revokeASpentRefreshToken(t *testing.T, h *harness) {
	victim := oauthTokensAt(t, h, "/auth/token", passwordForm("alice@example.com", alicePassword), nil)
	attacker := oauthTokensAt(t, h, "/auth/token", refreshForm(victim.RefreshToken), nil)
	resp, out := h.form("/auth/revoke", url.Values{"token": {victim.RefreshToken}, "token_type_hint": {"refresh_token"}}.Encode(), nil)
	if resp.StatusCode != http.StatusOK || len(out) != 0 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, out)
	}
	if resp, _ := h.do("GET", "/orders", attacker.AccessToken, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the attacker's access token after its owner revoked the session: %d", resp.StatusCode)
	}
	resp, body := h.form("/auth/token", refreshForm(attacker.RefreshToken), nil)
	if resp.StatusCode != http.StatusBadRequest || oauthErrorOf(t, resp, body) != "invalid_grant" {
		t.Errorf("the attacker's refresh token after its owner revoked the session: %d %s", resp.StatusCode, body)
	}
}
