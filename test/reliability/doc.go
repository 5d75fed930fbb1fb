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

// Package reliability proves tollgate under load and under faults: keys rotating under
// traffic, Redis killed and restarted, refresh races, sidecar and manager restarts. The
// tests run the real binaries against a real kube-apiserver (envtest) and a real
// redis-server. `make test` runs them in a short form; `make test-reliability` sets
// TOLLGATE_RELIABILITY=full and runs them at full size, printing what each did.
package reliability
