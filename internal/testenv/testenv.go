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

// Package testenv finds the control-plane binaries envtest runs and writes kubeconfigs for
// the processes a test starts against it.
package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Assets is the directory holding kube-apiserver and etcd: $KUBEBUILDER_ASSETS, else
// bin/k8s under repoRoot, where `make envtest-binaries` builds them.
func Assets(repoRoot string) (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir, _ = filepath.Abs(filepath.Join(repoRoot, "bin", "k8s"))
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("these tests need a real kube-apiserver and etcd, and %s has no %s.\n"+
				"Build them from source with `make envtest-binaries` (or run `make test`, which does),\n"+
				"or point KUBEBUILDER_ASSETS at a directory that holds both", dir, bin)
		}
	}
	return dir, nil
}

// WriteKubeconfig writes a kubeconfig for cfg to path, with namespace default.
func WriteKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: "default"}
	kc.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*kc, path)
}

// Cluster is envtest's kube-apiserver and etcd with tollgate's CRDs installed, a client of
// it, and a kubeconfig file for the processes a test starts against it.
type Cluster struct {
	Config     *rest.Config
	Client     client.WithWatch
	Kubeconfig string
	env        *envtest.Environment
}

// Namespace creates a namespace named prefix and a random suffix, for one test.
func (c *Cluster) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := c.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// StartCluster starts the API server (binaries from Assets) with config/crd/bases under
// repoRoot installed, a client with scheme, and writes the kubeconfig into dir. Stop ends it.
func StartCluster(repoRoot, dir string, scheme *runtime.Scheme) (*Cluster, error) {
	assets, err := Assets(repoRoot)
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest (kube-apiserver and etcd from %s): %w", assets, err)
	}
	c := &Cluster{Config: cfg, Kubeconfig: filepath.Join(dir, "kubeconfig"), env: env}
	if c.Client, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme}); err == nil {
		err = WriteKubeconfig(cfg, c.Kubeconfig)
	}
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return c, nil
}

// Stop stops the API server and etcd.
func (c *Cluster) Stop() error { return c.env.Stop() }
