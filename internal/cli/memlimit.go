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

package cli

import (
	"log/slog"
	"runtime"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
)

// setMemoryLimit gives the Go runtime a soft memory limit of 90% of the container's
// (cgroup v1 or v2) memory limit, unless GOMEMLIMIT is set (AUTOMEMLIMIT=off disables it,
// AUTOMEMLIMIT=0.8 changes the ratio). Without it the garbage collector lets the heap grow
// to twice what is live, and at thousands of policies a burst of reconciles would take the
// manager past its limit (docs/benchmarks.md) though what it holds fits well inside.
// automemlimit reads the cgroup files; outside a container there is no limit to follow,
// and elsewhere than Linux no cgroups.
func setMemoryLimit(log logr.Logger) {
	if runtime.GOOS != "linux" {
		return
	}
	_, _ = memlimit.Set(memlimit.WithLogger(slog.New(logr.ToSlogHandler(log))))
}
