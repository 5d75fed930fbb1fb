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

package cli_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/controller/unprotected"
	"github.com/tollgate-dev/tollgate/internal/operatortest"
	"github.com/tollgate-dev/tollgate/internal/testenv"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

// checkOn runs `tollgate check -o json ARGS...` against a kubeconfig and decodes the report.
func checkOn(t *testing.T, kubeconfig string, args ...string) (cli.CheckReport, error) {
	t.Helper()
	out, err := tollgateOn(t, kubeconfig, "", append([]string{"check", "-o", "json"}, args...)...)
	var r cli.CheckReport
	if jerr := json.Unmarshal([]byte(out), &r); jerr != nil {
		t.Fatalf("%v (command: %v):\n%s", jerr, err, out)
	}
	return r, err
}

// find is the check of this category whose name starts with prefix.
func find(t *testing.T, r cli.CheckReport, category, prefix string) cli.CheckResult {
	t.Helper()
	for _, c := range r.Checks {
		if c.Category == category && strings.HasPrefix(c.Name, prefix) {
			return c
		}
	}
	t.Fatalf("no %s check %q in %+v", category, prefix, r.Checks)
	return cli.CheckResult{}
}

// expect checks a result's status and that its message contains each of contains.
func expect(t *testing.T, c cli.CheckResult, status cli.CheckStatus, contains ...string) {
	t.Helper()
	if c.Status != status {
		t.Errorf("%s %s: %s (%s), want %s", c.Category, c.Name, c.Status, c.Message, status)
		return
	}
	for _, s := range contains {
		if !strings.Contains(c.Message, s) {
			t.Errorf("%s %s: message %q does not contain %q", c.Category, c.Name, c.Message, s)
		}
	}
	if status == cli.CheckFail && c.Hint == "" {
		t.Errorf("%s %s: a failure without a hint", c.Category, c.Name)
	}
}

func TestCLICheckAHealthyInstall(t *testing.T) {
	t.Parallel()
	cluster(t)
	ns := operatortest.LabelledNamespace(t)
	create(t, newPolicy(ns, "shop-api"))
	waitReady(t, ns, "shop-api")

	out, err := tollgate(t, "check", "-n", ns)
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if strings.Contains(out, "[FAIL]") || !strings.Contains(out, "[ok]   answers: a dry-run pod in namespace "+ns) {
		t.Errorf("output:\n%s", out)
	}
	r, err := checkOn(t, kubeconfig, "-n", ns)
	if err != nil || !r.OK {
		t.Fatalf("%v: %+v", err, r)
	}
	expect(t, find(t, r, cli.CategoryCRD, "AuthPolicy API"), cli.CheckOK, "auth.tollgate.dev/v1alpha1 AuthPolicy is served")
	expect(t, find(t, r, cli.CategoryWebhook, "configuration"), cli.CheckOK, "calls https://")
	expect(t, find(t, r, cli.CategoryWebhook, "answers"), cli.CheckOK, "refused by the webhook")
	expect(t, find(t, r, cli.CategoryCertificates, "caBundle"), cli.CheckOK)
	expect(t, find(t, r, cli.CategoryCertificates, "serving certificate"), cli.CheckOK, "signed by the caBundle")
	// envtest runs the manager in the test process: its webhook has a URL, and there is no
	// Deployment.
	expect(t, find(t, r, cli.CategoryManager, "Deployment"), cli.CheckSkip, "runs outside the cluster")
	expect(t, find(t, r, cli.CategoryPolicies, "AuthPolicy "+ns+"/shop-api keys"), cli.CheckOK, "Ready; key ")
	expect(t, find(t, r, cli.CategoryPolicies, "AuthPolicy "+ns+"/shop-api pods"), cli.CheckOK)
}

