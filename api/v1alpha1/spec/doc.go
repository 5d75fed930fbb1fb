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

// Package spec is the AuthPolicy's spec: its types, defaults, validation and restart-only
// fields, free of Kubernetes libraries. The sidecar reads a policy with it and links no
// k8s.io/apimachinery (about 1.3 MiB of idle resident memory per pod, docs/benchmarks.md);
// package v1alpha1 wraps the same types in the Kubernetes object.
//
// +kubebuilder:object:generate=true
package spec
