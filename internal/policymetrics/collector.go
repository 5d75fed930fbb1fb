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

// Package policymetrics exports each AuthPolicy's health as Prometheus gauges, read from
// the manager's cache at scrape time, so a deleted policy leaves no stale series.
package policymetrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

// Names of the gauges, one series per policy, labelled namespace and policy only.
const (
	Ready              = "tollgate_policy_ready"
	UnprotectedPods    = "tollgate_policy_unprotected_pods"
	RotationDue        = "tollgate_policy_rotation_due_seconds"
	NextKeyPublished   = "tollgate_policy_next_key_published"
	PrePublishDuration = "tollgate_policy_prepublish_seconds"
)

var labels = []string{"namespace", "policy"}

var (
	readyDesc = prometheus.NewDesc(Ready,
		"1 when the AuthPolicy's Ready condition is True, else 0.", labels, nil)
	unprotectedDesc = prometheus.NewDesc(UnprotectedPods,
		"Pods that name the AuthPolicy but run without its sidecar (status.unprotectedPods).", labels, nil)
	rotationDueDesc = prometheus.NewDesc(RotationDue,
		"Seconds until the active signing key is due to be replaced (status.nextRotationTime); negative when the rotation is overdue.", labels, nil)
	nextKeyDesc = prometheus.NewDesc(NextKeyPublished,
		"1 when a successor key is published (status.nextKeyID), else 0.", labels, nil)
	prePublishDesc = prometheus.NewDesc(PrePublishDuration,
		"spec.signing.prePublish (defaulted): how long before the rotation the successor key is published.", labels, nil)
)

// listTimeout bounds one scrape's read of the cache (a cache not synced yet blocks).
const listTimeout = 5 * time.Second

// Collector reads AuthPolicies at each scrape and reports their health.
type Collector struct {
	// Reader is the manager's cache.
	Reader client.Reader
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Describe sends the descriptors of every gauge.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{readyDesc, unprotectedDesc, rotationDueDesc, nextKeyDesc, prePublishDesc} {
		ch <- d
	}
}

// Collect lists the policies and sends their gauges. A failed list sends an invalid metric,
// so the scrape reports the error instead of silently dropping every policy.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	var list authv1alpha1.AuthPolicyList
	// Read-only: the cache's objects themselves, not a deep copy of every policy per scrape.
	if err := c.Reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(readyDesc, err)
		return
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	t := now()
	for i := range list.Items {
		p := &list.Items[i]
		ns, name := p.Namespace, p.Name
		st := &p.Status
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue,
			boolValue(meta.IsStatusConditionTrue(st.Conditions, authv1alpha1.ConditionReady)), ns, name)
		ch <- prometheus.MustNewConstMetric(unprotectedDesc, prometheus.GaugeValue, float64(st.UnprotectedPods), ns, name)
		ch <- prometheus.MustNewConstMetric(nextKeyDesc, prometheus.GaugeValue, boolValue(st.NextKeyID != ""), ns, name)
		if st.NextRotationTime != nil {
			ch <- prometheus.MustNewConstMetric(rotationDueDesc, prometheus.GaugeValue, st.NextRotationTime.Sub(t).Seconds(), ns, name)
		}
		prePublish := authv1alpha1.DefaultPrePublish
		if pp := p.Spec.Signing.PrePublish; pp != nil {
			prePublish = pp.Duration
		}
		ch <- prometheus.MustNewConstMetric(prePublishDesc, prometheus.GaugeValue, prePublish.Seconds(), ns, name)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
