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
	"fmt"
	"strings"
	"testing"
)

func TestValidateTrustedProxies(t *testing.T) {
	many := make([]string, 65)
	for i := range many {
		many[i] = fmt.Sprintf("10.0.0.%d", i)
	}
	for _, tc := range []struct {
		name string
		list []string
		want string // "" accepted
	}{
		{"none", nil, ""},
		{"CIDRs and addresses of both families", []string{"10.0.0.0/8", "192.0.2.7", "fd00::/8", "2001:db8::1"}, ""},
		{"a CIDR with host bits", []string{"10.1.2.3/8"}, ""},
		{"a hostname", []string{"ingress.example"}, "spec.sidecar.trustedProxies[0]"},
		{"a prefix too long", []string{"10.0.0.0/8", "10.0.0.0/33"}, "spec.sidecar.trustedProxies[1]"},
		{"a zone", []string{"fe80::1%eth0"}, "spec.sidecar.trustedProxies[0]"},
		{"IPv4-mapped IPv6", []string{"::ffff:10.0.0.1"}, "spec.sidecar.trustedProxies[0]"},
		{"a space", []string{" 10.0.0.1"}, "spec.sidecar.trustedProxies[0]"},
		{"a duplicate", []string{"10.0.0.1", "10.0.0.1"}, "spec.sidecar.trustedProxies[1]: Duplicate"},
		{"more than 64", many, "spec.sidecar.trustedProxies: Too many"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &AuthPolicy{}
			p.Name = "p"
			p.Default()
			p.Spec.Sidecar.TrustedProxies = tc.list
			err := p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
