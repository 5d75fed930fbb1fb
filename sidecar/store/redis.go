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
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store shared by every replica of one policy through Redis: a single server,
// a Sentinel group or a Redis Cluster.
//
// Keys, all in one hash slot (P is "tollgate:{<namespace>/<policy>}"):
//
//	P:rt:<hash>           hash   one refresh token (fields subject role family parent iat exp,
//	                             and next and spent once spent), expiring with its family
//	P:family:<family>     set    hashes of the family's tokens, spent ones included
//	P:subject:<subject>   zset   the subject's families, scored by their end (ms), kept
//	                             SessionIndexRetention past it
//	P:revoked             zset   revocations (JSON, see wireRevocation), scored by Until (ms)
//	P:attempts:<sha256>   string attempt counter, expiring with its window; the name holds
//	                             the hex SHA-256 of the caller's key
//
// Revocations are published on the channel P:revocations.
//
// Every refresh token record carries "mac", an HMAC-SHA256 under the policy's record key of
// the token's hash and every other field but next and spent (see recordMAC): a record that
// does not verify is refused as ErrTampered, so whoever can write the policy's keys without
// the record key cannot mint a session. They can still delete and revoke (see the README on
// per-policy ACLs).
type Redis struct {
	client    redis.UniversalClient
	prefix    string
	channel   string
	log       *slog.Logger
	recordKey []byte
	// now is the store's clock, as Memory's: what has ended, and when a token was issued.
	now func() time.Time
	// waitReplicas is how many replicas a write waits for (WithWaitReplicas).
	waitReplicas int

	// healthEvery is how long Watch waits in silence before it pings its connection.
	healthEvery time.Duration
	// retryMin and retryMax bound Watch's wait between reconnection attempts.
	retryMin, retryMax time.Duration

	// shardMu guards what publishCommand found out.
	shardMu    sync.Mutex
	shardKnown bool
	sharded    bool

	mu       sync.Mutex
	closed   bool
	closeCtx context.Context // ended by Close, which ends every Watch
	closeAll context.CancelFunc
	watchers sync.WaitGroup
}

// RedisOption changes a Redis store.
type RedisOption func(*Redis)

// WithLogger sets where Watch reports losing and finding Redis again, and payloads it
// refused. The default (and nil) is slog.Default().
func WithLogger(l *slog.Logger) RedisOption {
	return func(s *Redis) {
		if l != nil {
			s.log = l
		}
	}
}

// WithRecordKey sets the key that authenticates refresh token records: every replica of
// the policy must have the same one. Without it, NewRedis generates one, which only this
// store knows: records written by any other process are then refused.
func WithRecordKey(k []byte) RedisOption {
	return func(s *Redis) {
		if len(k) > 0 {
			s.recordKey = bytes.Clone(k)
		}
	}
}

// WithClock sets the store's clock (default time.Now): the instant a revocation, a token or
// a session index entry is judged against. Memory takes the same with NewMemoryWithClock.
func WithClock(now func() time.Time) RedisOption {
	return func(s *Redis) {
		if now != nil {
			s.now = now
		}
	}
}

var (
	_ Store           = (*Redis)(nil)
	_ RevocationPager = (*Redis)(nil)
)

// NewRedis returns the store of the policy policyKey ("<namespace>/<policy>") in the Redis
// reached by client. The store owns the client: Close closes it.
func NewRedis(client redis.UniversalClient, policyKey string, opts ...RedisOption) (*Redis, error) {
	if client == nil {
		return nil, errors.New("store: NewRedis needs a client")
	}
	if err := checkPolicyKey(policyKey); err != nil {
		return nil, err
	}
	prefix := "tollgate:{" + policyKey + "}"
	s := &Redis{
		client:      client,
		prefix:      prefix,
		channel:     prefix + ":revocations",
		log:         slog.Default(),
		now:         time.Now,
		healthEvery: 15 * time.Second,
		retryMin:    100 * time.Millisecond,
		retryMax:    time.Second, // bounds how long a replica misses revocations after Redis returns
	}
	s.closeCtx, s.closeAll = context.WithCancel(context.Background())
	for _, o := range opts {
		o(s)
	}
	if s.recordKey == nil {
		s.recordKey = make([]byte, 32)
		_, _ = rand.Read(s.recordKey)
	}
	return s, nil
}

