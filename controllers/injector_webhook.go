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

package controllers

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
)

// Names of the webhook as installed by config/default (after the namePrefix tollgate-) and
// as the manager installs it itself in local development (--webhook-url).
const (
	WebhookName                 = "inject.auth.tollgate.dev"
	WebhookConfigurationName    = "tollgate-mutating-webhook-configuration"
	WebhookServiceName          = "tollgate-webhook-service"
	WebhookSecretName           = "tollgate-webhook-server-cert"
	DevWebhookConfigurationName = "tollgate-dev-mutating-webhook-configuration"
	// DefaultOperatorNamespace is where config/default installs the operator.
	DefaultOperatorNamespace = "tollgate-system"
)

// The manager writes one webhook configuration, its own: cert-controller puts the CA into
// it. Reads go through cert-controller's cache, which lists and watches without a field
// selector, so list and watch cannot be limited by name. No create: config/default makes
// the configuration; a manager run outside the cluster (--webhook-url) creates its dev
// configuration with its user's credentials.
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=get;update,resourceNames=tollgate-mutating-webhook-configuration

// InjectionWebhook is the injection webhook with clientConfig cc: the rules, selector and
// policies that the markers on PodInjector and config/webhook produce. Namespaces opt in
// with the injection label; the operator's own namespace and kube-system never do.
func InjectionWebhook(operatorNamespace string, cc admissionregistrationv1.WebhookClientConfig) admissionregistrationv1.MutatingWebhook {
	return admissionregistrationv1.MutatingWebhook{
		Name:         WebhookName,
		ClientConfig: cc,
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
			},
		}, {
			// kubectl debug: an ephemeral container added to a running pod.
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods/" + EphemeralContainersSubresource},
				Scope: ptr.To(admissionregistrationv1.AllScopes),
			},
		}},
		FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		TimeoutSeconds:          ptr.To[int32](5),
		ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
		AdmissionReviewVersions: []string{"v1"},
		NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{authv1alpha1.InjectionLabel: authv1alpha1.InjectionEnabled},
			MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key:      "kubernetes.io/metadata.name",
				Operator: metav1.LabelSelectorOpNotIn,
				Values:   []string{operatorNamespace, "kube-system"},
			}},
		},
	}
}

// DevWebhook keeps the MutatingWebhookConfiguration of a manager that runs outside the
// cluster (local development): it points the API server at URL and trusts CABundle. It
// writes it at start and puts it back every Interval if someone changed it.
type DevWebhook struct {
	Client            client.Client
	URL               string
	CABundle          []byte
	OperatorNamespace string
	Interval          time.Duration
}

// Start implements manager.Runnable.
func (d *DevWebhook) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("dev-webhook")
	if err := d.Ensure(ctx); err != nil {
		return err
	}
	log.Info("installed the webhook configuration", "name", DevWebhookConfigurationName, "url", d.URL)
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
func (d *DevWebhook) NeedLeaderElection() bool { return false }

// Ensure creates or updates the configuration.
func (d *DevWebhook) Ensure(ctx context.Context) error {
	want := []admissionregistrationv1.MutatingWebhook{InjectionWebhook(d.OperatorNamespace, admissionregistrationv1.WebhookClientConfig{
		URL: ptr.To(d.URL), CABundle: d.CABundle,
	})}
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
	err := d.Client.Get(ctx, client.ObjectKey{Name: DevWebhookConfigurationName}, cfg)
	if apierrors.IsNotFound(err) {
		cfg = &admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{
				Name:   DevWebhookConfigurationName,
				Labels: map[string]string{authv1alpha1.ManagedByLabel: authv1alpha1.ManagedByValue},
			},
			Webhooks: want,
		}
		err = d.Client.Create(ctx, cfg)
		if err == nil || !apierrors.IsAlreadyExists(err) {
			return wrapDev(err)
		}
		err = d.Client.Get(ctx, client.ObjectKey{Name: DevWebhookConfigurationName}, cfg)
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
	return fmt.Errorf("writing MutatingWebhookConfiguration %s: %w", DevWebhookConfigurationName, err)
}
