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
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// Test users, bcrypt cost 4 to keep the tests fast.
const testUsersYAML = `
- email: alice@example.com
  id: "42"
  role: admin
  passwordHash: $2a$04$ZYe5j153F9qXAd9VPTHyIeNa/ERn07J8H4EwWxHqypHt7aUjL39lG
- email: bob@example.com
  id: "7"
  role: clerk
  passwordHash: $2a$04$XxapY7T1jVJKSFXR2kOcAeAlnTrfC81qc2lEEC0zpk6Z8PRe/gnJO
`

// testRecordKey authenticates the Redis records of every harness, so replicas share sessions.
var testRecordKey = []byte("tollgate test record key, 32+ bytes long")

const (
	alicePassword = "wonderland"
	bobPassword   = "builder"
)

const testPolicyYAML = `
apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: shop-api, namespace: shop}
spec:
  issuer: https://shop-api.shop.svc
  audiences: [shop-api]
  signing: {algorithm: ES256}
  tokens: {accessTokenTTL: 15m, refreshTokenTTL: 168h, clockSkew: 30s}
  login:
    rateLimit: {maxAttempts: 5, maxAttemptsPerClient: 1000, window: 15m}
  routes:
  - {pathPrefix: /public, public: true}
  - {pathPrefix: /admin, roles: [admin]}
  - {path: /orders, methods: [POST], roles: [admin, clerk]}
  - {path: /reports, methods: [GET], roles: [admin]}
`

// clock is a settable time source shared by a harness's parts.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// upstreamApp records what the app received.
type upstreamApp struct {
	mu   sync.Mutex
	last *http.Request
	body []byte
	// release lets a /public/stream response go on past its first line.
	release chan struct{}
}

func (a *upstreamApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/public/stream" {
		a.stream(w, r)
		return
	}
	if r.Header.Get("Upgrade") == "websocket" {
		a.mu.Lock()
		a.last = r.Clone(r.Context())
		a.mu.Unlock()
		serveEcho(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.last, a.body = r.Clone(r.Context()), body
	a.mu.Unlock()
	if o := r.Header.Get("Origin"); o != "" && strings.HasSuffix(r.URL.Path, "/reflect-cors") {
		// An app doing CORS itself, carelessly: any origin, with credentials.
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("Access-Control-Expose-Headers", "X-Secret")
		w.Header().Set("Vary", "Accept-Encoding")
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"path": r.URL.Path, "rawPath": r.URL.RawPath, "subject": r.Header.Get(HeaderSubject), "role": r.Header.Get(HeaderRole),
		"headers": r.Header,
	})
}

func (a *upstreamApp) Last() *http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

type harness struct {
	t       *testing.T
	clock   *clock
	server  *Server
	http    *httptest.Server
	app     *upstreamApp
	appHTTP *httptest.Server
	store   store.Store
	keys    *Keys
	policy  string
	cache   int
	alg     keyset.Algorithm
	redis   testredis.Deployment
	auth    func(Authenticator) Authenticator
	upPath  string // the --upstream URL's path
}

type harnessOption func(*harness)

func withPolicy(y string) harnessOption              { return func(h *harness) { h.policy = y } }
func withKeys(k *Keys) harnessOption                 { return func(h *harness) { h.keys = k } }
func withCache(n int) harnessOption                  { return func(h *harness) { h.cache = n } }
func withAlgorithm(a keyset.Algorithm) harnessOption { return func(h *harness) { h.alg = a } }
func withClock(c *clock) harnessOption               { return func(h *harness) { h.clock = c } }

// withUpstreamPath gives the --upstream URL a path, as in --upstream http://127.0.0.1:8080/app.
func withUpstreamPath(p string) harnessOption { return func(h *harness) { h.upPath = p } }

// withAuthenticator puts wrap around the harness's users-file authenticator.
func withAuthenticator(wrap func(Authenticator) Authenticator) harnessOption {
	return func(h *harness) { h.auth = wrap }
}

// eachStore runs f with the memory store, then with a Redis store on a real redis-server.
func eachStore(t *testing.T, f func(t *testing.T, st harnessOption)) {
	t.Run("memory", func(t *testing.T) { f(t, func(*harness) {}) })
	t.Run("redis", func(t *testing.T) { f(t, withRedis(testredis.Start(t))) })
}

// withRedis gives the harness a Redis store on d (through its --redis-url), emptied first.
func withRedis(d testredis.Deployment) harnessOption { return func(h *harness) { h.redis = d } }

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	h := &harness{t: t, policy: testPolicyYAML, cache: DefaultTokenCacheSize, alg: keyset.ES256}
	for _, o := range opts {
		o(h)
	}
	if h.clock == nil {
		h.clock = newClock()
	}
	policy, err := ParsePolicy([]byte(h.policy))
	if err != nil {
		t.Fatal(err)
	}
	if h.store == nil && h.redis != nil {
		h.redis.Flush()
		ro, err := store.ParseRedisURL(h.redis.URL())
		if err != nil {
			t.Fatal(err)
		}
		r, err := store.OpenRedis(ro, policy.Key(), store.WithRecordKey(testRecordKey))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		h.store = r
	}
	if h.store == nil {
		m := store.NewMemory()
		t.Cleanup(func() { _ = m.Close() })
		h.store = m
	}
	if h.keys == nil {
		key, err := keyset.Generate(h.alg, h.clock.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		h.keys = NewKeys(&keyset.Keyset{Keys: []*keyset.SigningKey{key}})
	}
	users, err := ParseUsers([]byte(testUsersYAML))
	if err != nil {
		t.Fatal(err)
	}
	db := NewUserDB(users)
	h.app = &upstreamApp{release: make(chan struct{})}
	h.appHTTP = httptest.NewServer(h.app)
	t.Cleanup(h.appHTTP.Close)
	up, _ := url.Parse(h.appHTTP.URL + h.upPath)
	var auth Authenticator = db
	if h.auth != nil {
		auth = h.auth(db)
	}
	cfg := Config{
		Policy: policy, Keys: h.keys, Store: h.store, Upstream: up,
		Authenticator: auth, Users: db, TokenCacheSize: h.cache,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: h.clock.Now,
	}
	h.server, err = NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.server.Start(t.Context())
	h.http = httptest.NewServer(h.server.Handler())
	t.Cleanup(h.http.Close)
	return h
}

// do sends a request; token may be "".
func (h *harness) do(method, path, token string, body any) (*http.Response, []byte) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.http.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

func (h *harness) login(email, password string) TokenResponse {
	h.t.Helper()
	resp, body := h.do("POST", "/auth/login", "", map[string]string{"email": email, "password": password})
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("login %s: %d %s", email, resp.StatusCode, body)
	}
	var tr TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		h.t.Fatal(err)
	}
	return tr
}

func errorOf(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("body is not the {\"error\": ...} shape: %s", body)
	}
	return e.Error
}

func newTestServer(t *testing.T, h http.Handler) string {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}
