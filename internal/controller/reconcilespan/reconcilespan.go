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

// Package reconcilespan traces reconciles: one OpenTelemetry span per pass, from the global
// tracer provider, which is a no-op unless the manager runs with --otlp-endpoint.
package reconcilespan

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

const tracerName = "github.com/tollgate-dev/tollgate/internal/controller"

// Wrap returns r with a span "<controller> reconcile" around each pass, naming the object
// (namespace and name only), the requeue, and the error.
func Wrap(controller string, r reconcile.Reconciler) reconcile.Reconciler {
	name := controller + " reconcile"
	return reconcile.Func(func(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
		ctx, span := otel.Tracer(tracerName).Start(ctx, name, trace.WithAttributes(
			attribute.String("k8s.namespace.name", req.Namespace),
			attribute.String("tollgate.object", req.Name),
		))
		defer span.End()
		res, err := r.Reconcile(ctx, req)
		if res.RequeueAfter > 0 {
			span.SetAttributes(attribute.String("tollgate.requeue_after", res.RequeueAfter.String()))
		}
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "reconcile failed")
		}
		return res, err
	})
}
