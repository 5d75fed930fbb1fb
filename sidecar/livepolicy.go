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

package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
)

// livePolicy is the policy in force and everything derived from it. It is never changed once
// built: a reload builds a new one and swaps the pointer, and each request loads the pointer
// once (Server.policy) and reads only that value, so no request sees half of an old policy
// and half of a new one.
type livePolicy struct {
	policy *spec.Policy
	spec   *spec.AuthPolicySpec
	routes *Routes
	// tokens has its own verified-token cache, so no verification made under an older
	// policy (other audiences, issuer or clock skew) answers a request under this one.
	tokens         *Tokens
	trustedProxies TrustedProxies
	cors           *corsPolicy // nil without spec.cors
	// restartRequired are the fields, as paths, whose value in the file differs from the
	// one the sidecar started with and runs on (see spec.RestartFields).
	restartRequired []string
}

// pins keep, in a policy the sidecar reloads, the running value of each field only a
// restart applies (spec.RestartFields).
var pins = map[string]func(dst, running *spec.Policy){
	"metadata.name":               func(d, r *spec.Policy) { d.Name = r.Name },
	"metadata.namespace":          func(d, r *spec.Policy) { d.Namespace = r.Namespace },
	"spec.store":                  func(d, r *spec.Policy) { d.Spec.Store = *r.Spec.Store.DeepCopy() },
	"spec.sidecar.port":           func(d, r *spec.Policy) { d.Spec.Sidecar.Port = r.Spec.Sidecar.Port },
	"spec.sidecar.upstreamPort":   func(d, r *spec.Policy) { d.Spec.Sidecar.UpstreamPort = r.Spec.Sidecar.UpstreamPort },
	"spec.sidecar.authPathPrefix": func(d, r *spec.Policy) { d.Spec.Sidecar.AuthPathPrefix = r.Spec.Sidecar.AuthPathPrefix },
	"spec.sidecar.upstreamProtocol": func(d, r *spec.Policy) {
		d.Spec.Sidecar.UpstreamProtocol = r.Spec.Sidecar.UpstreamProtocol
	},
	"spec.sidecar.tracing":      func(d, r *spec.Policy) { d.Spec.Sidecar.Tracing = r.Spec.Sidecar.Tracing.DeepCopy() },
	"spec.login.usersSecretRef": func(d, r *spec.Policy) { d.Spec.Login.UsersSecretRef = r.Spec.Login.UsersSecretRef.DeepCopy() },
	"spec.login.verifyURL":      func(d, r *spec.Policy) { d.Spec.Login.VerifyURL = r.Spec.Login.VerifyURL },
}

// policy is the policy in force; a request loads it once.
func (s *Server) policy() *livePolicy { return s.live.Load() }

// compilePolicy derives everything requests read from a defaulted, valid policy.
func (s *Server) compilePolicy(p *spec.Policy) (*livePolicy, error) {
	spec := &p.Spec
	lp := &livePolicy{policy: p, spec: spec, routes: NewRoutes(spec.Routes), cors: newCORSPolicy(spec.CORS)}
	if s.cfg.TrustedProxies != nil {
		lp.trustedProxies = *s.cfg.TrustedProxies
	} else {
		tp, err := ParseTrustedProxies(spec.Sidecar.TrustedProxies)
		if err != nil {
			return nil, fmt.Errorf("spec.sidecar.trustedProxies: %w", err)
		}
		lp.trustedProxies = tp
	}
	lp.tokens = NewTokens(TokensConfig{
		Keys:        s.cfg.Keys,
		Issuer:      spec.Issuer,
		Audiences:   spec.Audiences,
		TTL:         spec.Tokens.AccessTokenTTL.Duration,
		ClockSkew:   spec.Tokens.ClockSkew.Duration,
		Revocations: s.revocations,
		CacheSize:   s.cfg.TokenCacheSize,
		Now:         s.now,
	})
	return lp, nil
}

// PolicyChange is what a reload did.
type PolicyChange struct {
	Generation int64
	// Changed are the paths of the fields whose value changed (never the values).
	Changed []string
	// RestartRequired are the fields the file sets to other values than the ones the
	// sidecar runs on, which only a restart applies.
	RestartRequired []string
	// Applied is false when the policy equalled the one in force and nothing was swapped.
	Applied bool
}

