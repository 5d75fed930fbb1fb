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

package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// What only the Redis store does: share state between replicas and live through outages.

func TestRedisWatchSeesOtherReplicas(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	mine := newRedis(t, srv, "shop/shop-api")
	peer := newRedis(t, srv, "shop/shop-api")    // another replica: its own client
	stranger := newRedis(t, srv, "shop/billing") // another policy in the same Redis

	w, _ := watch(t, mine)
	w.waitFor(t, 5*time.Second, "resync", func(_ []store.Revocation, resyncs int) bool { return resyncs >= 1 })

	until := time.Now().Add(time.Hour)
	if err := stranger.Revoke(ctx, store.Revocation{Kind: store.RevokedToken, ID: "billing-jti", Until: until}); err != nil {
		t.Fatal(err)
	}
	if err := peer.Revoke(ctx, store.Revocation{Kind: store.RevokedToken, ID: "peer-jti", Until: until}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, time.Second, "revocation from the other replica", func(revoked []store.Revocation, _ int) bool {
		return hasRevocation(revoked, store.RevokedToken, "peer-jti")
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if hasRevocation(w.revoked, store.RevokedToken, "billing-jti") {
		t.Errorf("a revocation of another policy reached this policy's watcher")
	}
}

func TestRedisWatchSurvivesRestart(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	mine := newRedis(t, srv, "shop/shop-api")
	peer := newRedis(t, srv, "shop/shop-api")

	w, _ := watch(t, mine)
	w.waitFor(t, 5*time.Second, "first resync", func(_ []store.Revocation, resyncs int) bool { return resyncs >= 1 })

	srv.Kill()
	// Something happens while Redis is down, and is lost with it.
	time.Sleep(200 * time.Millisecond)
	srv.Restart()

	w.waitFor(t, 15*time.Second, "resync after the restart", func(_ []store.Revocation, resyncs int) bool { return resyncs >= 2 })
	until := time.Now().Add(time.Hour)
	// The peer's pooled connections died with the server; its client's retry covers that.
	if err := peer.Revoke(ctx, store.Revocation{Kind: store.RevokedToken, ID: "after-restart", Until: until}); err != nil {
		t.Fatalf("Revoke after the restart: %v", err)
	}
	w.waitFor(t, 5*time.Second, "revocation after the restart", func(revoked []store.Revocation, _ int) bool {
		return hasRevocation(revoked, store.RevokedToken, "after-restart")
	})
}

func TestRedisUnavailable(t *testing.T) {
	srv := testredis.Start(t)
	s := newRedis(t, srv, "shop/shop-api")
	tok := login(t, s, "alice", time.Now().Add(time.Hour))
	w, cancelWatch := watch(t, s)
	w.waitFor(t, 5*time.Second, "resync", func(_ []store.Revocation, resyncs int) bool { return resyncs >= 1 })

	srv.Kill()

	now := time.Now()
	next := store.RefreshToken{Hash: randomHash(t)}
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"CreateRefresh", func(ctx context.Context) error {
			tok2 := tok
			tok2.Hash = randomHash(t)
			return s.CreateRefresh(ctx, tok2)
		}},
		{"RotateRefresh", func(ctx context.Context) error {
			_, err := s.RotateRefresh(ctx, tok.Hash, next, now, 0)
			return err
		}},
		{"LookupRefresh", func(ctx context.Context) error {
			_, err := s.LookupRefresh(ctx, tok.Hash, now)
			return err
		}},
		{"RevokeFamily", func(ctx context.Context) error { return s.RevokeFamily(ctx, tok.Family, now.Add(time.Hour)) }},
		{"RevokeSubject", func(ctx context.Context) error {
			_, err := s.RevokeSubject(ctx, "alice", now.Add(time.Hour))
			return err
		}},
		{"Revoke", func(ctx context.Context) error {
			return s.Revoke(ctx, store.Revocation{Kind: store.RevokedToken, ID: "j", Until: now.Add(time.Hour)})
		}},
		{"Revocations", func(ctx context.Context) error {
			_, err := s.Revocations(ctx, now)
			return err
		}},
		{"Attempts", func(ctx context.Context) error {
			_, _, err := s.Attempts(ctx, "k")
			return err
		}},
		{"AddAttempt", func(ctx context.Context) error {
			_, _, err := s.AddAttempt(ctx, "k", time.Minute)
			return err
		}},
		{"ReleaseAttempt", func(ctx context.Context) error { return s.ReleaseAttempt(ctx, "k", time.Minute) }},
		{"ClearAttempts", func(ctx context.Context) error { return s.ClearAttempts(ctx, "k") }},
		{"Ping", func(ctx context.Context) error { return s.Ping(ctx) }},
	}
	for _, c := range calls {
		t.Run(c.name+" fails as unavailable", func(t *testing.T) {
			// A guard against hanging, not a timing assertion: the store's own timeouts
			// must end the call first.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := c.call(ctx)
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("got %v, want ErrUnavailable", err)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v: only the test's guard deadline ended the call", err)
			}
			if strings.Contains(err.Error(), tok.Hash) || strings.Contains(err.Error(), next.Hash) {
				t.Errorf("error %q shows a token hash", err)
			}
		})
	}

	t.Run("Watch still returns when its context ends", func(t *testing.T) {
		cancelWatch()
		select {
		case <-w.finished:
		case <-time.After(5 * time.Second):
			t.Fatal("Watch still running 5s after its context ended, with Redis down")
		}
	})
}

