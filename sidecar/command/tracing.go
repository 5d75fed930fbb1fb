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
	"log/slog"
	"net/http"
	"time"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
	"github.com/tollgate-dev/tollgate/internal/tracing"
	"github.com/tollgate-dev/tollgate/internal/version"
	"github.com/tollgate-dev/tollgate/sidecar"
)

// traced is srv's handler, with a span per request when tracing is configured, and what
// flushes the last spans at exit. The collector is --otlp-endpoint's (the injector writes
// spec.sidecar.tracing there), else the policy's spec.sidecar.tracing.otlpEndpoint, else
// OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT's. Without one the handler is srv's own, untouched:
// tracing off costs a request nothing.
func traced(ctx context.Context, o options, policy *spec.Policy, base http.Handler, srv *sidecar.Server, log *slog.Logger) (http.Handler, func(), error) {
	endpoint := o.otlpEndpoint
	if tr := policy.Spec.Sidecar.Tracing; endpoint == "" && tr != nil {
		endpoint = tr.OTLPEndpoint
	}
	if !tracing.Enabled(endpoint) {
		return base, func() {}, nil
	}
	tp, err := tracing.Start(ctx, endpoint, "tollgate-sidecar", version.Version, func(err error) {
		log.Warn("tracing", "error", err)
	})
	if err != nil {
		return nil, nil, err
	}
	log.Info("tracing requests to an OTLP collector")
	return tracing.Handler(base, tp, srv.Endpoints()), func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			log.Warn("flushing the last spans", "error", err)
		}
	}, nil
}
