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
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// scaleRevocations is n live revocations as a sidecar meets them: a third access tokens by
// jti, a third sessions by sid (both ids as randomID makes them), a third subjects.
func scaleRevocations(n int) []store.Revocation {
	until := time.Now().Add(time.Hour)
	out := make([]store.Revocation, 0, n)
	for i := range n {
		switch i % 3 {
		case 0:
			out = append(out, store.Revocation{Kind: store.RevokedToken, ID: randomID(), Until: until})
		case 1:
			out = append(out, store.Revocation{Kind: store.RevokedSession, ID: randomID(), Until: until})
		default:
			out = append(out, store.Revocation{Kind: store.RevokedSubject, ID: "user-" + strconv.Itoa(i), IssuedBefore: until.Add(-time.Hour), Until: until})
		}
	}
	return out
}

// BenchmarkRevocationsAtScale loads 10,000, 100,000 and 1,000,000 live revocations and
// reports the heap they hold (heap-MiB, B/entry), the process's resident memory (rss-MiB)
// and the cost of the check every validated request makes (ns/op: a token that is not
// revoked, the common case, against the whole list).
func BenchmarkRevocationsAtScale(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("%d", n), func(b *testing.B) {
			before := heapInUse()
			list := scaleRevocations(n)
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

// BenchmarkRevocationsReload is the full reload a sidecar makes after every reconnection,
// with 100,000 live revocations in Redis: reading them (list-ms) and merging them into the
// list validation reads (merge-ms: validation waits for the merge's lock, not for Redis).
func BenchmarkRevocationsReload(b *testing.B) {
	const n = 100_000
	srv := testredis.Start(b)
	c := srv.Client()
	ctx := context.Background()
	base := time.Now().Add(time.Hour).UnixMilli()
	pipe := c.Pipeline()
	for i := range n {
		until := base + int64(i%3600)*1000 // access tokens end over the next hour
		kind := []string{"jti", "sid"}[i%2]
		pipe.ZAdd(ctx, "tollgate:{shop/shop-api}:revoked", redis.Z{
			Score:  float64(until),
			Member: fmt.Sprintf(`{"kind":%q,"id":%q,"issuedBefore":0,"until":%d}`, kind, randomID(), until),
		})
		if i%10_000 == 9_999 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	st, err := store.OpenRedis(store.RedisOptions{Addresses: []string{srv.Addr()}}, "shop/shop-api")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	var list, merge time.Duration
	for b.Loop() {
		start := time.Now()
		got, err := st.Revocations(ctx, time.Now())
		if err != nil || len(got) != n {
			b.Fatalf("%d revocations, %v", len(got), err)
		}
		read := time.Now()
		rv := NewRevocations()
		rv.Load(got)
		list += read.Sub(start)
		merge += time.Since(read)
	}
	b.ReportMetric(float64(list.Milliseconds())/float64(b.N), "list-ms")
	b.ReportMetric(float64(merge.Milliseconds())/float64(b.N), "merge-ms")
}
