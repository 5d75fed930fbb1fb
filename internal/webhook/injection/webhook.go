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

package injection

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

// Names of the webhook as installed by config/default (after the namePrefix tollgate-).
const (
	WebhookName              = "inject.auth.tollgate.dev"
	WebhookConfigurationName = "tollgate-mutating-webhook-configuration"
	WebhookServiceName       = "tollgate-webhook-service"
	WebhookSecretName        = "tollgate-webhook-server-cert"
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

// Webhook is the injection webhook with clientConfig cc: the rules, selector and
// policies that the markers on PodInjector and config/webhook produce. Namespaces opt in
// with the injection label; the operator's own namespace and kube-system never do.
func Webhook(operatorNamespace string, cc admissionregistrationv1.WebhookClientConfig) admissionregistrationv1.MutatingWebhook {
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
