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

package testredis_test

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
)

func TestServer(t *testing.T) {
	tests := []struct {
		name          string
		opts          []testredis.Option
		keepsRestarts bool
	}{
		{"without persistence data is gone after a restart", nil, false},
		{"with the append-only file data survives a kill", []testredis.Option{testredis.WithAppendOnly()}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			srv := testredis.Start(t, tt.opts...)
			c := srv.Client()
			if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatalf("SET: %v", err)
			}
			addr := srv.Addr()

			srv.Kill()
			pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			if err := c.Ping(pctx).Err(); err == nil {
				t.Fatal("PING answered after Kill")
			}

			srv.Restart()
			if srv.Addr() != addr {
				t.Errorf("Restart moved the server from %s to %s", addr, srv.Addr())
			}
			n, err := srv.Client().Exists(ctx, "k").Result()
			if err != nil {
				t.Fatalf("EXISTS after Restart: %v", err)
			}
			if kept := n == 1; kept != tt.keepsRestarts {
				t.Errorf("key kept across the restart: %v, want %v", kept, tt.keepsRestarts)
			}
		})
	}
}

func TestServersAreIndependent(t *testing.T) {
	ctx := context.Background()
	a, b := testredis.Start(t), testredis.Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("both servers on %s", a.Addr())
	}
	if err := a.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Client().Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS on the other server = %d, %v; want 0", n, err)
	}
}

// Each kind of deployment takes writes through its own client and survives losing its
// master (the one serving the key, for a Cluster) to a failover.
func TestDeploymentsFailOver(t *testing.T) {
	testredis.Each(t, func(t *testing.T, d testredis.Deployment) {
		ctx := context.Background()
		c := d.UniversalClient()
		if err := c.Set(ctx, "{k}", "v", 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		switch d := d.(type) {
		case *testredis.Sentinel:
			old := d.KillMaster()
			d.WaitFailover(old)
			if d.Master() == old {
				t.Fatal("the killed master is still the master")
			}
			d.Rejoin(old)
		case *testredis.Cluster:
			old := d.MasterOf("{k}")
			old.Kill()
			d.WaitFailover(old)
			if d.MasterOf("{k}") == old {
				t.Fatal("the killed master still serves the key")
			}
			d.Rejoin(old)
		default:
			return
		}
		if err := c.Set(ctx, "{k}", "w", 0).Err(); err != nil {
			t.Fatalf("SET after the failover: %v", err)
		}
		d.Flush()
		if n, err := c.Exists(ctx, "{k}").Result(); err != nil || n != 0 {
			t.Fatalf("EXISTS after Flush = %d, %v", n, err)
		}
	})
}
