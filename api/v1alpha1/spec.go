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

import "github.com/tollgate-dev/tollgate/api/v1alpha1/spec"

// The AuthPolicy's spec, its defaults, validation and restart-only fields live in package
// spec, which links no Kubernetes library, so that the sidecar can read a policy without
// them. These names keep package v1alpha1 whole for the operator, the webhook and the CLI.

type (
	AuthPolicySpec       = spec.AuthPolicySpec
	Algorithm            = spec.Algorithm
	SigningSpec          = spec.SigningSpec
	TokensSpec           = spec.TokensSpec
	LoginSpec            = spec.LoginSpec
	RateLimitSpec        = spec.RateLimitSpec
	Method               = spec.Method
	Route                = spec.Route
	StoreSpec            = spec.StoreSpec
	RedisSpec            = spec.RedisSpec
	SidecarSpec          = spec.SidecarSpec
	UpstreamProtocol     = spec.UpstreamProtocol
	MethodOverride       = spec.MethodOverride
	LocalObjectReference = spec.LocalObjectReference
	SecretKeySelector    = spec.SecretKeySelector
	CORSSpec             = spec.CORSSpec
	AuthorizerSpec       = spec.AuthorizerSpec
	SidecarTracing       = spec.SidecarTracing
	Duration             = spec.Duration
)

const (
	ES256 = spec.ES256
	EdDSA = spec.EdDSA
	RS256 = spec.RS256
	HS256 = spec.HS256

	UpstreamHTTP1          = spec.UpstreamHTTP1
	UpstreamH2C            = spec.UpstreamH2C
	MethodOverrideStrip    = spec.MethodOverrideStrip
	MethodOverrideEvaluate = spec.MethodOverrideEvaluate

	DefaultAlgorithm            = spec.DefaultAlgorithm
	DefaultRotationInterval     = spec.DefaultRotationInterval
	DefaultPrePublish           = spec.DefaultPrePublish
	DefaultAccessTokenTTL       = spec.DefaultAccessTokenTTL
	DefaultRefreshTokenTTL      = spec.DefaultRefreshTokenTTL
	DefaultClockSkew            = spec.DefaultClockSkew
	DefaultRefreshReuseInterval = spec.DefaultRefreshReuseInterval
	DefaultMaxAttempts          = spec.DefaultMaxAttempts
	DefaultMaxAttemptsPerClient = spec.DefaultMaxAttemptsPerClient
	DefaultRateLimitWindow      = spec.DefaultRateLimitWindow
	DefaultSidecarPort          = spec.DefaultSidecarPort
	DefaultUpstreamPort         = spec.DefaultUpstreamPort
	DefaultAuthPathPrefix       = spec.DefaultAuthPathPrefix
	DefaultMethodOverride       = spec.DefaultMethodOverride
	DefaultUpstreamProtocol     = spec.DefaultUpstreamProtocol
	DefaultCORSMaxAge           = spec.DefaultCORSMaxAge

	AuthorizerSuffix = spec.AuthorizerSuffix
)

// ReasonRestartRequired is the Event reason of a spec change that running sidecars apply only
// when their pods restart.
const ReasonRestartRequired = "RestartRequired"

// AuthorizerName is the name of the Deployment and Service of a policy's authorizer.
func AuthorizerName(policy string) string { return spec.AuthorizerName(policy) }

// asSpecPolicy is p as package spec sees it; it shares p's spec's pointers.
func (p *AuthPolicy) asSpecPolicy() *spec.Policy {
	return &spec.Policy{
		APIVersion: p.APIVersion,
		Kind:       p.Kind,
		ObjectMeta: spec.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Generation: p.Generation},
		Spec:       p.Spec,
	}
}

// Default fills every unset field with its documented default (spec.Policy.Default).
func (p *AuthPolicy) Default() {
	sp := p.asSpecPolicy()
	sp.Default()
	p.Spec = sp.Spec
}

// Validate checks a defaulted policy with the same rules the CRD schema enforces on the API
// server (spec.Policy.Validate).
func (p *AuthPolicy) Validate() error { return p.asSpecPolicy().Validate() }

// Key returns "<namespace>/<name>", the policy's identity in store key names.
func (p *AuthPolicy) Key() string { return p.asSpecPolicy().Key() }

// RestartFields lists, by path, the fields that only a restart of the sidecar applies.
func RestartFields() []string { return spec.RestartFields() }

// ChangedRestartFields lists the RestartFields whose values differ between two defaulted
// policies, in the order of RestartFields.
func ChangedRestartFields(a, b *AuthPolicy) []string {
	return spec.ChangedRestartFields(a.asSpecPolicy(), b.asSpecPolicy())
}
