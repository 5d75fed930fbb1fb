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

// Algorithm is a JWS signing algorithm a policy may use.
// +kubebuilder:validation:Enum=ES256;EdDSA;RS256;HS256
type Algorithm string

// The signing algorithms tollgate supports.
const (
	ES256 Algorithm = "ES256"
	EdDSA Algorithm = "EdDSA"
	RS256 Algorithm = "RS256"
	HS256 Algorithm = "HS256"
)

// AuthPolicySpec is what a policy asks for: who issues tokens, how they are signed and
// checked, who may log in, which routes need which roles, and where sessions are stored.
//
// +kubebuilder:validation:XValidation:rule="!has(self.signing) || !has(self.signing.prePublish) || !has(self.signing.rotationInterval) || duration(self.signing.prePublish) < duration(self.signing.rotationInterval)",message="spec.signing.prePublish must be shorter than spec.signing.rotationInterval"
type AuthPolicySpec struct {
	// Issuer is the `iss` of every token and the base of the discovery document.
	// Default: https://<name>.<namespace>.svc
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.startsWith('http://')",message="must be an http(s) URL"
	Issuer string `json:"issuer,omitempty"`

	// Audiences are the `aud` values tokens are issued for; a token is accepted when it
	// carries at least one of them. Default: [<name>]
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +listType=set
	Audiences []string `json:"audiences,omitempty"`

	// Signing chooses the algorithm and the rotation schedule of the signing keys.
	// +optional
	// +kubebuilder:default={}
	Signing SigningSpec `json:"signing,omitempty"`

	// Tokens sets lifetimes and tolerated clock skew.
	// +optional
	// +kubebuilder:default={}
	Tokens TokensSpec `json:"tokens,omitempty"`

	// Login says how passwords are checked. With neither usersSecretRef nor verifyURL the
	// sidecar issues no tokens but still validates them.
	// +optional
	// +kubebuilder:default={}
	Login LoginSpec `json:"login,omitempty"`

	// Routes are access rules, first match wins. A path no route matches needs a valid token.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	Routes []Route `json:"routes,omitempty"`

	// Store holds refresh tokens, revocations and rate-limit counters. Empty: in memory,
	// which is right for one replica only.
	// +optional
	Store StoreSpec `json:"store,omitempty"`

	// Sidecar sets the injected sidecar's ports and path prefix.
	// +optional
	// +kubebuilder:default={}
	Sidecar SidecarSpec `json:"sidecar,omitempty"`

	// CORS lets browser apps on other origins call the sidecar and the app behind it.
	// Absent: the sidecar sends no CORS headers at all (see the README's Browsers section).
	// +optional
	CORS *CORSSpec `json:"cors,omitempty"`

	// Authorizer, when set, runs tollgate-authorizer for this policy (see AuthorizerSpec).
	// +optional
	Authorizer *AuthorizerSpec `json:"authorizer,omitempty"`
}

// SigningSpec is the signing algorithm and key rotation schedule.
type SigningSpec struct {
	// Algorithm signs every access token. Changing it rotates to a key of the new algorithm.
	// +optional
	// +kubebuilder:default=ES256
	Algorithm Algorithm `json:"algorithm,omitempty"`

	// RotationInterval is how long a key signs before its successor takes over (1m to 8760h).
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('8760h')",message="must be between 1m and 8760h"
	RotationInterval *Duration `json:"rotationInterval,omitempty"`

	// PrePublish is how long a new key is in the JWKS before it signs. It must cover the
	// kubelet's Secret propagation delay (60-90 s) in a real cluster (10s to 720h).
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('720h')",message="must be between 10s and 720h"
	PrePublish *Duration `json:"prePublish,omitempty"`
}

// TokensSpec is the lifetimes of issued tokens and the tolerated clock skew.
type TokensSpec struct {
	// AccessTokenTTL is the lifetime of an access token (10s to 24h).
	// +optional
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="must be between 10s and 24h"
	AccessTokenTTL *Duration `json:"accessTokenTTL,omitempty"`

	// RefreshTokenTTL is the absolute lifetime of a login session: refresh tokens rotate,
	// but none outlives the login that started its family (1m to 8760h).
	// +optional
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('8760h')",message="must be between 1m and 8760h"
	RefreshTokenTTL *Duration `json:"refreshTokenTTL,omitempty"`

	// ClockSkew is the leeway allowed on exp, nbf and iat (0s to 5m).
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('5m')",message="must be between 0s and 5m"
	ClockSkew *Duration `json:"clockSkew,omitempty"`

	// RefreshReuseInterval is how long after a refresh token was spent it may be presented
	// again and still get a fresh pair in the same session: a client retrying after a lost
	// response, or two tabs refreshing at once. After it, a spent token presented again
	// revokes its whole session. 0s, the default, is strict (0s to 60s).
	// +optional
	// +kubebuilder:default="0s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('60s')",message="must be between 0s and 60s"
	RefreshReuseInterval *Duration `json:"refreshReuseInterval,omitempty"`
}

