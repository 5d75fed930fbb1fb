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

// Package helmchart drives charts/tollgate with the Helm Go SDK (helm.sh/helm/v4) the way
// the helm CLI does: render (helm template), lint (helm lint), install, upgrade and
// uninstall. Only tests link it: neither binary imports Helm.
package helmchart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// Dir is charts/tollgate below the repository root.
func Dir(repoRoot string) string { return filepath.Join(repoRoot, "charts", "tollgate") }

// Load reads the chart from its directory.
func Load(dir string) (*chartv2.Chart, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("loading the chart %s: %w", dir, err)
	}
	return ch, nil
}

// KubeVersion is the Kubernetes version Render assumes: the one envtest and the real node
// run (hack/envtest-binaries.sh).
const KubeVersion = "v1.37.2"

// Render is `helm template --include-crds --kube-version KubeVersion`: the chart's objects
// for a release named release in namespace, without a cluster.
func Render(ch *chartv2.Chart, release, namespace string, values map[string]any) ([]*unstructured.Unstructured, error) {
	var err error
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	cfg.KubeClient = &kubefake.PrintingKubeClient{Out: io.Discard}
	cfg.Releases = storage.Init(driver.NewMemory())
	install := action.NewInstall(cfg)
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = release
	install.Namespace = namespace
	install.Replace = true
	install.IncludeCRDs = true
	if install.KubeVersion, err = common.ParseKubeVersion(KubeVersion); err != nil {
		return nil, err
	}
	r, err := install.Run(ch, values)
	if err != nil {
		return nil, fmt.Errorf("rendering the chart: %w", err)
	}
	rel, ok := r.(*releasev1.Release)
	if !ok {
		return nil, fmt.Errorf("rendering the chart: a release of type %T", r)
	}
	return Objects(rel.Manifest)
}

// Objects splits a multi-document manifest into objects, skipping empty documents.
func Objects(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var doc json.RawMessage
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decoding the manifest: %w", err)
		}
		if len(doc) == 0 || string(doc) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(doc); err != nil {
			return nil, fmt.Errorf("decoding the manifest: %w", err)
		}
		objs = append(objs, u)
	}
}

// Lint is `helm lint --strict`: the messages of the SDK's lint rules (chart file,
// values, templates, CRDs) for the chart at dir installed into namespace with values,
// but for the one about a missing icon (tollgate has none).
func Lint(dir, namespace string, values map[string]any) []support.Message {
	var msgs []support.Message
	for _, m := range lint.RunAll(dir, values, namespace).Messages {
		if m.Severity == support.InfoSev && m.Path == "Chart.yaml" && strings.Contains(m.Err.Error(), "icon is recommended") {
			continue
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// Client runs Helm actions against one cluster.
type Client struct {
	cfg       *action.Configuration
	namespace string
	timeout   time.Duration
}

// NewClient is a Helm client for the cluster of the kubeconfig file, keeping its release
// records as Secrets in namespace (Helm's default driver); it waits up to timeout for
// installed objects to be ready (timeout 0: it does not wait).
func NewClient(kubeconfig, namespace string, timeout time.Duration) (*Client, error) {
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	flags.Namespace = &namespace
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	if err := cfg.Init(flags, namespace, "secret"); err != nil {
		return nil, fmt.Errorf("helm: %w", err)
	}
	return &Client{cfg: cfg, namespace: namespace, timeout: timeout}, nil
}

func (c *Client) wait() kube.WaitStrategy {
	if c.timeout == 0 {
		return kube.HookOnlyStrategy
	}
	return kube.StatusWatcherStrategy
}

// Install is `helm install --create-namespace [--wait]`.
func (c *Client) Install(ctx context.Context, ch *chartv2.Chart, release string, values map[string]any) (*releasev1.Release, error) {
	in := action.NewInstall(c.cfg)
	in.ReleaseName = release
	in.Namespace = c.namespace
	in.CreateNamespace = true
	in.WaitStrategy = c.wait()
	in.Timeout = c.timeout
	r, err := in.RunWithContext(ctx, ch, values)
	return asRelease(r, err, "installing")
}

// Upgrade is `helm upgrade [--wait]` with values replacing the previous ones.
func (c *Client) Upgrade(ctx context.Context, ch *chartv2.Chart, release string, values map[string]any) (*releasev1.Release, error) {
	up := action.NewUpgrade(c.cfg)
	up.Namespace = c.namespace
	up.WaitStrategy = c.wait()
	up.Timeout = c.timeout
	r, err := up.RunWithContext(ctx, release, ch, values)
	return asRelease(r, err, "upgrading")
}

// Uninstall is `helm uninstall --wait`: it returns once the release's objects are gone
// (CRDs stay, as Helm never deletes them).
func (c *Client) Uninstall(release string) error {
	un := action.NewUninstall(c.cfg)
	un.WaitStrategy = c.wait()
	un.Timeout = c.timeout
	if _, err := un.Run(release); err != nil {
		return fmt.Errorf("helm uninstall %s: %w", release, err)
	}
	return nil
}

func asRelease(r any, err error, doing string) (*releasev1.Release, error) {
	if err != nil {
		return nil, fmt.Errorf("helm: %s the chart: %w", doing, err)
	}
	rel, ok := r.(*releasev1.Release)
	if !ok {
		return nil, fmt.Errorf("helm: %s the chart: a release of type %T", doing, r)
	}
	return rel, nil
}
