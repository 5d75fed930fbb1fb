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
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tollgate-dev/tollgate/internal/testproc"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// scrapeEvery is how often the benchmark scrapes the manager's /metrics while it runs, for
// the peak of its Go heap: a Prometheus scrape interval, so that the scrapes (which walk
// every policy for the per-policy gauges) cost what they cost in a cluster.
const scrapeEvery = 15 * time.Second

// containerLimit is the memory limit of the container the benchmark stands the manager
// in, in MiB: TOLLGATE_BENCH_MEMORY_LIMIT_MIB, default 256 (the chart's and config/manager's
// limit); 0 runs it without one.
func containerLimit(t *testing.T) int {
	t.Helper()
	v := os.Getenv("TOLLGATE_BENCH_MEMORY_LIMIT_MIB")
	if v == "" {
		return 256
	}
	mib, err := strconv.Atoi(v)
	if err != nil || mib < 0 {
		t.Fatalf("TOLLGATE_BENCH_MEMORY_LIMIT_MIB=%q: want a number of MiB", v)
	}
	return mib
}

// manager is `tollgate manager` in its own process, run as a user runs it outside a
// cluster: --kubeconfig, its own webhook (--webhook-url), metrics over plain HTTP.
type manager struct {
	*testproc.Process
	metricsURL string
	heapURL    string // the manager's heap profile

	mu       sync.Mutex
	peakHeap uint64 // the largest go_memstats_heap_alloc_bytes scraped so far
	done     chan struct{}
}

func startManager(t *testing.T) *manager {
	t.Helper()
	metrics, probe, pprof, hook := testwait.FreeAddr(t), testwait.FreeAddr(t), testwait.FreeAddr(t), testwait.FreePort(t)
	// In a container the manager sets GOMEMLIMIT to 90% of the container's limit itself
	// (cli.setMemoryLimit); this process has no such limit, so it gets that GOMEMLIMIT.
	if limit := containerLimit(t); limit > 0 {
		t.Setenv("GOMEMLIMIT", strconv.Itoa(limit*(1<<20)*9/10))
	} else {
		t.Setenv("GOMEMLIMIT", "off")
	}
	p := testproc.Start(t, tollgateBin, "http://"+probe+"/readyz", "manager",
		"--kubeconfig", kubeconfig,
		"--webhook-url", fmt.Sprintf("https://127.0.0.1:%d", hook),
		"--metrics-bind-address", metrics, "--metrics-secure=false",
		"--health-probe-bind-address", probe,
		"--pprof-bind-address", pprof,
		"--sidecar-image", "registry.example/tollgate:bench",
	)
	m := &manager{Process: p, metricsURL: "http://" + metrics + "/metrics", heapURL: "http://" + pprof + "/debug/pprof/heap", done: make(chan struct{})}
	go func() {
		tick := time.NewTicker(scrapeEvery)
		defer tick.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-tick.C:
				if _, err := m.scrape(); err != nil {
					t.Logf("scraping the manager (continuing): %v", err)
				}
			}
		}
	}()
	t.Cleanup(func() { close(m.done) })
	return m
}

// reading is the manager's memory and API requests at one instant.
type reading struct {
	vmRSS, vmHWM uint64 // resident set now and its peak so far, from /proc/PID/status
	rssFile      uint64 // of vmRSS, pages of files: mostly the binary's code, shared and reclaimable
	heap         uint64 // go_memstats_heap_alloc_bytes: live objects and not yet swept garbage
	heapInuse    uint64 // go_memstats_heap_inuse_bytes: spans in use
	goSys        uint64 // go_memstats_sys_bytes: everything the Go runtime got from the OS
	peakHeap     uint64 // the largest heap of every scrape so far
	requests     map[string]float64
}

