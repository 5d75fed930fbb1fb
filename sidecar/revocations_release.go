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

package sidecar

import (
	"runtime/debug"
	"sync"
)

// releaseMemoryAfter is the size of a reload from which LoadFrom hands the memory it freed
// back to the system at once.
const releaseMemoryAfter = 50_000

// releaseMemory runs a collection and returns every free page to the system
// (debug.FreeOSMemory). A large reload leaves behind the store's replies, the decoded pages
// and the tables the list outgrew, and the runtime would otherwise keep them resident for
// minutes: a sidecar that has loaded 100,000 revocations stays at 29 MiB resident instead
// of 22, one with 1,000,000 at 104 MiB instead of 82 (docs/benchmarks.md). It is only worth it after a large reload, which is rare (start,
// reconnection): one collection of the sidecar's small heap, with stops of well under a
// millisecond (0.2-0.4 ms measured), run by the reloading goroutine, not by a request's.
func releaseMemory() { debug.FreeOSMemory() }

// reloadGCPercent is the collector's target (GOGC) while a large list reloads. A reload
// turns over several times the list's size in garbage (the store's replies, the decoded
// pages); at the default of 100 the heap grows to twice what is live before each collection,
// and a reload into a list of 1,000,000 peaked at 140 MiB resident with 65 MiB live.
const reloadGCPercent = 25

// reloadGC lowers the collector's target for the rest of a reload once the list is large,
// and puts it back when the reload ends. The target is the process's, so reloads that
// overlap (two Revocations in one process) share one lowering: the first saves the target
// it found, the last to end puts it back.
type reloadGC struct {
	lowered bool
}

var lowGC struct {
	sync.Mutex
	reloads int // reloads that lowered the target and have not ended
	prev    int // the target before the first of them
}

// grown tells it the list now holds n entries.
func (g *reloadGC) grown(n int) {
	if g.lowered || n < releaseMemoryAfter {
		return
	}
	g.lowered = true
	lowGC.Lock()
	defer lowGC.Unlock()
	if lowGC.reloads++; lowGC.reloads == 1 {
		lowGC.prev = debug.SetGCPercent(reloadGCPercent)
	}
}

func (g *reloadGC) done() {
	if !g.lowered {
		return
	}
	g.lowered = false
	lowGC.Lock()
	defer lowGC.Unlock()
	if lowGC.reloads--; lowGC.reloads == 0 {
		debug.SetGCPercent(lowGC.prev)
	}
}
