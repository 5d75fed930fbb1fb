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
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/metrics"
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
)

// TestBenchOperator measures the operator at scale against envtest, with the manager in
// this process. It is a benchmark, not a test: it asserts nothing about time or memory
// and prints a table. Run it alone, so that the memory figures are the manager's:
//
//	TOLLGATE_BENCH_OPERATOR=1 go test ./internal/controller/authpolicy -run TestBenchOperator -v -timeout 15m
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
	ns := newNamespace(t)
	mem := watchMemory()
	defer mem.stop()

	// 1. Create n policies at once.
	req0 := managerRequests()
	start := time.Now()
	parallel(n, 32, func(i int) {
		if err := k8s.Create(ctx, newPolicy(ns, fmt.Sprintf("bench-%04d", i))); err != nil {
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
	memReady := mem.snapshot()
	reqReady := managerRequests()

	// 2. One rotation pass: ask every policy to rotate, wait until each has a Next key.
	annotated, rotated, allRotated := rotationPass(t, ns, n)
	t.Logf("rotation pass done after %s", rotated.Round(time.Second))
	memRotated := mem.snapshot()
	reqRotated := managerRequests()

	// 3. Pods: many of them, each naming one of the policies (in a namespace the webhook
	// does not serve, so the unprotected-pod reporter finds every one), then a second
	// rotation pass with the pods in place.
	var podsCreated, podsRotated time.Duration
	var memPods memWatch
	var reqPods, reqPodsRotated map[string]int64
	if pods > 0 {
		podNS := newNamespace(t)
		start = time.Now()
		parallel(pods, 32, func(i int) {
			pod := appPod(podNS, fmt.Sprintf("bench-%04d", i%n))
			pod.GenerateName, pod.Name = "", fmt.Sprintf("pod-%05d", i)
			if err := k8s.Create(ctx, pod); err != nil {
				t.Error(err)
			}
		})
		podsCreated = time.Since(start)
		t.Logf("%d pods created after %s", pods, podsCreated.Round(time.Second))
		time.Sleep(5 * time.Second) // let the reporter's cache and reconciles settle
		memPods = mem.snapshot()
		reqPods = managerRequests()
		_, podsRotated, _ = rotationPass(t, ns, n)
		reqPodsRotated = managerRequests()
	}
	memEnd := mem.snapshot()

	fmt.Printf("\noperator benchmark: %d AuthPolicies, envtest on this machine, manager in process\n", n)
	fmt.Printf("%-52s %12s\n", "measure", "value")
	fmt.Printf("%-52s %12s\n", "create all (client, 32 in parallel)", created.Round(time.Millisecond))
	fmt.Printf("%-52s %12s\n", "create -> all Ready", ready.Round(time.Millisecond))
	fmt.Printf("%-52s %12s\n", "annotate all for rotation (client, 32 in parallel)", annotated.Round(time.Millisecond))
	fmt.Printf("%-52s %12s\n", "annotate -> all have a Next key (rotation pass)", rotated.Round(time.Millisecond))
	perPolicy := func(a, b map[string]int64) string {
		var parts []string
		for _, v := range []string{"get", "create", "update", "patch", "delete", "watch"} {
			if d := b[v] - a[v]; d != 0 {
				parts = append(parts, fmt.Sprintf("%s %.2f", v, float64(d)/float64(n)))
			}
		}
		return strings.Join(parts, ", ")
	}
	fmt.Printf("%-52s %s\n", "manager API requests per policy, create -> Ready", perPolicy(req0, reqReady))
	fmt.Printf("%-52s %s\n", "manager API requests per policy, rotation pass", perPolicy(reqReady, reqRotated))
	if pods > 0 {
		fmt.Printf("%-52s %12s\n", fmt.Sprintf("create %d pods naming the policies", pods), podsCreated.Round(time.Millisecond))
		fmt.Printf("%-52s %s\n", "manager API requests per policy, while pods came", perPolicy(reqRotated, reqPods))
		fmt.Printf("%-52s %12s\n", "rotation pass with the pods in place", podsRotated.Round(time.Millisecond))
		fmt.Printf("%-52s %s\n", "manager API requests per policy, that pass", perPolicy(reqPods, reqPodsRotated))
		fmt.Printf("%-52s %9.1f MiB\n", "peak Go heap before the pods", mib(memRotated.peakHeap))
		fmt.Printf("%-52s %9.1f MiB\n", "peak Go heap with the pods (reporter's cache)", mib(memPods.peakHeap))
	}
	fmt.Printf("%-52s %9.1f MiB\n", "peak Go heap (runtime/metrics), until Ready", mib(memReady.peakHeap))
	fmt.Printf("%-52s %9.1f MiB\n", "peak Go heap, whole run", mib(memEnd.peakHeap))
	fmt.Printf("%-52s %9.1f MiB\n", "peak Go runtime total (runtime/metrics)", mib(memEnd.peakTotal))
	fmt.Printf("%-52s %9.1f MiB\n", "peak resident set of the process (VmHWM)", mib(vmHWM()))
	fmt.Printf("(%v ready, %v rotated; the process also holds the test's client: an upper bound for the manager)\n", allReady, allRotated)
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

type memWatch struct {
	mu                  sync.Mutex
	peakHeap, peakTotal uint64
	done                chan struct{}
}

func watchMemory() *memWatch {
	m := &memWatch{done: make(chan struct{})}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			m.mu.Lock()
			m.peakHeap = max(m.peakHeap, samples[0].Value.Uint64())
			m.peakTotal = max(m.peakTotal, samples[1].Value.Uint64())
			m.mu.Unlock()
			select {
			case <-m.done:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

func (m *memWatch) snapshot() memWatch {
	m.mu.Lock()
	defer m.mu.Unlock()
	return memWatch{peakHeap: m.peakHeap, peakTotal: m.peakTotal}
}

func (m *memWatch) stop() { close(m.done) }

// vmHWM is the process's peak resident set, from /proc/self/status.
func vmHWM() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
