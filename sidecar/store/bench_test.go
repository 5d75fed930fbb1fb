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
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// BenchmarkRotateRefresh measures one refresh: spending a token and storing its successor.
func BenchmarkRotateRefresh(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"memory", func(b *testing.B) store.Store { return newMemory(b) }},
		{"redis", func(b *testing.B) store.Store { return newRedis(b, testredis.Start(b), "shop/shop-api") }},
		// The cost of durability: the same rotation acknowledged only once a replica has it.
		{"sentinel", func(b *testing.B) store.Store { return newRedis(b, testredis.StartSentinel(b), "shop/shop-api") }},
		{"sentinel-wait1", func(b *testing.B) store.Store {
			return newRedis(b, testredis.StartSentinel(b), "shop/shop-api", store.WithWaitReplicas(1))
		}},
		{"cluster", func(b *testing.B) store.Store { return newRedis(b, testredis.StartCluster(b), "shop/shop-api") }},
		{"cluster-wait1", func(b *testing.B) store.Store {
			return newRedis(b, testredis.StartCluster(b), "shop/shop-api", store.WithWaitReplicas(1))
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			s := st.open(b)
			ctx := context.Background()
			now := time.Now()
			// With WAIT, a write no replica acknowledged in time answers unavailable and is
			// taken back: on a loaded machine that happens, and is counted, not fatal.
			var first store.RefreshToken
			for try := 0; ; try++ {
				first = store.RefreshToken{Hash: fmt.Sprintf("%064x", 1<<40+try), Subject: "alice", Role: "clerk",
					Family: fmt.Sprintf("fam-%d", try), IssuedAt: time.UnixMilli(now.UnixMilli()), ExpiresAt: time.UnixMilli(now.Add(7 * 24 * time.Hour).UnixMilli())}
				err := s.CreateRefresh(ctx, first)
				if err == nil {
					break
				}
				if !errors.Is(err, store.ErrUnavailable) || try == 20 {
					b.Fatalf("CreateRefresh: %v", err)
				}
				time.Sleep(250 * time.Millisecond)
			}
			cur := first.Hash
			unavailable := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				next := fmt.Sprintf("%064x", i) // any 64 hex digits will do
				if _, err := s.RotateRefresh(ctx, cur, store.RefreshToken{Hash: next}, now, 0); err != nil {
					if errors.Is(err, store.ErrUnavailable) {
						unavailable++
						continue
					}
					b.Fatal(err)
				}
				cur = next
			}
			b.ReportMetric(float64(unavailable)/float64(b.N), "unavailable/op")
		})
	}
}
