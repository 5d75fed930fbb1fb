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

package testredis

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// clusterNodeTimeout is how long a cluster node may stay silent before it is failed over.
const clusterNodeTimeout = time.Second

// Cluster is a Redis Cluster of three masters and three replicas on loopback.
type Cluster struct {
	t     testing.TB
	Nodes []*Server
}

// StartCluster starts six cluster-enabled redis-servers, joins them with
// `redis-cli --cluster create --cluster-replicas 1`, waits until every node reports the
// cluster ok with every replica in sync, and stops them when the test ends.
// opts apply to every node (e.g. WithArgs).
func StartCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	cli := requireTool(t, "redis-cli", "redis-tools")
	c := &Cluster{t: t}
	args := []string{"redis-cli", "--cluster", "create"}
	for range 6 {
		s := Start(t, append([]Option{WithArgs(
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.FormatInt(clusterNodeTimeout.Milliseconds(), 10),
		)}, opts...)...)
		c.Nodes = append(c.Nodes, s)
		args = append(args, s.Addr())
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, cli, args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitReady()
	return c
}

// Kind implements Deployment.
func (c *Cluster) Kind() string { return "cluster" }

// URL implements Deployment: go-redis's cluster URL, every node a seed.
func (c *Cluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr() + "?"
	for i, s := range c.Nodes[1:] {
		if i > 0 {
			u += "&"
		}
		u += "addr=" + s.Addr()
	}
	return u
}

// Addrs are the nodes' addresses.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, s := range c.Nodes {
		out = append(out, s.Addr())
	}
	return out
}

// UniversalClient implements Deployment: a cluster client.
func (c *Cluster) UniversalClient() redis.UniversalClient {
	cc := c.client()
	c.t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func (c *Cluster) client() *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
}

// Flush implements Deployment: FLUSHALL on every master.
func (c *Cluster) Flush() {
	c.t.Helper()
	cc := c.client()
	defer func() { _ = cc.Close() }()
	err := cc.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		return m.FlushAll(ctx).Err()
	})
	if err != nil {
		c.t.Fatalf("FLUSHALL on the cluster's masters: %v", err)
	}
}

// MasterOf is the node that serves key's hash slot now.
func (c *Cluster) MasterOf(key string) *Server {
	c.t.Helper()
	cc := c.client()
	defer func() { _ = cc.Close() }()
	ctx := context.Background()
	slot, err := cc.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		c.t.Fatalf("CLUSTER KEYSLOT: %v", err)
	}
	shards, err := cc.ClusterShards(ctx).Result()
	if err != nil {
		c.t.Fatalf("CLUSTER SHARDS: %v", err)
	}
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if r.Start <= slot && slot <= r.End {
				for _, s := range c.Nodes {
					if s.Addr() == masterOf(sh) {
						return s
					}
				}
			}
		}
	}
	c.t.Fatalf("no node serves slot %d", slot)
	return nil
}

// WaitFailover waits until a replica has taken over the slots of the killed master old.
func (c *Cluster) WaitFailover(old *Server) {
	c.t.Helper()
	testwait.For(c.t, readyTimeout, "a replica takes over the killed master's slots", func() bool {
		for _, s := range c.Nodes {
			if s == old {
				continue
			}
			if !clusterOK(s.Addr()) || servesSlots(s.Addr(), old.Addr()) {
				return false
			}
		}
		return true
	})
}

// Rejoin restarts old, a master killed and failed over, which rejoins as a replica (its
// nodes.conf kept), and waits until the cluster is whole again.
func (c *Cluster) Rejoin(old *Server) {
	c.t.Helper()
	old.Restart()
	c.waitReady()
}

// waitReady waits until every node says cluster_state:ok, knows all six nodes, and every
// master has a replica in sync.
func (c *Cluster) waitReady() {
	c.t.Helper()
	testwait.For(c.t, readyTimeout, "the cluster settles", func() bool {
		masters := 0
		for _, s := range c.Nodes {
			if !clusterOK(s.Addr()) {
				return false
			}
			info := infoOf(s.Addr(), "replication")
			switch {
			case strings.Contains(info, "role:master"):
				if !strings.Contains(info, "connected_slaves:1") || !strings.Contains(info, ",state=online,") {
					return false
				}
				masters++
			case !strings.Contains(info, "master_link_status:up"):
				return false
			}
		}
		return masters == 3
	})
}

// clusterOK reports whether the node at addr says the cluster is ok and knows six nodes.
func clusterOK(addr string) bool {
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer func() { _ = cl.Close() }()
	info, err := cl.ClusterInfo(context.Background()).Result()
	return err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:6")
}

// servesSlots reports whether the node at addr says master serves slots (or cannot say).
func servesSlots(addr, master string) bool {
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer func() { _ = cl.Close() }()
	shards, err := cl.ClusterShards(context.Background()).Result()
	if err != nil {
		return true
	}
	for _, sh := range shards {
		if len(sh.Slots) > 0 && masterOf(sh) == master {
			return true
		}
	}
	return false
}

// masterOf is the address of a shard's healthy master, "" if it has none.
func masterOf(sh redis.ClusterShard) string {
	for _, n := range sh.Nodes {
		if n.Role == "master" && n.Health == "online" {
			return net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
		}
	}
	return ""
}
