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

const clusterChannel = "tollgate:{shop/shop-api}:revocations"

// subscribers counts the plain and the sharded subscribers of the policy's channel on node.
func subscribers(t *testing.T, node *testredis.Server) (plain, sharded int64) {
	t.Helper()
	ctx := context.Background()
	c := node.Client()
	n, err := c.PubSubNumSub(ctx, clusterChannel).Result()
	if err != nil {
		t.Fatalf("PUBSUB NUMSUB: %v", err)
	}
	sn, err := c.PubSubShardNumSub(ctx, clusterChannel).Result()
	if err != nil {
		t.Fatalf("PUBSUB SHARDNUMSUB: %v", err)
	}
	return n[clusterChannel], sn[clusterChannel]
}

// On a Redis 7 Cluster revocations travel by sharded pub/sub on the policy's slot: the
// watcher is a sharded subscriber of the slot's master, and a message reaches it.
func TestClusterRevocationsUseShardedPubSub(t *testing.T) {
	c := testredis.StartCluster(t)
	mine, peer := newRedis(t, c, "shop/shop-api"), newRedis(t, c, "shop/shop-api")
	w, _ := watch(t, peer)
	w.waitFor(t, 5*time.Second, "subscription", func(_ []store.Revocation, resyncs int) bool { return resyncs >= 1 })

	if plain, sharded := subscribers(t, c.MasterOf(clusterChannel)); plain != 0 || sharded != 1 {
		t.Fatalf("the slot's master has %d plain and %d sharded subscribers; want 0 and 1", plain, sharded)
	}
	r := store.Revocation{Kind: store.RevokedToken, ID: "jti-1", Until: time.Now().Add(time.Hour)}
	if err := mine.Revoke(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, 5*time.Second, "the revocation", func(list []store.Revocation, _ int) bool {
		return hasRevocation(list, store.RevokedToken, "jti-1")
	})
	if !mine.ShardedPubSub() || !peer.ShardedPubSub() {
		t.Fatal("the stores do not report sharded pub/sub on a Redis 7 Cluster")
	}
}

// A Cluster without SPUBLISH (an older Redis; here the command is renamed away) gets plain
// PUBLISH and SUBSCRIBE.
func TestClusterWithoutShardedPubSubFallsBackToPublish(t *testing.T) {
	c := testredis.StartCluster(t, testredis.WithArgs("--rename-command", "SPUBLISH", ""))
	mine, peer := newRedis(t, c, "shop/shop-api"), newRedis(t, c, "shop/shop-api")
	w, _ := watch(t, peer)
	w.waitFor(t, 5*time.Second, "subscription", func(_ []store.Revocation, resyncs int) bool { return resyncs >= 1 })
	r := store.Revocation{Kind: store.RevokedToken, ID: "jti-1", Until: time.Now().Add(time.Hour)}
	if err := mine.Revoke(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, 5*time.Second, "the revocation", func(list []store.Revocation, _ int) bool {
		return hasRevocation(list, store.RevokedToken, "jti-1")
	})
	if mine.ShardedPubSub() {
		t.Fatal("sharded pub/sub on a Cluster without SPUBLISH")
	}
}

// When the node that owns the policy's slot dies, the watcher subscribes again on the
// replica that took over, asks for a reload (resync), and gets what is published there.
func TestClusterWatchFollowsTheSlotToTheNewMaster(t *testing.T) {
	c := testredis.StartCluster(t)
	mine, peer := newRedis(t, c, "shop/shop-api"), newRedis(t, c, "shop/shop-api")
	w, _ := watch(t, peer)
	w.waitFor(t, 5*time.Second, "subscription", func(_ []store.Revocation, resyncs int) bool { return resyncs >= 1 })
	if err := mine.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}

	old := c.MasterOf(clusterChannel)
	old.Kill()
	c.WaitFailover(old)
	if c.MasterOf(clusterChannel) == old {
		t.Fatal("the killed node still owns the slot")
	}
	w.waitFor(t, 10*time.Second, "a resubscription on the new master", func(_ []store.Revocation, resyncs int) bool { return resyncs >= 2 })
	if _, sharded := subscribers(t, c.MasterOf(clusterChannel)); sharded != 1 {
		t.Fatalf("the new master has %d sharded subscribers, want 1", sharded)
	}

	r := store.Revocation{Kind: store.RevokedSession, ID: "after-failover", Until: time.Now().Add(time.Hour)}
	if err := revokeRetrying(mine, r); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, 5*time.Second, "the revocation published on the new master", func(list []store.Revocation, _ int) bool {
		return hasRevocation(list, store.RevokedSession, "after-failover")
	})
}

// revokeRetrying revokes, retrying while the client still has the old slot map.
func revokeRetrying(s *store.Redis, r store.Revocation) error {
	var err error
	for range 50 {
		if err = s.Revoke(context.Background(), r); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}
