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

package helmchart_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/helmchart"
	"github.com/tollgate-dev/tollgate/internal/testenv"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

// The chart installs, upgrades and uninstalls with the Helm SDK against a real API server
// (envtest: no kubelet, so no pod runs and nothing waits for readiness). Install creates the
// CRD and every object; an upgrade changes what the values say and keeps what the manager
// wrote (the webhook's caBundle, the certificate Secret's data); uninstall removes the
// release's objects and keeps the CRD and the AuthPolicies, as Helm never deletes crds/.
func TestTheChartInstallsUpgradesAndUninstalls(t *testing.T) {
	assets, err := testenv.Assets(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	ctrllog.SetLogger(logr.Discard())
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: time.Minute}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := testenv.WriteKubeconfig(cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, authv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	helm, err := helmchart.NewClient(kubeconfig, namespace, 0)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := helmchart.Load(helmchart.Dir(repoRoot))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deployment := client.ObjectKey{Namespace: namespace, Name: "tollgate-controller-manager"}
	// What the chart installs besides the CRD, which stays after uninstall.
	installed := []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "tollgate-controller-manager"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "tollgate-controller-manager"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: injection.WebhookServiceName}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "tollgate-metrics-service"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: injection.WebhookSecretName}},
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "tollgate-controller-manager"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "tollgate-manager-role"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "tollgate-metrics-reader"}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tollgate-metrics-auth-rolebinding"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "tollgate-leader-election-role"}},
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: injection.WebhookConfigurationName}},
	}

	t.Run("install creates the namespace, the CRD and every object", func(t *testing.T) {
		rel, err := helm.Install(ctx, ch, "tollgate", nil)
		if err != nil {
			t.Fatal(err)
		}
		if rel.Version != 1 {
			t.Errorf("release version %d", rel.Version)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, client.ObjectKey{Name: "authpolicies.auth.tollgate.dev"}, crd); err != nil {
			t.Fatalf("the CRD: %v", err)
		}
		for _, obj := range installed {
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				t.Errorf("%T %s: %v", obj, obj.GetName(), err)
			}
		}
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, deployment, d); err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 2 || !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--leader-elect") {
			t.Errorf("replicas %d, args %v", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Args)
		}
		// An AuthPolicy can be created once the CRD is there.
		if err := c.Create(ctx, &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "shop-api"}}); err != nil {
			t.Fatal(err)
		}
	})

	// What the manager writes at run time (cert-controller): the CA and the certificate.
	caBundle := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	whc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: injection.WebhookConfigurationName}, whc); err != nil {
		t.Fatal(err)
	}
	whc.Webhooks[0].ClientConfig.CABundle = caBundle
	if err := c.Update(ctx, whc, client.FieldOwner("cert-rotation")); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: injection.WebhookSecretName}, secret); err != nil {
		t.Fatal(err)
	}
	secret.Data = map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key"), "ca.crt": caBundle}
	if err := c.Update(ctx, secret, client.FieldOwner("cert-rotation")); err != nil {
		t.Fatal(err)
	}

	t.Run("upgrade changes what the values say and keeps what the manager wrote", func(t *testing.T) {
		rel, err := helm.Upgrade(ctx, ch, "tollgate", map[string]any{
			"replicas":       1,
			"leaderElection": map[string]any{"enabled": false},
			"sidecar":        map[string]any{"image": "registry.example/tollgate:v2"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if rel.Version != 2 {
			t.Errorf("release version %d", rel.Version)
		}
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, deployment, d); err != nil {
			t.Fatal(err)
		}
		args := d.Spec.Template.Spec.Containers[0].Args
		if *d.Spec.Replicas != 1 || slices.Contains(args, "--leader-elect") || !slices.Contains(args, "--sidecar-image=registry.example/tollgate:v2") {
			t.Errorf("replicas %d, args %v", *d.Spec.Replicas, args)
		}
		if err := c.Get(ctx, client.ObjectKey{Name: injection.WebhookConfigurationName}, whc); err != nil {
			t.Fatal(err)
		}
		if string(whc.Webhooks[0].ClientConfig.CABundle) != string(caBundle) {
			t.Errorf("the upgrade dropped the manager's caBundle: %q", whc.Webhooks[0].ClientConfig.CABundle)
		}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: injection.WebhookSecretName}, secret); err != nil {
			t.Fatal(err)
		}
		if string(secret.Data["tls.crt"]) != "cert" || string(secret.Data["tls.key"]) != "key" {
			t.Errorf("the upgrade emptied the certificate Secret: keys %v", keys(secret.Data))
		}
	})

	t.Run("uninstall removes the release's objects and keeps the CRD and the policies", func(t *testing.T) {
		if err := helm.Uninstall("tollgate"); err != nil {
			t.Fatal(err)
		}
		for _, obj := range installed {
			err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj)
			if err == nil && obj.GetDeletionTimestamp() == nil {
				t.Errorf("%T %s is still there", obj, obj.GetName())
			} else if err != nil && !apierrors.IsNotFound(err) {
				t.Error(err)
			}
		}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "shop-api"}, &authv1alpha1.AuthPolicy{}); err != nil {
			t.Errorf("the AuthPolicy: %v", err)
		}
	})
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