func TestCLICheckFindsUnhealthyPolicies(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t) // not labelled: pods are created without the sidecar
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "squatted-signing-keys"}})
	create(t, newPolicy(ns, "squatted"))
	create(t, newPolicy(ns, "exposed"))
	waitReady(t, ns, "exposed")
	pod := operatortest.CreatePod(t, operatortest.AppPod(ns, "exposed"))
	testwait.Until(t, 30*time.Second, "the unprotected pod counted and squatted not Ready", func() (bool, string) {
		e, s := getPolicy(t, ns, "exposed"), getPolicy(t, ns, "squatted")
		c := meta.FindStatusCondition(s.Status.Conditions, authv1alpha1.ConditionReady)
		return e.Status.UnprotectedPods == 1 && c != nil && c.Status == metav1.ConditionFalse, fmt.Sprintf("%+v %+v", e.Status, s.Status)
	})
	// check names the pods from the reporter's Events, written apart from the status.
	waitForEvent(t, ns, "exposed", corev1.EventTypeWarning, unprotected.ReasonUnprotectedPod, pod.Name)

	r, err := checkOn(t, kubeconfig, "-n", ns)
	if err == nil || !strings.Contains(err.Error(), "checks failed") || r.OK {
		t.Fatalf("err = %v, ok = %v: a failed check must fail the command", err, r.OK)
	}
	expect(t, find(t, r, cli.CategoryPolicies, "AuthPolicy "+ns+"/squatted keys"), cli.CheckFail, "not Ready (NameConflict)", "no key signs")
	expect(t, find(t, r, cli.CategoryPolicies, "AuthPolicy "+ns+"/exposed pods"), cli.CheckFail, "1 pod(s) name this policy but run without its sidecar", pod.Name)
	expect(t, find(t, r, cli.CategoryPolicies, "AuthPolicy "+ns+"/exposed keys"), cli.CheckOK)

	out, _ := tollgate(t, "check", "-n", ns)
	if !strings.Contains(out, "[FAIL] AuthPolicy "+ns+"/exposed pods: 1 pod(s)") || !strings.Contains(out, "hint: label namespace "+ns+" auth.tollgate.dev/injection=enabled") {
		t.Errorf("output:\n%s", out)
	}
}

