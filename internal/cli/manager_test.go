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
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/internal/webhook/dev"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

// In local development (make run, make demo) the manager runs as a process beside a local
// kube-apiserver: `tollgate manager --webhook-url https://localhost:9443` installs its own
// webhook configuration and serves it with its own certificate, on a control plane that
// holds nothing but the CRD.
func TestManagerWithAWebhookURLInstallsAndServesItsWebhook(t *testing.T) {
	cfg := startEnvtest(t)
	port := testwait.FreePort(t)
	url := fmt.Sprintf("https://localhost:%d", port)
	mgr, err := NewManager(cfg, ManagerOptions{
		MetricsBindAddress: "0", HealthProbeBindAddress: "0", KubeAPIQPS: -1,
		SidecarImage: "registry.example/tollgate:dev",
		WebhookURL:   url,

		skipNameValidation: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, mgr)

	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()

	t.Run("it installs a webhook configuration pointing at the URL", func(t *testing.T) {
		whc := &admissionregistrationv1.MutatingWebhookConfiguration{}
		testwait.NoError(t, 30*time.Second, "the dev webhook configuration", func() error {
			return c.Get(bg, client.ObjectKey{Name: dev.ConfigurationName}, whc)
		})
		if len(whc.Webhooks) != 1 {
			t.Fatalf("%d webhooks", len(whc.Webhooks))
		}
		wh := whc.Webhooks[0]
		if wh.ClientConfig.URL == nil || *wh.ClientConfig.URL != url+"/inject" {
			t.Errorf("url %v, want %s/inject", wh.ClientConfig.URL, url)
		}
		block, _ := pem.Decode(wh.ClientConfig.CABundle)
		if block == nil {
			t.Fatal("no PEM caBundle")
		}
		ca, err := x509.ParseCertificate(block.Bytes)
		if err != nil || !ca.IsCA {
			t.Fatalf("caBundle is not a CA: %v", err)
		}
		if *wh.FailurePolicy != admissionregistrationv1.Fail || *wh.SideEffects != admissionregistrationv1.SideEffectClassNone ||
			*wh.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy {
			t.Errorf("failurePolicy %s, sideEffects %s, reinvocationPolicy %s", *wh.FailurePolicy, *wh.SideEffects, *wh.ReinvocationPolicy)
		}
		sel := wh.NamespaceSelector
		if sel.MatchLabels[authv1alpha1.InjectionLabel] != "enabled" || len(sel.MatchExpressions) != 1 ||
			!slices.Equal(sel.MatchExpressions[0].Values, []string{"tollgate-system", "kube-system"}) {
			t.Errorf("namespaceSelector %+v", sel)
		}
	})

	t.Run("a pod created through the API server gets the sidecar", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			GenerateName: "dev-", Labels: map[string]string{authv1alpha1.InjectionLabel: "enabled"},
		}}
		if err := c.Create(bg, ns); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(bg, &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "api"}}); err != nil {
			t.Fatal(err)
		}
		pod := func() *corev1.Pod {
			return &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, GenerateName: "app-", Annotations: map[string]string{authv1alpha1.PolicyAnnotation: "api"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
			}
		}
		// The API server sees a new webhook configuration within a moment: try dry runs
		// until it calls the webhook.
		testwait.NoError(t, 30*time.Second, "the API server to call the webhook", func() error {
			p := pod()
			if err := c.Create(bg, p, client.DryRunAll); err != nil {
				return err
			}
			if !injection.HasSidecar(p) {
				return fmt.Errorf("no sidecar yet")
			}
			return nil
		})
		p := pod()
		if err := c.Create(bg, p); err != nil {
			t.Fatal(err)
		}
		if len(p.Spec.InitContainers) != 1 || p.Spec.InitContainers[0].Image != "registry.example/tollgate:dev" ||
			p.Annotations[authv1alpha1.StatusAnnotation] != authv1alpha1.StatusInjected {
			t.Errorf("pod not injected as expected: init containers %+v, annotations %v", p.Spec.InitContainers, p.Annotations)
		}
	})

	t.Run("it needs no namespace of its own", func(t *testing.T) {
		err := c.Get(bg, client.ObjectKey{Name: "tollgate-system"}, &corev1.Namespace{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("namespace tollgate-system: %v, want it not to exist", err)
		}
	})
}

