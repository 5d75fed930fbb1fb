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
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

func TestPodsCurrentCondition(t *testing.T) {
	pod := func(name, policy, generation string, mutate ...func(*corev1.Pod)) corev1.Pod {
		p := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{authv1alpha1.PolicyAnnotation: policy}},
			Spec:       corev1.PodSpec{InitContainers: []corev1.Container{{Name: contract.ContainerName}}},
		}
		if generation != "" {
			p.Annotations[authv1alpha1.PolicyGenerationAnnotation] = generation
		}
		for _, m := range mutate {
			m(&p)
		}
		return p
	}
	ended := func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }
	deleting := func(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }
	unprotected := func(p *corev1.Pod) { p.Spec.InitContainers = nil }
	var many []corev1.Pod
	for i := range 7 {
		many = append(many, pod(fmt.Sprintf("p%d", i), "api", "1"))
	}

	for _, tc := range []struct {
		name     string
		since    int64
		pods     []corev1.Pod
		status   metav1.ConditionStatus
		contains []string
		absent   []string
	}{
		{"no restart-only change leaves every pod current, even without the annotation", 0,
			[]corev1.Pod{pod("a", "api", "")}, metav1.ConditionTrue, []string{"all 1 pods"}, nil},
		{"a pod injected at the change is current", 3,
			[]corev1.Pod{pod("a", "api", "3"), pod("b", "api", "4")}, metav1.ConditionTrue, []string{"all 2 pods", "generation 3"}, nil},
		{"a pod injected before the change lags", 3,
			[]corev1.Pod{pod("a", "api", "2"), pod("b", "api", "3")}, metav1.ConditionFalse, []string{"1 of 2 pods", "generation 3", ": a;"}, nil},
		{"a pod without the annotation lags", 3,
			[]corev1.Pod{pod("a", "api", "")}, metav1.ConditionFalse, []string{"1 of 1 pods", ": a;"}, nil},
		{"a value that is no number lags", 3,
			[]corev1.Pod{pod("a", "api", "x")}, metav1.ConditionFalse, []string{"1 of 1 pods"}, nil},
		{"pods of other policies, ended, deleted or unprotected do not count", 3,
			[]corev1.Pod{pod("other", "web", "1"), pod("ended", "api", "1", ended), pod("deleting", "api", "1", deleting), pod("bare", "api", "1", unprotected)},
			metav1.ConditionTrue, []string{"all 0 pods"}, nil},
		{"the message names the first five in order", 3,
			many, metav1.ConditionFalse, []string{"7 of 7 pods", "p0, p1, p2, p3, p4 and 2 more"}, []string{"p5", "p6"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			policy := &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Name: "api", Generation: 5}}
			policy.Status.RestartRequiredGeneration = tc.since
			c := podsCurrent(policy, tc.pods)
			if c.Type != authv1alpha1.ConditionPodsCurrent || c.Status != tc.status || c.ObservedGeneration != 5 {
				t.Fatalf("condition %+v, want %s", c, tc.status)
			}
			for _, s := range tc.contains {
				if !strings.Contains(c.Message, s) {
					t.Errorf("message %q lacks %q", c.Message, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(c.Message, s) {
					t.Errorf("message %q names %q", c.Message, s)
				}
			}
		})
	}
}
