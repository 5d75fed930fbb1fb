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
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// MasterName is the name the Sentinels of StartSentinel monitor.
const MasterName = "mymaster"

// Sentinel timings: a master that stays silent for sentinelDownAfter is down, and the
// Sentinels elect a replica within a few seconds.
const (
	sentinelDownAfter       = 1000 * time.Millisecond
	sentinelFailoverTimeout = 5 * time.Second
	// readyTimeout bounds how long a group or a cluster may take to settle: seconds on a quiet
	// machine, but Sentinels gossip every 2 s and re-check a returning server every 10 s, and
	// under make test's load a minute has been seen.
	readyTimeout = 2 * time.Minute
)

// Sentinel is a Sentinel group: two redis-servers (a master and its replica) and three
// Sentinels watching them with a quorum of two, all on loopback.
type Sentinel struct {
	t testing.TB
	// Data are the master and the replica as started; after a failover either may be the master.
	Data      []*Server
	Sentinels []*Server
}

// StartSentinel starts the group, waits until the replica is in sync and every Sentinel knows
// the replica and the other two Sentinels, and stops everything when the test ends.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	bin := requireTool(t, "redis-sentinel", "redis-sentinel")
	g := &Sentinel{t: t}
	master := Start(t)
	replica := Start(t, WithArgs("--replicaof", "127.0.0.1", strconv.Itoa(master.port)))
	g.Data = []*Server{master, replica}
	for range 3 {
		g.Sentinels = append(g.Sentinels, startSentinel(t, bin, master.port))
	}
	g.waitReady(master.Addr())
	return g
}

// startSentinel runs one redis-sentinel with its (rewritable) config file in its own directory.
func startSentinel(t testing.TB, bin string, masterPort int) *Server {
	t.Helper()
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: testwait.FreePort(t)}
	conf := strings.Join([]string{
		"port " + strconv.Itoa(s.port),
		"bind 127.0.0.1",
		"protected-mode no",
		"daemonize no",
		"dir " + s.dir,
		"logfile redis.log",
		fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", MasterName, masterPort),
		fmt.Sprintf("sentinel down-after-milliseconds %s %d", MasterName, sentinelDownAfter.Milliseconds()),
		fmt.Sprintf("sentinel failover-timeout %s %d", MasterName, sentinelFailoverTimeout.Milliseconds()),
		fmt.Sprintf("sentinel parallel-syncs %s 1", MasterName),
		"",
	}, "\n")
	path := filepath.Join(s.dir, "sentinel.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.args = []string{path}
	t.Cleanup(s.stop)
	s.start()
	return s
}

// Kind implements Deployment.
func (g *Sentinel) Kind() string { return "sentinel" }

// URL implements Deployment: go-redis's failover URL, every Sentinel listed.
func (g *Sentinel) URL() string {
	u := "redis://" + g.Sentinels[0].Addr() + "?master_name=" + MasterName
	for _, s := range g.Sentinels[1:] {
		u += "&addr=" + s.Addr()
	}
	return u
}

// SentinelAddrs are the Sentinels' addresses.
func (g *Sentinel) SentinelAddrs() []string {
	var out []string
	for _, s := range g.Sentinels {
		out = append(out, s.Addr())
	}
	return out
}

// UniversalClient implements Deployment: a failover client.
func (g *Sentinel) UniversalClient() redis.UniversalClient {
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: MasterName, SentinelAddrs: g.SentinelAddrs()})
	g.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Flush implements Deployment.
func (g *Sentinel) Flush() {
	g.t.Helper()
	g.Master().Flush()
}

// MasterAddr is the master's address as the first Sentinel that answers sees it.
func (g *Sentinel) MasterAddr() string {
	g.t.Helper()
	var last error
	for _, s := range g.Sentinels {
		if !s.Running() {
			continue
		}
		c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr()})
		addr, err := c.GetMasterAddrByName(context.Background(), MasterName).Result()
		_ = c.Close()
		if err == nil && len(addr) == 2 {
			return net.JoinHostPort(addr[0], addr[1])
		}
		last = err
	}
	g.t.Fatalf("no Sentinel knows the master: %v", last)
	return ""
}

