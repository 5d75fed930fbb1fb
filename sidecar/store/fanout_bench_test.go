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

package store_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// BenchmarkRevocationFanOut has many replicas of one policy watch its revocations (real
// go-redis subscribers, each store with its own client and subscription connection, as
// sidecars have) and measures, per logout, the time from Revoke until every one of them
// has it: p50 and p99 over every delivery, the slowest replica per logout (max-ms), and
// Redis's CPU per logout (used_cpu_user + used_cpu_sys).
func BenchmarkRevocationFanOut(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			srv := testredis.Start(b)
			var (
				mu        sync.Mutex
				current   atomic.Value // the id being revoked
				sentAt    atomic.Int64
				pending   sync.WaitGroup
				latencies []time.Duration
				subs      sync.WaitGroup
			)
			current.Store("")
			subs.Add(n)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for range n {
				s := newRedis(b, srv, "shop/shop-api")
				var once sync.Once
				go s.Watch(ctx, func(r store.Revocation) {
					if r.ID != current.Load().(string) {
						return
					}
					d := time.Duration(time.Now().UnixNano() - sentAt.Load())
					mu.Lock()
					latencies = append(latencies, d)
					mu.Unlock()
					pending.Done()
				}, func() { once.Do(subs.Done) })
			}
			subs.Wait()
			pub := newRedis(b, srv, "shop/shop-api")
			cpuBefore := redisCPU(b, srv)
			var worst []time.Duration
			logouts := 0
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				id := fmt.Sprintf("logout-%d", i)
				current.Store(id)
				pending.Add(n)
				start := time.Now()
				sentAt.Store(start.UnixNano())
				if err := pub.Revoke(ctx, store.Revocation{Kind: store.RevokedSession, ID: id, Until: start.Add(time.Hour)}); err != nil {
					b.Fatal(err)
				}
				pending.Wait()
				worst = append(worst, time.Since(start))
				logouts++
			}
			b.StopTimer()
			cpu := redisCPU(b, srv) - cpuBefore
			slices.Sort(latencies)
			slices.Sort(worst)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(latencies[len(latencies)/2]), "p50-ms")
			b.ReportMetric(ms(latencies[len(latencies)*99/100]), "p99-ms")
			b.ReportMetric(ms(worst[len(worst)-1]), "max-ms")
			b.ReportMetric(cpu.Seconds()*1e6/float64(logouts), "redis-cpu-µs/logout")
		})
	}
}

// redisCPU is the CPU redis-server has used, user and system.
func redisCPU(b *testing.B, srv *testredis.Server) time.Duration {
	info, err := srv.Client().Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		for _, k := range []string{"used_cpu_user:", "used_cpu_sys:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), k); ok {
				f, _ := strconv.ParseFloat(v, 64)
				total += f
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}
