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

package injection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

// FuzzInjectSidecar feeds hostile pod annotations (anyone who may create a pod writes them)
// to the injection: it never panics, refuses with a RefusalError, and what it accepts is
// injected once and unchanged by a second pass.
func FuzzInjectSidecar(f *testing.F) {
	f.Add("8080", "20m", "1", "32Mi", "64Mi", int32(0))
	f.Add("", "", "", "", "", int32(9090))
	f.Add("8000", "1e2000000000", "-1", "0x10", "64Mi ", int32(8000))
	f.Add("65536", "100m", "50m", "1Gi", "1Mi", int32(-1))
	f.Fuzz(func(t *testing.T, port, cpuReq, cpuLim, memReq, memLim string, containerPort int32) {
		policy := &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Name: "shop-api", Namespace: "shop"}}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", Annotations: map[string]string{
				authv1alpha1.PolicyAnnotation:               "shop-api",
				authv1alpha1.UpstreamPortAnnotation:         port,
				authv1alpha1.SidecarCPURequestAnnotation:    cpuReq,
				authv1alpha1.SidecarCPULimitAnnotation:      cpuLim,
				authv1alpha1.SidecarMemoryRequestAnnotation: memReq,
				authv1alpha1.SidecarMemoryLimitAnnotation:   memLim,
			}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: "app", Ports: []corev1.ContainerPort{{ContainerPort: containerPort}},
			}}},
		}
		for k, v := range pod.Annotations {
			if v == "" {
				delete(pod.Annotations, k)
			}
		}
		err := InjectSidecar(pod, policy, "tollgate:test")
		if err != nil {
			var refusal *RefusalError
			if !errors.As(err, &refusal) {
				t.Fatalf("not a RefusalError: %T %v", err, err)
			}
			return
		}
		if !HasSidecar(pod) || pod.Annotations[authv1alpha1.StatusAnnotation] != authv1alpha1.StatusInjected {
			t.Fatal("accepted without injecting")
		}
		once := pod.DeepCopy()
		if err := InjectSidecar(pod, policy, "tollgate:test"); err != nil {
			t.Fatalf("a second pass refused an injected pod: %v", err)
		}
		if !equality.Semantic.DeepEqual(once, pod) {
			t.Fatal("a second pass changed the pod")
		}
	})
}

// FuzzInjectionPatch feeds hostile pods, as JSON with fields of any name, to the webhook's
// handler: it never panics, and a patch it returns only adds, applies to the pod as sent,
// keeps every value that was there, and leaves nothing for a second pass to add.
func FuzzInjectionPatch(f *testing.F) {
	f.Add(`{"metadata":{"annotations":{"auth.tollgate.dev/policy":"shop-api"}},"spec":{"containers":[{"name":"app","image":"a","future":1}]}}`)
	f.Add(`{"metadata":{"annotations":{"auth.tollgate.dev/policy":"shop-api","auth.tollgate.dev/status":"no"}},"spec":{"futureField":{},"initContainers":[{"name":"m"}],"volumes":[{"name":"v","emptyDir":{}}],"containers":[{"name":"app"}]}}`)
	f.Add(`{"metadata":{"annotations":{"auth.tollgate.dev/policy":"shop-api"}},"spec":{"initContainers":null,"volumes":[],"containers":[{"name":"tollgate-sidecar"}]}}`)
	f.Add(`{"metadata":{"annotations":{"auth.tollgate.dev/policy":"shop-api"}},"spec":{"volumes":[{"name":"tollgate-keys","secret":{"secretName":"shop-api-signing-keys"}}],"containers":[{"name":"app"}]}}`)
	f.Add(`{"metadata":{},"spec":{"volumes":[{"name":"k","projected":{"sources":[{"secret":{"name":"-signing-keys"}}]}}],"containers":[{"name":"app","envFrom":[{"secretRef":{"name":"x-signing-keys"}}]}]}}`)
	policy := &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Name: "shop-api", Namespace: "shop"}}
	inj := NewPodInjector(fixedPolicy{policy}, nil, fuzzScheme(), "tollgate:test")
	f.Fuzz(func(t *testing.T, pod string) {
		var doc map[string]any
		// The API server sends a pod object with its spec always there.
		if json.Unmarshal([]byte(pod), &doc) != nil {
			return
		}
		if _, ok := doc["spec"].(map[string]any); !ok {
			return
		}
		handle := func(raw []byte) admission.Response {
			return inj.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID: "1", Operation: admissionv1.Create, Namespace: "shop", Object: runtime.RawExtension{Raw: raw},
			}})
		}
		resp := handle([]byte(pod))
		if !resp.Allowed || len(resp.Patches) == 0 {
			return
		}
		for _, op := range resp.Patches {
			if op.Operation != "add" {
				t.Fatalf("operation %s %s", op.Operation, op.Path)
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
		out, err := patch.Apply([]byte(pod))
		if err != nil {
			t.Fatalf("the patch %s does not apply: %v", ops, err)
		}
		var after map[string]any
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatal(err)
		}
		if where := lost(doc, after, ""); where != "" {
			t.Fatalf("%s lost by %s", where, ops)
		}
		if again := handle(out); !again.Allowed || len(again.Patches) != 0 {
			t.Fatalf("second pass: allowed %v, patches %+v", again.Allowed, again.Patches)
		}
	})
}

// lost is the path of a value of before that after does not hold at the same place
// (lists may gain items), the status annotation aside; "" when none is.
func lost(before, after any, path string) string {
	switch b := before.(type) {
	case map[string]any:
		a, ok := after.(map[string]any)
		if !ok {
			return path
		}
		for k, v := range b {
			if path+"/"+k == "/metadata/annotations/"+authv1alpha1.StatusAnnotation {
				continue // the one value the webhook sets
			}
			w, ok := a[k]
			if !ok {
				return path + "/" + k
			}
			if p := lost(v, w, path+"/"+k); p != "" {
				return p
			}
		}
	case []any:
		a, ok := after.([]any)
		if !ok {
			return path
		}
		j := 0
		for i, v := range b {
			for j < len(a) && lost(v, a[j], "") != "" {
				j++
			}
			if j == len(a) {
				return fmt.Sprintf("%s/%d", path, i)
			}
			j++
		}
	default:
		if !reflect.DeepEqual(before, after) {
			return path
		}
	}
	return ""
}

// fixedPolicy is a reader that holds one policy, under every name.
type fixedPolicy struct{ p *authv1alpha1.AuthPolicy }

func (o fixedPolicy) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	o.p.DeepCopyInto(obj.(*authv1alpha1.AuthPolicy))
	return nil
}

func (o fixedPolicy) List(context.Context, client.ObjectList, ...client.ListOption) error { return nil }

func fuzzScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s)
	_ = authv1alpha1.AddToScheme(s)
	return s
}
