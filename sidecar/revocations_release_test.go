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
	"testing"
)

// Two large reloads that overlap in one process (two Revocations, as in a test binary or a
// program embedding two Servers) end with the collector's target where it was before either
// began, whichever ends first: the second must not save the first's 25 as the one to put
// back, which left the process at GOGC 25 for good.
func TestOverlappingReloadsPutTheCollectorsTargetBack(t *testing.T) {
	const mine = 137
	prev := debug.SetGCPercent(mine)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	for _, order := range []string{"first in, first out", "last in, first out"} {
		t.Run(order, func(t *testing.T) {
			var a, b reloadGC
			a.grown(releaseMemoryAfter)
			b.grown(releaseMemoryAfter)
			if got := debug.SetGCPercent(reloadGCPercent); got != reloadGCPercent {
				t.Fatalf("GOGC during the reloads = %d, want %d", got, reloadGCPercent)
			}
			first, second := &a, &b
			if order == "last in, first out" {
				first, second = &b, &a
			}
			first.done()
			if got := debug.SetGCPercent(reloadGCPercent); got != reloadGCPercent {
				t.Fatalf("GOGC while one reload still runs = %d, want %d", got, reloadGCPercent)
			}
			second.done()
			if got := debug.SetGCPercent(mine); got != mine {
				t.Fatalf("GOGC after both reloads = %d, want %d as before them", got, mine)
			}
		})
	}
}
