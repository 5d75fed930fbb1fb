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
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/sidecar/contract"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
	"github.com/tollgate-dev/tollgate/sidecar"
)

// policy.yaml carries the policy's generation, so a sidecar can say which one it enforces,
// and a spec change reaches it with the next generation.
func TestTheSidecarConfigNamesThePolicyGeneration(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	create(t, newPolicy(ns, "shop-api", func(p *authv1alpha1.AuthPolicy) {
		p.Spec.Routes = []authv1alpha1.Route{{PathPrefix: "/public", Public: true}}
	}))
	p := waitReady(t, ns, "shop-api")

	configured := func() (*spec.Policy, string) {
		cm := &corev1.ConfigMap{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: authv1alpha1.SidecarConfigMapName("shop-api")}, cm); err != nil {
			return nil, err.Error()
		}
		got, err := sidecar.ParsePolicy([]byte(cm.Data[contract.PolicyFile]))
		if err != nil {
			t.Fatalf("the sidecar refuses policy.yaml: %v", err)
		}
		return got, fmt.Sprintf("policy.yaml has generation %d", got.Generation)
	}
	if got, why := configured(); got == nil || got.Generation != p.Generation {
		t.Fatalf("want generation %d: %s", p.Generation, why)
	}

	base := p.DeepCopy()
	p.Spec.Routes = append(p.Spec.Routes, authv1alpha1.Route{PathPrefix: "/admin", Roles: []string{"admin"}})
	if err := k8s.Patch(context.Background(), p, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 30*time.Second, "policy.yaml at the new generation", func() (bool, string) {
		got, why := configured()
		return got != nil && got.Generation == p.Generation && len(got.Spec.Routes) == 2, why
	})
}

// A spec change that running sidecars can apply says nothing; one that needs their pods
// restarted says so in an Event naming the fields.
func TestARestartOnlyChangeIsAnnounced(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	create(t, newPolicy(ns, "shop-api"))
	p := waitReady(t, ns, "shop-api")

	patch := func(edit func(*authv1alpha1.AuthPolicy)) {
		t.Helper()
		base := p.DeepCopy()
		edit(p)
		if err := k8s.Patch(context.Background(), p, client.MergeFrom(base)); err != nil {
			t.Fatal(err)
		}
		waitReady(t, ns, "shop-api")
	}
	patch(func(p *authv1alpha1.AuthPolicy) {
		p.Spec.Routes = []authv1alpha1.Route{{PathPrefix: "/admin", Roles: []string{"admin"}}}
	})
	patch(func(p *authv1alpha1.AuthPolicy) {
		p.Spec.Sidecar.Port = 8100
		p.Spec.Sidecar.AuthPathPrefix = "/session"
	})
	ev := waitForEvent(t, ns, "shop-api", corev1.EventTypeWarning, authv1alpha1.ReasonRestartRequired,
		fmt.Sprintf("generation %d changes spec.sidecar.port, spec.sidecar.authPathPrefix,", p.Generation))
	if !strings.Contains(ev.Note, "rollout restart") {
		t.Errorf("the Event does not say what to do: %s", ev.Note)
	}
	for _, e := range events(t, ns, "shop-api") {
		if e.Reason == authv1alpha1.ReasonRestartRequired && e.Note != ev.Note {
			t.Errorf("another RestartRequired Event: %s", e.Note)
		}
	}
}
