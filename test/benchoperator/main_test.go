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

// Package benchoperator measures `tollgate manager` at scale: the real binary in its own
// process, against envtest's kube-apiserver and etcd, so that its memory is its own.
package benchoperator

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/testenv"
	"github.com/tollgate-dev/tollgate/internal/testproc"
)

var (
	tollgateBin string // tollgate (the manager and the CLI), built by TestMain
	cfg         *rest.Config
	k8s         client.WithWatch
	kubeconfig  string // a kubeconfig file for the envtest API server
	cluster     *testenv.Cluster
)

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("TOLLGATE_BENCH_OPERATOR") != "1" {
		os.Exit(m.Run()) // the benchmark skips itself; build and start nothing
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := testproc.TempDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if tollgateBin, err = testproc.Build("../../cmd/tollgate", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctrl.SetLogger(logr.Discard())
	cluster, err = testenv.StartCluster(filepath.Join("..", ".."), dir, cli.Scheme())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		}
	}()
	cfg, k8s, kubeconfig = cluster.Config, cluster.Client, cluster.Kubeconfig
	return m.Run()
}
