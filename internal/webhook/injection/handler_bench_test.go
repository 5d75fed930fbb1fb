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
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

// onePolicy is a cache holding one policy: the handler's cost without an API server.
type onePolicy struct{ p *authv1alpha1.AuthPolicy }

func (o onePolicy) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	o.p.DeepCopyInto(obj.(*authv1alpha1.AuthPolicy))
	return nil
}

func (o onePolicy) List(context.Context, client.ObjectList, ...client.ListOption) error { return nil }

// BenchmarkPodInjector is the webhook handler alone: decode, policy lookup in the cache,
// injection, JSON patch.
//
//	go test ./internal/webhook/injection -run '^$' -bench PodInjector -benchmem
func BenchmarkPodInjector(b *testing.B) {
	policy := newPolicy("shop", "api")
	inj := injection.NewPodInjector(onePolicy{policy}, nil, cli.Scheme(), "img")
	raw, err := json.Marshal(appPod("shop", "api"))
	if err != nil {
		b.Fatal(err)
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "1", Operation: admissionv1.Create, Namespace: "shop", Object: runtime.RawExtension{Raw: raw},
	}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if resp := inj.Handle(ctx, req); !resp.Allowed || len(resp.Patches) == 0 {
			b.Fatalf("not injected: %+v", resp.Result)
		}
	}
}
