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

import "runtime/debug"

// releaseMemoryAfter is the size of a reload from which LoadFrom hands the memory it freed
// back to the system at once.
const releaseMemoryAfter = 50_000

// releaseMemory runs a collection and returns every free page to the system
// (debug.FreeOSMemory). A large reload leaves behind the store's replies, the decoded pages
// and the tables the list outgrew, and the runtime would otherwise keep them resident for
// minutes: a sidecar that has loaded 100,000 revocations stays at 50 MiB resident instead
// of 20 (docs/benchmarks.md). It is only worth it after a large reload, which is rare (start,
// reconnection): one collection of the sidecar's small heap, with stops of well under a
// millisecond, run by the reloading goroutine, not by a request's.
func releaseMemory() { debug.FreeOSMemory() }
