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
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// The manager's metrics, as config/default runs them (--metrics-secure), answer only a
// scraper whose ServiceAccount token the API server vouches for and whose account may get
// /metrics (config/default's tollgate-metrics-reader). The manager runs with nothing but
// config/default's manager and metrics-auth roles, so the test also shows those suffice
// to review the scrapers' tokens.
func TestSecureMetricsAnswerOnlyAuthorizedScrapers(t *testing.T) {
	cfg := startEnvtest(t)
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	roles := configDefaultClusterRoles(t)

	// The manager as user tollgate-test-manager, bound to config/default's roles only.
	manager := "tollgate-test-manager"
	for _, name := range []string{"tollgate-manager-role", "tollgate-metrics-auth-role"} {
		bindClusterRole(t, c, roles[name], rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: manager})
	}
	managerCfg := rest.CopyConfig(cfg)
	managerCfg.Impersonate = rest.ImpersonationConfig{UserName: manager}
	addr := testwait.FreeAddr(t)
	mgr, err := NewManager(managerCfg, ManagerOptions{
		MetricsBindAddress: addr, MetricsSecure: true, HealthProbeBindAddress: "0", KubeAPIQPS: -1,
		SidecarImage: "img", DisableWebhook: true,

		skipNameValidation: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, mgr)

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}}
	if err := c.Create(bg, ns); err != nil {
		t.Fatal(err)
	}
	reader := serviceAccountToken(t, c, cfg, ns.Name, "prometheus")
	bindClusterRole(t, c, roles["tollgate-metrics-reader"], rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns.Name, Name: "prometheus"})
	stranger := serviceAccountToken(t, c, cfg, ns.Name, "stranger")

	// The certificate is controller-runtime's self-signed one.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed test server
	scrape := func(token string) (int, string, error) {
		req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
		if err != nil {
			return 0, "", err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		return resp.StatusCode, string(body), err
	}

	t.Run("a service account allowed to get /metrics scrapes them", func(t *testing.T) {
		testwait.NoError(t, 30*time.Second, "an authorized scrape", func() error {
			code, body, err := scrape(reader)
			switch {
			case err != nil:
				return err
			case code != http.StatusOK:
				return fmt.Errorf("status %d: %.200s", code, body)
			case !strings.Contains(body, "controller_runtime_reconcile_total"):
				return fmt.Errorf("no controller-runtime series in %.200s", body)
			}
			return nil
		})
	})
	t.Run("a scrape without a token is refused as unauthenticated", func(t *testing.T) {
		if code, body, err := scrape(""); err != nil || code != http.StatusUnauthorized {
			t.Errorf("status %d (%v), want 401: %.200s", code, err, body)
		}
	})
	// controller-runtime answers 500 "Authentication failed" when the TokenReview reports
	// an error, as it does for a token that is no JWT at all: refused all the same.
	t.Run("a token the API server does not know is refused", func(t *testing.T) {
		code, body, err := scrape("not-a-token")
		if err != nil || code == http.StatusOK || strings.Contains(body, "controller_runtime") {
			t.Errorf("status %d (%v), want a refusal: %.200s", code, err, body)
		}
	})
	t.Run("a service account without the metrics-reader role is forbidden", func(t *testing.T) {
		if code, body, err := scrape(stranger); err != nil || code != http.StatusForbidden {
			t.Errorf("status %d (%v), want 403: %.200s", code, err, body)
		}
	})
	t.Run("plain HTTP gets no metrics", func(t *testing.T) {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/metrics")
		if err != nil {
			return // the TLS server hung up: fine
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP scrape answered 200")
		}
	})
}

// configDefaultClusterRoles are the ClusterRoles of `kustomize build config/default`, by name.
func configDefaultClusterRoles(t *testing.T) map[string]*rbacv1.ClusterRole {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join("..", "..", "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]*rbacv1.ClusterRole{}
	for _, r := range res.Resources() {
		if r.GetKind() != "ClusterRole" {
			continue
		}
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		role := &rbacv1.ClusterRole{}
		if err := yaml.Unmarshal(doc, role); err != nil {
			t.Fatal(err)
		}
		roles[role.Name] = role
	}
	for _, want := range []string{"tollgate-manager-role", "tollgate-metrics-auth-role", "tollgate-metrics-reader"} {
		if roles[want] == nil {
			t.Fatalf("config/default renders no ClusterRole %s", want)
		}
	}
	return roles
}

// bindClusterRole creates role (once) and binds it to subject.
func bindClusterRole(t *testing.T, c client.Client, role *rbacv1.ClusterRole, subject rbacv1.Subject) {
	t.Helper()
	bg := context.Background()
	if err := c.Get(bg, client.ObjectKeyFromObject(role), &rbacv1.ClusterRole{}); err != nil {
		r := role.DeepCopy()
		r.ResourceVersion = ""
		if err := c.Create(bg, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Create(bg, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: role.Name + "-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{subject},
	}); err != nil {
		t.Fatal(err)
	}
}

// serviceAccountToken creates a ServiceAccount and returns a token for it (TokenRequest).
func serviceAccountToken(t *testing.T, c client.Client, cfg *rest.Config, ns, name string) string {
	t.Helper()
	bg := context.Background()
	if err := c.Create(bg, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(bg, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// `tollgate manager` serves secure metrics unless told otherwise, as kubebuilder v4 does.
func TestManagerMetricsAreSecureByDefault(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		secure bool
	}{
		{nil, true},
		{[]string{"--metrics-secure=false"}, false},
	} {
		t.Run(strings.Join(append([]string{"manager"}, tc.args...), " "), func(t *testing.T) {
			root := NewRootCommand("tollgate", genericiooptions.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
			var opts metricsserver.Options
			mgr, _, _ := root.Find([]string{"manager"})
			mgr.RunE = func(cmd *cobra.Command, _ []string) error {
				secure, err := cmd.Flags().GetBool("metrics-secure")
				opts = metricsOptions(ManagerOptions{MetricsBindAddress: ":8443", MetricsSecure: secure})
				return err
			}
			root.SetArgs(append([]string{"manager"}, tc.args...))
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			if opts.SecureServing != tc.secure || (opts.FilterProvider != nil) != tc.secure {
				t.Errorf("secure serving %v, authn/authz filter %v; want both %v", opts.SecureServing, opts.FilterProvider != nil, tc.secure)
			}
		})
	}
}
