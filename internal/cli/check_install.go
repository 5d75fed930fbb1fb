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
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

const installHint = "install tollgate: kubectl apply --server-side -f dist/install.yaml (make build-installer), or make deploy"

// checkCRD: discovery lists AuthPolicy in auth.tollgate.dev/v1alpha1.
func (c *checker) checkCRD(_ context.Context) bool {
	gv := authv1alpha1.GroupVersion.String()
	r := CheckResult{Category: CategoryCRD, Name: "AuthPolicy API"}
	resources, err := c.discovery.ServerResourcesForGroupVersion(gv)
	switch {
	case apierrors.IsNotFound(err):
		r.Status, r.Message = CheckFail, "the API server does not serve "+gv+": the CRD authpolicies.auth.tollgate.dev is not installed"
		r.Hint = installHint + " (the CRD alone: make install)"
	case err != nil:
		r.Status, r.Message = CheckFail, "discovery of "+gv+": "+err.Error()
	case !slices.ContainsFunc(resources.APIResources, func(res metav1.APIResource) bool { return res.Kind == "AuthPolicy" && res.Name == "authpolicies" }):
		r.Status, r.Message = CheckFail, gv+" is served without the AuthPolicy kind"
		r.Hint = "reinstall the CRD from this release: kubectl apply --server-side -f config/crd/bases"
	default:
		r.Status, r.Message = CheckOK, gv+" AuthPolicy is served"
	}
	c.add(r)
	return r.Status == CheckOK
}

// foundWebhook is the injection webhook in one webhook configuration.
type foundWebhook struct {
	config string
	hook   admissionregistrationv1.MutatingWebhook
}

func (f foundWebhook) target() string {
	cc := f.hook.ClientConfig
	if cc.URL != nil {
		return *cc.URL
	}
	if s := cc.Service; s != nil {
		return fmt.Sprintf("Service %s/%s port %d path %s", s.Namespace, s.Name, ptr.Deref(s.Port, 443), ptr.Deref(s.Path, "/"))
	}
	return "nowhere"
}

// checkWebhookConfiguration finds every webhook named inject.auth.tollgate.dev, whatever
// its configuration is called (config/default, a local manager's, envtest's).
func (c *checker) checkWebhookConfiguration(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	list := &admissionregistrationv1.MutatingWebhookConfigurationList{}
	if err := c.client.List(cctx, list); err != nil {
		status := CheckFail
		if apierrors.IsForbidden(err) {
			status = CheckSkip // a namespace's admin cannot see them, nor fix them
		}
		c.add(CheckResult{Category: CategoryWebhook, Name: "configuration", Status: status, Message: "listing MutatingWebhookConfigurations: " + err.Error()})
		return
	}
	for _, cfg := range list.Items {
		for _, h := range cfg.Webhooks {
			if h.Name == injection.WebhookName {
				c.hooks = append(c.hooks, foundWebhook{config: cfg.Name, hook: h})
			}
		}
	}
	if len(c.hooks) == 0 {
		c.add(CheckResult{Category: CategoryWebhook, Name: "configuration", Status: CheckFail,
			Message: "no MutatingWebhookConfiguration has the webhook " + injection.WebhookName + ": pods get no sidecar",
			Hint:    installHint + "; a manager run outside the cluster (make run, --webhook-url) installs " + "its own"})
		return
	}
	for _, f := range c.hooks {
		r := CheckResult{Category: CategoryWebhook, Name: "configuration " + f.config, Status: CheckOK,
			Message: "webhook " + injection.WebhookName + " calls " + f.target()}
		if fp := f.hook.FailurePolicy; fp != nil && *fp != admissionregistrationv1.Fail {
			r.Status = CheckWarn
			r.Message += ", with failurePolicy " + string(*fp) + ": pods are created unprotected while the webhook is down"
			r.Hint = "set failurePolicy: Fail, as config/default does"
		}
		c.add(r)
	}
}

// checkWebhookAnswers creates, in a server-side dry run, a pod that names a policy that
// does not exist, in a namespace the webhook covers: the webhook must refuse it. Any other
// answer (admitted, or the API server failing to call the webhook) is a failure.
func (c *checker) checkWebhookAnswers(ctx context.Context) {
	if len(c.hooks) == 0 {
		c.add(CheckResult{Category: CategoryWebhook, Name: "answers", Status: CheckSkip, Message: "no injection webhook configured"})
		return
	}
	ns, err := c.probeNamespace(ctx, c.hooks[0].hook)
	if err != nil {
		status := CheckFail
		if apierrors.IsForbidden(err) {
			status = CheckSkip
		}
		c.add(CheckResult{Category: CategoryWebhook, Name: "answers", Status: status, Message: err.Error()})
		return
	}
	if ns == "" {
		c.add(CheckResult{Category: CategoryWebhook, Name: "answers", Status: CheckWarn,
			Message: "no namespace opted into injection, so nothing is protected and the webhook was not exercised",
			Hint:    fmt.Sprintf("kubectl label namespace <namespace> %s=%s", authv1alpha1.InjectionLabel, authv1alpha1.InjectionEnabled)})
		return
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	probe := "tollgate-check-" + hex.EncodeToString(b)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "tollgate-check-",
			Annotations: map[string]string{authv1alpha1.PolicyAnnotation: probe}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "tollgate-check.invalid/probe"}}},
	}
	cctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	err = c.client.Create(cctx, pod, client.DryRunAll)
	r := CheckResult{Category: CategoryWebhook, Name: "answers"}
	what := fmt.Sprintf("a dry-run pod in namespace %s naming AuthPolicy %q (which does not exist)", ns, probe)
	switch {
	case err == nil:
		r.Status, r.Message = CheckFail, what+" was admitted: the API server did not call the webhook"
		r.Hint = "check the webhook's namespaceSelector and rules (kubectl get mutatingwebhookconfiguration " + c.hooks[0].config + " -o yaml)"
	case strings.Contains(err.Error(), fmt.Sprintf("AuthPolicy %q not found", probe)):
		r.Status, r.Message = CheckOK, what+" was refused by the webhook, as it should be"
	case strings.Contains(err.Error(), "failed calling webhook"):
		r.Status, r.Message = CheckFail, "the API server cannot call the webhook: "+err.Error()
		r.Hint = webhookCallHint(err.Error(), c.hooks[0])
	case apierrors.IsForbidden(err) && !strings.Contains(err.Error(), "admission webhook"):
		r.Status, r.Message = CheckSkip, "not allowed to create pods in namespace "+ns+" (even as a dry run): "+err.Error()
	default:
		r.Status, r.Message = CheckFail, what+" was refused, but not by the webhook as expected: "+err.Error()
	}
	c.add(r)
}

