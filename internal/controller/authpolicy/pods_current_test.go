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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientevents "k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/controller/authpolicy"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// waitPodsCurrent waits for the policy's PodsCurrent condition to have status and a
// message containing every one of contains.
func waitPodsCurrent(t *testing.T, ns, name string, status metav1.ConditionStatus, contains ...string) *authv1alpha1.AuthPolicy {
	t.Helper()
	var p *authv1alpha1.AuthPolicy
	testwait.Until(t, 30*time.Second, fmt.Sprintf("PodsCurrent of %s/%s %s with %q", ns, name, status, contains), func() (bool, string) {
		p = getPolicy(t, ns, name)
		c := meta.FindStatusCondition(p.Status.Conditions, authv1alpha1.ConditionPodsCurrent)
		if c == nil || c.Status != status {
			return false, fmt.Sprintf("conditions %+v", p.Status.Conditions)
		}
		for _, s := range contains {
			if !strings.Contains(c.Message, s) {
				return false, "message " + c.Message
			}
		}
		return true, ""
	})
	return p
}

func injectedAt(t *testing.T, pod *corev1.Pod, want string) {
	t.Helper()
	if got := pod.Annotations[authv1alpha1.PolicyGenerationAnnotation]; got != want {
		t.Fatalf("pod %s: annotation %s is %q, want %q", pod.Name, authv1alpha1.PolicyGenerationAnnotation, got, want)
	}
}

func TestPodsCurrentCountsPodsInjectedBeforeARestartOnlyChange(t *testing.T) {
	ctx := context.Background()
	ns := labelledNamespace(t)
	create(t, newPolicy(ns, "api"))
	waitReady(t, ns, "api")
	old := createPod(t, appPod(ns, "api"))
	injectedAt(t, old, "1")
	waitPodsCurrent(t, ns, "api", metav1.ConditionTrue, "all 1 pods")

	// A field the sidecars apply on reload leaves every pod current.
	p := getPolicy(t, ns, "api")
	patch := client.MergeFrom(p.DeepCopy())
	p.Spec.Sidecar.UpstreamPort = 8080 // the default, now explicit: no change the sidecars see
	p.Spec.Tokens.AccessTokenTTL = &authv1alpha1.Duration{Duration: 7 * time.Minute}
	if err := k8s.Patch(ctx, p, patch); err != nil {
		t.Fatal(err)
	}
	p = waitReady(t, ns, "api")
	if p.Status.RestartRequiredGeneration != 0 {
		t.Errorf("restartRequiredGeneration %d after a reloadable change", p.Status.RestartRequiredGeneration)
	}
	waitPodsCurrent(t, ns, "api", metav1.ConditionTrue, "all 1 pods")

	// A restart-only field: the running pod lags.
	patch = client.MergeFrom(p.DeepCopy())
	p.Spec.Sidecar.AuthPathPrefix = "/login"
	if err := k8s.Patch(ctx, p, patch); err != nil {
		t.Fatal(err)
	}
	p = waitPodsCurrent(t, ns, "api", metav1.ConditionFalse, "1 of 1 pods", old.Name, fmt.Sprintf("generation %d", p.Generation))
	if p.Status.RestartRequiredGeneration != p.Generation {
		t.Errorf("restartRequiredGeneration %d, want %d", p.Status.RestartRequiredGeneration, p.Generation)
	}
	c := meta.FindStatusCondition(p.Status.Conditions, authv1alpha1.ConditionPodsCurrent)
	if c.Reason != authv1alpha1.ReasonPodsRestartPending {
		t.Errorf("reason %s", c.Reason)
	}
	waitForEvent(t, ns, "api", corev1.EventTypeWarning, authv1alpha1.ReasonRestartRequired, "spec.sidecar.authPathPrefix")
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: authv1alpha1.SidecarConfigMapName("api")}, cm); err != nil {
		t.Fatal(err)
	}
	if got, want := cm.Annotations[authv1alpha1.RestartRequiredGenerationAnnotation], fmt.Sprint(p.Generation); got != want {
		t.Errorf("the sidecar ConfigMap records the last restart-only change as %q, want %q", got, want)
	}

	// A pod created after it starts with the new value: still one lags.
	p = waitReady(t, ns, "api")
	fresh := createPod(t, appPod(ns, "api"))
	injectedAt(t, fresh, fmt.Sprint(p.Generation))
	waitPodsCurrent(t, ns, "api", metav1.ConditionFalse, "1 of 2 pods", old.Name)
	if c := meta.FindStatusCondition(getPolicy(t, ns, "api").Status.Conditions, authv1alpha1.ConditionPodsCurrent); strings.Contains(c.Message, fresh.Name) {
		t.Errorf("the new pod is named as lagging: %s", c.Message)
	}

	// The old pod gone, every pod is current.
	if err := k8s.Delete(ctx, old, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	waitPodsCurrent(t, ns, "api", metav1.ConditionTrue, "all 1 pods")
}

func TestTheWebhookOverwritesAPolicyGenerationThePodCameWith(t *testing.T) {
	ns := labelledNamespace(t)
	create(t, newPolicy(ns, "api"))
	waitReady(t, ns, "api")
	pod := createPod(t, appPod(ns, "api", func(p *corev1.Pod) {
		p.Annotations[authv1alpha1.PolicyGenerationAnnotation] = "999" // would hide it from PodsCurrent
	}))
	injectedAt(t, pod, "1")
}

// stalePolicyClient reads the policy as a lagging cache would: with the status from before
// the last pass.
type stalePolicyClient struct {
	client.Client
	status authv1alpha1.AuthPolicyStatus
}

func (c *stalePolicyClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := c.Client.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	if p, ok := obj.(*authv1alpha1.AuthPolicy); ok {
		p.Status = *c.status.DeepCopy()
	}
	return nil
}

// The pass that the ConfigMap's update triggers may read the policy before the cache has
// the status the previous pass wrote; it must not turn PodsCurrent back to True.
func TestAPassOnAStalePolicyStatusKeepsPodsCurrentFalse(t *testing.T) {
	ctx := context.Background()
	ns := labelledNamespace(t)
	create(t, newPolicy(ns, "api"))
	waitReady(t, ns, "api")
	createPod(t, appPod(ns, "api"))
	p := waitPodsCurrent(t, ns, "api", metav1.ConditionTrue, "all 1 pods")
	stale := p.Status

	patch := client.MergeFrom(p.DeepCopy())
	p.Spec.Sidecar.AuthPathPrefix = "/login"
	if err := k8s.Patch(ctx, p, patch); err != nil {
		t.Fatal(err)
	}
	waitPodsCurrent(t, ns, "api", metav1.ConditionFalse, "1 of 1 pods")

	direct, err := client.New(cfg, client.Options{Scheme: cli.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	r := &authpolicy.Reconciler{
		Client:    &stalePolicyClient{Client: directClient{direct}, status: stale},
		APIReader: direct,
		Recorder:  clientevents.NewFakeRecorder(32),
		Clock:     clock.RealClock{},
	}
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "api"}}); err != nil {
		t.Fatal(err)
	}
	p = getPolicy(t, ns, "api")
	if c := meta.FindStatusCondition(p.Status.Conditions, authv1alpha1.ConditionPodsCurrent); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("after a pass on a stale status PodsCurrent is %+v, want False", c)
	}
}
