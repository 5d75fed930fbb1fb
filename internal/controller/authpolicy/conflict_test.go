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
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientevents "k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/controller/authpolicy"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// interferingClient writes the keys Secret behind the reconciler's back just before the
// reconciler's first update of it, as another writer would: that update conflicts.
type interferingClient struct {
	client.Client
	interfered atomic.Int32
}

func (c *interferingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if s, ok := obj.(*corev1.Secret); ok && c.interfered.Add(1) == 1 {
		other := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(s), other); err != nil {
			return err
		}
		other.Annotations = map[string]string{"example.com/touched": "by someone else"}
		if err := c.Client.Update(ctx, other); err != nil {
			return err
		}
	}
	return c.Client.Update(ctx, obj, opts...)
}

// TestASecretUpdateConflictIsRetried runs a second reconciler whose clock stands at the
// end of the active key's interval, so that it must write a successor, and makes its
// first write conflict. The pass must succeed on fresh data, keep the other writer's
// change, and write the successor once.
func TestASecretUpdateConflictIsRetried(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	create(t, newPolicy(ns, "contended"))
	p := waitReady(t, ns, "contended")
	active := p.Status.Keys[0]

	direct, err := client.New(cfg, client.Options{Scheme: cli.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	c := &interferingClient{Client: directClient{direct}}
	rec := clientevents.NewFakeRecorder(32)
	r := &authpolicy.Reconciler{
		Client:    c,
		APIReader: direct,
		Recorder:  rec,
		// prePublish (5m) before the 24h interval ends: the successor is due now.
		Clock: clocktesting.NewFakePassiveClock(active.ActivatesAt.Add(24*time.Hour - 5*time.Minute)),
	}
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "contended"}})
	if err != nil {
		t.Fatalf("the pass failed on the conflict: %v", err)
	}
	if c.interfered.Load() < 2 {
		t.Fatalf("the Secret was updated %d times: the conflict was not exercised", c.interfered.Load())
	}
	secret, ks := getSecret(t, ns, "contended")
	if secret.Annotations["example.com/touched"] != "by someone else" {
		t.Error("the retry overwrote the other writer's change")
	}
	if len(ks.Keys) != 2 || ks.Lookup(active.KID) == nil {
		t.Fatalf("keys %+v: want the active key and one successor", ks.Keys)
	}
	successor := ks.Keys[1]
	if !successor.ActivatesAt.Equal(active.ActivatesAt.Add(24 * time.Hour)) {
		t.Errorf("successor activates %s, want the end of the interval %s", successor.ActivatesAt, active.ActivatesAt.Add(24*time.Hour))
	}
	if want := 5 * time.Minute; res.RequeueAfter != want {
		t.Errorf("RequeueAfter %s, want %s: the successor's activation", res.RequeueAfter, want)
	}
	close(rec.Events)
	var created int
	for e := range rec.Events {
		if strings.Contains(e, "KeyCreated") {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d KeyCreated events, want exactly one", created)
	}
}

// A Secret or ConfigMap that has the name of one the policy would own, but is someone
// else's, is neither adopted nor overwritten (adopting it would also delete it with the
// policy): the policy is not Ready, says why, and takes the name once it is free.
func TestAnObjectUnderAnOwnedNameIsNotAdopted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		object func(ns string) client.Object
	}{
		{"a Secret named like the keys Secret", func(ns string) client.Object {
			return &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api-signing-keys", Labels: map[string]string{"app": "mine"}},
				Data:       map[string][]byte{"keyset.json": []byte("not a keyset, but mine"), "other": []byte("x")},
			}
		}},
		{"a ConfigMap named like the sidecar ConfigMap", func(ns string) client.Object {
			return &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api-sidecar"},
				Data:       map[string]string{"policy.yaml": "mine"},
			}
		}},
		{"a Secret that carries tollgate's labels", func(ns string) client.Object {
			return &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api-signing-keys", Labels: map[string]string{
					authv1alpha1.ManagedByLabel: authv1alpha1.ManagedByValue, authv1alpha1.PolicyLabel: "api",
				}},
				Data: map[string][]byte{"keyset.json": []byte("mine")},
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			theirs := tc.object(ns)
			create(t, theirs)
			kind := "Secret"
			if _, ok := theirs.(*corev1.ConfigMap); ok {
				kind = "ConfigMap"
			}
			create(t, newPolicy(ns, "api"))

			testwait.Until(t, 30*time.Second, "Ready=False NameConflict", func() (bool, string) {
				p := getPolicy(t, ns, "api")
				c := meta.FindStatusCondition(p.Status.Conditions, authv1alpha1.ConditionReady)
				if c == nil || c.Status != metav1.ConditionFalse || c.Reason != authv1alpha1.ReasonNameConflict {
					return false, fmt.Sprintf("condition %+v", c)
				}
				if !strings.Contains(c.Message, kind+" "+ns+"/"+theirs.GetName()+" exists and is not owned by this AuthPolicy") {
					return false, "message " + c.Message
				}
				return true, ""
			})
			waitForEvent(t, ns, "api", corev1.EventTypeWarning, authv1alpha1.ReasonNameConflict, kind+" "+ns+"/"+theirs.GetName(), "neither adopts nor overwrites")

			now := theirs.DeepCopyObject().(client.Object)
			if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(theirs), now); err != nil {
				t.Fatal(err)
			}
			if now.GetResourceVersion() != theirs.GetResourceVersion() || len(now.GetOwnerReferences()) != 0 {
				t.Errorf("the %s was written: resourceVersion %s (was %s), owners %+v", kind, now.GetResourceVersion(), theirs.GetResourceVersion(), now.GetOwnerReferences())
			}

			// Freed, the name is taken.
			if err := k8s.Delete(context.Background(), now); err != nil {
				t.Fatal(err)
			}
			testwait.Until(t, 60*time.Second, "the policy Ready once the name is free", func() (bool, string) {
				p := getPolicy(t, ns, "api")
				c := meta.FindStatusCondition(p.Status.Conditions, authv1alpha1.ConditionReady)
				return c != nil && c.Status == metav1.ConditionTrue, fmt.Sprintf("condition %+v", c)
			})
			mine := theirs.DeepCopyObject().(client.Object)
			if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(theirs), mine); err != nil {
				t.Fatal(err)
			}
			checkOwnedBy(t, mine, getPolicy(t, ns, "api"))
		})
	}
}