// OpenRedis connects to the Redis that o describes (see NewRedisClient) and returns the
// store of the policy policyKey in it. It does not wait for Redis: use Ping for that.
func OpenRedis(o RedisOptions, policyKey string, opts ...RedisOption) (*Redis, error) {
	if err := checkPolicyKey(policyKey); err != nil {
		return nil, err
	}
	client, err := NewRedisClient(o)
	if err != nil {
		return nil, err
	}
	return NewRedis(client, policyKey, append([]RedisOption{WithWaitReplicas(o.WaitReplicas)}, opts...)...)
}

// checkPolicyKey accepts "<namespace>/<policy>". Braces would break the hash tag.
func checkPolicyKey(k string) error {
	ns, name, ok := strings.Cut(k, "/")
	if !ok || ns == "" || name == "" || strings.ContainsAny(k, "{}") || strings.Contains(name, "/") {
		return fmt.Errorf("store: policy key %q must be <namespace>/<policy>", k)
	}
	return nil
}

func (s *Redis) tokenKey(hash string) string      { return s.prefix + ":rt:" + hash }
func (s *Redis) familyKey(family string) string   { return s.prefix + ":family:" + family }
func (s *Redis) subjectKey(subject string) string { return s.prefix + ":subject:" + subject }
func (s *Redis) revokedKey() string               { return s.prefix + ":revoked" }
func (s *Redis) attemptsKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return s.prefix + ":attempts:" + hex.EncodeToString(sum[:])
}

// unavailable wraps a failure to get an answer from Redis. The operation names what was
// being done, never which token.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
}

// unavailable is the package's unavailable, and on a Cluster it has the client look up the
// slots again: the node that failed may have been replaced (go-redis would otherwise keep
// its map for up to ten seconds, and every call to the slot would fail meanwhile).
func (s *Redis) unavailable(op string, err error) error {
	if cc, ok := s.client.(*redis.ClusterClient); ok && !errors.Is(err, context.Canceled) {
		cc.ReloadState(context.Background())
	}
	return unavailable(op, err)
}

