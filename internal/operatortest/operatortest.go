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

// Package operatortest runs a real kube-apiserver and etcd (envtest) and the operator's
// manager, set up exactly as `tollgate manager` sets it up, for the tests of the packages
// the manager wires; the API server calls the manager's injection webhook, installed from
// config/webhook as kustomize renders it.
package operatortest

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// ManagerRequests returns how many requests the manager has sent to the API server, by
// verb: get (a GET, one object or a list), watch, create, update, patch, delete.
func ManagerRequests() map[string]int64 {
	requests.mu.Lock()
	defer requests.mu.Unlock()
	return maps.Clone(requests.byVerb)
}

var requests struct {
	mu     sync.Mutex
	byVerb map[string]int64
}

// countingTransport counts the manager's requests for ManagerRequests.
type countingTransport struct{ http.RoundTripper }

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	verb := map[string]string{
		http.MethodGet: "get", http.MethodPost: "create", http.MethodPut: "update",
		http.MethodPatch: "patch", http.MethodDelete: "delete",
	}[r.Method]
	if verb == "get" && r.URL.Query().Get("watch") == "true" {
		verb = "watch"
	}
	requests.mu.Lock()
	if requests.byVerb == nil {
		requests.byVerb = map[string]int64{}
	}
	requests.byVerb[verb]++
	requests.mu.Unlock()
	return t.RoundTripper.RoundTrip(r)
}

// Env is a running control plane with the operator's manager.
type Env struct {
	Config     *rest.Config
	Client     client.WithWatch
	Kubeconfig string // a kubeconfig file for the CLI commands
}

// k8s is the client of the running Env, for the helpers here.
var k8s client.WithWatch

var (
	once     sync.Once
	started  *Env
	startErr error
	stop     = func() {}
)

// Main runs the tests of a package whose tests all need the control plane: it starts it,
// hands it to use, runs the tests and stops it. Fuzzing and listing tests start nothing.
func Main(m *testing.M, use func(*Env)) int {
	flag.Parse()
	if noControlPlane() {
		return m.Run()
	}
	defer func() { stop() }() // stop is set when the control plane starts
	env, err := start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	use(env)
	return m.Run()
}

// MainLazy runs the tests of a package where only some tests need the control plane: the
// first Start starts it, and it stops after the last test. The others run with plain
// `go test` and no API server.
func MainLazy(m *testing.M) int {
	defer func() { stop() }() // stop is set when the control plane starts
	return m.Run()
}

// Start starts the control plane once per test binary (under MainLazy) and returns it.
func Start(t testing.TB) *Env {
	t.Helper()
	env, err := start()
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func start() (*Env, error) {
	once.Do(func() { started, startErr = startEnv() })
	return started, startErr
}

// noControlPlane is true when the test binary only lists tests or fuzzes: fuzz targets
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

// repoRoot is the directory holding go.mod, above the test's working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// startEnv starts envtest and the manager, and sets stop to stop both.
func startEnv() (_ *Env, retErr error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if retErr != nil {
			stop()
			stop = func() {}
		}
	}()
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := testenv.Assets(root)
	if err != nil {
		return nil, err
	}
	if os.Getenv("TOLLGATE_TEST_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	hooks, err := WebhookConfigurations(filepath.Join(root, "config", "webhook"))
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: time.Minute,
		WebhookInstallOptions:    envtest.WebhookInstallOptions{MutatingWebhooks: hooks},
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest (kube-apiserver and etcd from %s): %w", assets, err)
	}
	stops = append(stops, func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		}
	})

	c, err := client.NewWithWatch(cfg, client.Options{Scheme: cli.Scheme()})
	if err != nil {
		return nil, err
	}
	k8s = c
	dir, err := os.MkdirTemp("", "tollgate-envtest-")
	if err != nil {
		return nil, err
	}
	stops = append(stops, func() { os.RemoveAll(dir) })
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := testenv.WriteKubeconfig(cfg, kubeconfig); err != nil {
		return nil, err
	}

	wh := env.WebhookInstallOptions
	mcfg := rest.CopyConfig(cfg)
	mcfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt} })
	mgr, err := cli.NewManager(mcfg, cli.ManagerOptions{
		MetricsBindAddress:     "0",
		HealthProbeBindAddress: "0",
		KubeAPIQPS:             -1, // as `tollgate manager` by default: no client-side limit
		SidecarImage:           SidecarImage,
		// envtest made the certificate and put its CA in the webhook configuration.
		CertMode:       cli.CertModeNone,
		WebhookHost:    wh.LocalServingHost,
		WebhookPort:    wh.LocalServingPort,
		WebhookCertDir: wh.LocalServingCertDir,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stops = append(stops, func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		}
	})
	if err := waitForWebhook(wh.LocalServingHost, wh.LocalServingPort); err != nil {
		return nil, err
	}
	return &Env{Config: cfg, Client: c, Kubeconfig: kubeconfig}, nil
}

// SidecarImage is the --sidecar-image of the suite's manager.
const SidecarImage = "registry.example/tollgate:test"

// WebhookConfigurations renders a kustomization and returns its webhook configurations,
// ready for envtest, which replaces each service reference with its own URL.
func WebhookConfigurations(dir string) ([]*admissionregistrationv1.MutatingWebhookConfiguration, error) {
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

// Namespace gives a test its own namespace.
func Namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// Events lists the Events about one object, oldest first.
func Events(t *testing.T, ns, name string) []eventsv1.Event {
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

// WaitForEvent waits for an Event of this reason about the object whose note contains
// every one of the given strings, and returns it.
func WaitForEvent(t *testing.T, ns, name, eventType, reason string, contains ...string) eventsv1.Event {
	t.Helper()
	var found eventsv1.Event
	testwait.Until(t, 30*time.Second, fmt.Sprintf("a %s Event %s about %s/%s containing %q", eventType, reason, ns, name, contains), func() (bool, string) {
		evs := Events(t, ns, name)
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
