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

// Package dev serves the injection webhook of a manager that runs outside the cluster
// (local development, --webhook-url): its own certificate and webhook configuration.
package dev

import (
	"bytes"
	"context"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

// ConfigurationName is the webhook configuration the manager installs itself in local
// development (--webhook-url).
const ConfigurationName = "tollgate-dev-mutating-webhook-configuration"

// Webhook keeps the MutatingWebhookConfiguration of a manager that runs outside the
// cluster (local development): it points the API server at URL and trusts CABundle. It
// writes it at start and puts it back every Interval if someone changed it.
type Webhook struct {
	Client            client.Client
	URL               string
	CABundle          []byte
	OperatorNamespace string
	Interval          time.Duration
}

// Start implements manager.Runnable.
func (d *Webhook) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("dev-webhook")
	if err := d.Ensure(ctx); err != nil {
		return err
	}
	log.Info("installed the webhook configuration", "name", ConfigurationName, "url", d.URL)
	interval := d.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := d.Ensure(ctx); err != nil && ctx.Err() == nil {
				log.Error(err, "keeping the webhook configuration")
			}
		}
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: this process serves the
// webhook whether it leads or not.
func (d *Webhook) NeedLeaderElection() bool { return false }

// Ensure creates or updates the configuration.
func (d *Webhook) Ensure(ctx context.Context) error {
	want := []admissionregistrationv1.MutatingWebhook{injection.Webhook(d.OperatorNamespace, admissionregistrationv1.WebhookClientConfig{
		URL: ptr.To(d.URL), CABundle: d.CABundle,
	})}
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
	err := d.Client.Get(ctx, client.ObjectKey{Name: ConfigurationName}, cfg)
	if apierrors.IsNotFound(err) {
		cfg = &admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{
				Name:   ConfigurationName,
				Labels: map[string]string{authv1alpha1.ManagedByLabel: authv1alpha1.ManagedByValue},
			},
			Webhooks: want,
		}
		err = d.Client.Create(ctx, cfg)
		if err == nil || !apierrors.IsAlreadyExists(err) {
			return wrapDev(err)
		}
		err = d.Client.Get(ctx, client.ObjectKey{Name: ConfigurationName}, cfg)
	}
	if err != nil {
		return wrapDev(err)
	}
	if len(cfg.Webhooks) == 1 && bytes.Equal(cfg.Webhooks[0].ClientConfig.CABundle, d.CABundle) &&
		equality.Semantic.DeepDerivative(want[0], cfg.Webhooks[0]) {
		return nil
	}
	cfg.Webhooks = want
	return wrapDev(d.Client.Update(ctx, cfg))
}

func wrapDev(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("writing MutatingWebhookConfiguration %s: %w", ConfigurationName, err)
}