// LoginSpec says where passwords are checked and how fast they may be guessed.
// +kubebuilder:validation:XValidation:rule="!(has(self.usersSecretRef) && has(self.verifyURL) && size(self.verifyURL) > 0)",message="set at most one of spec.login.usersSecretRef and spec.login.verifyURL"
type LoginSpec struct {
	// UsersSecretRef names a Secret in the policy's namespace whose key `users` holds the
	// users file (YAML list of email, id, role, passwordHash).
	// +optional
	UsersSecretRef *LocalObjectReference `json:"usersSecretRef,omitempty"`

	// VerifyURL delegates password checks: the sidecar POSTs {"email","password"} there and
	// expects 200 {"id","role"} or 401.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || self.startsWith('https://') || self.startsWith('http://')",message="must be an http(s) URL"
	VerifyURL string `json:"verifyURL,omitempty"`

	// RateLimit bounds password guessing.
	// +optional
	// +kubebuilder:default={}
	RateLimit RateLimitSpec `json:"rateLimit,omitempty"`
}

// RateLimitSpec bounds login attempts, counted in the store so that every replica shares them.
type RateLimitSpec struct {
	// MaxAttempts is how many failed logins one account may have per window. A successful
	// login forgets the account's failures.
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxAttempts int32 `json:"maxAttempts,omitempty"`

	// MaxAttemptsPerClient is how many failed logins one client address (an IPv6 client: its /64) may have per
	// window (see spec.sidecar.trustedProxies for the address behind a proxy). Successful
	// logins do not count.
	// +optional
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MaxAttemptsPerClient int32 `json:"maxAttemptsPerClient,omitempty"`

	// Window is the period the counts cover (1s to 24h).
	// +optional
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="must be between 1s and 24h"
	Window *Duration `json:"window,omitempty"`
}

// Method is an HTTP method a route applies to.
// +kubebuilder:validation:Enum=GET;HEAD;POST;PUT;PATCH;DELETE;OPTIONS;CONNECT;TRACE
type Method string

// Route is one access rule. It matches a request by exact path or path prefix (whole
// segments: /admin matches /admin and /admin/x, not /administrator) and, when methods are
// given, by method.
// +kubebuilder:validation:XValidation:rule="has(self.path) != has(self.pathPrefix)",message="set exactly one of path and pathPrefix"
// +kubebuilder:validation:XValidation:rule="!(has(self.public) && self.public && has(self.roles) && size(self.roles) > 0)",message="a public route takes no roles"
type Route struct {
	// Path matches this exact path.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/`
	Path string `json:"path,omitempty"`

	// PathPrefix matches this path and everything below it.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/`
	PathPrefix string `json:"pathPrefix,omitempty"`

	// Methods restricts the route to these methods; empty means all.
	// +optional
	// +kubebuilder:validation:MaxItems=9
	// +listType=set
	Methods []Method `json:"methods,omitempty"`

	// Roles allowed through; empty means any authenticated user.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +listType=set
	Roles []string `json:"roles,omitempty"`

	// Public routes need no token.
	// +optional
	Public bool `json:"public,omitempty"`
}

// StoreSpec chooses where sessions live.
type StoreSpec struct {
	// Redis is shared by every replica. Absent: in memory.
	// +optional
	Redis *RedisSpec `json:"redis,omitempty"`
}

