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

package controllers_test

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/testenv"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// The suite runs one real kube-apiserver and etcd (envtest) and the operator's manager in
// this process, set up exactly as `tollgate manager` sets it up. The API server calls the
// manager's injection webhook, installed from config/webhook as kustomize renders it.
var (
	cfg        *rest.Config
	k8s        client.WithWatch
	kubeconfig string // a kubeconfig file for the CLI commands
)

func TestMain(m *testing.M) {
	flag.Parse()
	if noControlPlane() {
		os.Exit(m.Run())
	}
	os.Exit(runSuite(m))
}

// noControlPlane is true when the test binary only lists tests or fuzzes: fuzz targets here
// exercise pure functions, and each fuzz worker would otherwise start its own control plane.
func noControlPlane() bool {
	for _, name := range []string{"test.fuzz", "test.list"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return true
		}
	}
	f := flag.Lookup("test.fuzzworker")
	return f != nil && f.Value.String() == "true"
}

func runSuite(m *testing.M) int {
	assets, err := testenv.Assets("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if os.Getenv("TOLLGATE_TEST_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	hooks, err := webhookConfigurations(filepath.Join("..", "config", "webhook"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: time.Minute,
		WebhookInstallOptions:    envtest.WebhookInstallOptions{MutatingWebhooks: hooks},
	}
	cfg, err = env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting envtest (kube-apiserver and etcd from %s): %v\n", assets, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		}
	}()

	k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: cli.Scheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "tollgate-envtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := testenv.WriteKubeconfig(cfg, kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	wh := env.WebhookInstallOptions
	mgr, err := cli.NewManager(cfg, cli.ManagerOptions{
		MetricsBindAddress:     "0",
		HealthProbeBindAddress: "0",
		KubeAPIQPS:             -1, // as `tollgate manager` by default: no client-side limit
		SidecarImage:           testSidecarImage,
		// envtest made the certificate and put its CA in the webhook configuration.
		CertMode:       cli.CertModeNone,
		WebhookHost:    wh.LocalServingHost,
		WebhookPort:    wh.LocalServingPort,
		WebhookCertDir: wh.LocalServingCertDir,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		}
	}()
	if err := waitForWebhook(wh.LocalServingHost, wh.LocalServingPort); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// testSidecarImage is the --sidecar-image of the suite's manager.
const testSidecarImage = "registry.example/tollgate:test"

// webhookConfigurations renders a kustomization and returns its webhook configurations,
// ready for envtest, which replaces each service reference with its own URL.
func webhookConfigurations(dir string) ([]*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", dir, err)
	}
	var out []*admissionregistrationv1.MutatingWebhookConfiguration
	for _, r := range res.Resources() {
		if r.GetKind() != "MutatingWebhookConfiguration" {
			continue
		}
		doc, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		c := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := yaml.Unmarshal(doc, c); err != nil {
			return nil, err
		}
		for i := range c.Webhooks {
			if svc := c.Webhooks[i].ClientConfig.Service; svc != nil && svc.Path != nil {
				// envtest joins host and path with a slash of its own.
				p := strings.TrimPrefix(*svc.Path, "/")
				svc.Path = &p
			}
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s renders no MutatingWebhookConfiguration", dir)
	}
	return out, nil
}

// waitForWebhook waits until the manager's webhook server accepts TLS connections.
func waitForWebhook(host string, port int) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the webhook server at %s did not come up: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newNamespace gives a test its own namespace.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// events lists the Events about one object, oldest first.
func events(t *testing.T, ns, name string) []eventsv1.Event {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// waitForEvent waits for an Event of this reason about the object whose note contains
// every one of the given strings, and returns it.
func waitForEvent(t *testing.T, ns, name, eventType, reason string, contains ...string) eventsv1.Event {
	t.Helper()
	var found eventsv1.Event
	testwait.Until(t, 30*time.Second, fmt.Sprintf("a %s Event %s about %s/%s containing %q", eventType, reason, ns, name, contains), func() (bool, string) {
		evs := events(t, ns, name)
		var seen []string
	next:
		for _, e := range evs {
			seen = append(seen, e.Type+" "+e.Reason+": "+e.Note)
			if e.Reason != reason || e.Type != eventType {
				continue
			}
			for _, c := range contains {
				if !strings.Contains(e.Note, c) {
					continue next
				}
			}
			found = e
			return true, ""
		}
		return false, fmt.Sprintf("events: %q", seen)
	})
	return found
}
