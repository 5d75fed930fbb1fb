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
package injection_test

import (
	"os"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tollgate-dev/tollgate/internal/operatortest"
)

// Injection itself (a pod in, a patch or a refusal out) is tested with plain `go test`.
// The tests of the webhook's wiring (the API server calls the manager's webhook, installed
// from config/webhook) start a real API server and the manager on first use: every one
// begins with newNamespace or labelledNamespace.
func TestMain(m *testing.M) {
	os.Exit(operatortest.MainLazy(m))
}

var (
	cfg         *rest.Config
	k8s         client.WithWatch
	clusterOnce sync.Once
)

// cluster starts the control plane and the manager, once.
func cluster(t *testing.T) {
	t.Helper()
	env := operatortest.Start(t)
	clusterOnce.Do(func() { cfg, k8s = env.Config, env.Client })
}

func newNamespace(t *testing.T) string {
	t.Helper()
	cluster(t)
	return operatortest.Namespace(t)
}

func labelledNamespace(t *testing.T) string {
	t.Helper()
	cluster(t)
	return operatortest.LabelledNamespace(t)
}

const testSidecarImage = operatortest.SidecarImage

var (
	newPolicy = operatortest.NewPolicy
	create    = operatortest.Create
	getPolicy = operatortest.GetPolicy
	appPod    = operatortest.AppPod
	createPod = operatortest.CreatePod
	sidecarOf = operatortest.SidecarOf
	names     = operatortest.Names
	injected  = operatortest.Injected
)
