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

package field_test

import (
	"testing"

	k8s "k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec/internal/field"
)

type method string

// The sidecar reports an invalid policy with these messages and the API server's users know
// them: each must read exactly as apimachinery's.
func TestMessagesAreApimachinerys(t *testing.T) {
	ours, theirs := field.NewPath("spec", "login").Child("rateLimit", "window"), k8s.NewPath("spec", "login").Child("rateLimit", "window")
	oi, ti := field.NewPath("spec").Child("routes").Index(3).Child("methods").Index(0), k8s.NewPath("spec").Child("routes").Index(3).Child("methods").Index(0)
	for _, tc := range []struct {
		name         string
		ours, theirs error
	}{
		{"required", field.Required(ours, ""), k8s.Required(theirs, "")},
		{"required with detail", field.Required(ours, "at least one host:port"), k8s.Required(theirs, "at least one host:port")},
		{"forbidden", field.Forbidden(ours, "set at most one"), k8s.Forbidden(theirs, "set at most one")},
		{"invalid string", field.Invalid(ours, "a\"b\n", "must be an http(s) URL"), k8s.Invalid(theirs, "a\"b\n", "must be an http(s) URL")},
		{"invalid int32", field.Invalid(ours, int32(70000), "must be between 1 and 65535"), k8s.Invalid(theirs, int32(70000), "must be between 1 and 65535")},
		{"invalid bool", field.Invalid(ours, true, "no"), k8s.Invalid(theirs, true, "no")},
		{"invalid list", field.Invalid(ours, []string{"admin", "<x>"}, "a public route takes no roles"), k8s.Invalid(theirs, []string{"admin", "<x>"}, "a public route takes no roles")},
		{"invalid empty detail", field.Invalid(ours, "", ""), k8s.Invalid(theirs, "", "")},
		{"duplicate", field.Duplicate(oi, "10.0.0.0/8"), k8s.Duplicate(ti, "10.0.0.0/8")},
		{"not supported, named string", field.NotSupported(oi, method("FETCH"), []string{"GET", "HEAD"}), k8s.NotSupported(ti, method("FETCH"), []string{"GET", "HEAD"})},
		{"not supported, no list", field.NotSupported[string](oi, "x", nil), k8s.NotSupported[string](ti, "x", nil)},
		{"too long", field.TooLong(ours, "xxxxx", 63), k8s.TooLong(theirs, "xxxxx", 63)},
		{"too long, one", field.TooLong(ours, "xx", 1), k8s.TooLong(theirs, "xx", 1)},
		{"too many", field.TooMany(oi, 17, 16), k8s.TooMany(ti, 17, 16)},
		{"too many, one", field.TooMany(oi, 2, 1), k8s.TooMany(ti, 2, 1)},
		{"too many, unknown count", field.TooMany(oi, -1, -1), k8s.TooMany(ti, -1, -1)},
		{"no errors", field.ErrorList{}.ToAggregate(), k8s.ErrorList{}.ToAggregate()},
		{"one error", field.ErrorList{field.Required(ours, "")}.ToAggregate(), k8s.ErrorList{k8s.Required(theirs, "")}.ToAggregate()},
		{"errors, one repeated", field.ErrorList{field.Required(ours, ""), field.TooMany(oi, 3, 2), field.Required(ours, "")}.ToAggregate(),
			k8s.ErrorList{k8s.Required(theirs, ""), k8s.TooMany(ti, 3, 2), k8s.Required(theirs, "")}.ToAggregate()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.ours == nil) != (tc.theirs == nil) {
				t.Fatalf("ours %v, apimachinery's %v", tc.ours, tc.theirs)
			}
			if tc.ours != nil && tc.ours.Error() != tc.theirs.Error() {
				t.Errorf("ours:\n  %s\napimachinery's:\n  %s", tc.ours, tc.theirs)
			}
		})
	}
}