// With --cert-mode=self (config/default) cert-controller fills the Secret
// tollgate-webhook-server-cert and the webhook configuration's caBundle; the manager serves
// once the kubelet has mounted the Secret. The API server cannot reach a Service here, so
// the test plays the kubelet and checks the served certificate against the caBundle.
func TestManagerKeepsItsOwnWebhookCertificate(t *testing.T) {
	cfg := startEnvtest(t)
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	ns := "tollgate-system"
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: injection.WebhookSecretName}},
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: injection.WebhookConfigurationName},
			Webhooks: []admissionregistrationv1.MutatingWebhook{injection.Webhook(ns, admissionregistrationv1.WebhookClientConfig{
				Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: injection.WebhookServiceName, Path: ptr.To("/inject")},
			})},
		},
	} {
		if err := c.Create(bg, obj); err != nil {
			t.Fatal(err)
		}
	}
	certDir := t.TempDir()
	port := testwait.FreePort(t)
	mgr, err := NewManager(cfg, ManagerOptions{
		MetricsBindAddress: "0", HealthProbeBindAddress: "0", KubeAPIQPS: -1,
		SidecarImage: "img", Namespace: ns, CertMode: CertModeSelf,
		WebhookHost: "127.0.0.1", WebhookPort: port, WebhookCertDir: certDir,

		skipNameValidation: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, mgr)

	// The kubelet: copy the Secret into the mounted directory once it is filled.
	secret := &corev1.Secret{}
	testwait.NoError(t, 30*time.Second, "the Secret to hold a certificate", func() error {
		if err := c.Get(bg, client.ObjectKey{Namespace: ns, Name: injection.WebhookSecretName}, secret); err != nil {
			return err
		}
		for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
			if len(secret.Data[k]) == 0 {
				return fmt.Errorf("no %s yet", k)
			}
		}
		return nil
	})
	for k, v := range secret.Data {
		if err := os.WriteFile(filepath.Join(certDir, k), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	whc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	testwait.NoError(t, 30*time.Second, "the caBundle", func() error {
		if err := c.Get(bg, client.ObjectKey{Name: injection.WebhookConfigurationName}, whc); err != nil {
			return err
		}
		if len(whc.Webhooks[0].ClientConfig.CABundle) == 0 {
			return fmt.Errorf("empty")
		}
		return nil
	})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(whc.Webhooks[0].ClientConfig.CABundle) {
		t.Fatal("caBundle holds no certificate")
	}
	// Waits out cert-controller's check of the mount (a backoff from 1 s).
	testwait.NoError(t, 30*time.Second, "the webhook to serve a certificate the caBundle verifies", func() error {
		conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", fmt.Sprint(port)), &tls.Config{
			RootCAs: pool, ServerName: injection.WebhookServiceName + "." + ns + ".svc",
		})
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

func TestManagerFlagsChooseTheWebhookPortAndNamespace(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		port      int
		namespace string
	}{
		{[]string{"--webhook-url", "https://localhost:9555"}, 9555, ""},
		{[]string{"--webhook-url", "https://localhost:9555", "--webhook-port", "9666", "-n", "ops"}, 9666, "ops"},
		{[]string{"--webhook-url", "https://127.0.0.1"}, 443, ""},
		{[]string{"--cert-mode", "cert-manager"}, 9443, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			root := NewRootCommand("tollgate", genericiooptions.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
			var got ManagerOptions
			mgr, _, _ := root.Find([]string{"manager"})
			mgr.RunE = func(cmd *cobra.Command, _ []string) error {
				got = ManagerOptions{WebhookPort: mustInt(cmd, "webhook-port"), WebhookURL: cmd.Flag("webhook-url").Value.String(), CertMode: cmd.Flag("cert-mode").Value.String()}
				got.complete(cmd)
				return nil
			}
			root.SetArgs(append([]string{"manager"}, tc.args...))
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			hook, err := newInjectionWebhook(got)
			if err != nil {
				t.Fatal(err)
			}
			if port := hook.server.(*webhook.DefaultServer).Options.Port; port != tc.port {
				t.Errorf("webhook port %d, want %d", port, tc.port)
			}
			if got.Namespace != tc.namespace {
				t.Errorf("namespace %q, want %q", got.Namespace, tc.namespace)
			}
		})
	}
	if _, err := newInjectionWebhook(ManagerOptions{WebhookURL: "http://localhost:9443"}); err == nil || !strings.Contains(err.Error(), "must be an https URL") {
		t.Errorf("an http URL: %v", err)
	}
	if _, err := newInjectionWebhook(ManagerOptions{CertMode: "magic"}); err == nil {
		t.Error("an unknown --cert-mode was accepted")
	}
}

func mustInt(cmd *cobra.Command, name string) int {
	n, err := cmd.Flags().GetInt(name)
	if err != nil {
		panic(err)
	}
	return n
}

// startEnvtest starts a kube-apiserver and etcd with the CRD for one test.
func startEnvtest(t *testing.T) *rest.Config {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets, _ = filepath.Abs(filepath.Join("..", "..", "bin", "k8s"))
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		t.Fatalf("this test needs a real kube-apiserver and etcd in %s: run `make envtest-binaries` (or `make test`)", assets)
	}
	ctrl.SetLogger(logr.Discard())
	env := &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return cfg
}

func startManager(t *testing.T, mgr ctrl.Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}