func webhookCallHint(msg string, f foundWebhook) string {
	switch {
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:"):
		return "the webhook's serving certificate does not match the caBundle of " + f.config + " (see Certificates); with --cert-mode=self the manager rewrites the caBundle within a minute, with cert-manager check its cainjector"
	case strings.Contains(msg, "no endpoints") || strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") || strings.Contains(msg, "context deadline exceeded") || strings.Contains(msg, "i/o timeout"):
		return "is the manager running and ready? (see Manager) kubectl get endpointslices -A -l kubernetes.io/service-name=" + injection.WebhookServiceName
	}
	return "the manager's logs say why it did not answer"
}

// probeNamespace is a namespace hook covers: the one of -n when it does, else the first by
// name; "" when none does.
func (c *checker) probeNamespace(ctx context.Context, hook admissionregistrationv1.MutatingWebhook) (string, error) {
	sel := labels.Everything()
	if hook.NamespaceSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(hook.NamespaceSelector)
		if err != nil {
			return "", fmt.Errorf("the webhook's namespaceSelector: %w", err)
		}
		sel = s
	}
	cctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	list := &corev1.NamespaceList{}
	if err := c.client.List(cctx, list, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return "", fmt.Errorf("listing namespaces: %w", err)
	}
	var names []string
	for _, n := range list.Items {
		if n.DeletionTimestamp.IsZero() {
			names = append(names, n.Name)
		}
	}
	if slices.Contains(names, c.opts.Namespace) {
		return c.opts.Namespace, nil
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "", nil
	}
	return names[0], nil
}

// checkManager finds the manager's Deployments by config/default's labels and checks that
// every replica is available.
func (c *checker) checkManager(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	list := &appsv1.DeploymentList{}
	err := c.client.List(cctx, list, client.MatchingLabels(ManagerLabels))
	selector := labels.SelectorFromSet(ManagerLabels).String()
	switch {
	case apierrors.IsForbidden(err):
		c.add(CheckResult{Category: CategoryManager, Name: "Deployment", Status: CheckSkip, Message: "not allowed to list Deployments: " + err.Error()})
		return
	case err != nil:
		c.add(CheckResult{Category: CategoryManager, Name: "Deployment", Status: CheckFail, Message: "listing Deployments: " + err.Error()})
		return
	case len(list.Items) == 0:
		for _, f := range c.hooks {
			if f.hook.ClientConfig.URL != nil {
				c.add(CheckResult{Category: CategoryManager, Name: "Deployment", Status: CheckSkip,
					Message: "no Deployment labelled " + selector + "; the webhook calls " + *f.hook.ClientConfig.URL + ": the manager runs outside the cluster"})
				return
			}
		}
		c.add(CheckResult{Category: CategoryManager, Name: "Deployment", Status: CheckFail,
			Message: "no Deployment labelled " + selector + ": no operator rotates keys or injects sidecars", Hint: installHint})
		return
	}
	for _, d := range list.Items {
		want := ptr.Deref(d.Spec.Replicas, 1)
		st := d.Status
		r := CheckResult{Category: CategoryManager, Name: "Deployment " + d.Namespace + "/" + d.Name}
		switch {
		case st.ObservedGeneration < d.Generation:
			r.Status, r.Message = CheckFail, fmt.Sprintf("the Deployment controller has not seen generation %d yet", d.Generation)
		case st.AvailableReplicas < want || st.UpdatedReplicas < want:
			r.Status, r.Message = CheckFail, fmt.Sprintf("%d of %d replicas available, %d up to date", st.AvailableReplicas, want, st.UpdatedReplicas)
		default:
			r.Status, r.Message = CheckOK, fmt.Sprintf("%d of %d replicas available", st.AvailableReplicas, want)
		}
		if r.Status == CheckFail {
			r.Hint = fmt.Sprintf("kubectl -n %s rollout status deployment/%s; kubectl -n %s describe pods -l %s; kubectl -n %s logs deployment/%s",
				d.Namespace, d.Name, d.Namespace, selector, d.Namespace, d.Name)
		}
		c.add(r)
	}
}
