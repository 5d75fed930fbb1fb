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

package store

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Timeouts of the clients NewRedisClient makes. A request waits on Redis at most about
// dial + retry × (read + write): with Redis down, login and refresh fail with 503 in about a
// second instead of hanging.
const (
	redisDialTimeout  = time.Second
	redisReadTimeout  = 500 * time.Millisecond
	redisWriteTimeout = 500 * time.Millisecond
	redisPoolTimeout  = 500 * time.Millisecond
	// One retry covers a pooled connection that died with a Redis restart. Every script is
	// safe to run twice (see CreateRefresh and RotateRefresh).
	redisMaxRetries = 1
)

// maxRedisDB matches the AuthPolicy's spec.store.redis.db.
const maxRedisDB = 15

// RedisOptions say how to reach Redis, as spec.store.redis does. One address is a single
// server; MasterName set makes the addresses Sentinels; several addresses and no MasterName
// are the seeds of a Redis Cluster.
type RedisOptions struct {
	Addresses  []string
	MasterName string
	Password   string
	DB         int
	TLS        bool
	Username   string
}

// NewRedisClient makes the go-redis client for o, with timeouts short enough that a call
// to a Redis that is down fails fast. Errors never show the password.
func NewRedisClient(o RedisOptions) (redis.UniversalClient, error) {
	if len(o.Addresses) == 0 {
		return nil, errors.New("store: redis needs at least one address")
	}
	for i, a := range o.Addresses {
		if err := checkHostPort(a); err != nil {
			return nil, fmt.Errorf("store: redis address %d: %w", i, err)
		}
	}
	if o.DB < 0 || o.DB > maxRedisDB {
		return nil, fmt.Errorf("store: redis db must be between 0 and %d", maxRedisDB)
	}
	cluster := o.MasterName == "" && len(o.Addresses) > 1
	if cluster && o.DB != 0 {
		return nil, errors.New("store: redis db must be 0 with Redis Cluster (several addresses, no masterName)")
	}
	uo := &redis.UniversalOptions{
		Addrs:      o.Addresses,
		MasterName: o.MasterName,
		Username:   o.Username,
		Password:   o.Password,
		DB:         o.DB,

		DialTimeout:           redisDialTimeout,
		DialerRetries:         1,
		ReadTimeout:           redisReadTimeout,
		WriteTimeout:          redisWriteTimeout,
		PoolTimeout:           redisPoolTimeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            redisMaxRetries,

		// Maintenance notifications are a Redis Enterprise feature; skip the handshake.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if o.MasterName != "" {
		// Sentinels usually share the data nodes' password (as the Bitnami chart sets them up).
		uo.SentinelUsername, uo.SentinelPassword = o.Username, o.Password
	}
	if o.TLS {
		// ServerName is left empty: each connection checks the host it dialled.
		uo.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewUniversalClient(uo), nil
}

// checkHostPort accepts host:port with a numeric port. It shows nothing of its input, in
// case a URL with a password was given as an address.
func checkHostPort(a string) error {
	if strings.ContainsAny(a, "/@?# ") {
		return errors.New("must be host:port, not a URL")
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return errors.New("must be host:port")
	}
	if !decimal(port, 1, 65535) {
		return errors.New("port must be a number between 1 and 65535")
	}
	return nil
}

// decimal reports whether s is plain digits (no sign, at most 5 of them) for a number in
// [lo, hi].
func decimal(s string, lo, hi int) bool {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return false
	}
	n, _ := strconv.Atoi(s)
	return n >= lo && n <= hi
}

// ParseRedisURL reads the sidecar's --redis-url: redis://[user:password@]host[:port][/db],
// or rediss:// for TLS. The port defaults to 6379 and the db to 0; user and password are
// percent-decoded. Errors say what is wrong without repeating the URL, which may hold a
// password.
func ParseRedisURL(s string) (RedisOptions, error) {
	fail := func(msg string) (RedisOptions, error) {
		return RedisOptions{}, fmt.Errorf("invalid redis URL: %s (want redis://[user:password@]host:port[/db], or rediss:// for TLS)", msg)
	}
	var o RedisOptions
	scheme, rest, ok := strings.Cut(s, "://")
	switch {
	case !ok:
		return fail("no scheme")
	case strings.EqualFold(scheme, "redis"):
	case strings.EqualFold(scheme, "rediss"):
		o.TLS = true
	default:
		return fail("the scheme must be redis or rediss")
	}

	// The authority ends at the first '/', '?' or '#' after the last '@', so an unescaped
	// '/' or '?' in a password is still taken as part of it.
	at := strings.LastIndex(rest, "@")
	end := strings.IndexAny(rest[at+1:], "/?#")
	if end < 0 {
		end = len(rest)
	} else {
		end += at + 1
	}
	authority, tail := rest[:end], rest[end:]

	if at >= 0 {
		userinfo := authority[:at]
		authority = authority[at+1:]
		user, pass, hasPass := strings.Cut(userinfo, ":")
		var err error
		if o.Username, err = url.PathUnescape(user); err != nil {
			return fail("the user name is not valid percent-encoding")
		}
		if hasPass {
			if o.Password, err = url.PathUnescape(pass); err != nil {
				return fail("the password is not valid percent-encoding")
			}
		}
	}

	host, port, err := net.SplitHostPort(authority)
	if err != nil {
		// No port: the default one. Brackets of an IPv6 literal are dropped here and put
		// back by JoinHostPort.
		host, port = authority, "6379"
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
	}
	switch {
	case host == "":
		return fail("no host")
	case net.ParseIP(host) == nil && !hostname(host):
		return fail("the host is not valid")
	case !decimal(port, 1, 65535):
		return fail("the port must be a number between 1 and 65535")
	}
	o.Addresses = []string{net.JoinHostPort(host, port)}

	switch {
	case strings.ContainsAny(tail, "?#"):
		return fail("query parameters and fragments are not supported")
	case tail == "" || tail == "/":
	default:
		if !decimal(tail[1:], 0, maxRedisDB) {
			return fail(fmt.Sprintf("the database must be a number between 0 and %d", maxRedisDB))
		}
		o.DB, _ = strconv.Atoi(tail[1:])
	}
	return o, nil
}

// hostname reports whether h is made of the characters of DNS names (and '_', which some
// service names carry).
func hostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}
