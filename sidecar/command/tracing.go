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

	"github.com/tollgate-dev/tollgate/internal/tracing"
	"github.com/tollgate-dev/tollgate/internal/version"
	"github.com/tollgate-dev/tollgate/sidecar"
)

// traced is srv's handler, with a span per request when tracing is configured (--otlp-endpoint
// or OTEL_EXPORTER_OTLP_ENDPOINT), and what flushes the last spans at exit. Without it the
// handler is srv's own, untouched: tracing off costs a request nothing.
func traced(ctx context.Context, o options, base http.Handler, srv *sidecar.Server, log *slog.Logger) (http.Handler, func(), error) {
	if !tracing.Enabled(o.otlpEndpoint) {
		return base, func() {}, nil
	}
	tp, err := tracing.Start(ctx, o.otlpEndpoint, "tollgate-sidecar", version.Version, func(err error) {
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
