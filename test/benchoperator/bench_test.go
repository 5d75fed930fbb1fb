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

package benchoperator

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/operatortest"
)

// TestBenchOperator measures `tollgate manager` at scale, in its own process against
// envtest. It is a benchmark, not a test: it asserts nothing about time or memory and
// prints a table. The manager's memory comes from /proc (VmRSS, VmHWM) and its /metrics
// (Go heap), read at the end of each phase:
//
//	TOLLGATE_BENCH_OPERATOR=1 go test ./test/benchoperator -run TestBenchOperator -v -timeout 90m
//
// TOLLGATE_BENCH_POLICIES changes the number of policies (default 1000), TOLLGATE_BENCH_PODS
// the number of pods created afterwards (default 0), after which a second rotation pass
// shows whether the operator's work grows with pods.
func TestBenchOperator(t *testing.T) {
	if os.Getenv("TOLLGATE_BENCH_OPERATOR") != "1" {
		t.Skip("set TOLLGATE_BENCH_OPERATOR=1 to run the operator benchmark")
	}
	n := 1000
	if v := os.Getenv("TOLLGATE_BENCH_POLICIES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	pods := 0
	if v := os.Getenv("TOLLGATE_BENCH_PODS"); v != "" {
		pods, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	ns := cluster.Namespace(t, "bench")
	mgr := startManager(t)
	idle := mgr.read(t)

	// 1. Create n policies at once.
	start := time.Now()
	parallel(n, 32, func(i int) {
		if err := k8s.Create(ctx, operatortest.NewPolicy(ns, fmt.Sprintf("bench-%04d", i))); err != nil {
			t.Error(err)
		}
	})
	created := time.Since(start)
	allReady := waitAll(t, ns, n, 20*time.Minute, func(p *authv1alpha1.AuthPolicy) bool {
		c := meta.FindStatusCondition(p.Status.Conditions, authv1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue && p.Status.ActiveKeyID != ""
	})
	ready := time.Since(start)
	t.Logf("%d policies Ready after %s", n, ready.Round(time.Second))
	atReady := mgr.read(t)
	atReady.log(t, "all Ready")
	mgr.saveHeapProfile(t, "all Ready")

	// 2. One rotation pass: ask every policy to rotate, wait until each has a Next key.
	annotated, rotated, allRotated := rotationPass(t, ns, n)
	t.Logf("rotation pass done after %s", rotated.Round(time.Second))
	atRotated := mgr.read(t)
	atRotated.log(t, "after a rotation pass")
	mgr.saveHeapProfile(t, "after a rotation pass")
	phases := []phase{{"idle, before any policy", idle}, {"all Ready", atReady}, {"after a rotation pass", atRotated}}

	// 3. Pods: many of them, each naming one of the policies, in the policies' namespace
	// as pods are (the webhook does not serve it, so the unprotected-pod reporter reports
	// every one and both controllers reconcile the policy of each), then a second rotation
	// pass with the pods in place.
	var podsCreated, podsReported, podsRotated time.Duration
	var atPods, atPodsRotated reading
	if pods > 0 {
		start = time.Now()
		parallel(pods, 32, func(i int) {
			pod := operatortest.AppPod(ns, fmt.Sprintf("bench-%04d", i%n))
			pod.GenerateName, pod.Name = "", fmt.Sprintf("pod-%05d", i)
			if err := k8s.Create(ctx, pod); err != nil {
				t.Error(err)
			}
		})
		podsCreated = time.Since(start)
		t.Logf("%d pods created after %s", pods, podsCreated.Round(time.Second))
		// Wait until the reporter has counted every pod into its policy's status, so that
		// the second pass measures rotation alone, not the reporter's work as well.
		reported := waitAll(t, ns, n, 20*time.Minute, func(p *authv1alpha1.AuthPolicy) bool {
			return int(p.Status.UnprotectedPods) >= pods/n
		})
		podsReported = time.Since(start)
		t.Logf("every pod reported after %s (%v)", podsReported.Round(time.Second), reported)
		atPods = mgr.read(t)
		atPods.log(t, "with the pods")
		mgr.saveHeapProfile(t, "with the pods")
		_, podsRotated, _ = rotationPass(t, ns, n)
		atPodsRotated = mgr.read(t)
		atPodsRotated.log(t, "after a rotation pass with the pods")
		mgr.saveHeapProfile(t, "after a rotation pass with the pods")
		phases = append(phases, phase{fmt.Sprintf("with %d pods", pods), atPods}, phase{"after a rotation pass with the pods", atPodsRotated})
	}

	fmt.Printf("\noperator benchmark: %d AuthPolicies, envtest on this machine, `tollgate manager` in its own process, GOMEMLIMIT=%s\n", n, os.Getenv("GOMEMLIMIT"))
	fmt.Printf("%-52s %12s\n", "measure", "value")
	fmt.Printf("%-52s %12s\n", "create all (client, 32 in parallel)", created.Round(time.Millisecond))
	fmt.Printf("%-52s %12s\n", "create -> all Ready", ready.Round(time.Millisecond))
	fmt.Printf("%-52s %12s\n", "annotate all for rotation (client, 32 in parallel)", annotated.Round(time.Millisecond))
	fmt.Printf("%-52s %12s\n", "annotate -> all have a Next key (rotation pass)", rotated.Round(time.Millisecond))
	perPolicy := func(a, b reading) string {
		var parts []string
		for _, v := range []string{"get", "create", "update", "patch", "delete", "events dropped"} {
			if d := b.requests[v] - a.requests[v]; d != 0 {
				parts = append(parts, fmt.Sprintf("%s %.2f", v, d/float64(n)))
			}
		}
		return strings.Join(parts, ", ")
	}
	fmt.Printf("%-52s %s\n", "manager API requests per policy, create -> Ready", perPolicy(idle, atReady))
	fmt.Printf("%-52s %s\n", "manager API requests per policy, rotation pass", perPolicy(atReady, atRotated))
	if pods > 0 {
		fmt.Printf("%-52s %12s\n", fmt.Sprintf("create %d pods naming the policies", pods), podsCreated.Round(time.Millisecond))
		fmt.Printf("%-52s %12s\n", "create -> every pod in its policy's unprotectedPods", podsReported.Round(time.Millisecond))
		fmt.Printf("%-52s %s\n", "manager API requests per policy, until then", perPolicy(atRotated, atPods))
		fmt.Printf("%-52s %12s\n", "rotation pass with the pods in place", podsRotated.Round(time.Millisecond))
		fmt.Printf("%-52s %s\n", "manager API requests per policy, that pass", perPolicy(atPods, atPodsRotated))
	}
	fmt.Printf("\nmanager memory at the end of each phase (MiB; heap = go_memstats_heap_alloc_bytes, peak heap = largest of the scrapes every %s)\n", scrapeEvery)
	fmt.Printf("%-40s %8s %8s %8s %8s %8s %8s %9s\n", "phase", "VmRSS", "RssFile", "VmHWM", "heap", "inuse", "Go sys", "peak heap")
	for _, p := range phases {
		r := p.reading
		fmt.Printf("%-40s %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %9.1f\n", p.name, mib(r.vmRSS), mib(r.rssFile), mib(r.vmHWM), mib(r.heap), mib(r.heapInuse), mib(r.goSys), mib(r.peakHeap))
	}
	fmt.Printf("(%v ready, %v rotated)\n", allReady, allRotated)
}

// phase is a reading of the manager at the end of one phase of the benchmark.
type phase struct {
	name    string
	reading reading
}

// rotationPass asks every policy to rotate now and waits until the operator has handled
// every request (the keys Secret records it) and each policy has a Next key. A pass on
// policies that already have a pending successor keeps it (keyset.Requests.Rotate).
func rotationPass(t *testing.T, ns string, n int) (annotated, rotated time.Duration, all bool) {
	start := time.Now()
	at := time.Now().Format(time.RFC3339Nano)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{authv1alpha1.RotateRequestedAtAnnotation: at}}})
	parallel(n, 32, func(i int) {
		p := &authv1alpha1.AuthPolicy{}
		p.Namespace, p.Name = ns, fmt.Sprintf("bench-%04d", i)
		if err := k8s.Patch(context.Background(), p, client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Error(err)
		}
	})
	annotated = time.Since(start)
	deadline := time.Now().Add(20 * time.Minute)
	for time.Now().Before(deadline) {
		handled, cont, err := 0, "", error(nil)
		for {
			secrets := &corev1.SecretList{}
			if err = k8s.List(context.Background(), secrets, client.InNamespace(ns), client.Limit(500), client.Continue(cont)); err != nil {
				t.Logf("listing secrets (retrying): %v", err)
				break
			}
			for _, s := range secrets.Items {
				// The reconciler's record of the last rotation request it handled.
				if s.Annotations["auth.tollgate.dev/rotate-handled"] == at {
					handled++
				}
			}
			if cont = secrets.Continue; cont == "" {
				break
			}
		}
		if err == nil && handled >= n {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	all = waitAll(t, ns, n, 5*time.Minute, func(p *authv1alpha1.AuthPolicy) bool { return p.Status.NextKeyID != "" })
	return annotated, time.Since(start), all
}

func parallel(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// waitAll lists the namespace every 250ms, 500 policies a page, until n policies satisfy
// ok. A failed list is retried: at 10,000 policies a loaded API server may drop a stream.
func waitAll(t *testing.T, ns string, n int, timeout time.Duration, ok func(*authv1alpha1.AuthPolicy) bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		done, err := countPolicies(ns, ok)
		if err != nil {
			t.Logf("listing policies (retrying): %v", err)
		} else if done >= n {
			return true
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Errorf("not all %d policies got there within %s", n, timeout)
	return false
}

func countPolicies(ns string, ok func(*authv1alpha1.AuthPolicy) bool) (int, error) {
	done, cont := 0, ""
	for {
		list := &authv1alpha1.AuthPolicyList{}
		if err := k8s.List(context.Background(), list, client.InNamespace(ns), client.Limit(500), client.Continue(cont)); err != nil {
			return 0, err
		}
		for i := range list.Items {
			if ok(&list.Items[i]) {
				done++
			}
		}
		if cont = list.Continue; cont == "" {
			return done, nil
		}
	}
}
