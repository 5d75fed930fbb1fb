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

package store

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// publishCommand is how revocations are published: SPUBLISH on a Redis Cluster whose
// servers have sharded pub/sub (Redis 7), so that only the nodes of the channel's hash slot
// (the policy's keys' slot) carry each message, and PUBLISH otherwise, which a Cluster
// broadcasts to every node. Watch subscribes to match (SSUBSCRIBE or SUBSCRIBE). Every
// replica asks the same servers, so all of them agree.
func (s *Redis) publishCommand(ctx context.Context) (string, error) {
	sharded, err := s.shardedPubSub(ctx)
	if err != nil {
		return "", err
	}
	if sharded {
		return "SPUBLISH", nil
	}
	return "PUBLISH", nil
}

// shardedPubSub reports whether the store uses sharded pub/sub. It asks the Cluster once
// (COMMAND INFO SPUBLISH) and remembers a successful answer.
func (s *Redis) shardedPubSub(ctx context.Context) (bool, error) {
	cc, ok := s.client.(*redis.ClusterClient)
	if !ok {
		return false, nil
	}
	s.shardMu.Lock()
	defer s.shardMu.Unlock()
	if s.shardKnown {
		return s.sharded, nil
	}
	info, err := cc.Do(ctx, "COMMAND", "INFO", "SPUBLISH").Slice()
	if err != nil {
		return false, err
	}
	s.sharded = len(info) == 1 && info[0] != nil
	s.shardKnown = true
	return s.sharded, nil
}

// subscribe subscribes to the policy's channel the way revocations are published there.
func (s *Redis) subscribe(ctx context.Context) (*redis.PubSub, error) {
	sharded, err := s.shardedPubSub(ctx)
	if err != nil {
		return nil, s.unavailable("subscribe to revocations", err)
	}
	if sharded {
		return s.client.SSubscribe(ctx, s.channel), nil
	}
	return s.client.Subscribe(ctx, s.channel), nil
}

// ShardedPubSub reports whether revocations travel by sharded pub/sub (SPUBLISH and
// SSUBSCRIBE on a Redis 7 Cluster); false until the store has reached Redis once.
func (s *Redis) ShardedPubSub() bool {
	s.shardMu.Lock()
	defer s.shardMu.Unlock()
	return s.sharded
}
