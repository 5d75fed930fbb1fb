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

package injection_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// An API server newer than the manager sends pods with fields the manager's API types do
// not know. The patch only adds the sidecar, its volumes and the status annotation: every
// field of the pod as sent survives it.
func TestThePatchKeepsFieldsTheManagerDoesNotKnow(t *testing.T) {
	policy := newPolicy("shop", "api", func(p *authv1alpha1.AuthPolicy) {
		p.Spec.Login.UsersSecretRef = &authv1alpha1.LocalObjectReference{Name: "users"}
	})
	inj := injection.NewPodInjector(onePolicy{policy}, nil, cli.Scheme(), testSidecarImage)
	for _, tc := range []struct{ name, pod string }{
		{"a pod with init containers and volumes", `{"apiVersion":"v1","kind":"Pod",
			"metadata":{"name":"p","namespace":"shop","annotations":{"auth.tollgate.dev/policy":"api"},"futureMeta":"m"},
			"spec":{"futureField":{"nested":[1,2]},
				"initContainers":[{"name":"migrate","image":"app:1","futureContainerField":true}],
				"containers":[{"name":"app","image":"app:1","futureContainerField":"keep me","ports":[{"containerPort":8080,"futurePortField":1}]}],
				"volumes":[{"name":"data","emptyDir":{},"futureVolumeField":"v"}]}}`},
		{"a pod with neither", `{"apiVersion":"v1","kind":"Pod",
			"metadata":{"name":"p","namespace":"shop","annotations":{"auth.tollgate.dev/policy":"api"}},
			"spec":{"futureField":"f","containers":[{"name":"app","image":"app:1","futureContainerField":"keep me"}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.pod)
			resp := inj.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID: "1", Operation: admissionv1.Create, Namespace: "shop", Object: runtime.RawExtension{Raw: raw},
			}})
			if !resp.Allowed {
				t.Fatalf("refused: %+v", resp.Result)
			}
			for _, op := range resp.Patches {
				if op.Operation != "add" {
					t.Errorf("operation %s %s: the patch may only add", op.Operation, op.Path)
				}
			}
			ops, err := json.Marshal(resp.Patches)
			if err != nil {
				t.Fatal(err)
			}
			patch, err := jsonpatch.DecodePatch(ops)
			if err != nil {
				t.Fatal(err)
			}
			out, err := patch.Apply(raw)
			if err != nil {
				t.Fatalf("applying %s: %v", ops, err)
			}

			// Every field that was there is there, unchanged.
			var before, after map[string]any
			if err := json.Unmarshal(raw, &before); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &after); err != nil {
				t.Fatal(err)
			}
			assertKept(t, "", before, after)

			// And the sidecar is in.
			pod := &corev1.Pod{}
			if err := json.Unmarshal(out, pod); err != nil {
				t.Fatal(err)
			}
			if pod.Spec.InitContainers[0].Name != contract.ContainerName || pod.Annotations[authv1alpha1.StatusAnnotation] != authv1alpha1.StatusInjected {
				t.Errorf("not injected: init containers %v, annotations %v", names(pod.Spec.InitContainers), pod.Annotations)
			}
			var vols []string
			for _, v := range pod.Spec.Volumes {
				vols = append(vols, v.Name)
			}
			for _, v := range []string{contract.KeysVolume, contract.PolicyVolume, contract.UsersVolume} {
				if !slices.Contains(vols, v) {
					t.Errorf("volumes %v lack %s", vols, v)
				}
			}

			// The injected pod, sent again, needs nothing more.
			again := inj.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID: "2", Operation: admissionv1.Create, Namespace: "shop", Object: runtime.RawExtension{Raw: out},
			}})
			if !again.Allowed || len(again.Patches) != 0 {
				t.Errorf("second pass: allowed %v, patches %+v", again.Allowed, again.Patches)
			}
		})
	}
}

// assertKept fails unless every value of before is in after, at the same place: objects may
// gain members and lists may gain items, but what was there stays, in its order.
func assertKept(t *testing.T, path string, before, after any) {
	t.Helper()
	switch b := before.(type) {
	case map[string]any:
		a, ok := after.(map[string]any)
		if !ok {
			t.Errorf("%s: was an object, is %v", path, after)
			return
		}
		for k, v := range b {
			w, ok := a[k]
			if !ok {
				t.Errorf("%s/%s: removed", path, k)
				continue
			}
			assertKept(t, path+"/"+k, v, w)
		}
	case []any:
		a, ok := after.([]any)
		if !ok {
			t.Errorf("%s: was a list, is %v", path, after)
			return
		}
		// Items may be inserted (the sidecar goes first): find each old one, in order.
		j := 0
		for i, v := range b {
			for j < len(a) && !sameJSON(v, a[j]) {
				j++
			}
			if j == len(a) {
				t.Errorf("%s/%d: %v removed or changed", path, i, v)
				return
			}
			j++
		}
	default:
		if !sameJSON(before, after) {
			t.Errorf("%s: %v became %v", path, before, after)
		}
	}
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
