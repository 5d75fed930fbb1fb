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
	"reflect"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tollgate-dev/tollgate/internal/helmchart"
	"github.com/tollgate-dev/tollgate/internal/testenv"
)

// The Prometheus Operator's own CRDs (hack/vendor-prometheus-operator-crds.sh).
var prometheusOperatorCRDs = filepath.Join("testdata", "prometheus-operator-crds")

// With the Prometheus Operator's real CRDs served by a real API server (envtest), the
// chart installs its monitoring objects as rendered (the CRDs' schemas accept every field:
// none is refused or pruned), an upgrade to insecure metrics without the PodMonitor
// rewrites the ServiceMonitor and removes the PodMonitor, and uninstall removes the rest.
func TestTheChartInstallsItsMonitors(t *testing.T) {
	assets, err := testenv.Assets(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	ctrllog.SetLogger(logr.Discard())
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: time.Minute,
		CRDDirectoryPaths:        []string{prometheusOperatorCRDs},
		ErrorIfCRDPathMissing:    true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	if len(env.CRDs) != 3 {
		t.Fatalf("loaded %d CRDs from %s, want ServiceMonitor, PodMonitor and PrometheusRule", len(env.CRDs), prometheusOperatorCRDs)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := testenv.WriteKubeconfig(cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{})
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

	// checkInstalled: every monitoring object the values render is in the cluster with
	// the spec (or data) rendered, and the others are not.
	checkInstalled := func(t *testing.T, values map[string]any, absent ...string) {
		t.Helper()
		rendered := 0
		for _, want := range render(t, values) {
			if !isMonitoring(want) {
				continue
			}
			rendered++
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(want.GroupVersionKind())
			if err := c.Get(ctx, client.ObjectKeyFromObject(want), got); err != nil {
				t.Errorf("%s %s: %v", want.GetKind(), want.GetName(), err)
				continue
			}
			field := "spec"
			if want.GetKind() == "ConfigMap" {
				field = "data"
			}
			if !reflect.DeepEqual(got.Object[field], want.Object[field]) {
				t.Errorf("%s %s in the cluster differs from the chart's:\n%s", want.GetKind(), want.GetName(),
					diff(t, "the chart", map[string]any{field: want.Object[field]}, map[string]any{field: got.Object[field]}))
			}
		}
		if rendered == 0 {
			t.Fatal("the values render no monitoring object")
		}
		for _, kind := range absent {
			list := &unstructured.UnstructuredList{}
			list.SetAPIVersion("monitoring.coreos.com/v1")
			list.SetKind(kind + "List")
			if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != 0 {
				t.Errorf("%d %s still there", len(list.Items), kind)
			}
		}
	}

	all := monitoringOn(map[string]any{"labels": map[string]any{"release": "kube-prometheus-stack"}})
	all["metrics"] = map[string]any{"certSecret": "tollgate-metrics-server-cert"}
	t.Run("install creates the ServiceMonitor, PodMonitor, PrometheusRule and dashboard as rendered", func(t *testing.T) {
		if _, err := helm.Install(ctx, ch, "tollgate", all); err != nil {
			t.Fatal(err)
		}
		checkInstalled(t, all)
	})

	insecure := monitoringOn(map[string]any{"podMonitor": map[string]any{"enabled": false}})
	insecure["metrics"] = map[string]any{"secure": false}
	t.Run("upgrade to insecure metrics without the PodMonitor", func(t *testing.T) {
		if _, err := helm.Upgrade(ctx, ch, "tollgate", insecure); err != nil {
			t.Fatal(err)
		}
		checkInstalled(t, insecure, "PodMonitor")
	})

	t.Run("uninstall removes them", func(t *testing.T) {
		if err := helm.Uninstall("tollgate"); err != nil {
			t.Fatal(err)
		}
		for _, obj := range render(t, insecure) {
			if !isMonitoring(obj) {
				continue
			}
			err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj.DeepCopy())
			if !apierrors.IsNotFound(err) {
				t.Errorf("%s %s: %v, want NotFound", obj.GetKind(), obj.GetName(), err)
			}
		}
	})
}
