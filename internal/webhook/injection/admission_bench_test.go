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
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// TestBenchAdmissionLatency measures what the injection webhook adds to a pod creation,
// through the API server: the same pod created N times in a namespace without injection
// (no webhook call) and in one with it (a call, a policy lookup, a patch). It prints the
// percentiles and asserts nothing about time:
//
//	TOLLGATE_BENCH_ADMISSION=1 go test ./internal/webhook/injection -run TestBenchAdmissionLatency -v
//
// TOLLGATE_BENCH_PODS changes N (default 200).
func TestBenchAdmissionLatency(t *testing.T) {
	if os.Getenv("TOLLGATE_BENCH_ADMISSION") != "1" {
		t.Skip("set TOLLGATE_BENCH_ADMISSION=1 to run the admission latency benchmark")
	}
	n := 200
	if v := os.Getenv("TOLLGATE_BENCH_PODS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	plain := newNamespace(t)
	injected := labelledNamespace(t)
	create(t, newPolicy(injected, "api"))
	rows := []struct {
		name string
		pod  func() *corev1.Pod
		d    []time.Duration
	}{
		{name: "no webhook call", pod: func() *corev1.Pod { return appPod(plain, "") }},
		{name: "webhook, no annotation", pod: func() *corev1.Pod { return appPod(injected, "") }},
		{name: "webhook, injected", pod: func() *corev1.Pod { return appPod(injected, "api") }},
	}
	// Warm up connections and caches; then take the rows in turn, so that drift in the
	// machine's load spreads evenly over them.
	for i := range rows {
		for range 10 {
			createPod(t, rows[i].pod())
		}
	}
	before := webhookHistogram(t)
	for range n {
		for i := range rows {
			pod := rows[i].pod()
			start := time.Now()
			if err := k8s.Create(context.Background(), pod); err != nil {
				t.Fatal(err)
			}
			rows[i].d = append(rows[i].d, time.Since(start))
		}
	}
	pct := func(d []time.Duration, p float64) time.Duration { return d[min(len(d)-1, int(float64(len(d))*p))] }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	fmt.Printf("\npod creation through the API server, %d pods per row (sequential, interleaved)\n", n)
	fmt.Printf("%-24s %10s %10s %10s %10s\n", "", "p50", "p90", "p99", "max")
	for _, row := range rows {
		slices.Sort(row.d)
		fmt.Printf("%-24s %10s %10s %10s %10s\n", row.name, ms(pct(row.d, .5)), ms(pct(row.d, .9)), ms(pct(row.d, .99)), ms(row.d[len(row.d)-1]))
	}
	after := webhookHistogram(t)
	total := after["+Inf"] - before["+Inf"]
	fmt.Printf("\nthe API server's own timing of the %d webhook calls (apiserver_admission_webhook_admission_duration_seconds):\n", int(total))
	for _, le := range []string{"0.005", "0.025", "0.1"} {
		fmt.Printf("  under %5s s: %6.2f%%\n", le, 100*(after[le]-before[le])/total)
	}
	base, inj := rows[0].d, rows[2].d
	fmt.Printf("%-24s %10s %10s %10s\n", "injection adds", ms(pct(inj, .5)-pct(base, .5)), ms(pct(inj, .9)-pct(base, .9)), ms(pct(inj, .99)-pct(base, .99)))
	if c := sidecarOf(t, createPod(t, appPod(injected, "api"))); c.Name == "" {
		t.Fatal("no sidecar") // the measured path really injected
	}
}

// webhookHistogram reads the API server's latency histogram of the injection webhook:
// cumulative counts by bucket bound.
func webhookHistogram(t *testing.T) map[string]float64 {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_admission_webhook_admission_duration_seconds_bucket{") ||
			!strings.Contains(line, `name="inject.auth.tollgate.dev"`) {
			continue
		}
		i := strings.Index(line, `le="`)
		j := strings.Index(line[i+4:], `"`)
		v, _ := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
		out[line[i+4:i+4+j]] += v
	}
	return out
}
