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
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// loginAttempt is one login's place in the failure counts of its client and its account.
//
// The counts are of failed password checks. A login reserves its place in both before the
// password is checked (AddAttempt, atomic in the store), so that of any number of concurrent
// guesses at most the limit get checked; a login that did not fail gives its place back, to
// the window it took it in: once that window has ended, the count is a later window's, of
// other logins, and giving back to it would be a free guess.
type loginAttempt struct {
	s               *Server
	client, account place
}

// place is one reserved attempt: its counter, and when its window ends by the monotonic clock.
type place struct {
	key  string
	ends time.Time
}

// reserve adds one attempt under key; it answers as AddAttempt does.
func (s *Server) reserve(ctx context.Context, key string, window time.Duration) (place, int, time.Duration, error) {
	n, ttl, err := s.store.AddAttempt(ctx, key, window)
	return place{key: key, ends: time.Now().Add(ttl)}, n, ttl, err
}

// reserveLogin counts a login against the client's and the account's limits, or refuses it
// with 429 when either is reached. The Redis store hashes counter keys itself: neither an
// address nor an email reaches its key names.
func (s *Server) reserveLogin(ctx context.Context, p *livePolicy, client, email string) (*loginAttempt, error) {
	rl := p.spec.Login.RateLimit
	window := rl.Window.Duration
	a := &loginAttempt{s: s}
	cp, n, ttl, err := s.reserve(ctx, "login:client:"+clientLimitKey(client), window)
	if err != nil {
		return nil, s.storeFailed("rate_limit", err)
	}
	a.client = cp
	if n > int(rl.MaxAttemptsPerClient) {
		// Refused attempts give their place back: the count stays the number of failures
		// (and checks in flight), so refusals neither lengthen nor deepen a lockout.
		a.release(ctx, a.client)
		return nil, &httpError{status: http.StatusTooManyRequests, msg: "too many login attempts", retryAfter: ttl}
	}
	ap, n, ttl, err := s.reserve(ctx, "login:account:"+strings.ToLower(strings.TrimSpace(email)), window)
	if err != nil {
		a.release(ctx, a.client)
		return nil, s.storeFailed("rate_limit", err)
	}
	a.account = ap
	if n > int(rl.MaxAttempts) {
		a.release(ctx, a.account)
		a.release(ctx, a.client)
		return nil, &httpError{status: http.StatusTooManyRequests, msg: "too many failed logins for this account", retryAfter: ttl}
	}
	return a, nil
}

// succeeded takes the login out of the failure counts: the client's place is given back
// and the account's failures are forgotten.
func (a *loginAttempt) succeeded(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	if err := a.s.store.ReleaseAttempt(ctx, a.client.key, time.Until(a.client.ends)); err != nil {
		return a.s.storeFailed("rate_limit", err)
	}
	if err := a.s.store.ClearAttempts(ctx, a.account.key); err != nil {
		return a.s.storeFailed("rate_limit", err)
	}
	return nil
}

// undecided gives both places back: the password could not be checked (verifyURL down).
func (a *loginAttempt) undecided(ctx context.Context) {
	a.release(ctx, a.account)
	a.release(ctx, a.client)
}

// release gives one place back, even when the client has gone: a place never given back
// would count as a failure. A store that fails here only leaves the count one too high
// until the window ends.
func (a *loginAttempt) release(ctx context.Context, p place) {
	if err := a.s.store.ReleaseAttempt(context.WithoutCancel(ctx), p.key, time.Until(p.ends)); err != nil {
		a.s.metrics.StoreErrs.WithLabelValues("rate_limit").Inc()
		a.s.log.Warn("could not give back a login attempt; the count stays one too high until the window ends", "error", err)
	}
}

// ipv6LimitBits is the prefix an IPv6 client is counted by: a /64 is the smallest network
// a subscriber is given, and any host in it picks its own addresses freely, so counting
// each address apart would give one attacker 2^64 fresh limits.
const ipv6LimitBits = 64

// nat64Prefix is RFC 6052's well-known prefix, under which a NAT64 or SIIT gateway (in
// front of an IPv6-only cluster, say) shows IPv4 clients: the last 32 bits are the client's
// IPv4 address, and their /64 would be every IPv4 client at once.
var nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")

// clientLimitKey is what a client address is counted under in the per-client login limit:
// an IPv4 address itself (IPv4-mapped IPv6 included, as clientAddr unmaps it, and one under
// the NAT64 prefix), an IPv6 address's /64. Anything else ("unknown") counts as itself.
func clientLimitKey(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil || !a.Is6() {
		return client
	}
	if nat64Prefix.Contains(a) {
		b := a.As16()
		return netip.AddrFrom4([4]byte(b[12:])).String()
	}
	return netip.PrefixFrom(a, ipv6LimitBits).Masked().String()
}