// ApplyPolicy puts a parsed (defaulted and valid) policy in force, except the fields that
// need a restart, which keep their running values. A policy equal to the one in force
// changes nothing and reports no change.
func (s *Server) ApplyPolicy(p *spec.Policy) (PolicyChange, error) {
	s.reload.Lock()
	defer s.reload.Unlock()
	next := p.DeepCopy()
	restart := spec.ChangedRestartFields(s.started, next)
	for _, field := range spec.RestartFields() {
		pins[field](next, s.started)
	}
	// The pinned fields are the running ones, but check the combination as a whole anyway.
	if err := next.Validate(); err != nil {
		return PolicyChange{}, fmt.Errorf("invalid AuthPolicy with the fields that need a restart kept: %w", err)
	}
	old := s.policy()
	change := PolicyChange{Generation: next.Generation, Changed: policyDiff(old.policy, next), RestartRequired: restart}
	if len(change.Changed) == 0 && next.Generation == old.policy.Generation && slices.Equal(restart, old.restartRequired) {
		return PolicyChange{Generation: next.Generation}, nil
	}
	lp, err := s.compilePolicy(next)
	if err != nil {
		return PolicyChange{}, err
	}
	lp.restartRequired = restart
	s.live.Store(lp)
	s.reportPolicy(lp)
	change.Applied = true
	return change, nil
}

// reportPolicy mirrors the policy in force into the metrics.
func (s *Server) reportPolicy(lp *livePolicy) {
	s.metrics.PolicyGeneration.Set(float64(lp.policy.Generation))
	if len(lp.restartRequired) > 0 {
		s.metrics.PolicyRestartRequired.Set(1)
	} else {
		s.metrics.PolicyRestartRequired.Set(0)
	}
}

// WatchPolicy reloads the policy file when it changes (the kubelet's ConfigMap swap or a
// plain rewrite), until ctx ends. A file that does not parse or validate is refused and the
// policy in force stays.
func (s *Server) WatchPolicy(ctx context.Context, path string, every time.Duration) {
	// The first check reads the file again: a change between the start and this watcher is
	// applied, not missed; an unchanged file changes nothing.
	watchFile(ctx, path, MaxPolicyFileSize, every, s.log, [32]byte{}, func(data []byte) error {
		p, err := ParsePolicy(data)
		var change PolicyChange
		if err == nil {
			change, err = s.ApplyPolicy(p)
		}
		if err != nil {
			s.metrics.Reloads.WithLabelValues("policy", "rejected").Inc()
			return err
		}
		if !change.Applied {
			return nil
		}
		s.metrics.Reloads.WithLabelValues("policy", "ok").Inc()
		s.log.Info("policy reloaded", "generation", change.Generation, "changed", change.Changed)
		if len(change.RestartRequired) > 0 {
			s.log.Warn("the policy changes fields a running sidecar cannot: they keep their previous values until the pod restarts",
				"fields", change.RestartRequired)
		}
		return nil
	})
}

// policyDiff lists the paths of the fields that differ between a and b: name, namespace and
// every leaf of the spec, lists compared whole. Only paths, never values, leave it.
func policyDiff(a, b *spec.Policy) []string {
	fa, fb := policyFields(a), policyFields(b)
	var out []string
	for k, va := range fa {
		if vb, ok := fb[k]; !ok || vb != va {
			out = append(out, k)
		}
	}
	for k := range fb {
		if _, ok := fa[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func policyFields(p *spec.Policy) map[string]string {
	doc := map[string]any{
		"metadata": map[string]any{"name": p.Name, "namespace": p.Namespace},
		"spec":     p.Spec,
	}
	data, err := json.Marshal(doc)
	if err != nil {
		panic(err) // a spec always marshals
	}
	var tree map[string]any
	if err := json.Unmarshal(data, &tree); err != nil {
		panic(err)
	}
	out := map[string]string{}
	flatten("", tree, out)
	return out
}

func flatten(prefix string, v any, out map[string]string) {
	if m, ok := v.(map[string]any); ok {
		for k, child := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, child, out)
		}
		return
	}
	leaf, _ := json.Marshal(v)
	out[prefix] = string(leaf)
}
