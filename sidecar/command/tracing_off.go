//go:build !otel

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
	"log/slog"
	"net/http"
	"os"

	"github.com/tollgate-dev/tollgate/sidecar"
)

// errNoTracing refuses --otlp-endpoint in a build without tracing: the user asked for it.
var errNoTracing = errors.New("--otlp-endpoint: this tollgate-sidecar is built without tracing, to keep its memory small; build it with `go build -tags otel` for OpenTelemetry tracing")

// traced is srv's handler. This build has no tracing (see tracing_otel.go): --otlp-endpoint
// is refused, and the standard OTEL_EXPORTER_OTLP_ENDPOINT, often set for the whole pod and
// meant for the app, only gets a warning.
func traced(_ context.Context, o options, base http.Handler, _ *sidecar.Server, log *slog.Logger) (http.Handler, func(), error) {
	if o.otlpEndpoint != "" {
		return nil, nil, errNoTracing
	}
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		log.Warn("OTEL_EXPORTER_OTLP_ENDPOINT is set but this tollgate-sidecar is built without tracing (build tag otel): no spans")
	}
	return base, func() {}, nil
}
