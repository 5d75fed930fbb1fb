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

package unprotected_test

import (
	"os"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tollgate-dev/tollgate/internal/operatortest"
)

// The tests run against one real API server and the operator's manager (operatortest).
var (
	k8s client.WithWatch
	cfg *rest.Config
)

func TestMain(m *testing.M) {
	os.Exit(operatortest.Main(m, func(e *operatortest.Env) { k8s, cfg = e.Client, e.Config }))
}

var (
	newNamespace = operatortest.Namespace
	waitForEvent = operatortest.WaitForEvent
	newPolicy    = operatortest.NewPolicy
	create       = operatortest.Create
	getPolicy    = operatortest.GetPolicy
	waitReady    = operatortest.WaitReady
	appPod       = operatortest.AppPod
	createPod    = operatortest.CreatePod
	sidecarOf    = operatortest.SidecarOf
	injected     = operatortest.Injected
)
