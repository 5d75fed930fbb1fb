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

package sidecar

import (
	"bufio"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// BenchmarkRevocationsAtScale loads 10,000 live revocations (revocationCounts: up to
// 1,000,000 with TOLLGATE_BENCH_REVOCATIONS=full) and reports the heap they hold (heap-MiB, B/entry), the process's resident memory (rss-MiB)
// and the cost of the check every validated request makes (ns/op: a token that is not
// revoked, the common case, against the whole list).
func BenchmarkRevocationsAtScale(b *testing.B) {
	for _, n := range benchRevocationCounts() {
		b.Run(fmt.Sprintf("%d", n), func(b *testing.B) {
			before := heapInUse()
			list := revocationMix(n, time.Now().Add(time.Hour))
			rv := NewRevocations()
			rv.Load(list)
			probe := list[0]
			list = nil //nolint:ineffassign // let the list go before measuring
			heap := heapInUse() - before
			if rv.Len() != n {
				b.Fatalf("%d entries, want %d", rv.Len(), n)
			}
			if !rv.Revoked(probe.ID, "", "", time.Now()) {
				b.Fatal("a revoked jti is not revoked")
			}
			jti, sid, now := randomID(), randomID(), time.Now()
			b.ResetTimer()
			for b.Loop() {
				if rv.Revoked(jti, sid, "user-1", now) {
					b.Fatal("revoked")
				}
			}
			b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
			b.ReportMetric(float64(heap)/float64(n), "B/entry")
			b.ReportMetric(float64(rssBytes())/(1<<20), "rss-MiB")
			runtime.KeepAlive(rv)
		})
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// rssBytes is the process's resident set (VmRSS), 0 where /proc is not there.
func rssBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// benchRevocationCounts is revocationCounts, with 100,000 too in a plain `make bench`.
func benchRevocationCounts() []int {
	if os.Getenv("TOLLGATE_BENCH_REVOCATIONS") != "" {
		return revocationCounts()
	}
	return []int{10_000, 100_000}
}

// BenchmarkVerifyWithRevocations is the check of a request's token (ES256) with a large list
// in force, uncached (a token seen for the first time: signature and claims) and cached (the
// verified-token cache): the token is not revoked, so every lookup misses, the common case.
func BenchmarkVerifyWithRevocations(b *testing.B) {
	now := time.Now().Truncate(time.Second)
	key, err := keyset.Generate(keyset.ES256, now.Add(-time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	keys := NewKeys(&keyset.Keyset{Keys: []*keyset.SigningKey{key}})
	for _, n := range append([]int{0}, benchRevocationCounts()...) {
		rv := NewRevocations()
		rv.Load(revocationMix(n, now.Add(time.Hour)))
		for _, mode := range []struct {
			name  string
			cache int
		}{{"uncached", 0}, {"cached", DefaultTokenCacheSize}} {
			b.Run(fmt.Sprintf("%d/%s", n, mode.name), func(b *testing.B) {
				tokens := NewTokens(TokensConfig{
					Keys: keys, Issuer: "https://shop-api.shop.svc", Audiences: []string{"shop-api"},
					TTL: 15 * time.Minute, ClockSkew: 30 * time.Second, Revocations: rv,
					CacheSize: mode.cache, Now: func() time.Time { return now },
				})
				tok, _, err := tokens.Issue("7", "clerk", randomID())
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := tokens.Verify(tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRevocationsReload is the full reload of the list from a real redis-server:
// "initial" into an empty list (start), "reconnect" into a list that has it all already
// (after a reconnection, the common reload). It reports the reload's length (ms/op), the
// waits of a validation (Revoked, called in a loop meanwhile) during it (p99-wait-ns and
// p99.99-wait-µs, upper bounds within a factor of 2, and max-wait-µs; on a busy machine both include the
// time the looping goroutine was not scheduled),
// and, for a list large enough that LoadFrom returns its garbage to the system, how long
// that step took (release-ms) and its longest stop of the world (gc-stw-µs).
func BenchmarkRevocationsReload(b *testing.B) {
	policy, err := ParsePolicy([]byte(testPolicyYAML))
	if err != nil {
		b.Fatal(err)
	}
	srv := testredis.Start(b)
	st, err := store.OpenRedis(store.RedisOptions{Addresses: []string{srv.Addr()}}, policy.Key())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	have := 0
	for _, n := range benchRevocationCounts() {
		writeRevocations(b, srv.Client(), policy.Key(), revocationMix(n-have, time.Now().Add(2*time.Hour)))
		have = n
		for _, mode := range []string{"initial", "reconnect"} {
			b.Run(fmt.Sprintf("%d/%s", n, mode), func(b *testing.B) {
				full := NewRevocations()
				if err := full.LoadFrom(b.Context(), st, time.Now(), time.Minute); err != nil {
					b.Fatal(err)
				}
				var all waits
				for b.Loop() {
					b.StopTimer()
					rv := full
					if mode == "initial" {
						rv = NewRevocations()
					}
					stop, waited := make(chan struct{}), make(chan waits)
					go func() {
						var w waits
						jti, now := randomID(), time.Now()
						for {
							select {
							case <-stop:
								waited <- w
								return
							default:
							}
							start := time.Now()
							rv.Revoked(jti, jti, "user-1", now)
							w.add(time.Since(start))
							// A validation every few tens of µs, not a spin: on 2 cores a
							// spinning goroutine starves the reload's reads into timeouts.
							time.Sleep(20 * time.Microsecond)
						}
					}()
					b.StartTimer()
					if err := rv.LoadFrom(b.Context(), st, time.Now(), time.Minute); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					close(stop)
					all.merge(<-waited)
					if rv.Len() != n {
						b.Fatalf("loaded %d revocations, want %d", rv.Len(), n)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(all.quantile(0.99).Nanoseconds()), "p99-wait-ns")
				b.ReportMetric(float64(all.quantile(0.9999).Microseconds()), "p99.99-wait-µs")
				b.ReportMetric(float64(all.max.Microseconds()), "max-wait-µs")
				if n >= releaseMemoryAfter {
					var before runtime.MemStats
					runtime.ReadMemStats(&before)
					start := time.Now()
					releaseMemory()
					took := time.Since(start)
					var after runtime.MemStats
					runtime.ReadMemStats(&after)
					var stw uint64
					for i := before.NumGC; i < after.NumGC; i++ {
						stw = max(stw, after.PauseNs[i%256])
					}
					b.ReportMetric(float64(took.Microseconds())/1000, "release-ms")
					b.ReportMetric(float64(stw)/1000, "gc-stw-µs")
				}
			})
		}
	}
}

// waits is a histogram of durations in powers of two of nanoseconds.
type waits struct {
	buckets [64]int
	n       int
	max     time.Duration
}

func (w *waits) add(d time.Duration) {
	w.buckets[bits.Len64(uint64(d))]++
	w.n++
	w.max = max(w.max, d)
}

func (w *waits) merge(o waits) {
	for i, c := range o.buckets {
		w.buckets[i] += c
	}
	w.n += o.n
	w.max = max(w.max, o.max)
}

// quantile is the upper end of the bucket that holds quantile q.
func (w *waits) quantile(q float64) time.Duration {
	seen := 0
	for i, c := range w.buckets {
		seen += c
		if float64(seen) >= q*float64(w.n) {
			return time.Duration(1) << i
		}
	}
	return w.max
}
