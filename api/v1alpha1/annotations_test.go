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

package v1alpha1

import (
	"maps"
	"testing"
)

func TestRevokeRequestsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  map[string]string
		err   bool
	}{
		{value: "", want: map[string]string{}},
		{value: "null", want: map[string]string{}},
		{value: `{"3f2a9c0e": "leaked in a CI log", "ab": ""}`, want: map[string]string{"3f2a9c0e": "leaked in a CI log", "ab": ""}},
		{value: `["3f2a9c0e"]`, err: true},
		{value: `{"3f2a9c0e": 1}`, err: true},
	} {
		got, err := ParseRevokeRequests(tc.value)
		if (err != nil) != tc.err || (!tc.err && !maps.Equal(got, tc.want)) {
			t.Errorf("ParseRevokeRequests(%q) = %v, %v; want %v (error: %v)", tc.value, got, err, tc.want, tc.err)
		}
	}
}

// FuzzParseRevokeRequests: the annotation is anyone's input. It never panics, always gives
// a writable map, and what it reads formats back to itself.
func FuzzParseRevokeRequests(f *testing.F) {
	for _, s := range []string{"", "null", `{"a":"b"}`, `{"a":null}`, `[]`, `{`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		got, err := ParseRevokeRequests(value)
		if err != nil {
			return
		}
		got["written"] = "ok" // must not panic on a nil map
		delete(got, "written")
		again, err := ParseRevokeRequests(FormatRevokeRequests(got))
		if err != nil || !maps.Equal(got, again) {
			t.Fatalf("round trip of %q: %v, %v", value, again, err)
		}
	})
}
