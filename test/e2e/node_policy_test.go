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

package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// podRun is what tells a pod's run from the next: its containers' IDs and restart counts.
type podRun map[string]string

func runOf(p corev1.Pod) podRun {
	out := podRun{}
	for _, s := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		out[s.Name] = fmt.Sprintf("%s restarts=%d", s.ContainerID, s.RestartCount)
	}
	return out
}

// readyzPolicy is the policy part of a sidecar's /readyz.
type readyzPolicy struct {
	Generation      int64    `json:"generation"`
	RestartRequired []string `json:"restartRequired"`
}

func (e *nodeEnv) readyzPolicy(p corev1.Pod) (readyzPolicy, error) {
	code, body := e.do("GET", fmt.Sprintf("http://%s:%d%s", p.Status.PodIP, contract.MetricsPort, contract.ReadyzPath), "", "")
	var r struct{ Policy readyzPolicy }
	if code != http.StatusOK {
		return r.Policy, fmt.Errorf("/readyz %d %s", code, body)
	}
	err := json.Unmarshal([]byte(body), &r)
	return r.Policy, err
}

// livePolicy: a changed policy applied to the running replicas, which enforce it within the
// kubelet's ConfigMap propagation without restarting; then a change of a field only a
// restart applies, which they report and the policy's PodsCurrent condition names.
func (e *nodeEnv) livePolicy(t *testing.T) {
	pods := e.shopPods(t)
	if len(pods) != 2 {
		t.Fatalf("want 2 shop pods, got %d", len(pods))
	}
	runs := map[string]podRun{}
	for _, p := range pods {
		runs[p.Name] = runOf(p)
	}
	bob := e.login(t, podURL(pods[0]), "bob@example.com", "builder")
	for _, p := range pods {
		e.expect(t, "the public route without a token, before", http.StatusOK, "GET", podURL(p)+"/public/catalog", "", "")
		e.expect(t, "the admin route as a clerk, before", http.StatusForbidden, "GET", podURL(p)+"/admin/users", bob.Access, "")
	}

	// Tighten one route (public -> admins only) and loosen another (admin -> clerks too).
	policy := e.policy(t)
	for i, r := range policy.Spec.Routes {
		switch r.PathPrefix {
		case "/public":
			policy.Spec.Routes[i] = authv1alpha1.Route{PathPrefix: "/public", Roles: []string{"admin"}}
		case "/admin":
			policy.Spec.Routes[i].Roles = []string{"admin", "clerk"}
		}
	}
	applied := time.Now()
	if err := e.c.Update(e.ctx, policy); err != nil {
		t.Fatal(err)
	}
	generation := policy.Generation
	for _, p := range pods {
		testwait.Poll(t, 250*time.Millisecond, 2*time.Minute, "pod "+p.Name+" enforces generation "+fmt.Sprint(generation), func() (bool, string) {
			rp, err := e.readyzPolicy(p)
			if err != nil {
				return false, err.Error()
			}
			return rp.Generation == generation, fmt.Sprintf("generation %d", rp.Generation)
		})
		t.Logf("pod %s enforces generation %d %.1fs after the update", p.Name, generation, time.Since(applied).Seconds())
		e.expect(t, "the public route without a token, now admins only", http.StatusUnauthorized, "GET", podURL(p)+"/public/catalog", "", "")
		e.expect(t, "the public route as a clerk, now admins only", http.StatusForbidden, "GET", podURL(p)+"/public/catalog", bob.Access, "")
		e.expect(t, "the admin route as a clerk, now allowed", http.StatusOK, "GET", podURL(p)+"/admin/users", bob.Access, "")
	}
	cond := func(p *authv1alpha1.AuthPolicy) *metav1.Condition {
		return meta.FindStatusCondition(p.Status.Conditions, authv1alpha1.ConditionPodsCurrent)
	}
	if c := cond(e.policy(t)); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("PodsCurrent after a change the sidecars reload: %+v, want True", c)
	}

	// A field only a restart applies: the sidecars keep the old value and say so, the
	// policy names both pods as lagging.
	policy = e.policy(t)
	policy.Spec.Sidecar.AuthPathPrefix = "/session"
	if err := e.c.Update(e.ctx, policy); err != nil {
		t.Fatal(err)
	}
	generation = policy.Generation
	testwait.Poll(t, 500*time.Millisecond, time.Minute, "PodsCurrent False naming both pods", func() (bool, string) {
		c := cond(e.policy(t))
		if c == nil {
			return false, "no PodsCurrent condition"
		}
		ok := c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "2 of 2 pods")
		for _, p := range pods {
			ok = ok && strings.Contains(c.Message, p.Name)
		}
		return ok, string(c.Status) + " " + c.Message
	})
	t.Logf("PodsCurrent: %s", cond(e.policy(t)).Message)
	for _, p := range pods {
		testwait.Poll(t, 250*time.Millisecond, 2*time.Minute, "pod "+p.Name+" reports the restart the change needs", func() (bool, string) {
			rp, err := e.readyzPolicy(p)
			if err != nil {
				return false, err.Error()
			}
			return rp.Generation == generation && slices.Contains(rp.RestartRequired, "spec.sidecar.authPathPrefix"), fmt.Sprintf("%+v", rp)
		})
		e.login(t, podURL(p), "bob@example.com", "builder") // still at /auth/login
	}

	for _, p := range e.shopPods(t) {
		if before, ok := runs[p.Name]; !ok || !maps.Equal(before, runOf(p)) {
			t.Errorf("pod %s: containers %v, before the policy changes %v; want them running on", p.Name, runOf(p), before)
		}
	}
}
