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

// Package contract is what the operator's injector and the sidecar must agree on: the
// sidecar's flags, the paths it reads, its ports, environment and probes. Both binaries
// import it, so a rename changes both sides at once; it imports only the standard library,
// so the sidecar stays lean (docs/design.md §1).
package contract

import (
	"flag"
	"fmt"
	"strconv"
	"time"
)

// The injected container.
const (
	ContainerName = "tollgate-sidecar"
	Command       = "tollgate-sidecar"
	// UID is the sidecar's user (and group): distroless "nonroot".
	UID = 65532
)

// Ports and their names in the pod (a port name has at most 15 characters).
const (
	// MetricsPort serves MetricsPath, HealthzPath and ReadyzPath.
	MetricsPort     = 9090
	HTTPPortName    = "tollgate-http"
	MetricsPortName = "tollgate-metric"
)

// Paths of the metrics port; the injector points the kubelet's probes at them.
const (
	MetricsPath = "/metrics"
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
)

// Volumes the injector mounts, where, and the files in them.
const (
	KeysVolume   = "tollgate-keys"
	PolicyVolume = "tollgate-policy"
	UsersVolume  = "tollgate-users"

	KeysDir   = "/etc/tollgate/keys"
	PolicyDir = "/etc/tollgate/policy"
	UsersDir  = "/etc/tollgate/users"

	// PolicyFile is the key of the sidecar ConfigMap that holds the policy.
	PolicyFile = "policy.yaml"
	// UsersFileKey is the key of the users Secret that holds the users file.
	UsersFileKey = "users"

	// PolicyPath and UsersPath are where the sidecar of an injected pod reads them.
	PolicyPath = PolicyDir + "/" + PolicyFile
	UsersPath  = UsersDir + "/" + UsersFileKey
)

// Modes (--mode): a proxy in front of one app, or an authorizer that gateways ask.
const (
	ModeProxy      = "proxy"
	ModeAuthorizer = "authorizer"
)

// The authorizer's binary and its gRPC port (envoy.service.auth.v3.Authorization).
const (
	AuthorizerCommand = "tollgate-authorizer"
	GRPCPort          = 9001
	GRPCPortName      = "tollgate-grpc"
	DefaultGRPCListen = ":9001"
)

// RedisPasswordEnv is the variable the Redis password comes from.
const RedisPasswordEnv = "TOLLGATE_REDIS_PASSWORD"

// TracingHeadersEnv is the standard variable the headers sent with every span export come
// from (spec.sidecar.tracing.headersSecretRef); the sidecar also reads the other OTEL_*
// variables.
const TracingHeadersEnv = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"

// Defaults of the sidecar's flags.
const (
	DefaultListen          = ":8000"
	DefaultUpstream        = "http://127.0.0.1:8080"
	DefaultTokenCacheSize  = 10000
	DefaultReloadInterval  = time.Second
	DefaultShutdownTimeout = 20 * time.Second
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "json"
)

// DefaultMetricsListen is the default of --metrics-listen.
var DefaultMetricsListen = ":" + strconv.Itoa(MetricsPort)

// Args are the sidecar's command-line arguments. Register parses them; Args renders them.
// A zero field is not rendered, so the sidecar's default applies; the pointer fields tell
// "unset" from a zero that means something.
type Args struct {
	// Mode is ModeProxy or ModeAuthorizer (no --upstream; gateways ask the check endpoints).
	Mode string
	// GRPCListen is where tollgate-authorizer serves the gRPC check service.
	GRPCListen    string
	Policy        string
	KeysDir       string
	UsersFile     string
	Listen        string
	Upstream      string
	MetricsListen string
	RedisURL      string
	// RedisWaitReplicas: replicas every session, rotation and revocation waits for (WAIT).
	RedisWaitReplicas int
	// TrustedProxies is the raw list, "10.0.0.0/8, 192.0.2.7"; "" trusts none.
	TrustedProxies  *string
	RecordKeyFile   string
	TokenCacheSize  *int
	ReloadInterval  time.Duration
	ShutdownTimeout time.Duration
	LogLevel        string
	LogFormat       string
	// OTLPEndpoint is the OpenTelemetry collector's base URL; empty: tracing off unless
	// the standard OTEL_EXPORTER_OTLP_ENDPOINT variable is set.
	OTLPEndpoint string
	Version      bool
}