// Master is the data server the Sentinels take for the master.
func (g *Sentinel) Master() *Server {
	g.t.Helper()
	addr := g.MasterAddr()
	for _, s := range g.Data {
		if s.Addr() == addr {
			return s
		}
	}
	g.t.Fatalf("the Sentinels' master %s is none of the group's servers", addr)
	return nil
}

// Replica is the data server that is not the master.
func (g *Sentinel) Replica() *Server {
	g.t.Helper()
	m := g.Master()
	for _, s := range g.Data {
		if s != m {
			return s
		}
	}
	return nil
}

// WaitSynced waits until the group is whole: the master has its replica in sync and every
// Sentinel sees both and the other Sentinels.
func (g *Sentinel) WaitSynced() {
	g.t.Helper()
	g.waitReady(g.MasterAddr())
}

// KillMaster kills the current master, as a crash would, and returns it.
func (g *Sentinel) KillMaster() *Server {
	g.t.Helper()
	m := g.Master()
	m.Kill()
	return m
}

// WaitFailover waits until the Sentinels name a master other than old (killed) and it
// answers as a master.
func (g *Sentinel) WaitFailover(old *Server) {
	g.t.Helper()
	testwait.For(g.t, readyTimeout, "the Sentinels elect a new master", func() bool {
		addr := g.MasterAddr()
		return addr != old.Addr() && role(addr) == "master"
	})
}

// Rejoin restarts old, a master killed and failed over, which the Sentinels turn into the
// new master's replica, and waits until the group is whole again (about ten seconds: the
// Sentinels look at a returning server's role every ten).
func (g *Sentinel) Rejoin(old *Server) {
	g.t.Helper()
	addr := g.MasterAddr()
	old.Restart()
	g.waitReady(addr)
}

// waitReady waits until master is a master with one replica in sync, and every Sentinel sees
// it, the replica and the two other Sentinels.
func (g *Sentinel) waitReady(master string) {
	g.t.Helper()
	ctx := context.Background()
	testwait.For(g.t, readyTimeout, "the Sentinel group settles", func() bool {
		info := infoOf(master, "replication")
		if !strings.Contains(info, "role:master") || !strings.Contains(info, "connected_slaves:1") || !strings.Contains(info, ",state=online,") {
			return false
		}
		for _, s := range g.Sentinels {
			c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr()})
			addr, err1 := c.GetMasterAddrByName(ctx, MasterName).Result()
			replicas, err2 := c.Replicas(ctx, MasterName).Result()
			sentinels, err3 := c.Sentinels(ctx, MasterName).Result()
			_ = c.Close()
			if err1 != nil || err2 != nil || err3 != nil || len(addr) != 2 || net.JoinHostPort(addr[0], addr[1]) != master ||
				len(sentinels) != len(g.Sentinels)-1 || len(replicas) < 1 || !replicaUp(replicas) {
				return false
			}
		}
		return true
	})
}

// replicaUp reports whether a Sentinel's view of the replicas has one that is not down.
func replicaUp(replicas []map[string]string) bool {
	for _, r := range replicas {
		if !strings.Contains(r["flags"], "down") && !strings.Contains(r["flags"], "disconnected") {
			return true
		}
	}
	return false
}

// infoOf is a section of INFO from addr, "" when it does not answer.
func infoOf(addr, section string) string {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer func() { _ = c.Close() }()
	info, _ := c.Info(context.Background(), section).Result()
	return info
}

// role is the role line of INFO replication from addr.
func role(addr string) string {
	for _, line := range strings.Split(infoOf(addr, "replication"), "\n") {
		if r, ok := strings.CutPrefix(strings.TrimSpace(line), "role:"); ok {
			return r
		}
	}
	return ""
}
