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
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// newMemory is a fresh in-memory store, closed when the test ends.
func newMemory(t testing.TB) store.Store {
	m := store.NewMemory()
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// newRedis is the store of policyKey in d, through its own client with the sidecar's
// options (from d's --redis-url), closed when the test ends.
func newRedis(t testing.TB, d testredis.Deployment, policyKey string, opts ...store.RedisOption) *store.Redis {
	t.Helper()
	o, err := store.ParseRedisURL(d.URL())
	if err != nil {
		t.Fatalf("ParseRedisURL(%s): %v", d.URL(), err)
	}
	s, err := store.OpenRedis(o, policyKey, opts...)
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// randomHash is the hash of a fresh random refresh token.
func randomHash(t testing.TB) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// login stores the first token of a new family of subject, ending at expires.
func login(t testing.TB, s store.Store, subject string, expires time.Time) store.RefreshToken {
	t.Helper()
	tok := store.RefreshToken{
		Hash:      randomHash(t),
		Subject:   subject,
		Role:      "clerk",
		Family:    "fam-" + randomHash(t)[:16],
		IssuedAt:  time.UnixMilli(time.Now().UnixMilli()),
		ExpiresAt: time.UnixMilli(expires.UnixMilli()),
	}
	if err := s.CreateRefresh(context.Background(), tok); err != nil {
		t.Fatalf("CreateRefresh: %v", err)
	}
	return tok
}

// watcher records what a Watch hands over.
type watcher struct {
	mu       sync.Mutex
	revoked  []store.Revocation
	resyncs  int
	changed  chan struct{}
	finished chan struct{}
}

// watch runs s.Watch until the test ends (or cancel is called) and records its calls.
func watch(t testing.TB, s store.Store) (*watcher, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{changed: make(chan struct{}, 1), finished: make(chan struct{})}
	go func() {
		defer close(w.finished)
		s.Watch(ctx, func(r store.Revocation) {
			w.mu.Lock()
			w.revoked = append(w.revoked, r)
			w.mu.Unlock()
			w.notify()
		}, func() {
			w.mu.Lock()
			w.resyncs++
			w.mu.Unlock()
			w.notify()
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-w.finished
	})
	return w, cancel
}

func (w *watcher) notify() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds for what the watcher saw, failing the test at the deadline.
func (w *watcher) waitFor(t testing.TB, within time.Duration, what string, cond func(revoked []store.Revocation, resyncs int) bool) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		ok := cond(w.revoked, w.resyncs)
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-w.changed:
		case <-deadline.C:
			w.mu.Lock()
			defer w.mu.Unlock()
			t.Fatalf("watch: no %s within %s (resyncs %d, revocations %v)", what, within, w.resyncs, w.revoked)
		}
	}
}

func hasRevocation(list []store.Revocation, kind store.RevocationKind, id string) bool {
	for _, r := range list {
		if r.Kind == kind && r.ID == id {
			return true
		}
	}
	return false
}
