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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the sidecar's Prometheus metrics, on their own registry.
type Metrics struct {
	Registry   *prometheus.Registry
	Requests   *prometheus.CounterVec
	Validation prometheus.Histogram
	Logins     *prometheus.CounterVec
	Refreshes  *prometheus.CounterVec
	Reuse      prometheus.Counter
	Forged     prometheus.Counter
	Revoked    *prometheus.CounterVec
	StoreErrs  *prometheus.CounterVec
	StoreUp    prometheus.Gauge
	Reloads    *prometheus.CounterVec
	// PolicyGeneration is metadata.generation of the policy in force.
	PolicyGeneration prometheus.Gauge
	// PolicyRestartRequired is 1 while the policy file changes fields only a restart applies.
	PolicyRestartRequired prometheus.Gauge
}

// NewMetrics registers every metric, plus gauges read from the functions given.
func NewMetrics(revocations, cachedTokens func() float64) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_requests_total",
			Help: "Requests through the validating proxy, by outcome: allowed, public, unauthorized, forbidden, unavailable (revocation list not loaded yet), bad_request, upstream_error; CORS preflights the sidecar answered: preflight, preflight_refused.",
		}, []string{"outcome"}),
		Validation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tollgate_validation_duration_seconds",
			Help:    "Time to validate an access token (cache hits included).",
			Buckets: []float64{1e-6, 5e-6, 2e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3},
		}),
		Logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_logins_total",
			Help: "Login attempts by result: success, invalid, rate_limited, error.",
		}, []string{"result"}),
		Refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_refreshes_total",
			Help: "Refresh attempts by result: success, invalid, reused, error.",
		}, []string{"result"}),
		Reuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tollgate_refresh_reuse_detected_total",
			Help: "Spent refresh tokens presented again; each revoked its whole family.",
		}),
		Forged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tollgate_store_records_rejected_total",
			Help: "Refresh token records in the store refused because they failed authentication with the policy's record key: written by something else than this policy's sidecars.",
		}),
		Revoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_revocations_total",
			Help: "Revocations made by this sidecar, by kind: token, session, subject.",
		}, []string{"kind"}),
		StoreErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_store_errors_total",
			Help: "Failed store operations, by operation.",
		}, []string{"op"}),
		StoreUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tollgate_store_up",
			Help: "1 when the store answered its last health check.",
		}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_reloads_total",
			Help: "Reloads of mounted files, by file (keys, users, policy) and result (ok, rejected).",
		}, []string{"file", "result"}),
		PolicyGeneration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tollgate_policy_generation",
			Help: "metadata.generation of the AuthPolicy the sidecar enforces.",
		}),
		PolicyRestartRequired: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tollgate_policy_restart_required",
			Help: "1 while the policy file changes fields a running sidecar cannot (store, ports, auth path prefix, login source): they keep their previous values until the pod restarts.",
		}),
	}
	m.Registry.MustRegister(
		m.Requests, m.Validation, m.Logins, m.Refreshes, m.Reuse, m.Forged, m.Revoked, m.StoreErrs, m.StoreUp, m.Reloads,
		m.PolicyGeneration, m.PolicyRestartRequired,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tollgate_revocation_entries", Help: "Revocations held in memory.",
		}, revocations),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tollgate_token_cache_entries", Help: "Verified tokens in the cache.",
		}, cachedTokens),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}