func TestRedisKeysCarryThePolicyPrefix(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	s := newRedis(t, srv, "shop/shop-api")
	now := time.Now()
	week := now.Add(7 * 24 * time.Hour)

	a := login(t, s, "alice", week)
	if _, err := s.RotateRefresh(ctx, a.Hash, store.RefreshToken{Hash: randomHash(t)}, now, 0); err != nil {
		t.Fatal(err)
	}
	login(t, s, "bob", week)
	if err := s.Revoke(ctx, store.Revocation{Kind: store.RevokedToken, ID: "jti", Until: week}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddAttempt(ctx, "alice@example.com", time.Hour); err != nil {
		t.Fatal(err)
	}

	var keys []string
	client := srv.Client()
	var cursor uint64
	for {
		batch, next, err := client.Scan(ctx, cursor, "*", 100).Result()
		if err != nil {
			t.Fatalf("SCAN: %v", err)
		}
		keys = append(keys, batch...)
		if cursor = next; cursor == 0 {
			break
		}
	}
	// Tokens (3), families (2), subjects (2), revocations, attempts.
	if len(keys) < 9 {
		t.Errorf("found %d keys, want at least 9: %q", len(keys), keys)
	}
	const prefix = "tollgate:{shop/shop-api}:"
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			t.Errorf("key %q lacks the prefix %q", k, prefix)
		}
		if strings.Contains(k, "alice@example.com") {
			t.Errorf("key %q shows the attempt key in clear", k)
		}
	}
}

