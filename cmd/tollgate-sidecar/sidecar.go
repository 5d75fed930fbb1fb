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

// Command tollgate-sidecar is tollgate's sidecar: it serves login, refresh and logout for one
// AuthPolicy and validates the access token of every request before proxying it to the app
// (or, with --mode=authorizer, answers gateways' checks instead). It runs in every protected
// pod, so it links no Kubernetes client and no gRPC (see docs/design.md §1).
package main

import "github.com/tollgate-dev/tollgate/sidecar/command"

func main() { command.Sidecar.Main() }
