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
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// Config is everything a Server needs. Policy must be defaulted and valid.
type Config struct {
	Policy   *spec.Policy
	Keys     *Keys
	Store    store.Store
	Upstream *url.URL // the app; nil: authorizer mode (AuthorizerHandler), nothing is proxied
	// Authenticator checks passwords; nil disables login (LoginDisabled says why).
	Authenticator Authenticator
	LoginDisabled string
	// Users, when login uses a users file, lets refresh follow role changes and deletions.
	Users *UserDB
	// TrustedProxies, when set (--trusted-proxies), replaces spec.sidecar.trustedProxies.
	TrustedProxies *TrustedProxies
	// TokenCacheSize bounds the verified-token cache; 0 disables it.
	TokenCacheSize int
	// AuthBodyTimeout bounds the time the sidecar waits for the body of a request it answers
	// itself (an auth endpoint, a refusal): only proxied bodies are unbounded. 0 means
	// DefaultAuthBodyTimeout.
	AuthBodyTimeout time.Duration
	Log             *slog.Logger
	Now             func() time.Time
}

// DefaultTokenCacheSize is the default bound of the verified-token cache.
const DefaultTokenCacheSize = contract.DefaultTokenCacheSize

// DefaultAuthBodyTimeout is how long login, refresh and logout wait for a body of at most
// MaxAuthBodySize: ample for any client, and what keeps clients trickling bodies from holding
// connections (and the sidecar's memory) for longer.
const DefaultAuthBodyTimeout = 10 * time.Second

// Server is one sidecar.
type Server struct {
	cfg         Config
	store       store.Store
	revocations *Revocations
	metrics     *Metrics
	proxy       *httputil.ReverseProxy
	errs        errorWriter
	log         *slog.Logger
	now         func() time.Time

	// live is the policy in force (see livePolicy); started is the one the sidecar started
	// with, whose restartFields it keeps; reload serializes ApplyPolicy.
	live    atomic.Pointer[livePolicy]
	started *spec.Policy
	reload  sync.Mutex

	// From the starting policy: these fields need a restart (see restartFields).
	authPrefix   string
	verifyPath   string // never proxied (see isVerifyPath)
	upstreamPath string // the --upstream URL's path, in front of every proxied path
	storeUp      atomic.Bool
	// outcomes are the per-outcome request counters, resolved once: the proxy path counts
	// every request and should not look labels up each time.
	outcomes struct{ allowed, public, unauthorized, forbidden, unavailable prometheus.Counter }
}

// NewServer wires a sidecar from its configuration.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Policy == nil || cfg.Keys == nil || cfg.Store == nil {
		return nil, errors.New("sidecar: policy, keys and store are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AuthBodyTimeout <= 0 {
		cfg.AuthBodyTimeout = DefaultAuthBodyTimeout
	}
	started := cfg.Policy.DeepCopy()
	spec := &started.Spec
	s := &Server{
		cfg: cfg, started: started, store: cfg.Store, log: cfg.Log, now: cfg.Now,
		revocations: NewRevocations(),
		errs:        errorWriter{log: cfg.Log},
		authPrefix:  spec.Sidecar.AuthPathPrefix,
	}
	lp, err := s.compilePolicy(started)
	if err != nil {
		return nil, err
	}
	s.live.Store(lp)
	s.verifyPath = verifyPath(spec.Login.VerifyURL)
	if cfg.Upstream != nil {
		s.upstreamPath = cfg.Upstream.Path
	}
	if spec.Login.VerifyURL != "" && (s.verifyPath == "" || s.verifyPath == "/") {
		s.log.Warn("spec.login.verifyURL has no path of its own: if it is the app's, the proxy cannot keep it from clients; give the password check a dedicated path")
	}
	s.metrics = NewMetrics(
		func() float64 { return float64(s.revocations.Len()) },
		func() float64 {
			if c := s.policy().tokens.cache; c != nil {
				return float64(c.Len())
			}
			return 0
		},
	)
	s.reportPolicy(lp)
	s.outcomes.allowed = s.metrics.Requests.WithLabelValues("allowed")
	s.outcomes.public = s.metrics.Requests.WithLabelValues("public")
	s.outcomes.unauthorized = s.metrics.Requests.WithLabelValues("unauthorized")
	s.outcomes.forbidden = s.metrics.Requests.WithLabelValues("forbidden")
	s.outcomes.unavailable = s.metrics.Requests.WithLabelValues("unavailable")
	if cfg.Upstream != nil {
		s.proxy = newProxy(cfg.Upstream, spec.Sidecar.UpstreamProtocol, s.upstreamFailed)
	}
	s.storeUp.Store(true)
	s.metrics.StoreUp.Set(1)
	return s, nil
}

// Metrics exposes the server's metrics (tests and the binary's reload hooks use them).
func (s *Server) Metrics() *Metrics { return s.metrics }

// Revocations is the server's in-memory revocation list.
func (s *Server) Revocations() *Revocations { return s.revocations }

