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
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// VerifyURLTimeout bounds one password check by the app, from dial to the end of its answer.
const VerifyURLTimeout = 5 * time.Second

// MaxVerifyURLResponse caps the app's answer to a password check.
const MaxVerifyURLResponse = 64 << 10

// errVerifyPath refuses requests for the app's password check through the proxy.
var errVerifyPath = errStatus(http.StatusForbidden, "the password check endpoint is not reachable through the sidecar")

// VerifyURL delegates password checks to the app: it POSTs {"email","password"} and takes
// 200 {"id","role"} as success and 401, 403 or 404 as a wrong pair. It follows no redirect
// (a 307 or 308 would re-send the password wherever it points), so a 3xx is a failure, and
// an answer over MaxVerifyURLResponse is refused.
type VerifyURL struct {
	URL string
	// Client sends the checks; its CheckRedirect is ignored. NewVerifyURL's verifies TLS
	// certificates against the system roots and gives up after VerifyURLTimeout.
	Client *http.Client
}

// NewVerifyURL checks passwords at rawURL.
func NewVerifyURL(rawURL string) *VerifyURL {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	t.ResponseHeaderTimeout = VerifyURLTimeout
	return &VerifyURL{URL: rawURL, Client: &http.Client{Transport: t, Timeout: VerifyURLTimeout}}
}

// noRedirects stops the client at a redirect: the 3xx itself is the answer.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Authenticate asks the app.
func (v *VerifyURL) Authenticate(ctx context.Context, email, password string) (Identity, error) {
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.URL, bytes.NewReader(body))
	if err != nil {
		return Identity{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	client := http.Client{Timeout: VerifyURLTimeout}
	if v.Client != nil {
		client = *v.Client
	}
	client.CheckRedirect = noRedirects
	resp, err := client.Do(req)
	if err != nil {
		return Identity{}, fmt.Errorf("verifyURL: %w: %w", ErrPasswordCheckDown, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxVerifyURLResponse+1))
	if err != nil {
		return Identity{}, fmt.Errorf("verifyURL: %w: reading the answer: %w", ErrPasswordCheckDown, err)
	}
	// Only an app that is down gives the login's place back. Any other answer outside the
	// contract counts as a failed login: an app that answers a wrong password with 400 or
	// 500 and the right one with 200 would otherwise get unlimited guesses.
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden, resp.StatusCode == http.StatusNotFound:
		return Identity{}, ErrInvalidCredentials
	case resp.StatusCode == http.StatusBadGateway, resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusGatewayTimeout:
		return Identity{}, fmt.Errorf("verifyURL: %w: answered %d", ErrPasswordCheckDown, resp.StatusCode)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return Identity{}, fmt.Errorf("verifyURL answered %d, a redirect: redirects are not followed, point verifyURL at the endpoint itself", resp.StatusCode)
	default:
		return Identity{}, fmt.Errorf("verifyURL answered %d", resp.StatusCode)
	}
	if len(data) > MaxVerifyURLResponse {
		return Identity{}, fmt.Errorf("verifyURL answered 200 with more than %d bytes", MaxVerifyURLResponse)
	}
	var out struct {
		ID   json.RawMessage `json:"id"`
		Role string          `json:"role"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return Identity{}, errors.New("verifyURL answered 200 with a body that is not {\"id\",\"role\"}")
	}
	id := strings.Trim(string(out.ID), `"`)
	if id == "" || id == "null" {
		return Identity{}, errors.New("verifyURL answered 200 without an id")
	}
	return Identity{Subject: id, Role: out.Role}, nil
}

// verifyPath is the clean path of a verifyURL, without its trailing slash, lower-cased: the
// sidecar refuses to proxy it. "" when there is no verifyURL or it is a host's root, which
// cannot be told apart from the app's own pages.
func verifyPath(verifyURL string) string {
	u, err := url.Parse(verifyURL)
	if verifyURL == "" || err != nil {
		return ""
	}
	clean, err := CleanPath("/" + strings.TrimPrefix(u.EscapedPath(), "/"))
	if err != nil {
		return ""
	}
	return strings.ToLower(trimSlash(clean))
}

// isVerifyPath reports whether a request's clean path reaches the app as the verifyURL's
// path, in any case, with or without a trailing slash or a format suffix (Rails' optional
// (.:format) and Spring MVC's suffix patterns serve /verify as /verify.json too): the app's
// password check must not be reachable through the proxy, where every token holder could
// guess passwords at it past the login limits. What is compared is the path the app gets,
// behind --upstream's own path.
func (s *Server) isVerifyPath(clean string) bool {
	if s.verifyPath == "" || s.verifyPath == "/" {
		return false
	}
	forwarded := path.Clean("/" + joinPath(s.upstreamPath, clean))
	dir, base := path.Split(forwarded)
	vdir, vbase := path.Split(s.verifyPath)
	if !strings.EqualFold(dir, vdir) {
		return false
	}
	for {
		if strings.EqualFold(base, vbase) {
			return true
		}
		i := strings.LastIndexByte(base, '.')
		if i < 0 {
			return false
		}
		base = base[:i]
	}
}
