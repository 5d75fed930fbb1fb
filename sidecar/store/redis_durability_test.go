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
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// With WithWaitReplicas(1) a write is acknowledged only once a replica has it: it works with
// a replica in sync (Sentinel, Cluster), and fails as unavailable without one, a refresh
// rotation being taken back so that the client's retry is not reuse.
func TestRedisWaitReplicas(t *testing.T) {
	ctx := context.Background()
	now := time.UnixMilli(time.Now().UnixMilli())
	rotate := func(s store.Store, old string) (string, error) {
		next := store.RefreshToken{Hash: randomHash(t), IssuedAt: now}
		_, err := s.RotateRefresh(ctx, old, next, now, 0)
		return next.Hash, err
	}
	// A write the replica did not acknowledge within 250ms (a loaded machine) answers
	// unavailable and was taken back: the client retries, as it does on a 503.
	retry := func(what string, f func() error) {
		t.Helper()
		var err error
		for range 20 {
			if err = f(); !errors.Is(err, store.ErrUnavailable) {
				break
			}
		}
		if err != nil {
			t.Fatalf("%s with a replica in sync: %v", what, err)
		}
	}
	testredis.Each(t, func(t *testing.T, d testredis.Deployment) {
		s := newRedis(t, d, "shop/shop-api", store.WithWaitReplicas(1))
		if d.Kind() == "single" {
			err := s.CreateRefresh(ctx, store.RefreshToken{Hash: randomHash(t), Subject: "a", Role: "r", Family: "f", ExpiresAt: now.Add(time.Hour)})
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("CreateRefresh waiting for a replica a lone server does not have: %v, want ErrUnavailable", err)
			}
			return
		}
		tok := store.RefreshToken{Hash: randomHash(t), Subject: "alice", Role: "r", Family: "f", ExpiresAt: now.Add(time.Hour)}
		retry("CreateRefresh", func() error { return s.CreateRefresh(ctx, tok) })
		var next string
		retry("RotateRefresh", func() (err error) { next, err = rotate(s, tok.Hash); return err })
		retry("Revoke", func() error {
			return s.Revoke(ctx, store.Revocation{Kind: store.RevokedToken, ID: "j", Until: now.Add(time.Hour)})
		})
		g, ok := d.(*testredis.Sentinel)
		if !ok {
			return
		}
		// The replica goes away: rotations are no longer acknowledged, and taken back.
		replica := g.Replica()
		replica.Kill()
		if _, err := rotate(s, next); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("RotateRefresh with the replica down: %v, want ErrUnavailable", err)
		}
		if _, err := s.LookupRefresh(ctx, next, now); err != nil {
			t.Fatalf("the token whose rotation was not acknowledged: %v, want it usable again", err)
		}
		replica.Restart()
		g.WaitSynced()
		retry("RotateRefresh once the replica is back", func() error { _, err := rotate(s, next); return err })
	})
}
