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
	"crypto/tls"
	goflag "flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/tollgate-dev/tollgate/internal/controller/authpolicy"
	"github.com/tollgate-dev/tollgate/internal/controller/unprotected"
	"github.com/tollgate-dev/tollgate/internal/version"
	"github.com/tollgate-dev/tollgate/internal/webhook/dev"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

// LeaderElectionID names the Lease the manager replicas compete for.
const LeaderElectionID = "tollgate-manager.auth.tollgate.dev"

// DefaultSidecarImage is the image the operator injects when --sidecar-image is not given
// and the manager cannot read its own pod's image: the image of this build, so that
// operator and sidecar never skew.
var DefaultSidecarImage = "ghcr.io/tollgate-dev/tollgate:" + version.Version

// Certificate modes of the webhook server (--cert-mode).
const (
	// CertModeSelf: cert-controller keeps a self-signed CA and serving certificate in the
	// Secret tollgate-webhook-server-cert (mounted at --webhook-cert-dir) and the CA in the
	// webhook configuration's caBundle.
	CertModeSelf = "self"
	// CertModeCertManager: cert-manager issues the certificate (config/certmanager) and
	// its CA injector fills the caBundle; the manager serves what is mounted.
	CertModeCertManager = "cert-manager"
	// CertModeNone: someone else provides the files in --webhook-cert-dir and the caBundle.
	CertModeNone = "none"
)

// ManagerOptions are the settings of `tollgate manager`.
type ManagerOptions struct {
	MetricsBindAddress      string
	HealthProbeBindAddress  string
	LeaderElect             bool
	LeaderElectionNamespace string
	// SidecarImage is the image of the injected sidecar. Empty: the image of the
	// manager's own pod (POD_NAME, POD_NAMESPACE), else DefaultSidecarImage.
	SidecarImage            string
	MaxConcurrentReconciles int
	// KubeAPIQPS and KubeAPIBurst bound the client's request rate; a negative QPS leaves
	// it to the API server's priority and fairness, as controller-runtime does by default.
	KubeAPIQPS   float32
	KubeAPIBurst int

	// Namespace is the operator's own namespace: where the self-managed certificate
	// lives, and a namespace the webhook never touches. Empty: POD_NAMESPACE, else
	// tollgate-system.
	Namespace string
	// DisableWebhook runs the controllers only.
	DisableWebhook bool
	// WebhookHost and WebhookPort are where the webhook server listens.
	WebhookHost string
	WebhookPort int
	// WebhookCertDir holds tls.crt and tls.key (modes self, cert-manager, none).
	WebhookCertDir string
	// CertMode is self, cert-manager or none.
	CertMode string
	// WebhookURL, when set, is local development: the manager runs outside the cluster,
	// serves the webhook with an in-memory certificate for the URL's host, and installs
	// the MutatingWebhookConfiguration tollgate-dev-mutating-webhook-configuration that
	// points the API server at <URL>/inject. CertMode is then ignored.
	WebhookURL string
	// OTLPEndpoint is the OpenTelemetry collector (OTLP/HTTP) that receives a span per
	// reconcile; empty: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
	OTLPEndpoint string

	// MetricsSecure serves metrics over HTTPS to authenticated, authorized scrapers only
	// (metricsOptions); MetricsCertDir holds its tls.crt and tls.key (empty: self-signed).
	MetricsSecure  bool
	MetricsCertDir string
	// PprofBindAddress serves net/http/pprof there; empty: off.
	PprofBindAddress string

	// skipNameValidation lets tests run several managers in one process.
	skipNameValidation bool
}

