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
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestMemorySweepDropsWhatHasExpired(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.UnixMilli(time.Now().UnixMilli())}
	m := newMemory(clock.Now)
	defer m.Close()
	now := clock.Now()

	// A day of traffic: logins, rotations, logouts and failed logins, all ending within 2h.
	for i := range 50 {
		subject := fmt.Sprintf("user-%d", i%10)
		tok := RefreshToken{Hash: fmt.Sprintf("%064x", 2*i), Subject: subject, Family: fmt.Sprintf("fam-%d", i), ExpiresAt: now.Add(time.Hour)}
		if err := m.CreateRefresh(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if _, err := m.RotateRefresh(ctx, tok.Hash, RefreshToken{Hash: fmt.Sprintf("%064x", 2*i+1)}, now, 0); err != nil {
			t.Fatal(err)
		}
		if err := m.Revoke(ctx, Revocation{Kind: RevokedToken, ID: fmt.Sprintf("jti-%d", i), Until: now.Add(15 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.AddAttempt(ctx, subject, 15*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// One of each that is still live afterwards.
	live := RefreshToken{Hash: fmt.Sprintf("%064x", 1000), Subject: "stays", Family: "stays", ExpiresAt: now.Add(48 * time.Hour)}
	if err := m.CreateRefresh(ctx, live); err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, Revocation{Kind: RevokedToken, ID: "stays", Until: now.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}

	// Ended sessions stay in their subject's index while their access tokens may live.
	clock.Add(2 * time.Hour)
	m.sweep()
	m.mu.Lock()
	if len(m.tokens) != 1 || len(m.subjects) != 11 {
		t.Errorf("2h later: %d tokens, %d subjects indexed; want 1, 11", len(m.tokens), len(m.subjects))
	}
	m.mu.Unlock()

	clock.Add(SessionIndexRetention)
	m.sweep()

	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.tokens) != 1 || len(m.families) != 1 || len(m.subjects) != 1 || len(m.revocations) != 1 || len(m.attempts) != 0 {
		t.Errorf("after the sweep: %d tokens, %d families, %d subjects, %d revocations, %d attempt windows; want 1, 1, 1, 1, 0",
			len(m.tokens), len(m.families), len(m.subjects), len(m.revocations), len(m.attempts))
	}
	if m.tokens[live.Hash] == nil {
		t.Errorf("the sweep dropped a live token")
	}
}

func TestMemoryAttemptWindowFollowsTheClock(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Now()}
	m := newMemory(clock.Now)
	defer m.Close()

	for range 3 {
		if _, _, err := m.AddAttempt(ctx, "k", 15*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(10 * time.Minute)
	if n, left, _ := m.Attempts(ctx, "k"); n != 3 || left != 5*time.Minute {
		t.Errorf("10m into the window: %d, %s; want 3, 5m", n, left)
	}
	clock.Add(5 * time.Minute)
	if n, left, _ := m.Attempts(ctx, "k"); n != 0 || left != 0 {
		t.Errorf("at the window's end: %d, %s; want 0, 0", n, left)
	}
	if n, left, _ := m.AddAttempt(ctx, "k", 15*time.Minute); n != 1 || left != 15*time.Minute {
		t.Errorf("after the window: %d, %s; want 1 in a new 15m window", n, left)
	}
}
