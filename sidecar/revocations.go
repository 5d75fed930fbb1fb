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
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// Revocations is this sidecar's in-memory copy of the policy's revocation list, so that
// validating a request costs no store round trip. It is loaded at start and kept current
// from the store's notifications, and reloaded whole after every (re)connection.
type Revocations struct {
	mu       sync.RWMutex
	tokens   idSet // jti -> until
	sessions idSet // sid -> until
	subjects map[string]subjectRevocation
	// betweenChunks, when set (by tests), runs after each chunk a load merges, with the
	// lock released.
	betweenChunks atomic.Pointer[func()]
	// synced is set once a full list has been loaded: until then a token cannot be known
	// not to be revoked, and the proxy refuses to vouch for any.
	synced atomic.Bool
}

type subjectRevocation struct {
	issuedBefore time.Time
	until        time.Time
}

// NewRevocations returns an empty list.
func NewRevocations() *Revocations {
	return &Revocations{
		tokens:   newIDSet(),
		sessions: newIDSet(),
		subjects: map[string]subjectRevocation{},
	}
}

// Revoked reports whether a token with these claims is revoked.
func (rv *Revocations) Revoked(jti, sid, sub string, issuedAt time.Time) bool {
	return rv.revokedKeys(newRevocationKeys(jti, sid), sub, issuedAt)
}

// revoked is Revoked for a verified token, whose ids were decoded when it was verified.
func (rv *Revocations) revoked(id *Identity) bool {
	keys := id.revocation
	if keys.jti.id != id.JTI || keys.sid.id != id.SessionID {
		keys = newRevocationKeys(id.JTI, id.SessionID) // an Identity not made by verify
	}
	return rv.revokedKeys(keys, id.Subject, id.IssuedAt)
}

func (rv *Revocations) revokedKeys(k revocationKeys, sub string, issuedAt time.Time) bool {
	rv.mu.RLock()
	defer rv.mu.RUnlock()
	if _, ok := rv.tokens.getKey(k.jti); ok {
		return true
	}
	if k.sid.id != "" {
		if _, ok := rv.sessions.getKey(k.sid); ok {
			return true
		}
	}
	if s, ok := rv.subjects[sub]; ok && issuedAt.Before(s.issuedBefore) {
		return true
	}
	return false
}

// Add records one revocation.
func (rv *Revocations) Add(r store.Revocation) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.add(r)
}

func (rv *Revocations) add(r store.Revocation) {
	switch r.Kind {
	case store.RevokedToken:
		rv.tokens.extend(r.ID, r.Until)
	case store.RevokedSession:
		rv.sessions.extend(r.ID, r.Until)
	case store.RevokedSubject:
		cur := rv.subjects[r.ID]
		if r.IssuedBefore.After(cur.issuedBefore) {
			cur.issuedBefore = r.IssuedBefore
		}
		if r.Until.After(cur.until) {
			cur.until = r.Until
		}
		rv.subjects[r.ID] = cur
	}
}

// Load merges a full list read from the store. It merges rather than replaces: a
// revocation never ends before its Until (Sweep drops it then), and one that arrived while
// the list was being read must not be lost.
func (rv *Revocations) Load(list []store.Revocation) {
	rv.merge(list)
	rv.synced.Store(true)
}

// merge adds list loadChunk entries per hold of the lock, so that validation, which only
// reads the list, waits for one chunk at most, not for the whole of a large list (100,000
// entries take about 100ms to merge). In between, requests are checked against what is
// merged so far and what was there before: a reload only ever adds.
func (rv *Revocations) merge(list []store.Revocation) {
	for len(list) > 0 {
		chunk := list[:min(loadChunk, len(list))]
		list = list[len(chunk):]
		rv.mu.Lock()
		for _, r := range chunk {
			rv.add(r)
		}
		rv.mu.Unlock()
		if f := rv.betweenChunks.Load(); f != nil {
			(*f)()
		}
	}
}

// reloadTimeout bounds one full reload. The store reads the list in pages, each bounded by
// the client's own timeouts, so this only ends a reload that makes no headway; it must not
// end one that does: a million entries take 10-20 s on a busy 2-core machine, and a reload
// cut short starts over, which a sidecar that never had the list would do forever.
const reloadTimeout = 10 * time.Minute

// loadChunk is how many revocations Load merges per hold of the lock.
const loadChunk = 1024

// Synced reports whether a full list has been loaded at least once.
func (rv *Revocations) Synced() bool { return rv.synced.Load() }

// Len is the number of entries, for metrics.
func (rv *Revocations) Len() int {
	rv.mu.RLock()
	defer rv.mu.RUnlock()
	return rv.tokens.len() + rv.sessions.len() + len(rv.subjects)
}

// Sweep drops entries no token they could match outlives.
func (rv *Revocations) Sweep(now time.Time) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.tokens.sweep(now)
	rv.sessions.sweep(now)
	for k, s := range rv.subjects {
		if !now.Before(s.until) {
			delete(rv.subjects, k)
		}
	}
}

// Follow keeps rv current from st until ctx ends: every published revocation is added as it
// arrives, and after each (re)connection the whole list is reloaded, retrying until the
// store answers.
func (rv *Revocations) Follow(ctx context.Context, st store.Store, now func() time.Time, log *slog.Logger) {
	resync := make(chan struct{}, 1)
	go st.Watch(ctx, rv.Add, func() {
		select {
		case resync <- struct{}{}:
		default:
		}
	})
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			rv.Sweep(now())
		case <-resync:
			rv.reload(ctx, st, now, log)
		}
	}
}

// LoadFrom loads the whole list from st once, within timeout. A store that reads it in
// pages (Redis) has each page merged as it comes, so that a large list is never held twice,
// decoded and merged; one that stops half-way leaves what it handed over merged, which is
// harmless (a reload only adds) and not synced.
func (rv *Revocations) LoadFrom(ctx context.Context, st store.Store, now time.Time, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n := 0
	var gc reloadGC
	gc.grown(rv.Len())
	defer gc.done()
	if p, ok := st.(store.RevocationPager); ok {
		err := p.RevocationPages(ctx, now, func(page []store.Revocation) {
			rv.merge(page)
			n += len(page)
			gc.grown(n)
		})
		if err != nil {
			return err
		}
	} else {
		list, err := st.Revocations(ctx, now)
		if err != nil {
			return err
		}
		rv.merge(list)
		n = len(list)
	}
	rv.synced.Store(true)
	if n >= releaseMemoryAfter {
		releaseMemory()
	}
	return nil
}

func (rv *Revocations) reload(ctx context.Context, st store.Store, now func() time.Time, log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for {
		err := rv.LoadFrom(ctx, st, now(), reloadTimeout)
		if err == nil {
			log.Info("revocations loaded", "entries", rv.Len())
			return
		}
		log.Warn("loading revocations failed; retrying", "error", err, "retryIn", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}
