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

package tracing

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// tracesPath is what OTLP/HTTP appends to a base endpoint.
const tracesPath = "/v1/traces"

// defaultTimeout bounds each request to the collector, as OTEL_EXPORTER_OTLP_TIMEOUT's
// default does.
const defaultTimeout = 10 * time.Second

// exportConfig is where and how batches go, from the flag and the standard OTLP variables.
type exportConfig struct {
	url     string
	headers http.Header
	timeout time.Duration
	gzip    bool
	tls     *tls.Config
}

// configFromEnv reads the exporter's settings: the --otlp-endpoint flag (a base URL), else
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the full URL), else OTEL_EXPORTER_OTLP_ENDPOINT (a
// base URL); then the _HEADERS, _TIMEOUT, _COMPRESSION, _PROTOCOL, _CERTIFICATE,
// _CLIENT_CERTIFICATE and _CLIENT_KEY variables, the TRACES_ form over the general one.
// Errors name the variable, never a header's value.
func configFromEnv(flagEndpoint string, getenv func(string) string) (exportConfig, error) {
	lookup := func(name string) (string, string) {
		if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_" + name)); v != "" {
			return "OTEL_EXPORTER_OTLP_TRACES_" + name, v
		}
		return "OTEL_EXPORTER_OTLP_" + name, strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_" + name))
	}
	cfg := exportConfig{timeout: defaultTimeout}
	var err error
	switch {
	case flagEndpoint != "":
		cfg.url, err = endpointURL("--otlp-endpoint", flagEndpoint, true)
	case getenv(TracesEndpointEnv) != "":
		cfg.url, err = endpointURL(TracesEndpointEnv, getenv(TracesEndpointEnv), false)
	default:
		cfg.url, err = endpointURL(EndpointEnv, getenv(EndpointEnv), true)
	}
	if err != nil {
		return cfg, err
	}
	if name, v := lookup("HEADERS"); v != "" {
		if cfg.headers, err = parseHeaders(v); err != nil {
			return cfg, fmt.Errorf("%s: %w", name, err)
		}
	}
	if name, v := lookup("TIMEOUT"); v != "" {
		ms, err := strconv.ParseUint(v, 10, 32)
		if err != nil || ms == 0 {
			return cfg, fmt.Errorf("%s=%q: want milliseconds, such as 10000", name, v)
		}
		cfg.timeout = time.Duration(ms) * time.Millisecond
	}
	switch name, v := lookup("COMPRESSION"); v {
	case "", "none":
	case "gzip":
		cfg.gzip = true
	default:
		return cfg, fmt.Errorf("%s=%q: want gzip or none", name, v)
	}
	switch name, v := lookup("PROTOCOL"); v {
	case "", "http/protobuf":
	default:
		return cfg, fmt.Errorf("%s=%q: tollgate exports over OTLP/HTTP with protobuf only (http/protobuf, port 4318)", name, v)
	}
	_, ca := lookup("CERTIFICATE")
	_, cert := lookup("CLIENT_CERTIFICATE")
	_, key := lookup("CLIENT_KEY")
	if ca != "" || cert != "" || key != "" {
		if cfg.tls, err = tlsConfig(ca, cert, key); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// ExportURL is where spans go for an --otlp-endpoint flag and the environment getenv reads,
// or why the sidecar would refuse to start.
func ExportURL(flagEndpoint string, getenv func(string) string) (string, error) {
	cfg, err := configFromEnv(flagEndpoint, getenv)
	return cfg.url, err
}

// endpointURL checks an endpoint and, for a base URL, appends the traces path. A URL with
// credentials or a query is refused: it would show in logs and errors.
func endpointURL(source, endpoint string, base bool) (string, error) {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%s: must be an http:// or https:// URL without credentials or query, such as http://otel-collector:4318", source)
	}
	if base {
		u.Path = strings.TrimSuffix(u.Path, "/") + tracesPath
		u.RawPath = ""
	}
	return u.String(), nil
}

// parseHeaders reads OTEL_EXPORTER_OTLP_HEADERS: key=value pairs separated by commas, the
// values percent-encoded (the W3C baggage form the specification names).
func parseHeaders(v string) (http.Header, error) {
	h := http.Header{}
	for i, pair := range strings.Split(v, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, val, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		val, err := url.PathUnescape(strings.TrimSpace(val))
		if !ok || !validHeaderName(k) || err != nil || !validHeaderValue(val) {
			// The position, not the text: the value may be a credential.
			return nil, fmt.Errorf("entry %d is not key=value with a header name and a percent-encoded value", i+1)
		}
		h.Add(k, val)
	}
	return h, nil
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validHeaderValue(v string) bool {
	for _, c := range []byte(v) {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// tlsConfig trusts the CA file (PEM) ca when given, and presents the client certificate
// cert with key when given.
func tlsConfig(ca, cert, key string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_CERTIFICATE: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_CERTIFICATE %s: no PEM certificate in it", ca)
		}
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY go together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and _CLIENT_KEY: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