func TestRedisSkipsMalformedRevocations(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	s := newRedis(t, srv, "shop/shop-api")
	raw := srv.Client()
	until := time.Now().Add(time.Hour)

	w, _ := watch(t, s)
	w.waitFor(t, 5*time.Second, "resync", func(_ []store.Revocation, resyncs int) bool { return resyncs >= 1 })

	// Whatever reaches Redis from elsewhere must not break the sidecars.
	for _, junk := range []string{"", "not json", `{"kind":"jti"}`, `{"kind":"x","id":"a","until":1}`, strings.Repeat("x", 1<<20)} {
		if err := raw.Publish(ctx, "tollgate:{shop/shop-api}:revocations", junk).Err(); err != nil {
			t.Fatal(err)
		}
		if err := raw.ZAdd(ctx, "tollgate:{shop/shop-api}:revoked", redis.Z{Score: float64(until.UnixMilli()), Member: junk}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	good := store.Revocation{Kind: store.RevokedToken, ID: "good", Until: until}
	if err := s.Revoke(ctx, good); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, 5*time.Second, "the valid revocation after the junk", func(revoked []store.Revocation, _ int) bool {
		return hasRevocation(revoked, store.RevokedToken, "good")
	})
	w.mu.Lock()
	if len(w.revoked) != 1 {
		t.Errorf("watch handed over %v, want only the valid revocation", w.revoked)
	}
	w.mu.Unlock()

	revs, err := s.Revocations(ctx, time.Now())
	if err != nil {
		t.Fatalf("Revocations: %v", err)
	}
	if len(revs) != 1 || revs[0].ID != "good" {
		t.Errorf("Revocations = %v, want only the valid one", revs)
	}
}

func TestRedisTokenLivesAsLongAsItsFamily(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	s := newRedis(t, srv, "shop/shop-api")
	raw := srv.Client()
	expires := time.Now().Add(time.Hour)
	tok := login(t, s, "alice", expires)
	next := store.RefreshToken{Hash: randomHash(t)}
	if _, err := s.RotateRefresh(ctx, tok.Hash, next, time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]time.Time{
		"tollgate:{shop/shop-api}:rt:" + tok.Hash:       expires, // spent, kept to catch reuse
		"tollgate:{shop/shop-api}:rt:" + next.Hash:      expires,
		"tollgate:{shop/shop-api}:family:" + tok.Family: expires,
		// The index outlives the session by as long as its access tokens may.
		"tollgate:{shop/shop-api}:subject:alice": expires.Add(store.SessionIndexRetention),
	} {
		at, err := raw.PExpireTime(ctx, key).Result()
		if err != nil {
			t.Fatalf("PEXPIRETIME %s: %v", key, err)
		}
		if got := time.UnixMilli(int64(at / time.Millisecond)); !got.Equal(time.UnixMilli(want.UnixMilli())) {
			t.Errorf("%s expires at %s, want %s", key, got, want)
		}
	}
}

func TestNewRedisRefusesBadPolicyKeys(t *testing.T) {
	for _, key := range []string{"", "shop", "/api", "shop/", "shop/a/b", "shop/{api}"} {
		client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
		if _, err := store.NewRedis(client, key); err == nil {
			t.Errorf("NewRedis(%q) accepted it", key)
		}
		_ = client.Close()
	}
}

// TestRedisRefusesForgedRecords: whoever can write the policy's keys in Redis but does not
// hold its record key (another tenant sharing the server) cannot mint a session.
func TestRedisRefusesForgedRecords(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	recordKey := bytes.Repeat([]byte{7, 1}, 16)
	open := func(key []byte) *store.Redis {
		s, err := store.OpenRedis(store.RedisOptions{Addresses: []string{srv.Addr()}}, "shop/shop-api", store.WithRecordKey(key))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	s := open(recordKey)
	raw := srv.Client()
	now := time.Now()
	week := now.Add(7 * 24 * time.Hour)
	const prefix = "tollgate:{shop/shop-api}:rt:"

	genuine := login(t, s, "bob", week)
	fields, err := raw.HGetAll(ctx, prefix+genuine.Hash).Result()
	if err != nil || fields["mac"] == "" {
		t.Fatalf("the genuine record %v (%v) carries no mac", fields, err)
	}
	forge := func(t *testing.T, hash string, change map[string]string) {
		t.Helper()
		f := map[string]any{}
		for k, v := range fields {
			f[k] = v
		}
		for k, v := range change {
			f[k] = v
		}
		if err := raw.HSet(ctx, prefix+hash, f).Err(); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(t *testing.T, hash string) {
		t.Helper()
		if _, err := s.LookupRefresh(ctx, hash, now); !errors.Is(err, store.ErrTampered) || !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LookupRefresh(forged) = %v, want ErrTampered (an ErrNotFound)", err)
		}
		if _, err := s.RotateRefresh(ctx, hash, store.RefreshToken{Hash: randomHash(t)}, now, 0); !errors.Is(err, store.ErrTampered) {
			t.Errorf("RotateRefresh(forged) = %v, want ErrTampered", err)
		}
	}

	t.Run("a record written from scratch", func(t *testing.T) {
		hash := randomHash(t)
		forge(t, hash, map[string]string{"subject": "alice", "role": "admin", "family": "forged", "mac": strings.Repeat("0", 64)})
		refused(t, hash)
	})
	t.Run("a genuine record copied under another token", func(t *testing.T) {
		hash := randomHash(t)
		forge(t, hash, nil)
		refused(t, hash)
	})
	t.Run("a genuine record with its role changed", func(t *testing.T) {
		victim := login(t, s, "carol", week)
		if err := raw.HSet(ctx, prefix+victim.Hash, "role", "admin").Err(); err != nil {
			t.Fatal(err)
		}
		refused(t, victim.Hash)
	})
	t.Run("a record without a mac", func(t *testing.T) {
		hash := randomHash(t)
		forge(t, hash, nil)
		if err := raw.HDel(ctx, prefix+hash, "mac").Err(); err != nil {
			t.Fatal(err)
		}
		refused(t, hash)
	})
	t.Run("a forged spent record does not revoke the session it names", func(t *testing.T) {
		hash := randomHash(t)
		forge(t, hash, map[string]string{"next": randomHash(t), "spent": "1"})
		if _, err := s.RotateRefresh(ctx, hash, store.RefreshToken{Hash: randomHash(t)}, now, 0); !errors.Is(err, store.ErrTampered) {
			t.Errorf("RotateRefresh(forged spent record) = %v, want ErrTampered", err)
		}
		if _, err := s.LookupRefresh(ctx, genuine.Hash, now); err != nil {
			t.Errorf("the genuine session is gone after a forged reuse: %v", err)
		}
	})
	t.Run("a replica with another record key refuses the records", func(t *testing.T) {
		other := open(bytes.Repeat([]byte{9, 3}, 16))
		if _, err := other.LookupRefresh(ctx, genuine.Hash, now); !errors.Is(err, store.ErrTampered) {
			t.Errorf("LookupRefresh with another key = %v, want ErrTampered", err)
		}
	})
	t.Run("the genuine record and its successors are accepted", func(t *testing.T) {
		next := store.RefreshToken{Hash: randomHash(t)}
		if _, err := s.RotateRefresh(ctx, genuine.Hash, next, now, 0); err != nil {
			t.Fatalf("RotateRefresh(genuine): %v", err)
		}
		same := open(recordKey) // another replica with the same key
		got, err := same.LookupRefresh(ctx, next.Hash, now)
		if err != nil || got.Subject != "bob" {
			t.Fatalf("LookupRefresh(successor) on another replica = %+v, %v", got, err)
		}
		if _, err := same.RotateRefresh(ctx, next.Hash, store.RefreshToken{Hash: randomHash(t)}, now, 0); err != nil {
			t.Errorf("RotateRefresh(successor) on another replica: %v", err)
		}
	})
}

// TestRedisWorksUnderAPerPolicyACL runs a policy's store as a Redis user that may touch
// only that policy's keys and channel: the ACL the README recommends, so that one tenant's
// credentials cannot write, delete or revoke another policy's sessions.
func TestRedisWorksUnderAPerPolicyACL(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	admin := srv.Client()
	// The README's example, word for word.
	acl := []any{"ACL", "SETUSER", "tollgate-shop-shop-api", "on", ">s3cret", "resetkeys", "resetchannels",
		"~tollgate:{shop/shop-api}:*", "&tollgate:{shop/shop-api}:revocations",
		"-@all", "+@connection", "+evalsha", "+eval", "+subscribe", "+publish", "+ssubscribe", "+spublish",
		"+get", "+incr", "+del", "+exists", "+pexpire", "+pexpireat", "+pttl",
		"+hget", "+hmget", "+hset", "+hdel", "+sadd", "+srem", "+smembers",
		"+zadd", "+zrange", "+zrangebyscore", "+zremrangebyscore"}
	if err := admin.Do(ctx, acl...).Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	s, err := store.OpenRedis(store.RedisOptions{Addresses: []string{srv.Addr()}, Username: "tollgate-shop-shop-api", Password: "s3cret"}, "shop/shop-api")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	now := time.Now()
	week := now.Add(7 * 24 * time.Hour)

	w, _ := watch(t, s)
	w.waitFor(t, 5*time.Second, "resync", func(_ []store.Revocation, resyncs int) bool { return resyncs >= 1 })
	tok := login(t, s, "alice", week)
	next := store.RefreshToken{Hash: randomHash(t)}
	if _, err := s.RotateRefresh(ctx, tok.Hash, next, now, 0); err != nil {
		t.Fatalf("RotateRefresh under the ACL: %v", err)
	}
	if _, err := s.LookupRefresh(ctx, next.Hash, now); err != nil {
		t.Fatalf("LookupRefresh under the ACL: %v", err)
	}
	if _, _, err := s.AddAttempt(ctx, "alice@example.com", time.Minute); err != nil {
		t.Fatalf("AddAttempt under the ACL: %v", err)
	}
	if _, _, err := s.Attempts(ctx, "alice@example.com"); err != nil {
		t.Fatalf("Attempts under the ACL: %v", err)
	}
	if err := s.ClearAttempts(ctx, "alice@example.com"); err != nil {
		t.Fatalf("ClearAttempts under the ACL: %v", err)
	}
	if err := s.Revoke(ctx, store.Revocation{Kind: store.RevokedToken, ID: "jti", Until: week}); err != nil {
		t.Fatalf("Revoke under the ACL: %v", err)
	}
	if _, err := s.RevokeSubject(ctx, "alice", week); err != nil {
		t.Fatalf("RevokeSubject under the ACL: %v", err)
	}
	if _, err := s.Revocations(ctx, now); err != nil {
		t.Fatalf("Revocations under the ACL: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping under the ACL: %v", err)
	}
	w.waitFor(t, 5*time.Second, "the revocations published under the ACL", func(revoked []store.Revocation, _ int) bool {
		return hasRevocation(revoked, store.RevokedToken, "jti") && hasRevocation(revoked, store.RevokedSession, tok.Family)
	})

	// The same user cannot touch another policy's keys or channel.
	tenant := redis.NewClient(&redis.Options{Addr: srv.Addr(), Username: "tollgate-shop-shop-api", Password: "s3cret"})
	t.Cleanup(func() { _ = tenant.Close() })
	for name, err := range map[string]error{
		"write another policy's record":       tenant.HSet(ctx, "tollgate:{shop/billing}:rt:"+randomHash(t), "subject", "42").Err(),
		"delete another policy's keys":        tenant.Del(ctx, "tollgate:{shop/billing}:revoked").Err(),
		"script on another policy's key":      tenant.Eval(ctx, "return redis.call('SET', KEYS[1], 'x')", []string{"tollgate:{shop/billing}:x"}).Err(),
		"publish on another policy's channel": tenant.Publish(ctx, "tollgate:{shop/billing}:revocations", "{}").Err(),
	} {
		if err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("%s: %v, want NOPERM", name, err)
		}
	}
}

// The list is read in pages of 5000 by score: entries of equal score across a page's end
// (a subject's sessions all end together) are neither lost nor mixed up.
func TestRedisRevocationsAreReadInPages(t *testing.T) {
	srv := testredis.Start(t)
	s := newRedis(t, srv, "shop/shop-api")
	ctx := context.Background()
	base := time.Now().Add(time.Hour).UnixMilli()
	const n = 12_345
	pipe := srv.Client().Pipeline()
	for i := range n {
		until := base + int64(i/11000) // a run of 11000 equal scores, over two pages, and a tail
		pipe.ZAdd(ctx, "tollgate:{shop/shop-api}:revoked", redis.Z{
			Score:  float64(until),
			Member: fmt.Sprintf(`{"kind":"jti","id":"id-%d","issuedBefore":0,"until":%d}`, i, until),
		})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Revocations(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range got {
		seen[r.ID] = true
	}
	if len(got) != n || len(seen) != n {
		t.Fatalf("%d revocations read, %d distinct; want %d", len(got), len(seen), n)
	}

	// RevocationPages hands the same entries over a page at a time, never more at once.
	clear(seen)
	pages, total := 0, 0
	err = s.RevocationPages(ctx, time.Now(), func(page []store.Revocation) {
		pages++
		total += len(page)
		if len(page) > 5000 {
			t.Errorf("a page of %d, more than 5000", len(page))
		}
		for _, r := range page {
			seen[r.ID] = true
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages != 3 || total != n || len(seen) != n {
		t.Errorf("%d pages, %d revocations, %d distinct; want 3 pages of %d distinct", pages, total, len(seen), n)
	}
}
