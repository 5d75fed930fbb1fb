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
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// The same suite runs against every Store: the sidecar must not care which one it has.

func TestMemoryStore(t *testing.T) {
	testStore(t, func(t *testing.T) store.Store { return newMemory(t) })
}

// TestRedisStore runs the suite against one redis-server, a Sentinel group and a Redis
// Cluster.
func TestRedisStore(t *testing.T) {
	testredis.Each(t, func(t *testing.T, d testredis.Deployment) {
		var n atomic.Int64
		testStore(t, func(t *testing.T) store.Store {
			// One policy per test: the prefix keeps them apart in one deployment (and on
			// different slots of a Cluster).
			return newRedis(t, d, fmt.Sprintf("shop/policy-%d", n.Add(1)))
		})
	})
}

// testStore runs the contract of store.Store against fresh stores from newStore.
func testStore(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	// Times are whole milliseconds, as both stores keep them.
	now := time.UnixMilli(time.Now().UnixMilli())
	week := now.Add(7 * 24 * time.Hour)

	t.Run("a created token can be looked up", func(t *testing.T) {
		s := newStore(t)
		tok := login(t, s, "alice", week)
		got, err := s.LookupRefresh(ctx, tok.Hash, now)
		if err != nil {
			t.Fatalf("LookupRefresh: %v", err)
		}
		assertToken(t, got, tok)
	})

	t.Run("rotation spends the old token and the next one inherits the family", func(t *testing.T) {
		s := newStore(t)
		first := login(t, s, "alice", week)
		next := store.RefreshToken{
			Hash:    randomHash(t),
			Subject: "mallory", Role: "admin", Family: "other", Parent: randomHash(t),
			IssuedAt:  now.Add(time.Minute),
			ExpiresAt: now.Add(100 * 24 * time.Hour),
		}
		old, err := s.RotateRefresh(ctx, first.Hash, next, now, 0)
		if err != nil {
			t.Fatalf("RotateRefresh: %v", err)
		}
		assertToken(t, old, first)

		got, err := s.LookupRefresh(ctx, next.Hash, now)
		if err != nil {
			t.Fatalf("LookupRefresh(next): %v", err)
		}
		assertToken(t, got, store.RefreshToken{
			Hash: next.Hash, Subject: first.Subject, Role: first.Role, Family: first.Family,
			Parent: first.Hash, IssuedAt: next.IssuedAt, ExpiresAt: first.ExpiresAt,
		})
		if _, err := s.LookupRefresh(ctx, first.Hash, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LookupRefresh(spent) = %v, want ErrNotFound", err)
		}
	})

	t.Run("rotating again with the same next token is a harmless retry", func(t *testing.T) {
		s := newStore(t)
		first := login(t, s, "alice", week)
		next := store.RefreshToken{Hash: randomHash(t), IssuedAt: now}
		for i := range 2 {
			if _, err := s.RotateRefresh(ctx, first.Hash, next, now, 0); err != nil {
				t.Fatalf("RotateRefresh #%d: %v", i+1, err)
			}
		}
		if _, err := s.LookupRefresh(ctx, next.Hash, now); err != nil {
			t.Errorf("LookupRefresh(next) after a retried rotation: %v", err)
		}
	})

	t.Run("creating the same token twice is a harmless retry, another family cannot take its hash", func(t *testing.T) {
		s := newStore(t)
		tok := login(t, s, "alice", week)
		if err := s.CreateRefresh(ctx, tok); err != nil {
			t.Errorf("CreateRefresh again: %v", err)
		}
		other := tok
		other.Family = "another-family"
		err := s.CreateRefresh(ctx, other)
		if err == nil || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("CreateRefresh with a taken hash = %v, want a caller error", err)
		}
	})

	t.Run("an unknown token is not found", func(t *testing.T) {
		s := newStore(t)
		for _, hash := range []string{randomHash(t), "not-a-hash", ""} {
			if _, err := s.LookupRefresh(ctx, hash, now); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("LookupRefresh(%q) = %v, want ErrNotFound", hash, err)
			}
			next := store.RefreshToken{Hash: randomHash(t)}
			if _, err := s.RotateRefresh(ctx, hash, next, now, 0); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("RotateRefresh(%q) = %v, want ErrNotFound", hash, err)
			}
		}
	})

	t.Run("an expired token is not found", func(t *testing.T) {
		s := newStore(t)
		tok := login(t, s, "alice", now.Add(time.Hour))
		later := now.Add(2 * time.Hour)
		if _, err := s.LookupRefresh(ctx, tok.Hash, later); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LookupRefresh after expiry = %v, want ErrNotFound", err)
		}
		if _, err := s.RotateRefresh(ctx, tok.Hash, store.RefreshToken{Hash: randomHash(t)}, later, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RotateRefresh after expiry = %v, want ErrNotFound", err)
		}

		gone := login(t, s, "alice", now.Add(-time.Second))
		if _, err := s.LookupRefresh(ctx, gone.Hash, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LookupRefresh of a token created expired = %v, want ErrNotFound", err)
		}
	})

	t.Run("reusing a spent token revokes its whole family", func(t *testing.T) {
		s := newStore(t)
		first := login(t, s, "alice", week)
		sibling := login(t, s, "alice", week) // another login of the same user
		second := store.RefreshToken{Hash: randomHash(t)}
		if _, err := s.RotateRefresh(ctx, first.Hash, second, now, 0); err != nil {
			t.Fatalf("RotateRefresh: %v", err)
		}
		old, err := s.RotateRefresh(ctx, first.Hash, store.RefreshToken{Hash: randomHash(t)}, now, 0)
		if !errors.Is(err, store.ErrReused) {
			t.Fatalf("RotateRefresh(spent) = %v, want ErrReused", err)
		}
		if old.Subject != "alice" || old.Family != first.Family {
			t.Errorf("RotateRefresh(spent) returned %+v, want the spent token", old)
		}
		if _, err := s.LookupRefresh(ctx, second.Hash, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LookupRefresh(newest of the family) = %v, want ErrNotFound", err)
		}
		if _, err := s.RotateRefresh(ctx, second.Hash, store.RefreshToken{Hash: randomHash(t)}, now, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RotateRefresh(newest of the family) = %v, want ErrNotFound", err)
		}
		if _, err := s.LookupRefresh(ctx, sibling.Hash, now); err != nil {
			t.Errorf("LookupRefresh(other family) = %v, want it untouched", err)
		}
		revs := revocations(t, s, now)
		assertRevocation(t, revs, store.Revocation{Kind: store.RevokedSession, ID: first.Family, Until: first.ExpiresAt})
	})

	t.Run("within the reuse interval a spent token gets another successor, with no revocation", func(t *testing.T) {
		s := newStore(t)
		first := login(t, s, "alice", week)
		const interval = 10 * time.Second
		second := store.RefreshToken{Hash: randomHash(t)}
		if _, err := s.RotateRefresh(ctx, first.Hash, second, now, interval); err != nil {
			t.Fatalf("RotateRefresh: %v", err)
		}
		third := store.RefreshToken{Hash: randomHash(t)}
		old, err := s.RotateRefresh(ctx, first.Hash, third, now.Add(interval-time.Millisecond), interval)
		if err != nil {
			t.Fatalf("RotateRefresh(spent, within the interval) = %v, want a success", err)
		}
		assertToken(t, old, first)
		for _, next := range []store.RefreshToken{second, third} {
			got, err := s.LookupRefresh(ctx, next.Hash, now)
			if err != nil {
				t.Fatalf("LookupRefresh(successor): %v", err)
			}
			if got.Family != first.Family || got.Subject != first.Subject || got.Parent != first.Hash {
				t.Errorf("successor %+v is not in the first token's family", got)
			}
		}
		if revs := revocations(t, s, now); hasRevocation(revs, store.RevokedSession, first.Family) {
			t.Errorf("a reuse within the interval revoked the session: %v", revs)
		}
		// Each successor goes on by itself.
		if _, err := s.RotateRefresh(ctx, second.Hash, store.RefreshToken{Hash: randomHash(t)}, now, interval); err != nil {
			t.Errorf("RotateRefresh(second): %v", err)
		}
		if _, err := s.RotateRefresh(ctx, third.Hash, store.RefreshToken{Hash: randomHash(t)}, now, interval); err != nil {
			t.Errorf("RotateRefresh(third): %v", err)
		}

		// From the interval's end on, it is reuse: the family goes.
		_, err = s.RotateRefresh(ctx, first.Hash, store.RefreshToken{Hash: randomHash(t)}, now.Add(interval), interval)
		if !errors.Is(err, store.ErrReused) {
			t.Fatalf("RotateRefresh(spent, at the interval's end) = %v, want ErrReused", err)
		}
		if _, err := s.LookupRefresh(ctx, third.Hash, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LookupRefresh(successor after reuse) = %v, want ErrNotFound", err)
		}
		assertRevocation(t, revocations(t, s, now), store.Revocation{Kind: store.RevokedSession, ID: first.Family, Until: first.ExpiresAt})
	})

	t.Run("with no reuse interval a second spend is reuse even from a caller whose clock is behind", func(t *testing.T) {
		s := newStore(t)
		first := login(t, s, "alice", week)
		if _, err := s.RotateRefresh(ctx, first.Hash, store.RefreshToken{Hash: randomHash(t)}, now, 0); err != nil {
			t.Fatalf("RotateRefresh: %v", err)
		}
		_, err := s.RotateRefresh(ctx, first.Hash, store.RefreshToken{Hash: randomHash(t)}, now.Add(-time.Second), 0)
		if !errors.Is(err, store.ErrReused) {
			t.Fatalf("RotateRefresh(spent) from a clock 1s behind = %v, want ErrReused", err)
		}
	})

	t.Run("an undone rotation gives the spent token back", func(t *testing.T) {
		s := newStore(t)
		first := login(t, s, "alice", week)
		lost := store.RefreshToken{Hash: randomHash(t)}
		if _, err := s.RotateRefresh(ctx, first.Hash, lost, now, 0); err != nil {
			t.Fatalf("RotateRefresh: %v", err)
		}
		if err := s.UndoRotation(ctx, first.Hash, lost.Hash); err != nil {
			t.Fatalf("UndoRotation: %v", err)
		}
		if _, err := s.LookupRefresh(ctx, lost.Hash, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LookupRefresh(undone successor) = %v, want ErrNotFound", err)
		}
		if _, err := s.LookupRefresh(ctx, first.Hash, now); err != nil {
			t.Errorf("LookupRefresh(the token given back) = %v, want it live", err)
		}
		retry := store.RefreshToken{Hash: randomHash(t)}
		if _, err := s.RotateRefresh(ctx, first.Hash, retry, now, 0); err != nil {
			t.Fatalf("RotateRefresh after the undo = %v, want a success", err)
		}
		if revs := revocations(t, s, now); hasRevocation(revs, store.RevokedSession, first.Family) {
			t.Errorf("the retry after an undo revoked the session: %v", revs)
		}

		// A successor that has been used is not taken back, nor one of another parent.
		used := store.RefreshToken{Hash: randomHash(t)}
		if _, err := s.RotateRefresh(ctx, retry.Hash, used, now, 0); err != nil {
			t.Fatal(err)
		}
		for _, undo := range [][2]string{{first.Hash, retry.Hash}, {first.Hash, used.Hash}, {randomHash(t), randomHash(t)}, {"", ""}} {
			if err := s.UndoRotation(ctx, undo[0], undo[1]); err != nil {
				t.Errorf("UndoRotation of nothing to undo: %v", err)
			}
		}
		if _, err := s.LookupRefresh(ctx, used.Hash, now); err != nil {
			t.Errorf("LookupRefresh(newest) = %v after undos that had nothing to undo", err)
		}
		if _, err := s.LookupRefresh(ctx, first.Hash, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LookupRefresh(first) = %v: an undo gave back a token whose successor was used", err)
		}
	})

	t.Run("RevokeFamily makes every token of the family unusable", func(t *testing.T) {
		s := newStore(t)
		first := login(t, s, "alice", week)
		other := login(t, s, "alice", week)
		second := store.RefreshToken{Hash: randomHash(t)}
		if _, err := s.RotateRefresh(ctx, first.Hash, second, now, 0); err != nil {
			t.Fatalf("RotateRefresh: %v", err)
		}
		until := now.Add(15 * time.Minute)
		if err := s.RevokeFamily(ctx, first.Family, until); err != nil {
			t.Fatalf("RevokeFamily: %v", err)
		}
		for _, hash := range []string{first.Hash, second.Hash} {
			if _, err := s.RotateRefresh(ctx, hash, store.RefreshToken{Hash: randomHash(t)}, now, 0); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("RotateRefresh(revoked family) = %v, want ErrNotFound", err)
			}
		}
		if _, err := s.LookupRefresh(ctx, other.Hash, now); err != nil {
			t.Errorf("LookupRefresh(other family) = %v, want it untouched", err)
		}
		assertRevocation(t, revocations(t, s, now), store.Revocation{Kind: store.RevokedSession, ID: first.Family, Until: until})
	})

	t.Run("RevokeSubject revokes every session of the subject by sid and no other", func(t *testing.T) {
		s := newStore(t)
		a1 := login(t, s, "alice", week)
		a2 := login(t, s, "alice", week)
		a3 := store.RefreshToken{Hash: randomHash(t)}
		if _, err := s.RotateRefresh(ctx, a2.Hash, a3, now, 0); err != nil {
			t.Fatalf("RotateRefresh: %v", err)
		}
		// A session whose refresh life has ended may still have access tokens out.
		ended := login(t, s, "alice", time.Now().Add(-time.Minute))
		// One that ended longer ago than any access token lives is forgotten.
		forgotten := login(t, s, "alice", time.Now().Add(-store.SessionIndexRetention-time.Minute))
		bob := login(t, s, "bob", week)
		until := now.Add(15 * time.Minute)
		got, err := s.RevokeSubject(ctx, "alice", until)
		if err != nil {
			t.Fatalf("RevokeSubject: %v", err)
		}
		for _, hash := range []string{a1.Hash, a2.Hash, a3.Hash} {
			if _, err := s.RotateRefresh(ctx, hash, store.RefreshToken{Hash: randomHash(t)}, now, 0); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("RotateRefresh(revoked subject) = %v, want ErrNotFound", err)
			}
		}
		if _, err := s.LookupRefresh(ctx, bob.Hash, now); err != nil {
			t.Errorf("LookupRefresh(bob) = %v, want it untouched", err)
		}
		revs := revocations(t, s, now)
		for _, fam := range []string{a1.Family, a2.Family, ended.Family} {
			want := store.Revocation{Kind: store.RevokedSession, ID: fam, Until: until}
			assertRevocation(t, revs, want)
			assertRevocation(t, got, want)
		}
		if len(got) != 3 {
			t.Errorf("RevokeSubject returned %v, want the 3 sessions of alice", got)
		}
		if hasRevocation(revs, store.RevokedSession, forgotten.Family) || hasRevocation(revs, store.RevokedSession, bob.Family) {
			t.Errorf("revocations %v revoke a forgotten session or bob's", revs)
		}
		if hasRevocation(revs, store.RevokedSubject, "alice") {
			t.Errorf("revocations %v hold a clock-based subject cutoff", revs)
		}

		// A session created right after is not touched, and a second logout-all ends it.
		after := login(t, s, "alice", week)
		if _, err := s.LookupRefresh(ctx, after.Hash, now); err != nil {
			t.Errorf("LookupRefresh(session created after) = %v, want it live", err)
		}
		if hasRevocation(revocations(t, s, now), store.RevokedSession, after.Family) {
			t.Errorf("the session created after the logout-all is revoked")
		}
		got, err = s.RevokeSubject(ctx, "alice", until)
		if err != nil || len(got) != 1 || got[0].ID != after.Family {
			t.Errorf("second RevokeSubject = %v, %v; want only the new session", got, err)
		}
	})

	t.Run("revocations are listed until they end", func(t *testing.T) {
		s := newStore(t)
		long := store.Revocation{Kind: store.RevokedToken, ID: `jti "quoted" / <ünïcode> \ & more`, Until: now.Add(time.Hour)}
		short := store.Revocation{Kind: store.RevokedToken, ID: "short", Until: now.Add(time.Second)}
		ended := store.Revocation{Kind: store.RevokedToken, ID: "ended", Until: now.Add(-time.Second)}
		// The longest id, of the characters JSON escapes most.
		escaped := store.Revocation{Kind: store.RevokedToken, ID: strings.Repeat("\x01", 1024), Until: now.Add(time.Hour)}
		for _, r := range []store.Revocation{long, short, short, ended, escaped} {
			if err := s.Revoke(ctx, r); err != nil {
				t.Fatalf("Revoke(%s): %v", r.ID, err)
			}
		}
		got := revocations(t, s, now)
		if len(got) != 3 {
			t.Fatalf("Revocations(now) = %v, want short, long and escaped once each", got)
		}
		assertRevocation(t, got, short)
		assertRevocation(t, got, long)
		assertRevocation(t, got, escaped)
		if got := revocations(t, s, now.Add(2*time.Second)); len(got) != 2 || hasRevocation(got, store.RevokedToken, short.ID) {
			t.Errorf("Revocations(now+2s) = %v, want all but %q", got, short.ID)
		}
	})

	t.Run("invalid arguments are refused as the caller's mistake", func(t *testing.T) {
		s := newStore(t)
		good := store.RefreshToken{Hash: randomHash(t), Subject: "alice", Family: "f", ExpiresAt: week}
		tests := []struct {
			name string
			call func() error
		}{
			{"a token whose hash is not a SHA-256", func() error {
				bad := good
				bad.Hash = "raw-refresh-token"
				return s.CreateRefresh(ctx, bad)
			}},
			{"a token without a family", func() error {
				bad := good
				bad.Family = ""
				return s.CreateRefresh(ctx, bad)
			}},
			{"a token without an expiry", func() error {
				bad := good
				bad.ExpiresAt = time.Time{}
				return s.CreateRefresh(ctx, bad)
			}},
			{"a next token whose hash is not a SHA-256", func() error {
				_, err := s.RotateRefresh(ctx, randomHash(t), store.RefreshToken{Hash: "raw"}, now, 0)
				return err
			}},
			{"a revocation of an unknown kind", func() error {
				return s.Revoke(ctx, store.Revocation{Kind: "nope", ID: "x", Until: week})
			}},
			{"a revocation without an id", func() error {
				return s.Revoke(ctx, store.Revocation{Kind: store.RevokedToken, Until: week})
			}},
			{"a subject revocation without Until", func() error {
				_, err := s.RevokeSubject(ctx, "alice", time.Time{})
				return err
			}},
			{"a subject revocation without a subject", func() error {
				_, err := s.RevokeSubject(ctx, "", week)
				return err
			}},
			{"a family revocation without a family", func() error {
				return s.RevokeFamily(ctx, "", week)
			}},
			{"an attempt window under a millisecond", func() error {
				_, _, err := s.AddAttempt(ctx, "k", 0)
				return err
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.call()
				if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
					t.Errorf("got %v, want a caller error", err)
				}
			})
		}
	})

	t.Run("attempts are counted within a window", func(t *testing.T) {
		s := newStore(t)
		for want := 1; want <= 3; want++ {
			n, left, err := s.AddAttempt(ctx, "alice@example.com", time.Hour)
			if err != nil {
				t.Fatalf("AddAttempt: %v", err)
			}
			if n != want || left <= 0 || left > time.Hour {
				t.Errorf("AddAttempt #%d = %d, %s; want %d, (0, 1h]", want, n, left, want)
			}
		}
		// A shorter window does not move the one already open.
		if n, left, err := s.AddAttempt(ctx, "alice@example.com", time.Millisecond); err != nil || n != 4 || left < 50*time.Minute {
			t.Errorf("AddAttempt with a shorter window = %d, %s, %v; want 4, about 1h", n, left, err)
		}
		if n, left, err := s.Attempts(ctx, "alice@example.com"); err != nil || n != 4 || left <= 0 {
			t.Errorf("Attempts = %d, %s, %v; want 4 and time left", n, left, err)
		}
		if n, left, err := s.Attempts(ctx, "bob@example.com"); err != nil || n != 0 || left != 0 {
			t.Errorf("Attempts(other key) = %d, %s, %v; want 0, 0", n, left, err)
		}
		if err := s.ClearAttempts(ctx, "alice@example.com"); err != nil {
			t.Fatalf("ClearAttempts: %v", err)
		}
		if n, _, err := s.Attempts(ctx, "alice@example.com"); err != nil || n != 0 {
			t.Errorf("Attempts after ClearAttempts = %d, %v; want 0", n, err)
		}
	})

	t.Run("a released attempt is given back and the window stays", func(t *testing.T) {
		s := newStore(t)
		if err := s.ReleaseAttempt(ctx, "k", time.Hour); err != nil {
			t.Fatalf("ReleaseAttempt of no attempt: %v", err)
		}
		var left time.Duration
		for range 3 {
			var err error
			if _, left, err = s.AddAttempt(ctx, "k", time.Hour); err != nil {
				t.Fatalf("AddAttempt: %v", err)
			}
		}
		if err := s.ReleaseAttempt(ctx, "k", left); err != nil {
			t.Fatalf("ReleaseAttempt: %v", err)
		}
		if n, left, err := s.Attempts(ctx, "k"); err != nil || n != 2 || left < 50*time.Minute {
			t.Errorf("Attempts after one release = %d, %s, %v; want 2 in the same 1h window", n, left, err)
		}
		for range 5 {
			if err := s.ReleaseAttempt(ctx, "k", left); err != nil {
				t.Fatalf("ReleaseAttempt: %v", err)
			}
		}
		if n, _, err := s.Attempts(ctx, "k"); err != nil || n != 0 {
			t.Errorf("Attempts after more releases than attempts = %d, %v; want 0", n, err)
		}
		if n, _, err := s.AddAttempt(ctx, "k", time.Hour); err != nil || n != 1 {
			t.Errorf("AddAttempt after the releases = %d, %v; want 1", n, err)
		}
	})

	t.Run("a release gives nothing back to a later window", func(t *testing.T) {
		s := newStore(t)
		for range 2 {
			if _, _, err := s.AddAttempt(ctx, "k", time.Hour); err != nil {
				t.Fatalf("AddAttempt: %v", err)
			}
		}
		// Attempts reserved in a window with a minute, or nothing, left to run: the window
		// under k, with an hour to run, opened after theirs ended.
		for _, left := range []time.Duration{time.Minute, 0, -time.Second} {
			if err := s.ReleaseAttempt(ctx, "k", left); err != nil {
				t.Fatalf("ReleaseAttempt: %v", err)
			}
		}
		if n, _, err := s.Attempts(ctx, "k"); err != nil || n != 2 {
			t.Errorf("Attempts after releases of ended windows = %d, %v; want the 2 of this window", n, err)
		}
	})

	t.Run("a release after its window ended leaves the next window's count", func(t *testing.T) {
		s := newStore(t)
		const window = 100 * time.Millisecond
		_, left, err := s.AddAttempt(ctx, "k", window)
		if err != nil {
			t.Fatalf("AddAttempt: %v", err)
		}
		ends := time.Now().Add(left)
		time.Sleep(2 * window)
		if _, _, err := s.AddAttempt(ctx, "k", time.Hour); err != nil {
			t.Fatalf("AddAttempt: %v", err)
		}
		if err := s.ReleaseAttempt(ctx, "k", time.Until(ends)); err != nil {
			t.Fatalf("ReleaseAttempt: %v", err)
		}
		if n, _, err := s.Attempts(ctx, "k"); err != nil || n != 1 {
			t.Errorf("Attempts = %d, %v; want the 1 of the new window", n, err)
		}
	})

	t.Run("of 50 concurrent reservations each gets its own count", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		seen := make([]atomic.Int32, 51)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, _, err := s.AddAttempt(ctx, "k", time.Hour)
				if err != nil || n < 1 || n > 50 {
					t.Errorf("AddAttempt = %d, %v", n, err)
					return
				}
				seen[n].Add(1)
			}()
		}
		wg.Wait()
		for n := 1; n <= 50; n++ {
			if c := seen[n].Load(); c != 1 {
				t.Errorf("count %d was handed out %d times, want once", n, c)
			}
		}
	})

	t.Run("attempts start over when the window ends", func(t *testing.T) {
		s := newStore(t)
		const window = 100 * time.Millisecond
		for range 2 {
			if _, _, err := s.AddAttempt(ctx, "k", window); err != nil {
				t.Fatalf("AddAttempt: %v", err)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			n, _, err := s.Attempts(ctx, "k")
			if err != nil {
				t.Fatalf("Attempts: %v", err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Attempts = %d long after the window ended", n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n, left, err := s.AddAttempt(ctx, "k", time.Hour); err != nil || n != 1 || left < 50*time.Minute {
			t.Errorf("AddAttempt after the window = %d, %s, %v; want 1 in a new 1h window", n, left, err)
		}
	})

	t.Run("of 100 concurrent rotations of one token exactly one succeeds", func(t *testing.T) {
		s := newStore(t)
		first := login(t, s, "alice", week)
		var (
			wg                   sync.WaitGroup
			ok, reused, notFound atomic.Int64
			mu                   sync.Mutex
			other                []error
		)
		start := make(chan struct{})
		for range 100 {
			next := store.RefreshToken{Hash: randomHash(t)}
			wg.Go(func() {
				<-start
				_, err := s.RotateRefresh(ctx, first.Hash, next, now, 0)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, store.ErrReused):
					reused.Add(1)
				case errors.Is(err, store.ErrNotFound):
					notFound.Add(1)
				default:
					mu.Lock()
					other = append(other, err)
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if ok.Load() != 1 || len(other) > 0 {
			t.Errorf("successes = %d (reused %d, not found %d, other errors %v); want exactly 1", ok.Load(), reused.Load(), notFound.Load(), other)
		}
		if reused.Load() == 0 {
			t.Errorf("no rotation saw ErrReused; the losers should have")
		}
	})

	t.Run("Watch resyncs first, then hands over every revocation", func(t *testing.T) {
		s := newStore(t)
		w, _ := watch(t, s)
		w.waitFor(t, 5*time.Second, "resync", func(_ []store.Revocation, resyncs int) bool { return resyncs >= 1 })

		if err := s.Revoke(ctx, store.Revocation{Kind: store.RevokedToken, ID: "jti-1", Until: week}); err != nil {
			t.Fatal(err)
		}
		tok := login(t, s, "alice", week)
		if _, err := s.RotateRefresh(ctx, tok.Hash, store.RefreshToken{Hash: randomHash(t)}, now, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RotateRefresh(ctx, tok.Hash, store.RefreshToken{Hash: randomHash(t)}, now, 0); !errors.Is(err, store.ErrReused) {
			t.Fatalf("reuse = %v, want ErrReused", err)
		}
		bob := login(t, s, "bob", week)
		if _, err := s.RevokeSubject(ctx, "bob", week); err != nil {
			t.Fatal(err)
		}
		w.waitFor(t, 5*time.Second, "revocations", func(revoked []store.Revocation, _ int) bool {
			return hasRevocation(revoked, store.RevokedToken, "jti-1") &&
				hasRevocation(revoked, store.RevokedSession, tok.Family) &&
				hasRevocation(revoked, store.RevokedSession, bob.Family)
		})
	})

	t.Run("Watch returns when its context ends", func(t *testing.T) {
		s := newStore(t)
		w, cancel := watch(t, s)
		w.waitFor(t, 5*time.Second, "resync", func(_ []store.Revocation, resyncs int) bool { return resyncs >= 1 })
		cancel()
		select {
		case <-w.finished:
		case <-time.After(5 * time.Second):
			t.Fatal("Watch still running 5s after its context ended")
		}
	})

	t.Run("Close ends Watch and later calls fail as unavailable", func(t *testing.T) {
		s := newStore(t)
		w, _ := watch(t, s)
		w.waitFor(t, 5*time.Second, "resync", func(_ []store.Revocation, resyncs int) bool { return resyncs >= 1 })
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		select {
		case <-w.finished:
		case <-time.After(5 * time.Second):
			t.Fatal("Watch still running 5s after Close")
		}
		if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Ping after Close = %v, want ErrUnavailable", err)
		}
	})
}

func revocations(t *testing.T, s store.Store, now time.Time) []store.Revocation {
	t.Helper()
	revs, err := s.Revocations(context.Background(), now)
	if err != nil {
		t.Fatalf("Revocations: %v", err)
	}
	return revs
}

func assertToken(t *testing.T, got, want store.RefreshToken) {
	t.Helper()
	if got.Hash != want.Hash || got.Subject != want.Subject || got.Role != want.Role ||
		got.Family != want.Family || got.Parent != want.Parent ||
		!got.IssuedAt.Equal(want.IssuedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("token = %+v\nwant    %+v", got, want)
	}
}

func assertRevocation(t *testing.T, list []store.Revocation, want store.Revocation) {
	t.Helper()
	for _, r := range list {
		if r.Kind == want.Kind && r.ID == want.ID && r.Until.Equal(want.Until) && r.IssuedBefore.Equal(want.IssuedBefore) {
			return
		}
	}
	t.Errorf("revocations %v\nlack %+v", list, want)
}
