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

package authpolicy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// TestASecondRepairIsReportedAgain: the Event writer suppresses an Event that repeats one
// of the last minutes word for word. A keys Secret corrupted twice the same way is two
// repairs, each of which invalidates every token signed until then: each must be told.
func TestASecondRepairIsReportedAgain(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	create(t, newPolicy(ns, "twice"))
	kid := waitReady(t, ns, "twice").Status.ActiveKeyID

	for i := 1; i <= 2; i++ {
		secret, _ := getSecret(t, ns, "twice")
		secret.Data["keyset.json"] = []byte("{not json")
		if err := k8s.Update(context.Background(), secret); err != nil {
			t.Fatal(err)
		}
		testwait.Until(t, 30*time.Second, fmt.Sprintf("repair %d", i), func() (bool, string) {
			p := getPolicy(t, ns, "twice")
			return p.Status.ActiveKeyID != kid && p.Status.ActiveKeyID != "", "active key " + p.Status.ActiveKeyID
		})
		testwait.Until(t, 30*time.Second, fmt.Sprintf("%d KeysetInvalid Events", i), func() (bool, string) {
			var notes []string
			for _, e := range events(t, ns, "twice") {
				if e.Reason == "KeysetInvalid" {
					notes = append(notes, e.Note)
				}
			}
			return len(notes) == i, fmt.Sprintf("%q", notes)
		})
		kid = waitReady(t, ns, "twice").Status.ActiveKeyID
	}
}
