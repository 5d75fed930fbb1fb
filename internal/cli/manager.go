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
	goflag "flag"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tollgate-dev/tollgate/controllers"
	"github.com/tollgate-dev/tollgate/internal/version"
)

// LeaderElectionID names the Lease the manager replicas compete for.
const LeaderElectionID = "tollgate-manager.auth.tollgate.dev"

// DefaultSidecarImage is the image the operator injects unless --sidecar-image says
// otherwise: its own, so operator and sidecar never skew.
var DefaultSidecarImage = "ghcr.io/tollgate-dev/tollgate:" + version.Version

// ManagerOptions are the settings of `tollgate manager`.
type ManagerOptions struct {
	MetricsBindAddress      string
	HealthProbeBindAddress  string
	LeaderElect             bool
	LeaderElectionNamespace string
	// SidecarImage is the image of the injected sidecar (for the pod injector).
	SidecarImage            string
	MaxConcurrentReconciles int
	// KubeAPIQPS and KubeAPIBurst bound the client's request rate; a negative QPS leaves
	// it to the API server's priority and fairness, as controller-runtime does by default.
	KubeAPIQPS   float32
	KubeAPIBurst int
}

func (o *ManagerOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	f.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	f.BoolVar(&o.LeaderElect, "leader-elect", false, "elect a leader among the replicas, so that one reconciles at a time")
	f.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's namespace)")
	f.StringVar(&o.SidecarImage, "sidecar-image", DefaultSidecarImage, "image of the injected sidecar (running tollgate-sidecar)")
	f.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "AuthPolicies reconciled in parallel")
	f.Float32Var(&o.KubeAPIQPS, "kube-api-qps", -1, "client-side limit of API requests per second; negative: none (API priority and fairness)")
	f.IntVar(&o.KubeAPIBurst, "kube-api-burst", 0, "burst of the client-side limit")
}

func newManagerCommand(kube *genericclioptions.ConfigFlags) *cobra.Command {
	opts := ManagerOptions{}
	zapOpts := zap.Options{}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the operator: reconcile AuthPolicies and rotate their signing keys",
		Long: `Run the operator. For each AuthPolicy it keeps the Secret <policy>-signing-keys
(keyset.json, jwks.json) rotating on schedule, the ConfigMap <policy>-sidecar
(policy.yaml) up to date, and the policy's status and Events current.

In a cluster it uses its service account; elsewhere, --kubeconfig or $KUBECONFIG.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
			cfg, err := kube.ToRESTConfig()
			if err != nil {
				return fmt.Errorf("loading the Kubernetes client configuration: %w", err)
			}
			mgr, err := NewManager(cfg, opts)
			if err != nil {
				return err
			}
			ctrl.Log.WithName("setup").Info("starting the manager", "version", version.String("tollgate"), "sidecarImage", opts.SidecarImage)
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
// Secrets and ConfigMaps, leader election, probes, and the AuthPolicy reconciler.
func NewManager(cfg *rest.Config, o ManagerOptions) (ctrl.Manager, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	if cfg.QPS == 0 {
		cfg.QPS = -1
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        Scheme(),
		Cache:                         controllers.CacheOptions(),
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress:        o.HealthProbeBindAddress,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := (&controllers.AuthPolicyReconciler{
		Client:                  mgr.GetClient(),
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the AuthPolicy controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}
