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

package keyset

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Policy is what the schedule needs to know of an AuthPolicy.
type Policy struct {
	// Algorithm of new keys. When the active key has another one, a successor of this
	// algorithm is scheduled at once, with the full pre-publication.
	Algorithm Algorithm
	// RotationInterval is how long a key signs before its successor takes over.
	RotationInterval time.Duration
	// PrePublish is how long a key is in the JWKS before it signs.
	PrePublish time.Duration
	// AccessTokenTTL and ClockSkew bound how long a token a key signed stays valid, and so
	// how long the key stays in the set once retired.
	AccessTokenTTL time.Duration
	ClockSkew      time.Duration
}

func (p Policy) validate() error {
	if p.Algorithm.SigningMethod() == nil {
		return fmt.Errorf("keyset: schedule: algorithm %q is not one of ES256, EdDSA, RS256, HS256", p.Algorithm)
	}
	if p.RotationInterval <= 0 || p.PrePublish <= 0 || p.PrePublish >= p.RotationInterval {
		return fmt.Errorf("keyset: schedule: prePublish (%s) must be positive and shorter than rotationInterval (%s)", p.PrePublish, p.RotationInterval)
	}
	if p.AccessTokenTTL <= 0 || p.ClockSkew < 0 {
		return fmt.Errorf("keyset: schedule: accessTokenTTL (%s) must be positive and clockSkew (%s) not negative", p.AccessTokenTTL, p.ClockSkew)
	}
	return nil
}

// validity is how long after a key retires a token it signed can still be accepted.
func (p Policy) validity() time.Duration { return p.AccessTokenTTL + p.ClockSkew }

// Requests are the operator's orders on top of the clock.
type Requests struct {
	// Rotate schedules a successor now (activating PrePublish from now) unless one is
	// already pending.
	Rotate bool
	// Revoke removes these keys at once. A kid not in the set is an error.
	Revoke []string
	// Observed holds each key's state as last reported (the policy's status). What the
	// clock did since (KeyActivated, KeyRetired, and KeyRemoved at expiry) is reported in
	// the Plan's transitions. Keys absent from it, or all keys when it is nil, report only
	// their removal.
	Observed map[string]State
}

// TransitionType names a change in a key's life; it is also the reason of the Event.
type TransitionType string

// The transitions a Plan reports.
const (
	KeyCreated   TransitionType = "KeyCreated"
	KeyActivated TransitionType = "KeyActivated"
	KeyRetired   TransitionType = "KeyRetired"
	KeyRemoved   TransitionType = "KeyRemoved"
	KeyRevoked   TransitionType = "KeyRevoked"
)

var order = map[TransitionType]int{KeyCreated: 0, KeyActivated: 1, KeyRetired: 2, KeyRemoved: 3, KeyRevoked: 4}

// Transition is one change in one key's life.
type Transition struct {
	Type TransitionType
	KID  string
	// At is when it happened.
	At time.Time
	// Message is a sentence for a person (the Event's note).
	Message string
	// Warning marks a transition that weakened a guarantee, such as a key that signs
	// without having been pre-published.
	Warning bool
}

// Plan is what Schedule decided.
type Plan struct {
	// Keyset is the new set, sorted; never the caller's (which Schedule leaves untouched).
	Keyset *Keyset
	// Changed reports whether Keyset differs from the input and must be written.
	Changed bool
	// Transitions: first what the clock did since the last observation, in time order,
	// then what this pass did.
	Transitions []Transition
	// NextEvent is the earliest instant after now at which the schedule has work to do:
	// a key activates, retires or expires, or a successor must be created.
	NextEvent time.Time
}

// ErrUnknownKey is returned when a revocation names a kid the set does not hold.
var ErrUnknownKey = errors.New("keyset: no such key")