func (o *ManagerOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	f.BoolVar(&o.MetricsSecure, "metrics-secure", true, "serve metrics over HTTPS, only to scrapers whose token may get the non-resource URL /metrics (ClusterRole tollgate-metrics-reader); false: plain HTTP to anyone")
	f.StringVar(&o.MetricsCertDir, "metrics-cert-dir", "", "directory of the metrics server's tls.crt and tls.key (with --metrics-secure); empty: a self-signed certificate made at start")
	f.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	f.StringVar(&o.PprofBindAddress, "pprof-bind-address", "", "address of Go's profiles (/debug/pprof/, unauthenticated: bind it to localhost and reach it with kubectl port-forward); empty: off")
	f.BoolVar(&o.LeaderElect, "leader-elect", false, "elect a leader among the replicas, so that one reconciles at a time")
	f.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's namespace)")
	f.StringVar(&o.SidecarImage, "sidecar-image", "", "image of the injected sidecar (running tollgate-sidecar); default: the image this manager runs as (read from its pod through POD_NAME and POD_NAMESPACE), else "+DefaultSidecarImage)
	f.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "AuthPolicies reconciled in parallel")
	f.Float32Var(&o.KubeAPIQPS, "kube-api-qps", -1, "client-side limit of API requests per second; negative: none (API priority and fairness)")
	f.IntVar(&o.KubeAPIBurst, "kube-api-burst", 0, "burst of the client-side limit")
	f.BoolVar(&o.DisableWebhook, "disable-webhook", false, "do not serve the sidecar injection webhook (controllers only)")
	f.IntVar(&o.WebhookPort, "webhook-port", webhook.DefaultPort, "port of the injection webhook server (with --webhook-url: default the URL's port)")
	f.StringVar(&o.WebhookCertDir, "webhook-cert-dir", DefaultWebhookCertDir, "directory of the webhook server's tls.crt and tls.key")
	f.StringVar(&o.CertMode, "cert-mode", CertModeSelf, "who provides the webhook's certificate: self (rotated by the manager in Secret "+injection.WebhookSecretName+"), cert-manager, or none")
	f.StringVar(&o.OTLPEndpoint, "otlp-endpoint", "", "OpenTelemetry collector (OTLP/HTTP) base URL, such as http://otel-collector:4318, for a span per reconcile; empty: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set")
	f.StringVar(&o.WebhookURL, "webhook-url", "", "local development: the URL where the API server reaches this process (https://localhost:9443); the manager serves the webhook there with its own certificate and installs "+dev.ConfigurationName)
}

// complete fills in what depends on which flags were given: the operator's namespace from
// -n/--namespace (else POD_NAMESPACE, else tollgate-system, in NewManager), and with
// --webhook-url the port of the URL unless --webhook-port says otherwise.
func (o *ManagerOptions) complete(cmd *cobra.Command) {
	if f := cmd.Flag("namespace"); f != nil && f.Changed {
		o.Namespace = f.Value.String()
	}
	if !cmd.Flags().Changed("webhook-port") {
		o.WebhookPort = 0
	}
}

// DefaultWebhookCertDir is where config/default mounts the serving certificate.
const DefaultWebhookCertDir = "/tmp/k8s-webhook-server/serving-certs"

