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
	"net/http"
	"time"
)

// authorize is the one decision of whether a request may reach the app, shared by the proxy
// and the authorizer: the policy's routes for its method and clean path (and for the method
// its override asks for, when fwd has one), then the token they ask for, its revocation and
// its role. On success it records the identity, and the verified token, in fwd (nothing on a
// public route). It counts every outcome in tollgate_requests_total.
//
// r supplies the headers (the credential); method and clean are what the routes are matched
// against: the request's own for the proxy, the original request's for the authorizer.
func (s *Server) authorize(p *livePolicy, r *http.Request, method, clean string, fwd *forwarding) error {
	access := p.routes.Match(method, clean)
	if fwd.override.Method != "" {
		// The app may run either method: the request must pass the rules of both.
		access = access.And(p.routes.Match(fwd.override.Method, clean))
	}
	if access.Public {
		s.outcomes.public.Inc()
		return nil
	}
	if !s.revocations.Synced() {
		// Without the revocation list a logged-out token would pass: fail closed.
		s.outcomes.unavailable.Inc()
		return errRevocationsNotLoaded
	}
	raw, err := bearerCredential(r) // Verify checks the b64token syntax on a cache miss
	if err != nil {
		s.outcomes.unauthorized.Inc()
		return err
	}
	start := time.Now()
	id, err := p.tokens.Verify(raw)
	s.metrics.Validation.Observe(time.Since(start).Seconds())
	if err != nil {
		s.outcomes.unauthorized.Inc()
		return invalidToken(err.Error())
	}
	if !access.Allows(id.Role) {
		s.outcomes.forbidden.Inc()
		return forbidden("role not allowed")
	}
	fwd.identity, fwd.token = id, raw
	s.outcomes.allowed.Inc()
	return nil
}