// Tokens is the token issuer and verifier of the policy in force.
func (s *Server) Tokens() *Tokens { return s.policy().tokens }

// Start runs the background work until ctx ends: following revocations from the store and
// checking its health. It first tries, for up to a second, to load the revocation list, so
// that a sidecar whose store answers serves requests from its first one; until the list is
// loaded, requests that need a token answer 503.
func (s *Server) Start(ctx context.Context) {
	err := s.revocations.LoadFrom(ctx, s.store, s.now(), time.Second)
	s.setStoreUp(err == nil)
	if err != nil {
		s.log.Warn("revocation list not loaded at start: requests that need a token answer 503 and readyz 503 until it is; retrying", "error", err)
	}
	go s.revocations.Follow(ctx, s.store, s.now, s.log)
	go s.watchStore(ctx)
}

func (s *Server) watchStore(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := s.store.Ping(pctx)
		cancel()
		s.setStoreUp(err == nil)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) setStoreUp(up bool) {
	if s.storeUp.Swap(up) != up {
		if up {
			s.log.Info("store reachable again")
		} else {
			s.log.Warn("store unreachable: login, refresh and logout answer 503; validation goes on with the revocations in memory")
		}
	}
	if up {
		s.metrics.StoreUp.Set(1)
	} else {
		s.metrics.StoreUp.Set(0)
	}
}

// storeFailed records a failed store operation and returns the 503 it deserves.
func (s *Server) storeFailed(op string, err error) error {
	s.metrics.StoreErrs.WithLabelValues(op).Inc()
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		s.setStoreUp(false)
	}
	return unavailable("session store unavailable", fmt.Errorf("%s: %w", op, err))
}

// Handler serves the client-facing port: the auth endpoints, the discovery documents, and
// the validating proxy for everything else.
func (s *Server) Handler() http.Handler {
	login := s.errs.wrap(post(s.login))
	refresh := s.errs.wrap(post(s.refresh))
	logout := s.errs.wrap(post(s.logout))
	jwks := s.errs.wrap(get(s.jwks))
	discovery := s.errs.wrap(get(s.discovery))
	asMetadata := s.errs.wrap(get(s.authorizationServerMetadata))
	token := s.errs.wrapOAuth(post(s.token))
	revoke := s.errs.wrapOAuth(post(s.revoke))
	loginPath, refreshPath, logoutPath := s.authPrefix+"/login", s.authPrefix+"/refresh", s.authPrefix+"/logout"
	tokenPath, revokePath := s.authPrefix+tokenEndpointPath, s.authPrefix+revokeEndpointPath
	return s.withCORS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every body must arrive within AuthBodyTimeout, unless the request is proxied
		// (serveProxy lifts the deadline): the auth endpoints read theirs, and Go's server
		// reads what remains of any other before it answers, for as long as the connection
		// allows. Not every ResponseWriter has a connection (tests): then there is nothing
		// to bound.
		// A request without a body (http.NoBody) has nothing left to read.
		if r.Body != http.NoBody {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.AuthBodyTimeout))
		}
		if err := checkMethod(r.Method); err != nil {
			s.metrics.Requests.WithLabelValues("bad_request").Inc()
			s.errs.write(w, r, errStatus(http.StatusBadRequest, err.Error()))
			return
		}
		clean, err := CleanPath(r.URL.EscapedPath())
		if err != nil {
			s.metrics.Requests.WithLabelValues("bad_request").Inc()
			s.errs.write(w, r, errStatus(http.StatusBadRequest, "bad path: "+err.Error()))
			return
		}
		switch clean {
		case loginPath:
			login.ServeHTTP(w, r)
		case refreshPath:
			refresh.ServeHTTP(w, r)
		case logoutPath:
			logout.ServeHTTP(w, r)
		case jwksPath:
			jwks.ServeHTTP(w, r)
		case discoveryPath:
			discovery.ServeHTTP(w, r)
		case tokenPath:
			token.ServeHTTP(w, r)
		case revokePath:
			revoke.ServeHTTP(w, r)
		case asMetadataPath:
			asMetadata.ServeHTTP(w, r)
		default:
			if s.proxy == nil { // authorizer mode: there is no app behind this port
				s.errs.write(w, r, errNotFound)
				return
			}
			if s.isVerifyPath(clean) {
				s.outcomes.forbidden.Inc()
				s.errs.write(w, r, errVerifyPath)
				return
			}
			s.serveProxy(w, r, clean)
		}
	}))
}

func post(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			return errStatus(http.StatusMethodNotAllowed, "method not allowed: use POST")
		}
		return h(w, r)
	}
}

func get(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			return errStatus(http.StatusMethodNotAllowed, "method not allowed: use GET")
		}
		return h(w, r)
	}
}

// NewHTTPServer returns an http.Server with the timeouts a sidecar in front of an app
// wants: bounded header reads and idle connections, but no read timeout on bodies (those the
// sidecar answers itself are bounded by Handler, proxied ones are not) and no write timeout,
// so uploads, streaming responses and long polls pass.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
