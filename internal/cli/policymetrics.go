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
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/tollgate-dev/tollgate/internal/policymetrics"
)

// registerPolicyMetrics adds the per-policy gauges to the manager's /metrics. The registry
// is controller-runtime's global one: when tests run several managers in one process, the
// first one's collector stays.
func registerPolicyMetrics(mgr ctrl.Manager) error {
	err := crmetrics.Registry.Register(&policymetrics.Collector{Reader: mgr.GetCache()})
	if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("registering the AuthPolicy metrics: %w", err)
	}
	return nil
}