// log prints the reading as it is taken, so that a run cut short still tells.
func (r reading) log(t *testing.T, phase string) {
	t.Logf("manager %s: VmRSS %.1f MiB (files %.1f), VmHWM %.1f MiB, heap %.1f MiB (in use %.1f, Go sys %.1f, peak %.1f), requests %v",
		phase, mib(r.vmRSS), mib(r.rssFile), mib(r.vmHWM), mib(r.heap), mib(r.heapInuse), mib(r.goSys), mib(r.peakHeap), r.requests)
}

// saveHeapProfile writes the manager's heap profile into $TOLLGATE_BENCH_PROFILES (make
// bench-operator BENCH_PROFILES=DIR), if set, as heap-PHASE.pb.gz: `go tool pprof -top
// -sample_index=inuse_space FILE` says what the memory of that phase holds.
func (m *manager) saveHeapProfile(t *testing.T, phase string) {
	t.Helper()
	dir := os.Getenv("TOLLGATE_BENCH_PROFILES")
	if dir == "" {
		return
	}
	resp, err := http.Get(m.heapURL) //nolint:noctx // a test against a local process
	if err != nil {
		t.Fatalf("reading the manager's heap profile: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s", resp.Status)
	}
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	file := filepath.Join(dir, "heap-"+strings.ReplaceAll(phase, " ", "-")+".pb.gz")
	if err == nil {
		err = os.WriteFile(file, b, 0o644)
	}
	if err != nil {
		t.Fatalf("saving the manager's heap profile: %v", err)
	}
	t.Logf("heap profile of %s: %s", phase, file)
}

// read takes a reading of the manager; a failed scrape fails the benchmark.
func (m *manager) read(t *testing.T) reading {
	t.Helper()
	r, err := m.scrape()
	if err != nil {
		t.Fatalf("scraping the manager: %v", err)
	}
	if r.vmRSS, r.vmHWM, r.rssFile, err = procMemory(m.Pid()); err != nil {
		t.Fatal(err)
	}
	return r
}

// verbs names the API request methods as the tables do: a GET is one object, a list or
// the start of a watch.
var verbs = map[string]string{"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}

// scrape reads the manager's /metrics: its heap and, from client-go's
// rest_client_requests_total, how many requests it has sent to the API server by verb.
func (m *manager) scrape() (reading, error) {
	resp, err := http.Get(m.metricsURL)
	if err != nil {
		return reading{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return reading{}, fmt.Errorf("%s: %s", m.metricsURL, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return reading{}, fmt.Errorf("parsing %s: %w", m.metricsURL, err)
	}
	gauge := func(name string) uint64 {
		if f := families[name]; f != nil && len(f.GetMetric()) > 0 {
			return uint64(f.GetMetric()[0].GetGauge().GetValue())
		}
		return 0
	}
	r := reading{heap: gauge("go_memstats_heap_alloc_bytes"), heapInuse: gauge("go_memstats_heap_inuse_bytes"),
		goSys: gauge("go_memstats_sys_bytes"), requests: map[string]float64{}}
	if f := families["rest_client_requests_total"]; f != nil {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "method" {
					r.requests[verbs[l.GetValue()]] += s.GetCounter().GetValue()
				}
			}
		}
	}
	// The Events the manager gave up: requests it did not send.
	if f := families["tollgate_events_dropped_total"]; f != nil {
		for _, s := range f.GetMetric() {
			r.requests["events dropped"] += s.GetCounter().GetValue()
		}
	}
	m.mu.Lock()
	m.peakHeap = max(m.peakHeap, r.heap)
	r.peakHeap = m.peakHeap
	m.mu.Unlock()
	return r, nil
}

// procMemory is a process's resident set now (VmRSS), its peak (VmHWM) and the part of
// VmRSS that maps files (RssFile), in bytes.
func procMemory(pid int) (rss, hwm, file uint64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	fields := map[string]*uint64{"VmRSS": &rss, "VmHWM": &hwm, "RssFile": &file}
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, value, _ := strings.Cut(s.Text(), ":")
		dst := fields[name]
		if dst == nil {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, name, err)
		}
		*dst = kb * 1024
	}
	return rss, hwm, file, s.Err()
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