func msArg(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// recordMAC authenticates a refresh token record of this policy: its hash (so a genuine
// record copied under another token's name does not verify) and every field refresh
// trusts. Each part is length-prefixed, so no two records encode alike.
func (s *Redis) recordMAC(t RefreshToken) string {
	m := hmac.New(sha256.New, s.recordKey)
	var n [4]byte
	for _, part := range []string{"tollgate refresh token v1", s.prefix, t.Hash, t.Subject, t.Role, t.Family, t.Parent, msArg(t.IssuedAt), msArg(t.ExpiresAt)} {
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		m.Write(n[:])
		m.Write([]byte(part))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// checkMAC reports whether mac is the record's.
func (s *Redis) checkMAC(t RefreshToken, mac string) bool {
	return hmac.Equal([]byte(mac), []byte(s.recordMAC(t)))
}

// CreateRefresh implements Store. Creating the same token twice (same hash and family) is
// harmless, so the client's retries are safe.
func (s *Redis) CreateRefresh(ctx context.Context, t RefreshToken) error {
	if err := checkNewToken(t); err != nil {
		return err
	}
	now := s.now()
	if t.IssuedAt.IsZero() {
		t.IssuedAt = now
	}
	res, err := s.runWrite(ctx, createScript,
		[]string{s.tokenKey(t.Hash), s.familyKey(t.Family), s.subjectKey(t.Subject)},
		t.Hash, t.Subject, t.Role, t.Family, t.Parent, msArg(t.IssuedAt), msArg(t.ExpiresAt), msArg(now),
		SessionIndexRetention.Milliseconds(), s.recordMAC(t),
	).Int()
	if err != nil {
		return s.unavailable("create refresh token", err)
	}
	if res == 0 {
		return errors.New("store: a refresh token with this hash already exists")
	}
	return nil
}

// RotateRefresh implements Store. It reads the old record first, to check its MAC and to
// authenticate the successor's, then rotates in one script that refuses a record changed
// in between.
func (s *Redis) RotateRefresh(ctx context.Context, oldHash string, next RefreshToken, now time.Time, reuseInterval time.Duration) (RefreshToken, error) {
	if err := checkRotation(oldHash, next); err != nil {
		return RefreshToken{}, err
	}
	if next.IssuedAt.IsZero() {
		next.IssuedAt = now
	}
	old, mac, _, err := s.readRecord(ctx, oldHash, now)
	if err != nil {
		return RefreshToken{}, err
	}
	successor := RefreshToken{
		Hash: next.Hash, Subject: old.Subject, Role: old.Role, Family: old.Family, Parent: oldHash,
		IssuedAt: ms(next.IssuedAt), ExpiresAt: old.ExpiresAt,
	}
	pub, err := s.publishCommand(ctx)
	if err != nil {
		return RefreshToken{}, s.unavailable("rotate refresh token", err)
	}
	res, err := s.runWrite(ctx, rotateScript,
		[]string{s.tokenKey(oldHash), s.tokenKey(next.Hash), s.revokedKey()},
		s.prefix, s.channel, oldHash, next.Hash, msArg(next.IssuedAt), msArg(now), max(reuseInterval, 0).Milliseconds(),
		mac, s.recordMAC(successor), pub,
	).StringSlice()
	if errors.Is(err, errNotReplicated) {
		// Not acknowledged: take it back, so that the client's retry with the old token
		// is not reuse. Best effort; the rotation may survive on the master. Undoing
		// what the script did not do (a retry, reuse) changes nothing.
		_ = s.UndoRotation(ctx, oldHash, next.Hash)
	}
	if err != nil {
		return RefreshToken{}, s.unavailable("rotate refresh token", err)
	}
	switch {
	case len(res) == 1 && res[0] == "notfound":
		return RefreshToken{}, ErrNotFound
	case len(res) == 1 && res[0] == "changed":
		return RefreshToken{}, ErrTampered
	case len(res) == 1 && res[0] == "taken":
		return RefreshToken{}, errors.New("store: a refresh token with the next hash already exists")
	case len(res) != 7 || (res[0] != "ok" && res[0] != "reused"):
		return RefreshToken{}, s.unavailable("rotate refresh token", errors.New("unexpected reply"))
	}
	got, err := tokenFromFields(oldHash, res[1:])
	if err != nil || !s.checkMAC(got, mac) {
		// The fields changed under an unchanged MAC between the read and the script.
		return RefreshToken{}, ErrTampered
	}
	if res[0] == "reused" {
		return got, ErrReused
	}
	return got, nil
}

// readRecord reads a refresh token record, spent or not, checks its MAC and says whether
// it is spent. A missing or expired one is ErrNotFound, one that does not verify
// ErrTampered.
func (s *Redis) readRecord(ctx context.Context, hash string, now time.Time) (t RefreshToken, mac string, spent bool, err error) {
	vals, err := s.client.HMGet(ctx, s.tokenKey(hash), "subject", "role", "family", "parent", "iat", "exp", "mac", "next").Result()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return RefreshToken{}, "", false, ErrNotFound
		}
		return RefreshToken{}, "", false, s.unavailable("read refresh token", err)
	}
	if len(vals) != 8 || vals[2] == nil {
		return RefreshToken{}, "", false, ErrNotFound
	}
	f := make([]string, 7)
	for i := range f {
		f[i], _ = vals[i].(string)
	}
	t, err = tokenFromFields(hash, f[:6])
	if err != nil || !s.checkMAC(t, f[6]) {
		return RefreshToken{}, "", false, ErrTampered
	}
	if !t.ExpiresAt.After(now) {
		return RefreshToken{}, "", false, ErrNotFound
	}
	return t, f[6], vals[7] != nil, nil
}

// UndoRotation implements Store.
func (s *Redis) UndoRotation(ctx context.Context, oldHash, nextHash string) error {
	if !validHash(oldHash) || !validHash(nextHash) {
		return nil
	}
	err := undoRotationScript.Run(ctx, s.client,
		[]string{s.tokenKey(oldHash), s.tokenKey(nextHash)},
		s.prefix, oldHash, nextHash,
	).Err()
	if err != nil {
		return s.unavailable("undo refresh rotation", err)
	}
	return nil
}

// tokenFromFields reads subject, role, family, parent, iat, exp.
func tokenFromFields(hash string, f []string) (RefreshToken, error) {
	iat, err1 := strconv.ParseInt(f[4], 10, 64)
	exp, err2 := strconv.ParseInt(f[5], 10, 64)
	if err1 != nil || err2 != nil {
		return RefreshToken{}, errors.New("malformed refresh token record")
	}
	return RefreshToken{
		Hash:      hash,
		Subject:   f[0],
		Role:      f[1],
		Family:    f[2],
		Parent:    f[3],
		IssuedAt:  time.UnixMilli(iat),
		ExpiresAt: time.UnixMilli(exp),
	}, nil
}

// LookupRefresh implements Store.
func (s *Redis) LookupRefresh(ctx context.Context, hash string, now time.Time) (RefreshToken, error) {
	if !validHash(hash) {
		return RefreshToken{}, ErrNotFound
	}
	t, _, spent, err := s.readRecord(ctx, hash, now)
	switch {
	case err != nil:
		return RefreshToken{}, err
	case spent:
		return RefreshToken{}, ErrNotFound
	}
	return t, nil
}

// RevokeFamily implements Store.
func (s *Redis) RevokeFamily(ctx context.Context, family string, until time.Time) error {
	if !validID(family) {
		return fmt.Errorf("store: family must be 1 to %d bytes of UTF-8", maxIDLen)
	}
	pub, err := s.publishCommand(ctx)
	if err == nil {
		err = s.runWrite(ctx, revokeFamilyScript,
			[]string{s.familyKey(family), s.revokedKey()},
			s.prefix, s.channel, family, msArg(until), msArg(s.now()), pub,
		).Err()
	}
	if err != nil {
		return s.unavailable("revoke refresh family", err)
	}
	return nil
}

// RevokeSubject implements Store.
func (s *Redis) RevokeSubject(ctx context.Context, subject string, until time.Time) ([]Revocation, error) {
	if err := checkSubjectRevocation(subject, until); err != nil {
		return nil, err
	}
	pub, err := s.publishCommand(ctx)
	if err != nil {
		return nil, s.unavailable("revoke subject", err)
	}
	families, err := s.runWrite(ctx, revokeSubjectScript,
		[]string{s.subjectKey(subject), s.revokedKey()},
		s.prefix, s.channel, msArg(until), msArg(s.now()), SessionIndexRetention.Milliseconds(), pub,
	).StringSlice()
	if err != nil {
		return nil, s.unavailable("revoke subject", err)
	}
	out := make([]Revocation, 0, len(families))
	for _, f := range families {
		out = append(out, Revocation{Kind: RevokedSession, ID: f, Until: ms(until)})
	}
	return out, nil
}

// Revoke implements Store.
func (s *Redis) Revoke(ctx context.Context, r Revocation) error {
	if err := checkRevocation(r); err != nil {
		return err
	}
	issuedBefore := "0"
	if r.Kind == RevokedSubject {
		issuedBefore = msArg(r.IssuedBefore)
	}
	pub, err := s.publishCommand(ctx)
	if err == nil {
		err = s.runWrite(ctx, revokeScript,
			[]string{s.revokedKey()},
			s.channel, string(r.Kind), r.ID, issuedBefore, msArg(r.Until), msArg(s.now()), pub,
		).Err()
	}
	if err != nil {
		return s.unavailable("revoke", err)
	}
	return nil
}

// revocationPage is how many revocations one read of the list returns: a page comes back
// well within redisReadTimeout, where 100,000 entries in one reply do not.
const revocationPage = 5000

// Revocations implements Store, ordered by Until, read in pages of revocationPage. An entry
// that does not decode is skipped and logged: one bad entry must not hide the others.
//
// Pages go by score (Until) with an offset among the entries of equal score: entries are
// only ever removed below now, outside the range read, so no entry stored when the read
// starts is skipped; one added meanwhile can make another come twice (which merging makes
// harmless), and may itself be missed when it lands at or below a score already read: Watch
// delivers it (its publication), and every (re)subscription of Watch is followed by a
// reload, so a read that began before the subscription is read again. (ZRANGEBYSCORE
// rather than ZSCAN: the per-policy ACL of the README allows it.)
func (s *Redis) Revocations(ctx context.Context, now time.Time) ([]Revocation, error) {
	var out []Revocation
	err := s.RevocationPages(ctx, now, func(page []Revocation) { out = append(out, page...) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RevocationPages implements RevocationPager: Revocations, handed over a page at a time
// (the slice is reused for the next page), so that a caller merging them never holds the
// whole list twice.
func (s *Redis) RevocationPages(ctx context.Context, now time.Time, each func([]Revocation)) error {
	out := make([]Revocation, 0, revocationPage)
	lo, offset := "("+msArg(now), int64(0)
	for {
		page, err := s.client.ZRangeByScoreWithScores(ctx, s.revokedKey(), &redis.ZRangeBy{
			Min: lo, Max: "+inf", Offset: offset, Count: revocationPage,
		}).Result()
		if err != nil {
			return s.unavailable("list revocations", err)
		}
		out = out[:0]
		for _, z := range page {
			p, _ := z.Member.(string)
			r, err := decodeRevocation(p)
			if err != nil {
				s.log.Warn("store: skipping a stored revocation", "error", err)
				continue
			}
			out = append(out, r)
		}
		if len(out) > 0 {
			each(out)
		}
		if len(page) < revocationPage {
			return nil
		}
		last := page[len(page)-1].Score
		same := int64(0)
		for i := len(page) - 1; i >= 0 && page[i].Score == last; i-- {
			same++
		}
		if next := strconv.FormatFloat(last, 'f', -1, 64); next == lo {
			offset += same
		} else {
			lo, offset = next, same
		}
	}
}

// Attempts implements Store.
func (s *Redis) Attempts(ctx context.Context, key string) (int, time.Duration, error) {
	res, err := attemptsScript.Run(ctx, s.client, []string{s.attemptsKey(key)}).Int64Slice()
	if err != nil {
		return 0, 0, s.unavailable("read attempts", err)
	}
	return countAndWindow(res)
}

// AddAttempt implements Store.
func (s *Redis) AddAttempt(ctx context.Context, key string, window time.Duration) (int, time.Duration, error) {
	if err := checkWindow(window); err != nil {
		return 0, 0, err
	}
	res, err := addAttemptScript.Run(ctx, s.client, []string{s.attemptsKey(key)}, window.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, 0, s.unavailable("add attempt", err)
	}
	return countAndWindow(res)
}

func countAndWindow(res []int64) (int, time.Duration, error) {
	if len(res) != 2 {
		return 0, 0, unavailable("attempts", errors.New("unexpected reply"))
	}
	return int(res[0]), time.Duration(res[1]) * time.Millisecond, nil
}

// ReleaseAttempt implements Store.
func (s *Redis) ReleaseAttempt(ctx context.Context, key string, left time.Duration) error {
	if left <= 0 {
		return nil
	}
	if err := releaseAttemptScript.Run(ctx, s.client, []string{s.attemptsKey(key)}, (left + ReleaseSlack).Milliseconds()).Err(); err != nil {
		return s.unavailable("release attempt", err)
	}
	return nil
}

// ClearAttempts implements Store.
func (s *Redis) ClearAttempts(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, s.attemptsKey(key)).Err(); err != nil {
		return s.unavailable("clear attempts", err)
	}
	return nil
}

// Ping implements Store.
func (s *Redis) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return s.unavailable("ping", err)
	}
	return nil
}

// Close stops every Watch, waits for them to return, and closes the client.
func (s *Redis) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.closeAll()
	s.mu.Unlock()
	s.watchers.Wait()
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("store: close redis client: %w", err)
	}
	return nil
}

