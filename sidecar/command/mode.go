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
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"

	"github.com/tollgate-dev/tollgate/sidecar"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// checkMode refuses flags that mean nothing in the mode chosen: an explicit --upstream in
// authorizer mode (there is no app to forward to: a gateway forwards), --grpc-listen in proxy
// mode or in a binary without the gRPC service.
func (c Command) checkMode(fs *flag.FlagSet, a *contract.Args) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch a.Mode {
	case contract.ModeProxy:
		if set["grpc-listen"] {
			return errors.New("--grpc-listen serves gateways' checks: it needs --mode=" + contract.ModeAuthorizer)
		}
	case contract.ModeAuthorizer:
		if set["upstream"] {
			return errors.New("--upstream means nothing with --mode=" + contract.ModeAuthorizer + ": the gateway forwards to the app")
		}
		a.Upstream = ""
	default:
		return fmt.Errorf("--mode %q: must be %s or %s", a.Mode, contract.ModeProxy, contract.ModeAuthorizer)
	}
	if set["grpc-listen"] && c.GRPC == nil {
		return errors.New("--grpc-listen: " + c.Name + " has no gRPC service; tollgate-authorizer has")
	}
	return nil
}

// parseUpstream is the app's URL in proxy mode, nil in authorizer mode.
func parseUpstream(o options) (*url.URL, error) {
	if o.mode == contract.ModeAuthorizer {
		return nil, nil
	}
	upstream, err := url.Parse(o.upstream)
	if err != nil || (upstream.Scheme != "http" && upstream.Scheme != "https") || upstream.Host == "" {
		return nil, fmt.Errorf("--upstream %q: must be an http(s) URL", o.upstream)
	}
	return upstream, nil
}

func upstreamString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// serveGRPC starts the gRPC check service when the binary has one and --grpc-listen is set;
// the returned channel is closed once it has stopped (at once when there is none).
func (c Command) serveGRPC(ctx context.Context, o options, srv *sidecar.Server, errc chan<- error) (<-chan struct{}, error) {
	done := make(chan struct{})
	if c.GRPC == nil || o.grpcListen == "" || o.mode != contract.ModeAuthorizer {
		close(done)
		return done, nil
	}
	ln, err := net.Listen("tcp", o.grpcListen)
	if err != nil {
		return nil, fmt.Errorf("--grpc-listen: %w", err)
	}
	go func() {
		defer close(done)
		if err := c.GRPC(ctx, ln, srv, o.shutdownTimeout); err != nil {
			errc <- fmt.Errorf("gRPC: %w", err)
		}
	}()
	return done, nil
}
