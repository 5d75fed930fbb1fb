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

package authpolicy_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	clientevents "k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/controller/authpolicy"
	"github.com/tollgate-dev/tollgate/internal/controller/unprotected"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// podListCounter remembers the largest pod list its reconciler read.
type podListCounter struct {
	client.Client
	mu      sync.Mutex
	largest int
}

func (c *podListCounter) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := c.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	if pods, ok := list.(*corev1.PodList); ok {
		c.mu.Lock()
		c.largest = max(c.largest, len(pods.Items))
		c.mu.Unlock()
	}
	return nil
}

// A pass over a policy reads its own pods, not every pod of the namespace: at 10,000 pods
// in one namespace, reading them all on each of the passes they cause costs the square.
func TestAPassReadsOnlyThePodsOfItsPolicy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := newNamespace(t) // not served by the webhook: pods of a policy that does not exist are fine
	create(t, newPolicy(ns, "api"))
	waitReady(t, ns, "api")
	createPod(t, appPod(ns, "api"))
	const others = 20
	for i := range others {
		pod := appPod(ns, "other")
		pod.GenerateName, pod.Name = "", fmt.Sprintf("other-%02d", i)
		createPod(t, pod)
	}

	// The manager's cache, set up as `tollgate manager` sets it up.
	opts := cli.CacheOptions()
	opts.Scheme = cli.Scheme()
	c, err := cache.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := unprotected.IndexPods(ctx, c); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	cached, err := client.New(cfg, client.Options{Scheme: cli.Scheme(), Cache: &client.CacheOptions{Reader: c}})
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 30*time.Second, "the cache to hold the namespace's pods", func() (bool, string) {
		pods := &corev1.PodList{}
		if err := cached.List(ctx, pods, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == others+1, fmt.Sprintf("%d pods", len(pods.Items))
	})

	direct, err := client.New(cfg, client.Options{Scheme: cli.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	counter := &podListCounter{Client: cached}
	r := &authpolicy.Reconciler{Client: counter, APIReader: direct, Recorder: clientevents.NewFakeRecorder(32), Clock: clock.RealClock{}}
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "api"}}); err != nil {
		t.Fatal(err)
	}
	if counter.largest != 1 {
		t.Errorf("the pass read a list of %d pods, want 1: the pods of policy api, not the namespace's %d", counter.largest, others+1)
	}
}