// RedisSpec reaches a single Redis, a Sentinel group (masterName set) or a Redis Cluster
// (several addresses, no masterName).
type RedisSpec struct {
	// Addresses are host:port pairs.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +listType=atomic
	Addresses []string `json:"addresses"`

	// MasterName selects Sentinel mode.
	// +optional
	MasterName string `json:"masterName,omitempty"`

	// Username is the Redis ACL user the sidecars log in as (default: Redis's default
	// user). One user per policy, allowed only the policy's keys and channel, keeps
	// tenants sharing a Redis apart (see the README).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[!-~]*$`
	Username string `json:"username,omitempty"`

	// PasswordSecretRef names the Secret key holding the Redis password; the sidecar gets
	// it as TOLLGATE_REDIS_PASSWORD.
	// +optional
	PasswordSecretRef *SecretKeySelector `json:"passwordSecretRef,omitempty"`

	// TLS connects with TLS.
	// +optional
	TLS bool `json:"tls,omitempty"`

	// DB is the database number (single and Sentinel only).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=15
	DB int32 `json:"db,omitempty"`

	// WaitReplicas makes every login, refresh rotation and revocation wait (Redis WAIT,
	// 250 ms) until this many replicas have it, and answer 503 otherwise, so that a
	// failover cannot lose an acknowledged write. 0 (the default) relies on asynchronous
	// replication. The sidecar flag --redis-wait-replicas overrides it.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=5
	WaitReplicas int32 `json:"waitReplicas,omitempty"`
}

// SidecarSpec sets the injected sidecar's network surface.
// +kubebuilder:validation:XValidation:rule="!has(self.port) || !has(self.upstreamPort) || self.port != self.upstreamPort",message="spec.sidecar.port and spec.sidecar.upstreamPort must differ"
type SidecarSpec struct {
	// Port is where clients reach the sidecar.
	// +optional
	// +kubebuilder:default=8000
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// UpstreamPort is the app's port on localhost.
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	UpstreamPort int32 `json:"upstreamPort,omitempty"`

	// AuthPathPrefix is where login, refresh and logout live.
	// +optional
	// +kubebuilder:default="/auth"
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-]$`
	AuthPathPrefix string `json:"authPathPrefix,omitempty"`

	// TrustedProxies are the proxies in front of the sidecar (an ingress controller, a
	// Gateway, a load balancer), as CIDRs or single IP addresses, whose X-Forwarded-For or
	// Forwarded header is believed. The client address that login rate limits and logs use
	// is the TCP peer or, when the peer is one of these, the right-most hop of that header
	// that is not. Default: none, the headers are ignored. The sidecar's --trusted-proxies
	// flag overrides this list.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.all(p, isCIDR(p) || isIP(p))",message="each entry must be an IP address or a CIDR (no zone, no IPv4-mapped IPv6)"
	// +listType=set
	TrustedProxies []string `json:"trustedProxies,omitempty"`
	// MethodOverride says what happens to X-HTTP-Method-Override, X-HTTP-Method and
	// X-Method-Override, with which frameworks (Express, Rails, Laravel, Symfony) run a POST
	// as another method. Strip removes them, so the method the routes saw is the one the app
	// runs. Evaluate keeps one: the request must pass the routes both as its own method and
	// as the overriding one, and the app gets the override in canonical upper case.
	// +optional
	// +kubebuilder:default=Strip
	MethodOverride MethodOverride `json:"methodOverride,omitempty"`

	// UpstreamProtocol is what the sidecar speaks to the app: http1 (HTTP/1.1), or h2c
	// (HTTP/2 without TLS, with prior knowledge), which gRPC servers need. With h2c, clients
	// may reach the sidecar over h2c too. A running sidecar applies a change on restart.
	// +optional
	// +kubebuilder:default=http1
	UpstreamProtocol UpstreamProtocol `json:"upstreamProtocol,omitempty"`

	// Tracing turns on OpenTelemetry tracing in the sidecars. Absent: off. A running
	// sidecar applies a change on restart.
	// +optional
	Tracing *SidecarTracing `json:"tracing,omitempty"`
}

// UpstreamProtocol is the protocol the sidecar speaks to the app.
// +kubebuilder:validation:Enum=http1;h2c
type UpstreamProtocol string

// Upstream protocols.
const (
	UpstreamHTTP1 UpstreamProtocol = "http1"
	UpstreamH2C   UpstreamProtocol = "h2c"
)

// MethodOverride is what the sidecar does with method-override headers.
// +kubebuilder:validation:Enum=Strip;Evaluate
type MethodOverride string

// Method-override handling.
const (
	MethodOverrideStrip    MethodOverride = "Strip"
	MethodOverrideEvaluate MethodOverride = "Evaluate"
)

// LocalObjectReference names an object in the policy's namespace.
type LocalObjectReference struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretKeySelector names one key of a Secret in the policy's namespace.
type SecretKeySelector struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}
