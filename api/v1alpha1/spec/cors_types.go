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

// CORSSpec is the cross-origin policy the sidecar enforces for browsers. The sidecar owns CORS
// when it is set: it answers every preflight itself and removes the app's own
// Access-Control-* response headers, so this is the one place that decides.
// +kubebuilder:validation:XValidation:rule="!(has(self.allowCredentials) && self.allowCredentials && self.allowedOrigins.exists(o, o == '*'))",message="spec.cors.allowCredentials cannot be combined with the origin *: list the origins that may send credentials"
type CORSSpec struct {
	// AllowedOrigins are the origins browsers may call from, exactly as browsers send them:
	// scheme://host[:port], in lower case, without a path or a trailing slash, and without
	// the scheme's default port (https://app.example.com, http://localhost:3000). `*` alone
	// allows every origin (and cannot be combined with allowCredentials). Wildcard
	// subdomains are not supported: list each origin. `null` (sandboxed pages, file: URLs,
	// redirects) can be sent by any site and is refused.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!self.exists(o, o == 'null')",message="null is the origin of sandboxed pages, file: URLs and redirects, which any site can produce: it cannot be allowed"
	// +kubebuilder:validation:XValidation:rule="self.all(o, o == '*' || o == 'null' || o.matches('^[a-z][a-z0-9+.-]*://([[][0-9a-f:.]+[]]|[a-z0-9]([a-z0-9-]*[a-z0-9])?([.][a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?$'))",message="each origin must be scheme://host[:port] in lower case, with no path, no trailing slash or dot, and no wildcard"
	// +kubebuilder:validation:XValidation:rule="!self.exists(o, (o.startsWith('http://') && o.endsWith(':80')) || (o.startsWith('https://') && o.endsWith(':443')))",message="omit the scheme's default port: browsers send https://host, never https://host:443"
	// +kubebuilder:validation:XValidation:rule="!self.exists(o, o == '*') || size(self) == 1",message="* allows every origin and must be the only entry"
	// +listType=set
	AllowedOrigins []string `json:"allowedOrigins"`

	// AllowedMethods are the methods other than GET, HEAD and POST (which browsers never ask
	// about) that browsers may use, e.g. PUT, PATCH, DELETE.
	// +optional
	// +kubebuilder:validation:MaxItems=9
	// +listType=set
	AllowedMethods []Method `json:"allowedMethods,omitempty"`

	// AllowedHeaders are the request headers browsers may send besides Authorization and
	// Content-Type (always allowed: login, refresh, logout and every proxied call need them)
	// and the ones browsers never ask about. Names, compared without regard to case; `*` is
	// not supported.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[!#$%&'+.^_|~0-9A-Za-z-]+$`
	// +listType=set
	AllowedHeaders []string `json:"allowedHeaders,omitempty"`

	// ExposedHeaders are the response headers scripts may read besides WWW-Authenticate and
	// Retry-After (always exposed: they say why a call was refused and when to retry) and the
	// ones browsers always expose (Content-Type, Cache-Control, ...). Names; `*` is not
	// supported.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[!#$%&'+.^_|~0-9A-Za-z-]+$`
	// +listType=set
	ExposedHeaders []string `json:"exposedHeaders,omitempty"`

	// AllowCredentials lets browsers send cookies and TLS client certificates with
	// cross-origin calls (fetch's credentials: "include"). tollgate's own tokens travel in the
	// Authorization header and need no credentials: set it only for an app that also reads
	// cookies. Never with the origin `*`.
	// +optional
	AllowCredentials bool `json:"allowCredentials,omitempty"`

	// MaxAge is how long browsers may cache a preflight's answer (0s to 24h; browsers cap it,
	// Chromium at 2h). 0s sends no Access-Control-Max-Age, and browsers then ask again after 5s.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('24h')",message="must be between 0s and 24h"
	MaxAge *Duration `json:"maxAge,omitempty"`
}
