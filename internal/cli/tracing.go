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

package cli

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/tollgate-dev/tollgate/internal/tracing"
	"github.com/tollgate-dev/tollgate/internal/version"
)

// startTracing turns on the reconcile spans when an OTLP endpoint is configured, and
// returns what flushes the last spans at exit.
func startTracing(ctx context.Context, endpoint string) (func(), error) {
	if !tracing.Enabled(endpoint) {
		return func() {}, nil
	}
	log := ctrl.Log.WithName("setup")
	tp, err := tracing.Start(ctx, endpoint, "tollgate-manager", version.Version, func(err error) {
		log.Error(err, "tracing")
	})
	if err != nil {
		return nil, err
	}
	log.Info("tracing reconciles to an OTLP collector", "endpoint", endpoint)
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			log.Error(err, "flushing the last spans")
		}
	}, nil
}
