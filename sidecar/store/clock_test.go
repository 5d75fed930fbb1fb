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
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// Both stores judge time by the clock they are given, never by time.Now behind the
// caller's back: a test, or a sidecar, can stand at any instant.
func TestStoresKeepTheirInjectedClock(t *testing.T) {
	srv := testredis.Start(t)
	for _, tc := range []struct {
		name string
		open func(t *testing.T, now func() time.Time) store.Store
	}{
		{"memory", func(t *testing.T, now func() time.Time) store.Store {
			m := store.NewMemoryWithClock(now)
			t.Cleanup(func() { _ = m.Close() })
			return m
		}},
		{"redis", func(t *testing.T, now func() time.Time) store.Store {
			s, err := store.OpenRedis(store.RedisOptions{Addresses: []string{srv.Addr()}}, "shop/clock-"+randomHash(t)[:8], store.WithClock(now))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			real := time.UnixMilli(time.Now().UnixMilli())
			later := real.Add(2 * time.Hour)
			s := tc.open(t, func() time.Time { return later })

			t.Run("a revocation that ended by the store's clock is not kept", func(t *testing.T) {
				if err := s.Revoke(ctx, store.Revocation{Kind: store.RevokedToken, ID: "jti-1", Until: real.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				revs, err := s.Revocations(ctx, real)
				if err != nil {
					t.Fatal(err)
				}
				if len(revs) != 0 {
					t.Errorf("a revocation until %v, two hours before the store's clock, was kept: %+v", real.Add(time.Hour), revs)
				}
			})
			t.Run("a token without an issue time is issued at the store's clock", func(t *testing.T) {
				tok := store.RefreshToken{Hash: randomHash(t), Subject: "alice", Role: "clerk", Family: "fam-" + randomHash(t)[:16], ExpiresAt: later.Add(time.Hour)}
				if err := s.CreateRefresh(ctx, tok); err != nil {
					t.Fatal(err)
				}
				got, err := s.LookupRefresh(ctx, tok.Hash, later)
				if err != nil {
					t.Fatal(err)
				}
				if !got.IssuedAt.Equal(later) {
					t.Errorf("IssuedAt %v, want the store's clock %v", got.IssuedAt, later)
				}
			})
		})
	}
}
