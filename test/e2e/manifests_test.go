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

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/tollgate-dev/tollgate/internal/testenv"
)

// render builds a kustomization of config/ the way `kubectl kustomize` does.
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join("..", "..", "config", dir))
	if err != nil {
		t.Fatalf("kustomize build config/%s: %v", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range m.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("config/%s: %s: %v", dir, r.CurId().String(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			t.Fatalf("config/%s: %s: %v", dir, r.CurId().String(), err)
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		t.Fatalf("config/%s renders no objects", dir)
	}
	return objs
}

func envtestAssets(t *testing.T) string {
	t.Helper()
	dir, err := testenv.Assets(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestManifestsPassServerValidation renders config/default and config/samples and asks a real
// API server to validate every object: the CRD and the namespaces are created, everything else
// goes through a server-side dry run (dryRun=All), which runs defaulting, schema, CEL rules and
// built-in validation without storing anything.
func TestManifestsPassServerValidation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a kube-apiserver")
	}
	ctrllog.SetLogger(logr.Discard())
	env := &envtest.Environment{BinaryAssetsDirectory: envtestAssets(t)}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	installed := render(t, "default")
	samples := render(t, "samples")

	// First what the others depend on, for real: the CRD (established) and the namespaces.
	for _, o := range installed {
		switch o.GetKind() {
		case "CustomResourceDefinition", "Namespace":
			if err := c.Create(ctx, o.DeepCopy()); err != nil {
				t.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
		if o.GetKind() == "CustomResourceDefinition" {
			waitEstablished(ctx, t, c, o.GetName())
		}
	}
	const samplesNS = "samples"
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(samplesNS)
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}

	dryRun := func(name string, objs []*unstructured.Unstructured, namespace string) {
		t.Run(name, func(t *testing.T) {
			for _, o := range objs {
				if o.GetKind() == "CustomResourceDefinition" || o.GetKind() == "Namespace" {
					continue
				}
				o = o.DeepCopy()
				if namespace != "" && o.GetNamespace() == "" {
					o.SetNamespace(namespace)
				}
				id := fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
				err := c.Create(ctx, o, client.DryRunAll)
				if meta.IsNoMatchError(err) && o.GroupVersionKind().Group == "cert-manager.io" {
					t.Logf("%s: cert-manager is not installed on envtest; not validated", id)
					continue
				}
				if err != nil {
					t.Errorf("%s does not pass the API server's validation: %v", id, err)
				}
			}
		})
	}
	// Cluster-scoped objects of samples get no namespace; namespaced ones go to samplesNS.
	dryRun("config/default", installed, "")
	dryRun("config/samples", samples, samplesNS)
	dryRun("config/networkpolicy", render(t, "networkpolicy"), "")
}

func waitEstablished(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	for {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		err := c.Get(ctx, client.ObjectKey{Name: name}, crd)
		if err == nil {
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return
				}
			}
		} else if !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("CRD %s was not established", name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestSamplesRenderAsDocumented guards the names the README and the demo rely on.
func TestSamplesRenderAsDocumented(t *testing.T) {
	want := map[string]bool{
		"Secret/shop-users": false, "AuthPolicy/shop-api": false, "AuthPolicy/shop-api-ha": false,
		"Deployment/shop": false, "Service/shop": false, "StatefulSet/redis": false, "Service/redis": false,
	}
	var out bytes.Buffer
	for _, o := range render(t, "samples") {
		id := o.GetKind() + "/" + o.GetName()
		fmt.Fprintln(&out, id)
		if _, ok := want[id]; ok {
			want[id] = true
		}
	}
	for id, found := range want {
		if !found {
			t.Errorf("config/samples renders no %s; it renders:\n%s", id, out.String())
		}
	}
}