// TestCLICheckOnABrokenInstall breaks, on a control plane of its own, each piece check
// looks at, and checks what it says.
func TestCLICheckOnABrokenInstall(t *testing.T) {
	cluster(t) // the real webhook server, for the last steps
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	assets, err := testenv.Assets(root)
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: time.Minute}
	bareCfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	bareKubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := testenv.WriteKubeconfig(bareCfg, bareKubeconfig); err != nil {
		t.Fatal(err)
	}
	bare, err := client.New(bareCfg, client.Options{Scheme: cli.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("nothing installed", func(t *testing.T) {
		r, err := checkOn(t, bareKubeconfig)
		if err == nil || r.OK {
			t.Fatal("no failure")
		}
		expect(t, find(t, r, cli.CategoryCRD, "AuthPolicy API"), cli.CheckFail, "the CRD authpolicies.auth.tollgate.dev is not installed")
		expect(t, find(t, r, cli.CategoryWebhook, "configuration"), cli.CheckFail, "no MutatingWebhookConfiguration has the webhook inject.auth.tollgate.dev")
		expect(t, find(t, r, cli.CategoryManager, "Deployment"), cli.CheckFail, "no Deployment labelled app.kubernetes.io/component=manager,app.kubernetes.io/name=tollgate")
		expect(t, find(t, r, cli.CategoryPolicies, "policies"), cli.CheckSkip)
	})

	createIn(t, bare, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{authv1alpha1.InjectionLabel: authv1alpha1.InjectionEnabled}}})
	ca := newCA(t, time.Now().Add(365*24*time.Hour))
	hook := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: injection.WebhookConfigurationName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{injection.Webhook(injection.DefaultOperatorNamespace, admissionregistrationv1.WebhookClientConfig{
			URL: ptr.To(fmt.Sprintf("https://127.0.0.1:%d/inject", testwait.FreePort(t))), CABundle: ca,
		})},
	}
	createIn(t, bare, hook)
	setHook := func(t *testing.T, url string, caBundle []byte) {
		t.Helper()
		hook.Webhooks[0].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle}
		if err := bare.Update(ctx, hook); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a webhook pointing at nothing", func(t *testing.T) {
		r, _ := checkOn(t, bareKubeconfig)
		expect(t, find(t, r, cli.CategoryWebhook, "configuration "+injection.WebhookConfigurationName), cli.CheckOK, "calls https://127.0.0.1:")
		expect(t, find(t, r, cli.CategoryCertificates, "caBundle"), cli.CheckOK)
		expect(t, find(t, r, cli.CategoryCertificates, "serving certificate"), cli.CheckFail, "connection refused")
		answers := find(t, r, cli.CategoryWebhook, "answers")
		expect(t, answers, cli.CheckFail, "the API server cannot call the webhook", "failed calling webhook", "connection refused")
		if !strings.Contains(answers.Hint, "is the manager running") {
			t.Errorf("hint %q", answers.Hint)
		}
		// the URL names no Service, and no Deployment is installed: the manager runs elsewhere
		expect(t, find(t, r, cli.CategoryManager, "Deployment"), cli.CheckSkip)
	})

	// The real webhook server of the suite's manager, and the CA that signed it.
	real := &admissionregistrationv1.MutatingWebhookConfigurationList{}
	if err := k8s.List(ctx, real); err != nil {
		t.Fatal(err)
	}
	var realURL string
	var realCA []byte
	for _, c := range real.Items {
		for _, h := range c.Webhooks {
			if h.Name == injection.WebhookName && h.ClientConfig.URL != nil {
				realURL, realCA = *h.ClientConfig.URL, h.ClientConfig.CABundle
			}
		}
	}
	if realURL == "" {
		t.Fatal("the suite's webhook configuration has no URL")
	}

	t.Run("a serving certificate the caBundle did not sign", func(t *testing.T) {
		setHook(t, realURL, ca)
		r, _ := checkOn(t, bareKubeconfig)
		expect(t, find(t, r, cli.CategoryCertificates, "serving certificate"), cli.CheckFail, "x509: certificate signed by unknown authority")
		expect(t, find(t, r, cli.CategoryWebhook, "answers"), cli.CheckFail, "failed calling webhook", "x509")
	})

	t.Run("a CA that expires within --min-cert-validity", func(t *testing.T) {
		setHook(t, realURL, newCA(t, time.Now().Add(48*time.Hour)))
		r, _ := checkOn(t, bareKubeconfig)
		expect(t, find(t, r, cli.CategoryCertificates, "caBundle"), cli.CheckFail, "in less than 72h0m0s")
		r, _ = checkOn(t, bareKubeconfig, "--min-cert-validity", "24h")
		expect(t, find(t, r, cli.CategoryCertificates, "caBundle"), cli.CheckOK)
	})

	t.Run("the real webhook with its own CA answers", func(t *testing.T) {
		setHook(t, realURL, realCA)
		r, _ := checkOn(t, bareKubeconfig)
		expect(t, find(t, r, cli.CategoryCertificates, "serving certificate"), cli.CheckOK)
		expect(t, find(t, r, cli.CategoryWebhook, "answers"), cli.CheckOK, "a dry-run pod in namespace shop", "refused by the webhook")
	})

	t.Run("a webhook that namespaces cannot reach", func(t *testing.T) {
		hook.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"nobody": "has-this"}}
		setHook(t, realURL, realCA)
		r, _ := checkOn(t, bareKubeconfig)
		expect(t, find(t, r, cli.CategoryWebhook, "answers"), cli.CheckWarn, "no namespace opted into injection")
		hook.Webhooks[0].NamespaceSelector = injection.Webhook(injection.DefaultOperatorNamespace, admissionregistrationv1.WebhookClientConfig{}).NamespaceSelector
	})

	createIn(t, bare, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tollgate-system"}})

	t.Run("a webhook that lets pods through when it is down", func(t *testing.T) {
		hook.Webhooks[0].FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
		setHook(t, realURL, realCA)
		r, _ := checkOn(t, bareKubeconfig)
		expect(t, find(t, r, cli.CategoryWebhook, "configuration"), cli.CheckWarn, "failurePolicy Ignore: pods are created unprotected while the webhook is down")
		hook.Webhooks[0].FailurePolicy = ptr.To(admissionregistrationv1.Fail)
	})

	t.Run("a Service webhook: the certificate in its Secret", func(t *testing.T) {
		caPEM, caCert, caKey := newCert(t, time.Now().Add(365*24*time.Hour), nil, nil)
		hook.Webhooks[0].ClientConfig = admissionregistrationv1.WebhookClientConfig{CABundle: caPEM,
			Service: &admissionregistrationv1.ServiceReference{Namespace: "tollgate-system", Name: injection.WebhookServiceName, Path: ptr.To("/inject")}}
		if err := bare.Update(ctx, hook); err != nil {
			t.Fatal(err)
		}
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "tollgate-system", Name: injection.WebhookSecretName}}
		createIn(t, bare, secret)
		r, _ := checkOn(t, bareKubeconfig)
		expect(t, find(t, r, cli.CategoryCertificates, "serving certificate"), cli.CheckFail, "Secret tollgate-system/"+injection.WebhookSecretName, "no PEM certificate")
		// The Service does not exist: the API server says so.
		answers := find(t, r, cli.CategoryWebhook, "answers")
		expect(t, answers, cli.CheckFail, "failed calling webhook", injection.WebhookServiceName)
		// Without a Service in front, no Deployment is not "outside the cluster".
		expect(t, find(t, r, cli.CategoryManager, "Deployment"), cli.CheckFail, "no Deployment labelled")

		wrongName, _, _ := newCert(t, time.Now().Add(365*24*time.Hour), caCert, caKey, "webhook.example.com")
		secret.Data = map[string][]byte{corev1.TLSCertKey: wrongName}
		if err := bare.Update(ctx, secret); err != nil {
			t.Fatal(err)
		}
		r, _ = checkOn(t, bareKubeconfig)
		expect(t, find(t, r, cli.CategoryCertificates, "serving certificate"), cli.CheckFail,
			"certificate is valid for webhook.example.com, not "+injection.WebhookServiceName+".tollgate-system.svc")

		host := injection.WebhookServiceName + ".tollgate-system.svc"
		right, _, _ := newCert(t, time.Now().Add(365*24*time.Hour), caCert, caKey, host)
		secret.Data = map[string][]byte{corev1.TLSCertKey: right}
		if err := bare.Update(ctx, secret); err != nil {
			t.Fatal(err)
		}
		r, _ = checkOn(t, bareKubeconfig)
		expect(t, find(t, r, cli.CategoryCertificates, "serving certificate"), cli.CheckOK, "valid for "+host, "signed by the caBundle")
	})

	t.Run("a manager Deployment without available replicas", func(t *testing.T) {
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "tollgate-system", Name: "tollgate-controller-manager", Labels: cli.ManagerLabels},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: cli.ManagerLabels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: cli.ManagerLabels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "registry.example/tollgate:test"}}},
				},
			},
		}
		createIn(t, bare, dep)
		r, _ := checkOn(t, bareKubeconfig)
		m := find(t, r, cli.CategoryManager, "Deployment tollgate-system/tollgate-controller-manager")
		expect(t, m, cli.CheckFail)
		if !strings.Contains(m.Hint, "rollout status deployment/tollgate-controller-manager") {
			t.Errorf("hint %q", m.Hint)
		}

		// What the Deployment controller and the kubelets (none here) would report.
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
		if err := bare.Status().Update(ctx, dep); err != nil {
			t.Fatal(err)
		}
		r, _ = checkOn(t, bareKubeconfig)
		expect(t, find(t, r, cli.CategoryManager, "Deployment tollgate-system/tollgate-controller-manager"), cli.CheckOK, "2 of 2 replicas available")
	})
}

