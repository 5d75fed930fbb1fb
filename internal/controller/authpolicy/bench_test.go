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
// TOLLGATE_BENCH_POLICIES changes the number of policies (default 1000).
func TestBenchOperator(t *testing.T) {
	if os.Getenv("TOLLGATE_BENCH_OPERATOR") != "1" {
		t.Skip("set TOLLGATE_BENCH_OPERATOR=1 to run the operator benchmark")
	}
	n := 1000
	if v := os.Getenv("TOLLGATE_BENCH_POLICIES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	ns := newNamespace(t)
	mem := watchMemory()
	defer mem.stop()

	// 1. Create n policies at once.
	start := time.Now()
	parallel(n, 32, func(i int) {
		if err := k8s.Create(ctx, newPolicy(ns, fmt.Sprintf("bench-%04d", i))); err != nil {
			t.Error(err)
		}
	})
	created := time.Since(start)
	allReady := waitAll(t, ns, n, 10*time.Minute, func(p *authv1alpha1.AuthPolicy) bool {
		c := meta.FindStatusCondition(p.Status.Conditions, authv1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue && p.Status.ActiveKeyID != ""
	})
	ready := time.Since(start)
	memReady := mem.snapshot()

	// 2. One rotation pass: ask every policy to rotate, wait until each has a Next key.
	start = time.Now()
	at := time.Now().Format(time.RFC3339Nano)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{authv1alpha1.RotateRequestedAtAnnotation: at}}})
	parallel(n, 32, func(i int) {
		p := &authv1alpha1.AuthPolicy{}
		p.Namespace, p.Name = ns, fmt.Sprintf("bench-%04d", i)
		if err := k8s.Patch(ctx, p, client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Error(err)
		}
	})
	annotated := time.Since(start)
	allRotated := waitAll(t, ns, n, 10*time.Minute, func(p *authv1alpha1.AuthPolicy) bool { return p.Status.NextKeyID != "" })
	rotated := time.Since(start)
	memEnd := mem.snapshot()

	fmt.Printf("\noperator benchmark: %d AuthPolicies, envtest on this machine, manager in process\n", n)
	fmt.Printf("%-52s %12s\n", "measure", "value")
	fmt.Printf("%-52s %12s\n", "create all (client, 32 in parallel)", created.Round(time.Millisecond))
	fmt.Printf("%-52s %12s\n", "create -> all Ready", ready.Round(time.Millisecond))
	fmt.Printf("%-52s %12s\n", "annotate all for rotation (client, 32 in parallel)", annotated.Round(time.Millisecond))
	fmt.Printf("%-52s %12s\n", "annotate -> all have a Next key (rotation pass)", rotated.Round(time.Millisecond))
	fmt.Printf("%-52s %9.1f MiB\n", "peak Go heap (runtime/metrics), until Ready", mib(memReady.peakHeap))
	fmt.Printf("%-52s %9.1f MiB\n", "peak Go heap, whole run", mib(memEnd.peakHeap))
	fmt.Printf("%-52s %9.1f MiB\n", "peak Go runtime total (runtime/metrics)", mib(memEnd.peakTotal))
	fmt.Printf("%-52s %9.1f MiB\n", "peak resident set of the process (VmHWM)", mib(vmHWM()))
	fmt.Printf("(%v ready, %v rotated; the process also holds the test's client: an upper bound for the manager)\n", allReady, allRotated)
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

// waitAll lists the namespace every 250ms until n policies satisfy ok.
func waitAll(t *testing.T, ns string, n int, timeout time.Duration, ok func(*authv1alpha1.AuthPolicy) bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		list := &authv1alpha1.AuthPolicyList{}
		if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		done := 0
		for i := range list.Items {
			if ok(&list.Items[i]) {
				done++
			}
		}
		if done >= n {
			return true
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Errorf("not all %d policies got there within %s", n, timeout)
	return false
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
