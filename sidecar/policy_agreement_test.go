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
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/tollgate-dev/tollgate/api/v1alpha1"
)

// parseAsV1alpha1 reads a manifest as the sidecar did when it decoded into
// v1alpha1.AuthPolicy, apimachinery's ObjectMeta and all: ParsePolicy must accept what it
// accepted and read the same policy from it.
func parseAsV1alpha1(data []byte) (*v1alpha1.AuthPolicy, error) {
	var p v1alpha1.AuthPolicy
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return nil, err
	}
	if p.APIVersion != v1alpha1.GroupVersion.String() || p.Kind != "AuthPolicy" {
		return nil, os.ErrInvalid
	}
	p.Default()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// ignoredContent reports whether a manifest has what ParsePolicy reads without looking at
// it, and so may accept where v1alpha1.AuthPolicy refused a malformed value: the status,
// and the metadata timestamps, owner references and managed fields.
func ignoredContent(data []byte) bool {
	var doc map[string]any
	if yaml.Unmarshal(data, &doc) != nil {
		return true // ours refused nothing then: the caller sees an error on both sides
	}
	for k, v := range doc {
		if strings.EqualFold(k, "status") {
			return true
		}
		if meta, ok := v.(map[string]any); ok && strings.EqualFold(k, "metadata") {
			for mk := range meta {
				for _, ignored := range []string{"creationTimestamp", "deletionTimestamp", "ownerReferences", "managedFields"} {
					if strings.EqualFold(mk, ignored) {
						return true
					}
				}
			}
		}
	}
	return false
}