// Watch implements Store. It subscribes to the policy's channel (sharded, on a Cluster that
// has sharded pub/sub: see publishCommand) and calls onResync on every (re)subscription, the
// first one included: go-redis reconnects and resubscribes by itself after a failure, and
// whatever was published meanwhile is lost, so the caller reloads. A connection that stays
// silent is pinged, and replaced when the ping goes unanswered, so a peer that vanished
// without closing the connection is noticed too; so is a sharded subscription the server
// ended because the channel's slot moved to another node.
func (s *Redis) Watch(ctx context.Context, onRevoke func(Revocation), onResync func()) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.watchers.Add(1)
	s.mu.Unlock()
	defer s.watchers.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.closeCtx, cancel)()

	// ps is replaced when a connection is given up; closing it unblocks Receive. It is nil
	// while no subscription could be made (Redis unreachable before the first one).
	var (
		psMu sync.Mutex
		ps   *redis.PubSub
	)
	setPubSub := func(p *redis.PubSub) {
		psMu.Lock()
		if ps != nil {
			_ = ps.Close()
		}
		ps = p
		psMu.Unlock()
	}
	defer setPubSub(nil)
	// Only this goroutine sets ps; the end of ctx closes the current one to unblock Receive.
	defer context.AfterFunc(ctx, func() {
		psMu.Lock()
		if ps != nil {
			_ = ps.Close()
		}
		psMu.Unlock()
	})()

	var (
		pinged  bool // a ping is out and nothing has come back since
		down    bool // receiving fails; logged once per outage
		backoff = s.retryMin
	)
	for {
		var (
			msg any
			err error
		)
		if ps == nil {
			var p *redis.PubSub
			if p, err = s.subscribe(ctx); err == nil {
				setPubSub(p)
				pinged = false
				continue
			}
		} else {
			msg, err = ps.ReceiveTimeout(ctx, s.healthEvery)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil && !down && isTimeout(err) {
			if pinged {
				// The ping went unanswered: start over on a new connection.
				setPubSub(nil)
				continue
			}
			if err = ps.Ping(ctx); err == nil {
				pinged = true
				continue
			}
		}
		if err != nil {
			if !down {
				s.log.Warn("store: revocation watch lost redis, retrying", "error", err)
				down = true
			}
			if cc, ok := s.client.(*redis.ClusterClient); ok {
				// The channel's node may have failed over: look up the slots again.
				cc.ReloadState(ctx)
			}
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, s.retryMax)
			continue
		}
		if down {
			s.log.Info("store: revocation watch reached redis again")
			down = false
		}
		pinged, backoff = false, s.retryMin
		switch m := msg.(type) {
		case *redis.Subscription:
			switch m.Kind {
			case "subscribe", "ssubscribe":
				onResync()
			case "sunsubscribe":
				// The server dropped the sharded subscription (the slot moved): subscribe
				// again where the slot is now, which resyncs.
				if cc, ok := s.client.(*redis.ClusterClient); ok {
					cc.ReloadState(ctx)
				}
				setPubSub(nil)
			}
		case *redis.Message:
			r, err := decodeRevocation(m.Payload)
			if err != nil {
				s.log.Warn("store: dropping a malformed revocation message", "error", err)
				continue
			}
			onRevoke(r)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sleepCtx waits d or until ctx ends, and reports whether it waited the whole d.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
