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
	// WaitReplicas is how many replicas every session, rotation and revocation waits for
	// (see WithWaitReplicas); 0 relies on asynchronous replication.
	WaitReplicas int
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
	if o.WaitReplicas < 0 || o.WaitReplicas > MaxWaitReplicas {
		return nil, fmt.Errorf("store: the replicas to wait for must be between 0 and %d", MaxWaitReplicas)
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

// ParseRedisURL reads the sidecar's --redis-url with go-redis's own parsers, in one of
// three forms (rediss:// for TLS in each; user and password percent-encoded):
//
//	redis://[user:password@]host[:port][/db]                                   one server (redis.ParseURL)
//	redis://[user:password@]sentinel[:port][/db]?master_name=M[&addr=h:p...]  Sentinels (redis.ParseFailoverURL)
//	redis://[user:password@]node[:port]?addr=h:p[&addr=h:p...]                Cluster seeds (redis.ParseClusterURL)
//
// The port defaults to 6379 and the db to 0. With Sentinel, user and password are the
// data nodes' and the Sentinels' alike (see NewRedisClient). The only query parameters are
// master_name, addr and db: timeouts are the sidecar's own, short enough to fail fast.
// Errors say what is wrong without repeating the URL or go-redis's message, which may hold
// a password.
func ParseRedisURL(s string) (RedisOptions, error) {
	fail := func(msg string) (RedisOptions, error) {
		return RedisOptions{}, fmt.Errorf("invalid redis URL: %s (want redis://[user:password@]host:port[/db], "+
			"with ?master_name=M&addr=host:port for Sentinels or ?addr=host:port&addr=... for a Cluster; rediss:// for TLS)", msg)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	switch {
	case !ok:
		return fail("no scheme")
	case !strings.EqualFold(scheme, "redis") && !strings.EqualFold(scheme, "rediss"):
		return fail("the scheme must be redis or rediss")
	case strings.ContainsAny(rest, "/?#") && strings.Contains(rest[strings.IndexAny(rest, "/?#"):], "@"):
		// An unescaped '/', '?' or '#' in a password would end the authority early and put
		// the password's start in the host (and the logs) and its end in the path.
		return fail("percent-encode @ / ? # in the user name and password")
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the whole URL: only say which part is wrong.
		return fail(urlErrorPart(rest))
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return fail("fragments are not supported")
	}
	if u.Opaque != "" || u.Hostname() == "" {
		// go-redis would take a missing host for localhost.
		return fail("no host")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fail("the query is not valid percent-encoding")
	}
	for k := range q {
		if k != "master_name" && k != "addr" && k != "db" {
			return fail("the only query parameters are master_name, addr and db")
		}
	}

	o := RedisOptions{TLS: strings.EqualFold(scheme, "rediss")}
	switch {
	case q.Has("master_name"):
		fo, err := redis.ParseFailoverURL(s)
		if err != nil {
			return fail(goRedisErrorPart(err))
		}
		if fo.MasterName == "" {
			return fail("master_name is empty")
		}
		o.Addresses, o.MasterName, o.DB = fo.SentinelAddrs, fo.MasterName, fo.DB
		o.Username, o.Password = fo.SentinelUsername, fo.SentinelPassword
	case q.Has("addr"):
		if q.Has("db") || strings.Trim(u.Path, "/") != "" {
			return fail("the database must be 0 with Redis Cluster")
		}
		co, err := redis.ParseClusterURL(s)
		if err != nil {
			return fail(goRedisErrorPart(err))
		}
		o.Addresses, o.Username, o.Password = co.Addrs, co.Username, co.Password
	default:
		so, err := redis.ParseURL(s)
		if err != nil {
			return fail(goRedisErrorPart(err))
		}
		o.Addresses, o.DB, o.Username, o.Password = []string{so.Addr}, so.DB, so.Username, so.Password
	}

	// go-redis does not look at what a host is made of.
	for _, a := range o.Addresses {
		host, port, err := net.SplitHostPort(a)
		switch {
		case err != nil || host == "":
			return fail("an address is not host:port")
		case net.ParseIP(host) == nil && !hostname(host):
			return fail("the host is not valid")
		case !decimal(port, 1, 65535):
			return fail("the port must be a number between 1 and 65535")
		}
	}
	if o.DB < 0 || o.DB > maxRedisDB {
		return fail(fmt.Sprintf("the database must be a number between 0 and %d", maxRedisDB))
	}
	return o, nil
}

// urlErrorPart names what net/url refused, without its message (which quotes the URL).
func urlErrorPart(s string) string {
	switch {
	case strings.Contains(s, "%"):
		return "not valid percent-encoding"
	default:
		return "the host or port is not valid"
	}
}

// goRedisErrorPart is go-redis's parse error without the value it quotes: "redis: invalid
// database number: \"x\"" becomes "invalid database number".
func goRedisErrorPart(err error) string {
	msg := strings.TrimPrefix(err.Error(), "redis: ")
	msg, _, _ = strings.Cut(msg, ":")
	switch msg {
	case "invalid database number", "invalid URL path", "invalid URL scheme", "unable to parse addr param", "unexpected option":
		return msg
	}
	return "go-redis refused it"
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