// withoutIgnoredContent is data, as JSON, without what ignoredContent looks for.
func withoutIgnoredContent(t *testing.T, data []byte) []byte {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for k, v := range doc {
		if strings.EqualFold(k, "status") {
			delete(doc, k)
		}
		if meta, ok := v.(map[string]any); ok && strings.EqualFold(k, "metadata") {
			for mk := range meta {
				for _, ignored := range []string{"creationTimestamp", "deletionTimestamp", "ownerReferences", "managedFields"} {
					if strings.EqualFold(mk, ignored) {
						delete(meta, mk)
					}
				}
			}
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkPolicyAgreement(t *testing.T, data []byte) {
	t.Helper()
	if len(data) > MaxPolicyFileSize {
		return
	}
	ours, errOurs := ParsePolicy(data)
	theirs, errTheirs := parseAsV1alpha1(data)
	switch {
	case errOurs != nil && errTheirs == nil:
		t.Fatalf("ParsePolicy refuses a manifest v1alpha1.AuthPolicy reads: %v\n%s", errOurs, data)
	case errOurs == nil && errTheirs != nil:
		if !ignoredContent(data) {
			t.Fatalf("ParsePolicy accepts a manifest v1alpha1.AuthPolicy refuses (%v)\n%s", errTheirs, data)
		}
		// Excused only for what ParsePolicy ignores: without it, the two must agree, and
		// ParsePolicy must read the same policy as with it.
		stripped := withoutIgnoredContent(t, data)
		again, err := ParsePolicy(stripped)
		if err != nil {
			t.Fatalf("ParsePolicy accepts a manifest, and refuses it without its status and ignored metadata (%v)\n%s", err, data)
		}
		if again.Name != ours.Name || again.Namespace != ours.Namespace || again.Generation != ours.Generation || !reflect.DeepEqual(again.Spec, ours.Spec) {
			t.Fatalf("ParsePolicy reads a manifest differently without its status and ignored metadata\n%s", data)
		}
		checkPolicyAgreement(t, stripped)
	case errOurs == nil:
		if ours.Name != theirs.Name || ours.Namespace != theirs.Namespace || ours.Generation != theirs.Generation {
			t.Fatalf("metadata: ParsePolicy read %s/%s generation %d, v1alpha1 %s/%s generation %d",
				ours.Namespace, ours.Name, ours.Generation, theirs.Namespace, theirs.Name, theirs.Generation)
		}
		if !reflect.DeepEqual(ours.Spec, theirs.Spec) {
			t.Fatalf("spec: ParsePolicy read\n%+v\nv1alpha1\n%+v", ours.Spec, theirs.Spec)
		}
	case strings.HasPrefix(errOurs.Error(), "invalid AuthPolicy: "):
		if ignoredContent(data) {
			// v1alpha1 may have stopped at a malformed status before validating.
			if _, errTheirs = parseAsV1alpha1(withoutIgnoredContent(t, data)); errTheirs == nil {
				t.Fatalf("ParsePolicy refuses a manifest (%v) v1alpha1.AuthPolicy reads without its status and ignored metadata\n%s", errOurs, data)
			}
		}
		if got, want := strings.TrimPrefix(errOurs.Error(), "invalid AuthPolicy: "), errTheirs.Error(); got != want {
			t.Fatalf("ParsePolicy says\n  %s\nv1alpha1's validation\n  %s", got, want)
		}
	}
}

// policyManifests are the manifests tollgate ships and tests with, and their variants.
func policyManifests(t testing.TB) [][]byte {
	var out [][]byte
	files, _ := filepath.Glob("../config/samples/*authpolicy*.yaml")
	files = append(files, "../config/samples/standalone/policy.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, s := range []string{
		testPolicyYAML,
		strings.Replace(testPolicyYAML, "ES256", "none", 1),
		strings.Replace(testPolicyYAML, "clockSkew: 30s", "clockSkew: -1s", 1),
		strings.Replace(testPolicyYAML, "clockSkew: 30s", "clockSkew: 30", 1),
		strings.Replace(testPolicyYAML, "clockSkew: 30s", "clockskew: 30s", 1),
		strings.Replace(testPolicyYAML, "clockSkew: 30s", "clockSkew: 30s\n    clockSkue: 1s", 1),
		strings.Replace(testPolicyYAML, "namespace: shop", "namespace: shop, generation: 7, labels: {a: 1}, annotations: {b: c}, uid: x, resourceVersion: \"9\"", 1),
		strings.Replace(testPolicyYAML, "namespace: shop", "namespace: shop, labels: [a]", 1),
		strings.Replace(testPolicyYAML, "namespace: shop", "namespace: shop, nam: x", 1),
		strings.Replace(testPolicyYAML, "name: shop-api", "name: \"\"", 1),
		strings.Replace(testPolicyYAML, "kind: AuthPolicy", "kind: AuthPolicy\nstatus: {observedGeneration: 2}", 1),
		strings.Replace(testPolicyYAML, "kind: AuthPolicy", "kind: AuthPolicy\nstatus: {observedGeneration: two}", 1),
		strings.Replace(testPolicyYAML, "namespace: shop", "namespace: shop, creationTimestamp: yesterday", 1),
		strings.Replace(strings.Replace(testPolicyYAML, "kind: AuthPolicy", "kind: AuthPolicy\nstatus: {bogus: 1}", 1), "ES256", "none", 1),
		`{"apiVersion":"auth.tollgate.dev/v1alpha1","kind":"AuthPolicy","metadata":{"name":"x"},"spec":{"issuer":"https://x","audiences":["x"],"cors":{"allowedOrigins":["https://a.example","*"],"maxAge":"25h"}}}`,
		`{"apiVersion":"auth.tollgate.dev/v1alpha1","kind":"AuthPolicy","metadata":{"name":"x"},"spec":{"sidecar":{"port":8080},"routes":[{"path":"/a","pathPrefix":"/b","methods":["FETCH"]}]}}`,
		"apiVersion: v1\nkind: ConfigMap\n",
	} {
		out = append(out, []byte(s))
	}
	return out
}

func TestParsePolicyReadsWhatV1alpha1Reads(t *testing.T) {
	for _, m := range policyManifests(t) {
		checkPolicyAgreement(t, m)
	}
}

func FuzzParsePolicyAgreesWithV1alpha1(f *testing.F) {
	for _, m := range policyManifests(f) {
		f.Add(m)
	}
	f.Fuzz(checkPolicyAgreement)
}
