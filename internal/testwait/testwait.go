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

// Package testwait is how tests wait for a condition and find a free port: one copy of each,
// shared by every package's tests.
package testwait

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// DefaultEvery is how often Until, For and NoError check their condition.
const DefaultEvery = 20 * time.Millisecond

// Until checks cond every DefaultEvery until it holds, and fails the test when within has
// passed, with what and the last reason cond gave.
func Until(t testing.TB, within time.Duration, what string, cond func() (ok bool, why string)) {
	t.Helper()
	Poll(t, DefaultEvery, within, what, cond)
}

// Poll is Until at another pace: slower for conditions that are costly to check (a list
// from the API server, a request through a cluster).
func Poll(t testing.TB, every, within time.Duration, what string, cond func() (ok bool, why string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if why != "" {
				t.Fatalf("not within %v: %s (last: %s)", within, what, why)
			}
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(every)
	}
}

// For is Until for a condition with no reason to give.
func For(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	Until(t, within, what, func() (bool, string) { return cond(), "" })
}

// NoError is Until for a check that says what is wrong as an error.
func NoError(t testing.TB, within time.Duration, what string, check func() error) {
	t.Helper()
	Until(t, within, what, func() (bool, string) {
		if err := check(); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// FreePort is a loopback TCP port nothing listens on at the moment. Another process could
// take it before the caller binds it; on one test machine that is rare enough.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr is FreePort as an address: "127.0.0.1:<port>".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}

// FreePortPair is a port p such that p and p+1 are both free (etcd's client and peer ports).
func FreePortPair(t testing.TB) int {
	t.Helper()
	for range 50 {
		p := FreePort(t)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no two consecutive free ports")
	return 0
}
