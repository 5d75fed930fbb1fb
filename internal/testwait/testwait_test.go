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

package testwait_test

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// recorder is a testing.TB whose Fatalf records the message and ends the goroutine, as
// the real one does.
type recorder struct {
	testing.TB
	fatal string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder in its own goroutine and returns what it failed with ("" when
// it returned).
func run(t *testing.T, f func(testing.TB)) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.fatal
}

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	msg := run(t, func(tb testing.TB) {
		testwait.Until(tb, time.Minute, "three calls", func() (bool, string) {
			calls++
			return calls == 3, fmt.Sprintf("%d calls", calls)
		})
	})
	if msg != "" || calls != 3 {
		t.Errorf("after %d calls: failed with %q, want a return after 3", calls, msg)
	}
}

func TestUntilFailsWithTheLastReason(t *testing.T) {
	calls := 0
	msg := run(t, func(tb testing.TB) {
		testwait.Until(tb, 0, "never", func() (bool, string) {
			calls++
			return false, fmt.Sprintf("call %d", calls)
		})
	})
	if !strings.Contains(msg, "never") || !strings.Contains(msg, fmt.Sprintf("call %d", calls)) {
		t.Errorf("failed with %q, want what was awaited and the last reason", msg)
	}
}

func TestNoErrorReportsTheError(t *testing.T) {
	msg := run(t, func(tb testing.TB) {
		testwait.NoError(tb, 0, "a check", func() error { return fmt.Errorf("still broken") })
	})
	if !strings.Contains(msg, "still broken") {
		t.Errorf("failed with %q, want the check's error", msg)
	}
}

func TestFreePortPairIsTwoFreePorts(t *testing.T) {
	p := testwait.FreePortPair(t)
	for _, port := range []int{p, p + 1} {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("port %d of the pair is not free: %v", port, err)
		}
		l.Close()
	}
	if a := testwait.FreeAddr(t); !strings.HasPrefix(a, "127.0.0.1:") {
		t.Errorf("FreeAddr %q is not a loopback address", a)
	}
}