func newManagerCommand(kube *genericclioptions.ConfigFlags) *cobra.Command {
	opts := ManagerOptions{}
	zapOpts := zap.Options{}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the operator: reconcile AuthPolicies, rotate their keys, inject sidecars",
		Long: `Run the operator. For each AuthPolicy it keeps the Secret <policy>-signing-keys
(keyset.json, jwks.json) rotating on schedule, the ConfigMap <policy>-sidecar
(policy.yaml) up to date, and the policy's status and Events current. It serves the
mutating webhook that injects the sidecar into pods annotated auth.tollgate.dev/policy
in namespaces labelled auth.tollgate.dev/injection=enabled, and reports annotated pods
that run without it.

In a cluster it uses its service account; elsewhere, --kubeconfig or $KUBECONFIG.
Outside a cluster, --webhook-url https://localhost:9443 serves the webhook from this
process and installs a webhook configuration pointing at it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
			setMemoryLimit(ctrl.Log.WithName("memlimit"))
			cfg, err := kube.ToRESTConfig()
			if err != nil {
				return fmt.Errorf("loading the Kubernetes client configuration: %w", err)
			}
			opts.complete(cmd)
			stopTracing, err := startTracing(cmd.Context(), opts.OTLPEndpoint)
			if err != nil {
				return err
			}
			defer stopTracing()
			mgr, err := NewManager(cfg, opts)
			if err != nil {
				return err
			}
			ctrl.Log.WithName("setup").Info("starting the manager", "version", version.String("tollgate"))
			return mgr.Start(cmd.Context())
		},
	}
	opts.addFlags(cmd)
	gf := goflag.NewFlagSet("zap", goflag.ContinueOnError)
	zapOpts.BindFlags(gf)
	cmd.Flags().AddGoFlagSet(gf)
	return cmd
}

// NewManager sets up the operator's manager on cfg: cache restricted to tollgate's own
// Secrets and ConfigMaps (and stripped pods), leader election, probes, the AuthPolicy
// reconciler, the unprotected-pod report, and unless disabled the injection webhook with
// its certificates.
func NewManager(cfg *rest.Config, o ManagerOptions) (ctrl.Manager, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	if cfg.QPS == 0 {
		cfg.QPS = -1
	}
	if o.Namespace == "" {
		o.Namespace = os.Getenv("POD_NAMESPACE")
	}
	if o.Namespace == "" {
		o.Namespace = injection.DefaultOperatorNamespace
	}
	var hook *injectionWebhook
	if !o.DisableWebhook {
		var err error
		if hook, err = newInjectionWebhook(o); err != nil {
			return nil, err
		}
	}
	opts := ctrl.Options{
		Scheme:                        Scheme(),
		Cache:                         CacheOptions(),
		Metrics:                       metricsOptions(o),
		HealthProbeBindAddress:        o.HealthProbeBindAddress,
		PprofBindAddress:              o.PprofBindAddress,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
	}
	if hook != nil {
		opts.WebhookServer = hook.server
	}
	if o.skipNameValidation {
		opts.Controller.SkipNameValidation = ptr.To(true)
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	policies := &authpolicy.Reconciler{
		Client:                  mgr.GetClient(),
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}
	if err := policies.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the AuthPolicy controller: %w", err)
	}
	if o.SidecarImage == "" {
		if o.SidecarImage, err = ownImage(mgr.GetAPIReader()); err != nil {
			return nil, err
		}
	}
	policies.AuthorizerImage = o.SidecarImage // read when the manager starts reconciling
	if err := (&unprotected.Reporter{Client: mgr.GetClient(), SidecarImage: o.SidecarImage}).SetupWithManager(context.Background(), mgr); err != nil {
		return nil, fmt.Errorf("setting up the unprotected-pod report: %w", err)
	}
	if err := registerPolicyMetrics(mgr); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if hook != nil {
		if err := hook.setup(mgr, o); err != nil {
			return nil, err
		}
		return mgr, mgr.AddReadyzCheck("webhook", hook.server.StartedChecker())
	}
	return mgr, mgr.AddReadyzCheck("readyz", healthz.Ping)
}

// injectionWebhook is the webhook server and where its certificate comes from.
type injectionWebhook struct {
	server webhook.Server
	// local is the in-memory certificate of --webhook-url mode.
	local *dev.LocalServingCert
	// url is the full URL of the injection endpoint in --webhook-url mode.
	url string
}

func newInjectionWebhook(o ManagerOptions) (*injectionWebhook, error) {
	h := &injectionWebhook{}
	sopts := webhook.Options{
		Host:    o.WebhookHost,
		Port:    o.WebhookPort,
		CertDir: o.WebhookCertDir,
		// HTTP/2 is off: the API server speaks HTTP/1.1 to webhooks, and this closes the
		// HTTP/2 rapid-reset and stream-cancellation attacks (CVE-2023-44487/39325).
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
	if o.WebhookURL != "" {
		u, err := url.Parse(o.WebhookURL)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" {
			return nil, fmt.Errorf("--webhook-url %q: must be an https URL such as https://localhost:9443", o.WebhookURL)
		}
		if sopts.Port == 0 {
			sopts.Port = 443
			if p := u.Port(); p != "" {
				sopts.Port, _ = strconv.Atoi(p)
			}
		}
		path := strings.TrimSuffix(u.Path, "/")
		if !strings.HasSuffix(path, injection.InjectPath) {
			path += injection.InjectPath
		}
		u.Path = path
		h.url = u.String()
		if h.local, err = dev.NewLocalServingCert(dev.LocalHosts(u.Hostname())); err != nil {
			return nil, err
		}
		sopts.TLSOpts = append(sopts.TLSOpts, func(c *tls.Config) { c.GetCertificate = h.local.GetCertificate })
	} else {
		switch o.CertMode {
		case CertModeSelf, CertModeCertManager, CertModeNone:
		default:
			return nil, fmt.Errorf("--cert-mode %q: must be %s, %s or %s", o.CertMode, CertModeSelf, CertModeCertManager, CertModeNone)
		}
	}
	if sopts.Port == 0 {
		sopts.Port = webhook.DefaultPort
	}
	h.server = webhook.NewServer(sopts)
	return h, nil
}

// setup registers the injector and starts the server the way the certificate mode needs.
func (h *injectionWebhook) setup(mgr ctrl.Manager, o ManagerOptions) error {
	log := ctrl.Log.WithName("setup")
	image := o.SidecarImage
	log.Info("injection webhook", "sidecarImage", image, "operatorNamespace", o.Namespace, "certMode", o.CertMode, "url", h.url)
	h.server.Register(injection.InjectPath, &webhook.Admission{
		Handler: injection.NewPodInjector(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetScheme(), image),
	})

	switch {
	case h.local != nil:
		if err := mgr.Add(&dev.Webhook{
			Client: mgr.GetClient(), URL: h.url, CABundle: h.local.CABundle(), OperatorNamespace: o.Namespace,
		}); err != nil {
			return err
		}
		mgr.GetWebhookServer() // adds the server to the manager
	case o.CertMode == CertModeSelf:
		ready := make(chan struct{})
		if err := rotator.AddRotator(mgr, &rotator.CertRotator{
			SecretKey:      client.ObjectKey{Namespace: o.Namespace, Name: injection.WebhookSecretName},
			CertDir:        o.WebhookCertDir,
			CAName:         "tollgate-webhook-ca",
			CAOrganization: "tollgate",
			DNSName:        injection.WebhookServiceName + "." + o.Namespace + ".svc",
			ExtraDNSNames:  []string{injection.WebhookServiceName + "." + o.Namespace + ".svc.cluster.local"},
			IsReady:        ready,
			Webhooks:       []rotator.WebhookInfo{{Name: injection.WebhookConfigurationName, Type: rotator.Mutating}},
			// Every replica serves the webhook, so every replica keeps the certificate; the
			// Secret's resourceVersion settles concurrent writes.
			RequireLeaderElection: false,
			EnableReadinessCheck:  true,
		}); err != nil {
			return fmt.Errorf("setting up the webhook certificate rotation: %w", err)
		}
		// The server reads its certificate at start: it starts once the kubelet has
		// mounted the Secret that the rotator filled.
		return mgr.Add(&startWhenReady{ready: ready, server: h.server})
	default:
		mgr.GetWebhookServer()
	}
	return nil
}

// startWhenReady starts the webhook server once the certificate is in place.
type startWhenReady struct {
	ready  <-chan struct{}
	server webhook.Server
}

func (s *startWhenReady) Start(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.ready:
	}
	ctrl.Log.WithName("setup").Info("the webhook certificate is in place: serving the webhook")
	return s.server.Start(ctx)
}

func (s *startWhenReady) NeedLeaderElection() bool { return false }

var _ manager.LeaderElectionRunnable = &startWhenReady{}

// ownImage is the image of the manager's own container, when the downward API tells the
// manager its pod (POD_NAME, POD_NAMESPACE); else DefaultSidecarImage.
func ownImage(r client.Reader) (string, error) {
	name, ns := os.Getenv("POD_NAME"), os.Getenv("POD_NAMESPACE")
	if name == "" || ns == "" {
		return DefaultSidecarImage, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pod := &corev1.Pod{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod); err != nil {
		return "", fmt.Errorf("reading the manager's own pod %s/%s for its image (or set --sidecar-image): %w", ns, name, err)
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == "manager" {
			return c.Image, nil
		}
	}
	if len(pod.Spec.Containers) > 0 {
		return pod.Spec.Containers[0].Image, nil
	}
	return DefaultSidecarImage, nil
}