// newCA is a PEM self-signed CA certificate valid until notAfter.
func newCA(t *testing.T, notAfter time.Time) []byte {
	t.Helper()
	ca, _, _ := newCert(t, notAfter, nil, nil)
	return ca
}

// newCert is a PEM certificate valid until notAfter and its key: a self-signed CA when
// parent is nil, else a serving certificate for dnsName signed by parent.
func newCert(t *testing.T, notAfter time.Time, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, dnsName ...string) ([]byte, *x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		tmpl.Subject.CommonName, tmpl.IsCA, tmpl.DNSNames = dnsName[0], false, dnsName
		tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert, key
}

func createIn(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
}

// TestCLICheckAsANamespaceViewer: someone who may read the policies of one namespace and
// nothing of the cluster gets the checks they can run, and skips for the others, not
// failures they could not fix.
func TestCLICheckAsANamespaceViewer(t *testing.T) {
	t.Parallel()
	cluster(t)
	ns := operatortest.LabelledNamespace(t)
	create(t, newPolicy(ns, "shop-api"))
	waitReady(t, ns, "shop-api")
	create(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "policy-viewer"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{authv1alpha1.GroupVersion.Group}, Resources: []string{"authpolicies"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"list"}},
	}})
	user := "viewer-of-" + ns
	create(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "policy-viewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "policy-viewer"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}}})

	var r cli.CheckReport
	var err error
	// The authorizer learns of the binding through its informers.
	testwait.Until(t, 15*time.Second, "the policies readable as "+user, func() (bool, string) {
		r, err = checkOn(t, kubeconfig, "-n", ns, "--as", user)
		c := find(t, r, cli.CategoryPolicies, "AuthPolicy")
		return c.Status == cli.CheckOK, c.Message
	})
	if err != nil || !r.OK {
		t.Fatalf("%v: %+v", err, r.Checks)
	}
	expect(t, find(t, r, cli.CategoryWebhook, "configuration"), cli.CheckSkip, "forbidden")
	expect(t, find(t, r, cli.CategoryManager, "Deployment"), cli.CheckSkip, "not allowed to list Deployments")
	expect(t, find(t, r, cli.CategoryPolicies, "AuthPolicy "+ns+"/shop-api keys"), cli.CheckOK)
}
