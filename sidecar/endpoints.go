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

// Endpoints are the paths the sidecar answers itself instead of proxying: login, refresh,
// logout (under the auth path prefix), the JWKS and the discovery document.
func (s *Server) Endpoints() []string {
	return []string{s.authPrefix + "/login", s.authPrefix + "/refresh", s.authPrefix + "/logout", jwksPath, discoveryPath}
}
