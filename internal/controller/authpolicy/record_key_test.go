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
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/keyset"
)

// TestTheKeysSecretKeepsARecordKey: the sidecars authenticate their Redis records with the
// record key in the keys Secret, so the operator makes it once and never changes it.
func TestTheKeysSecretKeepsARecordKey(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	create(t, newPolicy(ns, "records", fastRotation))
	waitReady(t, ns, "records")
	secret, ks := getSecret(t, ns, "records")
	first, err := keyset.ParseRecordKey(secret.Data[keyset.RecordKeyFileName])
	if err != nil {
		t.Fatalf("the keys Secret holds no valid %s: %v", keyset.RecordKeyFileName, err)
	}

	// A rotation rewrites keyset.json; the record key stays.
	p := getPolicy(t, ns, "records")
	p.Annotations = map[string]string{authv1alpha1.RotateRequestedAtAnnotation: time.Now().Format(time.RFC3339Nano)}
	if err := k8s.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 15*time.Second, "a rotation written to the Secret", func() (bool, string) {
		_, now := getSecret(t, ns, "records")
		return len(now.Keys) > len(ks.Keys), fmt.Sprintf("%d keys", len(now.Keys))
	})
	secret, _ = getSecret(t, ns, "records")
	if got, err := keyset.ParseRecordKey(secret.Data[keyset.RecordKeyFileName]); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("the record key changed with a rotation (%v)", err)
	}

	// A Secret written by an operator that predates record keys gets one.
	for name, change := range map[string]func(*corev1.Secret){
		"no record key":       func(s *corev1.Secret) { delete(s.Data, keyset.RecordKeyFileName) },
		"a broken record key": func(s *corev1.Secret) { s.Data[keyset.RecordKeyFileName] = []byte("not base64!") },
	} {
		secret, _ = getSecret(t, ns, "records")
		change(secret)
		if err := k8s.Update(context.Background(), secret); err != nil {
			t.Fatal(err)
		}
		testwait.Until(t, 15*time.Second, "a valid record key after "+name, func() (bool, string) {
			s := &corev1.Secret{}
			if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "records-signing-keys"}, s); err != nil {
				return false, err.Error()
			}
			_, err := keyset.ParseRecordKey(s.Data[keyset.RecordKeyFileName])
			return err == nil, fmt.Sprint(err)
		})
	}
}
