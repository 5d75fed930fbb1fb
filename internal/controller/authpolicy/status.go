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

package authpolicy

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/keyset"
)

// mirrorKeys writes the keyset as the status shows it at now.
func mirrorKeys(st *authv1alpha1.AuthPolicyStatus, ks *keyset.Keyset, pol keyset.Policy, now time.Time) {
	st.Keys = make([]authv1alpha1.KeyStatus, 0, len(ks.Keys))
	st.ActiveKeyID, st.NextKeyID = "", ""
	st.LastRotationTime, st.NextRotationTime = nil, nil
	for _, k := range ks.Keys {
		state := k.State(now)
		st.Keys = append(st.Keys, authv1alpha1.KeyStatus{
			KID:         k.KID,
			Algorithm:   authv1alpha1.Algorithm(k.Algorithm),
			State:       authv1alpha1.KeyState(state),
			CreatedAt:   metav1.NewTime(k.CreatedAt),
			ActivatesAt: metav1.NewTime(k.ActivatesAt),
			RetiresAt:   optionalTime(k.RetiresAt),
			ExpiresAt:   optionalTime(k.ExpiresAt),
		})
		if state == keyset.StateNext && st.NextKeyID == "" {
			st.NextKeyID = k.KID
		}
	}
	if a := ks.Active(now); a != nil {
		st.ActiveKeyID = a.KID
		st.LastRotationTime = optionalTime(a.ActivatesAt)
		next := a.RetiresAt
		if next.IsZero() {
			// No successor yet: it is due an interval after this key's activation.
			next = a.ActivatesAt.Add(pol.RotationInterval)
		}
		st.NextRotationTime = optionalTime(next)
	}
	st.KeyCount = int32(len(ks.Keys))
}

func optionalTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}

func readyMessage(st authv1alpha1.AuthPolicyStatus) string {
	msg := fmt.Sprintf("key %s signs", st.ActiveKeyID)
	if st.NextRotationTime != nil {
		msg += "; next rotation at " + st.NextRotationTime.UTC().Format(time.RFC3339)
	}
	if st.NextKeyID != "" {
		msg += " to key " + st.NextKeyID + " (published)"
	}
	return msg
}
