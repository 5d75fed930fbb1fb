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
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// OpsHandler serves the metrics port: /metrics, /healthz and /readyz.
//
// /readyz answers 503 when the sidecar cannot validate tokens: no key in force, or the
// revocation list not loaded since start (a logged-out token would pass). A store outage
// after that is reported in the body and in tollgate_store_up but keeps the pod ready:
// validation goes on from memory, and taking every replica out of its Service because their
// shared Redis is down would turn a degraded login into a full outage. The body also names
// the policy generation in force and the changed fields that wait for a restart.
func (s *Server) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+contract.MetricsPath, promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET "+contract.HealthzPath, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET "+contract.ReadyzPath, func(w http.ResponseWriter, _ *http.Request) {
		checks := map[string]string{"keys": "ok", "store": "ok", "revocations": "ok"}
		status, code := "ok", http.StatusOK
		if s.cfg.Keys.Keyset().Active(s.now()) == nil {
			checks["keys"] = "no active signing key"
			status, code = "unavailable", http.StatusServiceUnavailable
		}
		if !s.storeUp.Load() {
			checks["store"] = "unreachable: login, refresh and logout answer 503"
			if code == http.StatusOK {
				status = "degraded"
			}
		}
		if !s.revocations.Synced() {
			checks["revocations"] = "not loaded yet: requests that need a token answer 503"
			status, code = "unavailable", http.StatusServiceUnavailable
		}
		// A policy that needs a restart is reported, never made a readiness failure: the
		// sidecar enforces the rest of it, and every pod of the Deployment would fail at once.
		lp := s.policy()
		policy := map[string]any{"generation": lp.policy.Generation}
		if len(lp.restartRequired) > 0 {
			checks["policy"] = "restart required: " + strings.Join(lp.restartRequired, ", ") + " keep their previous values until the pod restarts"
			policy["restartRequired"] = lp.restartRequired
		} else {
			checks["policy"] = "ok"
		}
		writeJSON(w, code, map[string]any{"status": status, "checks": checks, "policy": policy})
	})
	return mux
}
