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
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

// FuzzInjectManifests feeds arbitrary manifests (whatever a repository holds) to
// `tollgate inject`: it never panics; what it accepts, a second pass leaves as it is; and
// a refusal writes nothing.
func FuzzInjectManifests(f *testing.F) {
	for _, w := range workloads {
		f.Add(w.manifest)
	}
	f.Add("apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(workloads["Deployment"].manifest, "\n", "\n  "))
	f.Add("# comment\n---\napiVersion: v1\nkind: ConfigMap\n---\n---\n")
	f.Add(`{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{"auth.tollgate.dev/policy":"shop-api"}},"spec":{"hostPID":true}}`)
	f.Add("apiVersion: batch/v1\nkind: CronJob\nspec: {jobTemplate: {spec: {template: {metadata: {annotations: {auth.tollgate.dev/policy: shop-api, auth.tollgate.dev/upstream-port: '9090'}}}}}}\n")
	f.Add("apiVersion: apps/v1\nkind: Deployment\nspec: {template: {metadata: [1], spec: {initContainers: [{name: tollgate-sidecar}]}}}\n")
	policy := &authv1alpha1.AuthPolicy{}
	if err := yaml.UnmarshalStrict([]byte(testPolicyFile), policy); err != nil {
		f.Fatal(err)
	}
	m := &ManifestInjector{
		Injector:  injection.NewPodInjector(&policyFiles{policies: []*authv1alpha1.AuthPolicy{policy}}, nil, Scheme(), testImage),
		Namespace: "shop",
	}
	f.Fuzz(func(t *testing.T, in string) {
		var once bytes.Buffer
		err := m.InjectManifests(context.Background(), strings.NewReader(in), &once)
		var refused Refusals
		if errors.As(err, &refused) && once.Len() > 0 {
			t.Fatalf("a refusal wrote output: %q", once.String())
		}
		if err != nil {
			return
		}
		var twice bytes.Buffer
		if err := m.InjectManifests(context.Background(), bytes.NewReader(once.Bytes()), &twice); err != nil {
			t.Fatalf("the injected output is refused: %v\n%s", err, once.String())
		}
		if !bytes.Equal(once.Bytes(), twice.Bytes()) {
			t.Fatalf("a second pass changed\n%s\ninto\n%s", once.String(), twice.String())
		}
	})
}
