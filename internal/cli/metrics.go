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
	"crypto/tls"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// metricsOptions is the manager's metrics endpoint. Secure (kubebuilder v4's default, and
// what config/default and the chart run): HTTPS, and every scrape authenticated with a
// TokenReview and authorized with a SubjectAccessReview for `get` on the non-resource URL
// /metrics, which the ClusterRole tollgate-metrics-reader grants. The certificate is
// --metrics-cert-dir's tls.crt and tls.key, else one controller-runtime makes itself at
// start (self-signed: scrape with insecureSkipVerify, as kubebuilder's ServiceMonitor does).
// Not secure: plain HTTP for anyone who reaches the port (local development).
func metricsOptions(o ManagerOptions) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: o.MetricsBindAddress}
	if !o.MetricsSecure {
		return opts
	}
	opts.SecureServing = true
	opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	opts.CertDir = o.MetricsCertDir
	// HTTP/2 off, as on the webhook server (CVE-2023-44487/39325).
	opts.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	return opts
}
