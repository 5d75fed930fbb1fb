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

import (
	"time"
)

// Defaults that the CRD schema applies on the API server and Default applies in Go, for
// manifests read from a file (the standalone sidecar).
const (
	DefaultAlgorithm            = ES256
	DefaultRotationInterval     = 24 * time.Hour
	DefaultPrePublish           = 5 * time.Minute
	DefaultAccessTokenTTL       = 15 * time.Minute
	DefaultRefreshTokenTTL      = 168 * time.Hour
	DefaultClockSkew            = 30 * time.Second
	DefaultRefreshReuseInterval = time.Duration(0)
	DefaultMaxAttempts          = 5
	DefaultMaxAttemptsPerClient = 50
	DefaultRateLimitWindow      = 15 * time.Minute
	DefaultSidecarPort          = 8000
	DefaultUpstreamPort         = 8080
	DefaultAuthPathPrefix       = "/auth"
	DefaultMethodOverride       = MethodOverrideStrip
	DefaultUpstreamProtocol     = UpstreamHTTP1
)

// Default fills every unset field with its documented default. The issuer and audiences,
// which depend on the name and namespace, are derived here too: https://<name>.<namespace>.svc
// and [<name>].
func (p *Policy) Default() {
	s := &p.Spec
	if s.Issuer == "" {
		ns := p.Namespace
		if ns == "" {
			ns = "default"
		}
		s.Issuer = "https://" + p.Name + "." + ns + ".svc"
	}
	if len(s.Audiences) == 0 && p.Name != "" {
		s.Audiences = []string{p.Name}
	}
	if s.Signing.Algorithm == "" {
		s.Signing.Algorithm = DefaultAlgorithm
	}
	defaultDuration(&s.Signing.RotationInterval, DefaultRotationInterval)
	defaultDuration(&s.Signing.PrePublish, DefaultPrePublish)
	defaultDuration(&s.Tokens.AccessTokenTTL, DefaultAccessTokenTTL)
	defaultDuration(&s.Tokens.RefreshTokenTTL, DefaultRefreshTokenTTL)
	defaultDuration(&s.Tokens.ClockSkew, DefaultClockSkew)
	defaultDuration(&s.Tokens.RefreshReuseInterval, DefaultRefreshReuseInterval)
	if s.Login.RateLimit.MaxAttempts == 0 {
		s.Login.RateLimit.MaxAttempts = DefaultMaxAttempts
	}
	if s.Login.RateLimit.MaxAttemptsPerClient == 0 {
		s.Login.RateLimit.MaxAttemptsPerClient = DefaultMaxAttemptsPerClient
	}
	defaultDuration(&s.Login.RateLimit.Window, DefaultRateLimitWindow)
	if s.Sidecar.Port == 0 {
		s.Sidecar.Port = DefaultSidecarPort
	}
	if s.Sidecar.UpstreamPort == 0 {
		s.Sidecar.UpstreamPort = DefaultUpstreamPort
	}
	if s.Sidecar.AuthPathPrefix == "" {
		s.Sidecar.AuthPathPrefix = DefaultAuthPathPrefix
	}
	if s.Sidecar.MethodOverride == "" {
		s.Sidecar.MethodOverride = DefaultMethodOverride
	}
	s.CORS.defaults()
	if s.Sidecar.UpstreamProtocol == "" {
		s.Sidecar.UpstreamProtocol = DefaultUpstreamProtocol
	}
}

func defaultDuration(d **Duration, v time.Duration) {
	if *d == nil {
		*d = &Duration{Duration: v}
	}
}
