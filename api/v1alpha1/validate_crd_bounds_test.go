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

package v1alpha1

import (
	"strings"
	"testing"
)

// Validate refuses what the CRD's schema refuses in the fields added with
// spec.store.redis.waitReplicas and spec.sidecar.tracing: a standalone sidecar's policy file
// and the operator (against an older CRD) see no schema, only Validate.
func TestValidateFollowsTheCRDsBoundsOfWaitReplicasAndTheHeadersSecret(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*AuthPolicy)
		field  string // empty: accepted
	}{
		{"waitReplicas 5", func(p *AuthPolicy) { p.Spec.Store.Redis.WaitReplicas = 5 }, ""},
		{"waitReplicas 6", func(p *AuthPolicy) { p.Spec.Store.Redis.WaitReplicas = 6 }, "spec.store.redis.waitReplicas"},
		{"waitReplicas -1", func(p *AuthPolicy) { p.Spec.Store.Redis.WaitReplicas = -1 }, "spec.store.redis.waitReplicas"},
		{"a headers Secret", func(p *AuthPolicy) {
			p.Spec.Sidecar.Tracing = &SidecarTracing{OTLPEndpoint: "http://c:4318", HeadersSecretRef: &SecretKeySelector{Name: "otlp", Key: "headers"}}
		}, ""},
		{"a headers Secret without a name", func(p *AuthPolicy) {
			p.Spec.Sidecar.Tracing = &SidecarTracing{OTLPEndpoint: "http://c:4318", HeadersSecretRef: &SecretKeySelector{Key: "headers"}}
		}, "spec.sidecar.tracing.headersSecretRef"},
		{"a headers Secret without a key", func(p *AuthPolicy) {
			p.Spec.Sidecar.Tracing = &SidecarTracing{OTLPEndpoint: "http://c:4318", HeadersSecretRef: &SecretKeySelector{Name: "otlp"}}
		}, "spec.sidecar.tracing.headersSecretRef"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &AuthPolicy{}
			p.Name = "p"
			p.Spec.Store.Redis = &RedisSpec{Addresses: []string{"redis:6379"}}
			tc.mutate(p)
			p.Default()
			err := p.Validate()
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
}
