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
	"os"
	"os/exec"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Deployment is a Redis a store can be pointed at: one server, a Sentinel group or a Cluster.
type Deployment interface {
	// Kind is "single", "sentinel" or "cluster".
	Kind() string
	// URL is the sidecar's --redis-url for it.
	URL() string
	// UniversalClient is a new client of it, closed when the test ends.
	UniversalClient() redis.UniversalClient
	// Flush empties every master.
	Flush()
}

// Each runs f once per kind of deployment: a single server, a Sentinel group and a Cluster,
// each started for the subtest and torn down after it.
func Each(t *testing.T, f func(t *testing.T, d Deployment)) {
	t.Run("single", func(t *testing.T) { f(t, Start(t)) })
	t.Run("sentinel", func(t *testing.T) { f(t, StartSentinel(t)) })
	t.Run("cluster", func(t *testing.T) { f(t, StartCluster(t)) })
}

// requireTool fails the test when a binary is missing under CI=true, and skips it with what
// to install otherwise.
func requireTool(t testing.TB, bin, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err == nil {
		return path
	}
	msg := bin + " not found: run `make redis-server` (as root) or install Debian's " + pkg + " package"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
