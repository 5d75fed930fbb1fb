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
	"context"
	"errors"
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
			_, err := s.RotateRefresh(ctx, tok.Hash, next, now)
			return err
		}},
		{"LookupRefresh", func(ctx context.Context) error {
			_, err := s.LookupRefresh(ctx, tok.Hash, now)
			return err
		}},
		{"RevokeFamily", func(ctx context.Context) error { return s.RevokeFamily(ctx, tok.Family, now.Add(time.Hour)) }},
		{"RevokeSubject", func(ctx context.Context) error { return s.RevokeSubject(ctx, "alice", now, now.Add(time.Hour)) }},
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
	if _, err := s.RotateRefresh(ctx, a.Hash, store.RefreshToken{Hash: randomHash(t)}, now); err != nil {
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
	if _, err := s.RotateRefresh(ctx, tok.Hash, next, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		"tollgate:{shop/shop-api}:rt:" + tok.Hash, // spent, kept to catch reuse
		"tollgate:{shop/shop-api}:rt:" + next.Hash,
		"tollgate:{shop/shop-api}:family:" + tok.Family,
		"tollgate:{shop/shop-api}:subject:alice",
	} {
		at, err := raw.PExpireTime(ctx, key).Result()
		if err != nil {
			t.Fatalf("PEXPIRETIME %s: %v", key, err)
		}
		if got := time.UnixMilli(int64(at / time.Millisecond)); !got.Equal(time.UnixMilli(expires.UnixMilli())) {
			t.Errorf("%s expires at %s, want the family's end %s", key, got, expires)
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
