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
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// waitTimeout bounds how long a write waits for its replicas: inside redisReadTimeout, so
// the WAIT reply arrives before the client gives up on the connection.
const waitTimeout = 250 * time.Millisecond

// MaxWaitReplicas bounds --redis-wait-replicas.
const MaxWaitReplicas = 5

// errNotReplicated: the write was done on the master but fewer replicas than asked
// acknowledged it in time. A failover now could lose it, so it is not acknowledged either.
var errNotReplicated = errors.New("fewer replicas than --redis-wait-replicas acknowledged the write")

// WithWaitReplicas makes every write that a failover must not lose (a new session, a
// refresh rotation, a revocation) wait until n replicas have it (Redis's WAIT, on the same
// connection as the write), and fail as unavailable when they do not within 250ms. With
// asynchronous replication alone (n = 0, the default) a master that dies right after
// answering can take acknowledged rotations with it.
func WithWaitReplicas(n int) RedisOption {
	return func(s *Redis) { s.waitReplicas = n }
}

// runWrite runs a write script. With WithWaitReplicas it sends the script and WAIT in one
// pipeline on one connection to the keys' master, so WAIT counts the script's own write.
func (s *Redis) runWrite(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	if s.waitReplicas <= 0 {
		return script.Run(ctx, s.client, keys, args...)
	}
	node, err := s.masterFor(ctx, keys[0])
	if err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	for loaded := false; ; loaded = true {
		pipe := node.Pipeline()
		cmd := script.EvalSha(ctx, pipe, keys, args...)
		wait := pipe.Do(ctx, "WAIT", s.waitReplicas, waitTimeout.Milliseconds())
		_, _ = pipe.Exec(ctx)
		if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") && !loaded {
			if err := script.Load(ctx, node).Err(); err != nil {
				cmd.SetErr(err)
				return cmd
			}
			continue
		}
		if cmd.Err() != nil {
			return cmd
		}
		if n, err := wait.Int64(); err != nil || n < int64(s.waitReplicas) {
			cmd.SetErr(fmt.Errorf("%w (%d of %d)", errNotReplicated, n, s.waitReplicas))
		}
		return cmd
	}
}

// masterFor is the client of the master that holds key: the client itself for one server
// or Sentinel, the slot's master on a Cluster.
func (s *Redis) masterFor(ctx context.Context, key string) (*redis.Client, error) {
	switch c := s.client.(type) {
	case *redis.Client:
		return c, nil
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, key)
	}
	return nil, fmt.Errorf("store: WAIT needs a redis.Client or redis.ClusterClient, not %T", s.client)
}