// Schedule moves a keyset along its life at now. It is a pure function of its inputs (key
// generation aside): it decides, the caller writes.
//
// The rules:
//   - An empty set gets one key, active at once.
//   - Each key retires when the next one activates; a retired key expires
//     AccessTokenTTL+ClockSkew later, once every token it signed has expired, and is removed.
//   - A successor is created PrePublish before the active key has signed RotationInterval,
//     and activates then; if that moment has passed (the operator was down), it activates
//     PrePublish from now, so no key ever signs before it has been published.
//   - Rotate and an algorithm change schedule a successor PrePublish from now. A pending
//     successor of another algorithm is replaced: it never signed.
//   - Revoking the active key activates the pending successor at once or, with none, a new
//     key at once (without pre-publication; the transition says so).
//   - With no key active at now (the clock went backwards past the first activation), the
//     earliest key activates at now.
func Schedule(in *Keyset, p Policy, now time.Time, req Requests) (Plan, error) {
	if err := p.validate(); err != nil {
		return Plan{}, err
	}
	s := &scheduler{p: p, now: now}
	if in != nil {
		for _, k := range in.Keys {
			c := *k
			s.keys = append(s.keys, &c)
		}
	}
	s.sort()
	s.observe(req.Observed)
	for _, kid := range req.Revoke {
		if err := s.revoke(kid); err != nil {
			return Plan{}, err
		}
	}
	s.removeExpired()
	if err := s.ensureActive(); err != nil {
		return Plan{}, err
	}
	if err := s.ensureSuccessor(req.Rotate); err != nil {
		return Plan{}, err
	}
	s.chain()

	out := &Keyset{Keys: s.keys}
	out.Sort()
	sort.SliceStable(s.past, func(i, j int) bool {
		a, b := s.past[i], s.past[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		return order[a.Type] < order[b.Type] // the successor activates, then the old key retires
	})
	return Plan{
		Keyset:      out,
		Changed:     s.changed || !sameSchedule(in, out),
		Transitions: append(s.past, s.actions...),
		NextEvent:   s.nextEvent(),
	}, nil
}

type scheduler struct {
	p       Policy
	now     time.Time
	keys    []*SigningKey // sorted by ActivatesAt
	changed bool
	// past holds what the clock did since the caller last looked (activations,
	// retirements, expiries), actions what this pass does.
	past, actions []Transition
}

func (s *scheduler) sort() {
	ks := Keyset{Keys: s.keys}
	ks.Sort()
	s.keys = ks.Keys
}

func (s *scheduler) emit(t Transition) { s.actions = append(s.actions, t) }

func (s *scheduler) remove(kid string) {
	for i, k := range s.keys {
		if k.KID == kid {
			s.keys = append(s.keys[:i], s.keys[i+1:]...)
			s.changed = true
			return
		}
	}
}

func (s *scheduler) active() *SigningKey {
	return (&Keyset{Keys: s.keys}).Active(s.now)
}

// pending returns the keys that have not activated yet, earliest first.
func (s *scheduler) pending() []*SigningKey {
	var out []*SigningKey
	for _, k := range s.keys {
		if k.State(s.now) == StateNext {
			out = append(out, k)
		}
	}
	return out
}

func (s *scheduler) newKey(alg Algorithm, activatesAt time.Time) (*SigningKey, error) {
	k, err := Generate(alg, s.now)
	if err != nil {
		return nil, err
	}
	if activatesAt.After(s.now) {
		k.ActivatesAt = ceilSecond(activatesAt)
	}
	s.keys = append(s.keys, k)
	s.sort()
	s.changed = true
	return k, nil
}

func (s *scheduler) revoke(kid string) error {
	k := (&Keyset{Keys: s.keys}).Lookup(kid)
	if k == nil {
		return fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	state := k.State(s.now)
	wasActive := k == s.active()
	s.remove(kid)
	s.emit(Transition{Type: KeyRevoked, KID: kid, At: s.now, Warning: true,
		Message: fmt.Sprintf("key %s (%s, %s) revoked: tokens it signed no longer validate", kid, k.Algorithm, state)})
	if !wasActive {
		return nil
	}
	if next := s.pending(); len(next) > 0 {
		n := next[0]
		n.ActivatesAt = s.now.Truncate(time.Second)
		s.emit(Transition{Type: KeyActivated, KID: n.KID, At: n.ActivatesAt,
			Message: fmt.Sprintf("key %s (%s) activated at once to replace revoked key %s; it has been published since %s", n.KID, n.Algorithm, kid, n.CreatedAt.Format(time.RFC3339))})
		return nil
	}
	n, err := s.newKey(s.p.Algorithm, s.now)
	if err != nil {
		return err
	}
	s.emit(Transition{Type: KeyCreated, KID: n.KID, At: n.ActivatesAt, Warning: true,
		Message: fmt.Sprintf("key %s (%s) created to replace revoked key %s and signs at once: no pre-publication was possible, so sidecars that have not yet received it reject its tokens until the Secret reaches them", n.KID, n.Algorithm, kid)})
	s.emit(activated(n))
	return nil
}

func (s *scheduler) removeExpired() {
	for _, k := range append([]*SigningKey(nil), s.keys...) {
		if k.State(s.now) == StateExpired {
			s.remove(k.KID)
			s.past = append(s.past, Transition{Type: KeyRemoved, KID: k.KID, At: k.ExpiresAt,
				Message: fmt.Sprintf("key %s (%s) removed: every token it signed has expired", k.KID, k.Algorithm)})
		}
	}
}

// ensureActive makes sure a key signs at now.
func (s *scheduler) ensureActive() error {
	if s.active() != nil {
		return nil
	}
	if next := s.pending(); len(next) > 0 {
		// Reachable only when the clock went back before the first activation, or with a
		// hand-made keyset: the key has been published since it was written, so it is the
		// safest one to sign with.
		n := next[0]
		n.ActivatesAt = s.now.Truncate(time.Second)
		s.changed = true
		t := activated(n)
		t.Warning = true
		t.Message = fmt.Sprintf("key %s (%s) activated at once: no key was active at %s (did the clock go backwards?)", n.KID, n.Algorithm, s.now.UTC().Format(time.RFC3339))
		s.emit(t)
		return nil
	}
	n, err := s.newKey(s.p.Algorithm, s.now)
	if err != nil {
		return err
	}
	s.emit(Transition{Type: KeyCreated, KID: n.KID, At: n.ActivatesAt,
		Message: fmt.Sprintf("key %s (%s) created, active at once: the set had no key to sign with", n.KID, n.Algorithm)})
	s.emit(activated(n))
	return nil
}

func activated(k *SigningKey) Transition {
	return Transition{Type: KeyActivated, KID: k.KID, At: k.ActivatesAt,
		Message: fmt.Sprintf("key %s (%s) now signs new tokens", k.KID, k.Algorithm)}
}

// ensureSuccessor creates the active key's successor when it is due, requested, or needed
// for an algorithm change.
func (s *scheduler) ensureSuccessor(rotate bool) error {
	for _, n := range s.pending() {
		if n.Algorithm != s.p.Algorithm {
			s.remove(n.KID)
			s.emit(Transition{Type: KeyRemoved, KID: n.KID, At: s.now,
				Message: fmt.Sprintf("pending key %s (%s) removed before it ever signed: the policy now signs with %s", n.KID, n.Algorithm, s.p.Algorithm)})
		}
	}
	if len(s.pending()) > 0 {
		return nil
	}
	a := s.active()
	earliest := s.now.Add(s.p.PrePublish)
	var activatesAt time.Time
	var why string
	switch due := a.ActivatesAt.Add(s.p.RotationInterval); {
	case a.Algorithm != s.p.Algorithm:
		activatesAt, why = earliest, fmt.Sprintf("the algorithm changed from %s to %s", a.Algorithm, s.p.Algorithm)
	case rotate:
		activatesAt, why = earliest, "rotation requested"
	case !s.now.Before(due.Add(-s.p.PrePublish)):
		activatesAt, why = due, "scheduled rotation"
		if due.Before(earliest) {
			activatesAt, why = earliest, fmt.Sprintf("scheduled rotation, late: it was due at %s", due.UTC().Format(time.RFC3339))
		}
	default:
		return nil
	}
	n, err := s.newKey(s.p.Algorithm, activatesAt)
	if err != nil {
		return err
	}
	s.emit(Transition{Type: KeyCreated, KID: n.KID, At: n.CreatedAt,
		Message: fmt.Sprintf("key %s (%s) created and published (%s); it signs from %s", n.KID, n.Algorithm, why, n.ActivatesAt.UTC().Format(time.RFC3339))})
	return nil
}

// chain sets each key's retirement to its successor's activation. A key that has already
// retired keeps its times (they are only ever shortened, never extended: its tokens exist
// already); the active and pending keys follow their successors; the last key has none.
func (s *scheduler) chain() {
	for i, k := range s.keys {
		var retires time.Time
		if i+1 < len(s.keys) {
			retires = s.keys[i+1].ActivatesAt
		}
		retired := !k.RetiresAt.IsZero() && !s.now.Before(k.RetiresAt)
		switch {
		case !retired:
			k.RetiresAt = retires
		case !retires.IsZero() && retires.Before(k.RetiresAt):
			k.RetiresAt = retires
		}
		switch expires := ceilSecond(k.RetiresAt.Add(s.p.validity())); {
		case k.RetiresAt.IsZero():
			k.ExpiresAt = time.Time{}
		case retired && k.ExpiresAt.After(expires):
			// Never shorten an expiry: tokens issued under a longer TTL are still valid.
		default:
			k.ExpiresAt = expires
		}
	}
}

// observe reports what the clock did to the input keys since the caller last saw them
// (observed): activations and retirements.
func (s *scheduler) observe(observed map[string]State) {
	if observed == nil {
		return
	}
	for _, k := range s.keys {
		was, ok := observed[k.KID]
		if !ok {
			continue
		}
		now := k.State(s.now)
		if rank(was) < rank(StateActive) && rank(now) >= rank(StateActive) {
			s.past = append(s.past, activated(k))
		}
		if rank(was) < rank(StateRetired) && rank(now) >= rank(StateRetired) {
			s.past = append(s.past, Transition{Type: KeyRetired, KID: k.KID, At: k.RetiresAt,
				Message: fmt.Sprintf("key %s (%s) retired: it signs no more, and stays published until %s, when the last tokens it signed expire", k.KID, k.Algorithm, k.ExpiresAt.UTC().Format(time.RFC3339))})
		}
	}
}

func rank(st State) int {
	switch st {
	case StateNext:
		return 0
	case StateActive:
		return 1
	case StateRetired:
		return 2
	}
	return 3
}

func (s *scheduler) nextEvent() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(s.now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, k := range s.keys {
		consider(k.ActivatesAt)
		consider(k.RetiresAt)
		consider(k.ExpiresAt)
	}
	if a := s.active(); a != nil && len(s.pending()) == 0 {
		consider(a.ActivatesAt.Add(s.p.RotationInterval - s.p.PrePublish))
	}
	return next
}

// sameSchedule reports whether two sets hold the same keys with the same times.
func sameSchedule(a, b *Keyset) bool {
	if a == nil {
		return b == nil || len(b.Keys) == 0
	}
	if len(a.Keys) != len(b.Keys) {
		return false
	}
	byKID := make(map[string]*SigningKey, len(a.Keys))
	for _, k := range a.Keys {
		byKID[k.KID] = k
	}
	for _, k := range b.Keys {
		o := byKID[k.KID]
		if o == nil || !o.ActivatesAt.Equal(k.ActivatesAt) || !o.RetiresAt.Equal(k.RetiresAt) || !o.ExpiresAt.Equal(k.ExpiresAt) {
			return false
		}
	}
	return true
}

func ceilSecond(t time.Time) time.Time {
	if c := t.Truncate(time.Second); !c.Equal(t) {
		return c.Add(time.Second)
	}
	return t
}
