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
package cli_test

import (
	"os"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tollgate-dev/tollgate/internal/operatortest"
)

// The commands' unit tests run with plain `go test`. The tests of the commands against a
// cluster start a real API server and the operator's manager on first use: every one
// begins with newNamespace or cluster.
func TestMain(m *testing.M) {
	os.Exit(operatortest.MainLazy(m))
}

var (
	cfg         *rest.Config
	k8s         client.WithWatch
	kubeconfig  string
	clusterOnce sync.Once
)

// cluster starts the control plane and the manager, once.
func cluster(t *testing.T) {
	t.Helper()
	env := operatortest.Start(t)
	clusterOnce.Do(func() { cfg, k8s, kubeconfig = env.Config, env.Client, env.Kubeconfig })
}

func newNamespace(t *testing.T) string {
	t.Helper()
	cluster(t)
	return operatortest.Namespace(t)
}

var (
	waitForEvent = operatortest.WaitForEvent
	newPolicy    = operatortest.NewPolicy
	create       = operatortest.Create
	getPolicy    = operatortest.GetPolicy
	waitReady    = operatortest.WaitReady
	getSecret    = operatortest.GetSecret
)
