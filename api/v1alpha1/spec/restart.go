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

package spec

import "reflect"

// restartFields are the fields a running sidecar cannot change, by path, with their value:
// its listeners (the webhook wrote them into the pod), the store it opened (and the key
// names in it), the authenticator it chose (and the users mount) and the auth paths it routes.
// Every other field reaches running sidecars when they reload policy.yaml.
var restartFields = []struct {
	path  string
	value func(*Policy) any
}{
	{"metadata.name", func(p *Policy) any { return p.Name }},
	{"metadata.namespace", func(p *Policy) any { return p.Namespace }},
	{"spec.store", func(p *Policy) any { return p.Spec.Store }},
	{"spec.sidecar.port", func(p *Policy) any { return p.Spec.Sidecar.Port }},
	{"spec.sidecar.upstreamPort", func(p *Policy) any { return p.Spec.Sidecar.UpstreamPort }},
	{"spec.sidecar.authPathPrefix", func(p *Policy) any { return p.Spec.Sidecar.AuthPathPrefix }},
	// The proxy's transport and the client port's protocols are built at start.
	{"spec.sidecar.upstreamProtocol", func(p *Policy) any { return p.Spec.Sidecar.UpstreamProtocol }},
	// The injector writes the endpoint into the pod; the exporter starts with the sidecar.
	{"spec.sidecar.tracing", func(p *Policy) any { return p.Spec.Sidecar.Tracing }},
	{"spec.login.usersSecretRef", func(p *Policy) any { return p.Spec.Login.UsersSecretRef }},
	{"spec.login.verifyURL", func(p *Policy) any { return p.Spec.Login.VerifyURL }},
}

// RestartFields lists, by path, the fields that only a restart of the sidecar applies.
func RestartFields() []string {
	out := make([]string, len(restartFields))
	for i, f := range restartFields {
		out[i] = f.path
	}
	return out
}

// ChangedRestartFields lists the RestartFields whose values differ between two defaulted
// policies, in the order of RestartFields.
func ChangedRestartFields(a, b *Policy) []string {
	var out []string
	for _, f := range restartFields {
		if !reflect.DeepEqual(f.value(a), f.value(b)) {
			out = append(out, f.path)
		}
	}
	return out
}