// Register defines the sidecar's flags on fs, parsing into a. Fields parse to their
// defaults when their flag is absent, except the pointers, which stay nil, and Mode and
// GRPCListen, whose defaults are the binary's: what a holds when Register is called.
func (a *Args) Register(fs *flag.FlagSet) {
	if a.Mode == "" {
		a.Mode = ModeProxy
	}
	fs.StringVar(&a.Mode, "mode", a.Mode, ModeProxy+": validate and forward to --upstream; "+ModeAuthorizer+": answer gateways' checks (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz) and serve the auth endpoints, forward nothing")
	fs.StringVar(&a.GRPCListen, "grpc-listen", a.GRPCListen, "address of the gRPC envoy.service.auth.v3.Authorization service (tollgate-authorizer only)")
	fs.StringVar(&a.Policy, "policy", "", "AuthPolicy manifest, YAML or JSON (required)")
	fs.StringVar(&a.KeysDir, "keys-dir", "", "directory holding keyset.json (the mounted keys Secret); reloaded on change. Empty: one ephemeral key")
	fs.StringVar(&a.UsersFile, "users-file", "", "users file for login (YAML list of email, id, role, passwordHash); reloaded on change")
	fs.StringVar(&a.Listen, "listen", DefaultListen, "address clients talk to")
	fs.StringVar(&a.Upstream, "upstream", DefaultUpstream, "URL of the app")
	fs.StringVar(&a.MetricsListen, "metrics-listen", DefaultMetricsListen, "address of "+MetricsPath+", "+HealthzPath+" and "+ReadyzPath)
	fs.StringVar(&a.RedisURL, "redis-url", "", "redis:// or rediss:// URL, overriding spec.store (password also from "+RedisPasswordEnv+")")
	fs.IntVar(&a.RedisWaitReplicas, "redis-wait-replicas", 0, "replicas every login, refresh rotation and revocation waits for (Redis WAIT, 250ms) before it is acknowledged, overriding spec.store.redis.waitReplicas; 0: the policy's, where 0 relies on asynchronous replication, which a failover can lose writes to")
	fs.Func("trusted-proxies", "comma-separated CIDRs or IPs of the proxies in front whose X-Forwarded-For/Forwarded is believed, overriding spec.sidecar.trustedProxies (\"\" trusts none)", func(v string) error {
		a.TrustedProxies = &v
		return nil
	})
	fs.StringVar(&a.RecordKeyFile, "record-key-file", "", "file holding the key (base64, at least 32 bytes) that authenticates refresh token records in Redis; default: record-key in --keys-dir")
	fs.Func("token-cache-size", fmt.Sprintf("verified tokens remembered so a repeated token costs no signature check; 0 disables (default %d)", DefaultTokenCacheSize), func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a number of tokens", v)
		}
		a.TokenCacheSize = &n
		return nil
	})
	fs.DurationVar(&a.ReloadInterval, "reload-interval", DefaultReloadInterval, "how often mounted files are checked for changes")
	fs.DurationVar(&a.ShutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, "on SIGTERM, how long in-flight requests may take to finish (keep it under the pod's grace period)")
	fs.StringVar(&a.LogLevel, "log-level", DefaultLogLevel, "debug, info, warn or error")
	fs.StringVar(&a.LogFormat, "log-format", DefaultLogFormat, "json or text")
	fs.StringVar(&a.OTLPEndpoint, "otlp-endpoint", "", "OpenTelemetry collector (OTLP/HTTP) base URL, such as http://otel-collector:4318: a span per request, W3C trace context passed to the app. Empty: off, unless OTEL_EXPORTER_OTLP_ENDPOINT is set")
	fs.BoolVar(&a.Version, "version", false, "print the version and exit")
}

// Args renders a as flags, --name=value, in the order injected pods have always carried
// them (the webhook compares a pod's sidecar with the one it would inject).
func (a *Args) Args() []string {
	var out []string
	str := func(name, v string) {
		if v != "" {
			out = append(out, "--"+name+"="+v)
		}
	}
	dur := func(name string, d time.Duration) {
		if d != 0 {
			out = append(out, "--"+name+"="+d.String())
		}
	}
	str("mode", a.Mode)
	str("grpc-listen", a.GRPCListen)
	str("policy", a.Policy)
	str("keys-dir", a.KeysDir)
	str("listen", a.Listen)
	str("upstream", a.Upstream)
	str("metrics-listen", a.MetricsListen)
	str("users-file", a.UsersFile)
	str("redis-url", a.RedisURL)
	if a.RedisWaitReplicas != 0 {
		out = append(out, "--redis-wait-replicas="+strconv.Itoa(a.RedisWaitReplicas))
	}
	if a.TrustedProxies != nil {
		out = append(out, "--trusted-proxies="+*a.TrustedProxies)
	}
	str("record-key-file", a.RecordKeyFile)
	if a.TokenCacheSize != nil {
		out = append(out, "--token-cache-size="+strconv.Itoa(*a.TokenCacheSize))
	}
	dur("reload-interval", a.ReloadInterval)
	dur("shutdown-timeout", a.ShutdownTimeout)
	str("log-level", a.LogLevel)
	str("log-format", a.LogFormat)
	str("otlp-endpoint", a.OTLPEndpoint)
	if a.Version {
		out = append(out, "--version")
	}
	return out
}

// ListenOn is the listen address of port on every interface: ":8000".
func ListenOn(port int32) string { return ":" + strconv.Itoa(int(port)) }

// LocalUpstream is the URL of an app listening on port in the same pod.
func LocalUpstream(port int32) string { return "http://127.0.0.1:" + strconv.Itoa(int(port)) }
