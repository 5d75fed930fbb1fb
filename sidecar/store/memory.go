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
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// sweepEvery is how often Memory drops what has expired but was not touched since.
const sweepEvery = time.Minute

var errClosed = fmt.Errorf("%w: store closed", ErrUnavailable)

// Memory is a Store in this process's memory, for a single replica: nothing is shared with
// other processes, and everything is lost on restart.
type Memory struct {
	mu          sync.Mutex
	tokens      map[string]*memToken // by hash
	families    map[string]*memFamily
	subjects    map[string]map[string]time.Time // subject -> family id -> the family's end
	revocations map[memRevocationKey]Revocation
	attempts    map[string]memAttempts
	watchers    map[*memWatcher]struct{}
	closed      bool

	now  func() time.Time
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the sweeper has stopped
}

type memToken struct {
	RefreshToken
	// next is the hash of the token that replaced this one; "" while it is unspent.
	next string
	// spentAt is when next replaced it.
	spentAt time.Time
}

type memFamily struct {
	expiresAt time.Time
	hashes    []string
}

type memRevocationKey struct {
	kind                RevocationKind
	id                  string
	issuedBefore, until int64
}

type memAttempts struct {
	count   int
	resetAt time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store. Close stops its sweeper.
func NewMemory() *Memory { return newMemory(time.Now) }

// NewMemoryWithClock is NewMemory on the clock now (Redis takes the same with WithClock).
func NewMemoryWithClock(now func() time.Time) *Memory { return newMemory(now) }

func newMemory(now func() time.Time) *Memory {
	m := &Memory{
		tokens:      map[string]*memToken{},
		families:    map[string]*memFamily{},
		subjects:    map[string]map[string]time.Time{},
		revocations: map[memRevocationKey]Revocation{},
		attempts:    map[string]memAttempts{},
		watchers:    map[*memWatcher]struct{}{},
		now:         now,
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	go m.sweepLoop()
	return m
}

// CreateRefresh implements Store. Creating the same token twice (same hash and family) is
// harmless, so a caller may retry after an ambiguous failure.
func (m *Memory) CreateRefresh(_ context.Context, t RefreshToken) error {
	if err := checkNewToken(t); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	now := m.now()
	if old := m.liveToken(t.Hash, now); old != nil {
		if old.Family == t.Family {
			return nil
		}
		return errors.New("store: a refresh token with this hash already exists")
	}
	t.IssuedAt, t.ExpiresAt = ms(t.IssuedAt), ms(t.ExpiresAt)
	if t.IssuedAt.IsZero() {
		t.IssuedAt = ms(now)
	}
	m.tokens[t.Hash] = &memToken{RefreshToken: t}
	f := m.families[t.Family]
	if f == nil {
		f = &memFamily{expiresAt: t.ExpiresAt}
		m.families[t.Family] = f
	}
	f.hashes = append(f.hashes, t.Hash)
	if m.subjects[t.Subject] == nil {
		m.subjects[t.Subject] = map[string]time.Time{}
	}
	m.subjects[t.Subject][t.Family] = t.ExpiresAt
	return nil
}

// RotateRefresh implements Store.
func (m *Memory) RotateRefresh(_ context.Context, oldHash string, next RefreshToken, now time.Time, reuseInterval time.Duration) (RefreshToken, error) {
	if err := checkRotation(oldHash, next); err != nil {
		return RefreshToken{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return RefreshToken{}, errClosed
	}
	old := m.liveToken(oldHash, now)
	if old == nil {
		return RefreshToken{}, ErrNotFound
	}
	if n := m.tokens[next.Hash]; n != nil {
		if n.Parent == oldHash {
			return old.RefreshToken, nil // a retry of this very rotation
		}
		return RefreshToken{}, errors.New("store: a refresh token with the next hash already exists")
	}
	// With no interval, any second spend is reuse, whatever the callers' clocks say.
	if old.next != "" && (reuseInterval <= 0 || !now.Before(old.spentAt.Add(reuseInterval))) {
		m.dropFamily(old.Family)
		m.addRevocation(Revocation{Kind: RevokedSession, ID: old.Family, Until: old.ExpiresAt}, now)
		return old.RefreshToken, ErrReused
	}
	if old.next == "" {
		old.next, old.spentAt = next.Hash, ms(now)
	}
	n := RefreshToken{
		Hash:      next.Hash,
		Subject:   old.Subject,
		Role:      old.Role,
		Family:    old.Family,
		Parent:    oldHash,
		IssuedAt:  ms(next.IssuedAt),
		ExpiresAt: old.ExpiresAt,
	}
	if n.IssuedAt.IsZero() {
		n.IssuedAt = ms(now)
	}
	m.tokens[n.Hash] = &memToken{RefreshToken: n}
	if f := m.families[n.Family]; f != nil {
		f.hashes = append(f.hashes, n.Hash)
	}
	return old.RefreshToken, nil
}

// UndoRotation implements Store.
func (m *Memory) UndoRotation(_ context.Context, oldHash, nextHash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	n := m.tokens[nextHash]
	if n == nil || n.Parent != oldHash || oldHash == "" || n.next != "" {
		return nil
	}
	delete(m.tokens, nextHash)
	if f := m.families[n.Family]; f != nil {
		f.hashes = slices.DeleteFunc(f.hashes, func(h string) bool { return h == nextHash })
	}
	if old := m.tokens[oldHash]; old != nil && old.next == nextHash {
		old.next, old.spentAt = "", time.Time{}
	}
	return nil
}

// LookupRefresh implements Store.
func (m *Memory) LookupRefresh(_ context.Context, hash string, now time.Time) (RefreshToken, error) {
	if !validHash(hash) {
		return RefreshToken{}, ErrNotFound
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return RefreshToken{}, errClosed
	}
	t := m.liveToken(hash, now)
	if t == nil || t.next != "" {
		return RefreshToken{}, ErrNotFound
	}
	return t.RefreshToken, nil
}

// RevokeFamily implements Store.
func (m *Memory) RevokeFamily(_ context.Context, family string, until time.Time) error {
	if !validID(family) {
		return fmt.Errorf("store: family must be 1 to %d bytes of UTF-8", maxIDLen)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	m.dropFamily(family)
	m.addRevocation(Revocation{Kind: RevokedSession, ID: family, Until: until}, m.now())
	return nil
}

// RevokeSubject implements Store.
func (m *Memory) RevokeSubject(_ context.Context, subject string, until time.Time) ([]Revocation, error) {
	if err := checkSubjectRevocation(subject, until); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errClosed
	}
	now := m.now()
	var out []Revocation
	for family, end := range m.subjects[subject] {
		if !end.Add(SessionIndexRetention).After(now) {
			continue
		}
		m.dropFamily(family)
		r := Revocation{Kind: RevokedSession, ID: family, Until: ms(until)}
		m.addRevocation(r, now)
		out = append(out, r)
	}
	delete(m.subjects, subject)
	slices.SortFunc(out, func(a, b Revocation) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Revoke implements Store.
func (m *Memory) Revoke(_ context.Context, r Revocation) error {
	if err := checkRevocation(r); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	m.addRevocation(r, m.now())
	return nil
}

// Revocations implements Store, ordered by Until.
func (m *Memory) Revocations(_ context.Context, now time.Time) ([]Revocation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errClosed
	}
	out := make([]Revocation, 0, len(m.revocations))
	for k, r := range m.revocations {
		if !r.Until.After(now) {
			delete(m.revocations, k)
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Revocation) int {
		if c := a.Until.Compare(b.Until); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Watch implements Store: it calls onResync once, then onRevoke for every revocation this
// store adds, until ctx ends or the store is closed.
func (m *Memory) Watch(ctx context.Context, onRevoke func(Revocation), onResync func()) {
	w := &memWatcher{wake: make(chan struct{}, 1)}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.watchers[w] = struct{}{}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.watchers, w)
		m.mu.Unlock()
	}()

	// Registered before the resync, so nothing added after the caller's reload is missed.
	onResync()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.stop:
			return
		case <-w.wake:
		}
		for _, r := range w.take() {
			if ctx.Err() != nil {
				return
			}
			onRevoke(r)
		}
	}
}

// memWatcher queues revocations for one Watch, so a slow callback never holds the store's
// lock and the callback never runs on the revoking goroutine.
type memWatcher struct {
	mu      sync.Mutex
	pending []Revocation
	wake    chan struct{}
}

func (w *memWatcher) put(r Revocation) {
	w.mu.Lock()
	w.pending = append(w.pending, r)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *memWatcher) take() []Revocation {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pending
	w.pending = nil
	return p
}

// Attempts implements Store.
func (m *Memory) Attempts(_ context.Context, key string) (int, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, 0, errClosed
	}
	now := m.now()
	a, ok := m.attempts[key]
	if !ok {
		return 0, 0, nil
	}
	if !a.resetAt.After(now) {
		delete(m.attempts, key)
		return 0, 0, nil
	}
	return a.count, a.resetAt.Sub(now), nil
}

// AddAttempt implements Store.
func (m *Memory) AddAttempt(_ context.Context, key string, window time.Duration) (int, time.Duration, error) {
	if err := checkWindow(window); err != nil {
		return 0, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, 0, errClosed
	}
	now := m.now()
	a, ok := m.attempts[key]
	if !ok || !a.resetAt.After(now) {
		a = memAttempts{resetAt: now.Add(window)}
	}
	a.count++
	m.attempts[key] = a
	return a.count, a.resetAt.Sub(now), nil
}

// ReleaseAttempt implements Store.
func (m *Memory) ReleaseAttempt(_ context.Context, key string, left time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	now := m.now()
	a, ok := m.attempts[key]
	switch {
	case !ok || left <= 0:
	case !a.resetAt.After(now):
		delete(m.attempts, key)
	case a.resetAt.Sub(now) > left+ReleaseSlack:
		// A later window: the reservation's has ended, and with it its count.
	case a.count <= 1:
		delete(m.attempts, key)
	default:
		a.count--
		m.attempts[key] = a
	}
	return nil
}

// ClearAttempts implements Store.
func (m *Memory) ClearAttempts(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	delete(m.attempts, key)
	return nil
}

// Ping implements Store.
func (m *Memory) Ping(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	return nil
}

// Close stops the sweeper and every Watch. The store answers ErrUnavailable afterwards.
func (m *Memory) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.stop)
	m.mu.Unlock()
	<-m.done
	return nil
}

// liveToken returns the token unless it is missing or expired at now; an expired one is
// dropped on the way.
func (m *Memory) liveToken(hash string, now time.Time) *memToken {
	t := m.tokens[hash]
	if t == nil {
		return nil
	}
	if !t.ExpiresAt.After(now) {
		m.dropFamily(t.Family) // every token of a family expires together
		return nil
	}
	return t
}

// dropFamily forgets every token of the family, spent ones included. The subject's index
// keeps the family until SessionIndexRetention after its end: its access tokens may live on.
func (m *Memory) dropFamily(family string) {
	f := m.families[family]
	if f == nil {
		return
	}
	for _, h := range f.hashes {
		delete(m.tokens, h)
	}
	delete(m.families, family)
}

// addRevocation records r until r.Until and hands it to every watcher. One that has already
// ended changes nothing.
func (m *Memory) addRevocation(r Revocation, now time.Time) {
	r.IssuedBefore, r.Until = ms(r.IssuedBefore), ms(r.Until)
	if r.Kind != RevokedSubject {
		r.IssuedBefore = time.Time{}
	}
	if !r.Until.After(now) {
		return
	}
	m.revocations[memRevocationKey{r.Kind, r.ID, r.IssuedBefore.UnixMilli(), r.Until.UnixMilli()}] = r
	for w := range m.watchers {
		w.put(r)
	}
}

func (m *Memory) sweepLoop() {
	defer close(m.done)
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
			m.sweep()
		}
	}
}

// sweep drops everything that has expired, so memory follows what is live, not what was
// ever written.
func (m *Memory) sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for id, f := range m.families {
		if !f.expiresAt.After(now) {
			m.dropFamily(id)
		}
	}
	for subject, fams := range m.subjects {
		for family, end := range fams {
			if !end.Add(SessionIndexRetention).After(now) {
				delete(fams, family)
			}
		}
		if len(fams) == 0 {
			delete(m.subjects, subject)
		}
	}
	for k, r := range m.revocations {
		if !r.Until.After(now) {
			delete(m.revocations, k)
		}
	}
	for k, a := range m.attempts {
		if !a.resetAt.After(now) {
			delete(m.attempts, k)
		}
	}
}
