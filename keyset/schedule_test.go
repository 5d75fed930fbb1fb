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

package keyset_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/keyset"
)

var (
	t0     = time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	policy = keyset.Policy{
		Algorithm:        keyset.ES256,
		RotationInterval: 24 * time.Hour,
		PrePublish:       5 * time.Minute,
		AccessTokenTTL:   15 * time.Minute,
		ClockSkew:        30 * time.Second,
	}
	// validity is how long a retired key stays: accessTokenTTL + clockSkew.
	validity = 15*time.Minute + 30*time.Second
)

// life drives Schedule through a sequence of instants, like the reconciler does: it keeps
// the keyset each plan returns and reports the states it saw as Observed. Keys get the
// labels K1, K2, ... in the order they appear.
type life struct {
	t        *testing.T
	policy   keyset.Policy
	ks       *keyset.Keyset
	observed map[string]keyset.State
	labels   map[string]string // kid -> label
	kids     map[string]string // label -> kid
	plan     keyset.Plan
}

func newLife(t *testing.T, p keyset.Policy) *life {
	return &life{t: t, policy: p, labels: map[string]string{}, kids: map[string]string{}}
}

// at runs one pass at t0+d. Revocations name keys by label.
func (l *life) at(d time.Duration, rotate bool, revoke ...string) keyset.Plan {
	l.t.Helper()
	now := t0.Add(d)
	var kids []string
	for _, label := range revoke {
		kids = append(kids, l.kids[label])
	}
	plan, err := keyset.Schedule(l.ks, l.policy, now, keyset.Requests{Rotate: rotate, Revoke: kids, Observed: l.observed})
	if err != nil {
		l.t.Fatalf("Schedule at t0+%s: %v", d, err)
	}
	for _, k := range plan.Keyset.Keys {
		if _, ok := l.labels[k.KID]; !ok {
			label := fmt.Sprintf("K%d", len(l.labels)+1)
			l.labels[k.KID], l.kids[label] = label, k.KID
		}
	}
	l.ks, l.plan = plan.Keyset, plan
	l.observed = map[string]keyset.State{}
	for _, k := range plan.Keyset.Keys {
		l.observed[k.KID] = k.State(now)
	}
	return plan
}

// states renders "K1=Active K2=Next" at t0+d.
func (l *life) states(d time.Duration) string {
	var out []string
	for _, k := range l.ks.Keys {
		out = append(out, l.labels[k.KID]+"="+string(k.State(t0.Add(d))))
	}
	return strings.Join(out, " ")
}

// transitions renders "KeyCreated K1, KeyActivated K1".
func (l *life) transitions(p keyset.Plan) string {
	var out []string
	for _, tr := range p.Transitions {
		label := l.labels[tr.KID]
		if label == "" {
			label = "?" + tr.KID
		}
		out = append(out, string(tr.Type)+" "+label)
	}
	return strings.Join(out, ", ")
}

func (l *life) key(label string) *keyset.SigningKey { return l.ks.Lookup(l.kids[label]) }

type instant struct {
	name        string
	at          time.Duration
	rotate      bool
	revoke      []string
	states      string
	changed     bool
	transitions string
	next        time.Duration // NextEvent - t0
}

func walk(t *testing.T, l *life, steps []instant) {
	t.Helper()
	for _, s := range steps {
		plan := l.at(s.at, s.rotate, s.revoke...)
		if got := l.states(s.at); got != s.states {
			t.Errorf("%s (t0+%s): states %q, want %q", s.name, s.at, got, s.states)
		}
		if plan.Changed != s.changed {
			t.Errorf("%s (t0+%s): Changed=%v, want %v", s.name, s.at, plan.Changed, s.changed)
		}
		if got := l.transitions(plan); got != s.transitions {
			t.Errorf("%s (t0+%s): transitions %q, want %q", s.name, s.at, got, s.transitions)
		}
		if got := plan.NextEvent.Sub(t0); got != s.next {
			t.Errorf("%s (t0+%s): NextEvent t0+%s, want t0+%s", s.name, s.at, got, s.next)
		}
	}
}

const day = 24 * time.Hour

func TestScheduleAtEveryInstantOfAKeysLife(t *testing.T) {
	l := newLife(t, policy)
	walk(t, l, []instant{
		{name: "an empty set gets a key active at once", at: 0,
			states: "K1=Active", changed: true, transitions: "KeyCreated K1, KeyActivated K1", next: day - 5*time.Minute},
		{name: "nothing to do while the key signs", at: time.Hour,
			states: "K1=Active", next: day - 5*time.Minute},
		{name: "one second before pre-publication", at: day - 5*time.Minute - time.Second,
			states: "K1=Active", next: day - 5*time.Minute},
		{name: "the successor is published prePublish before the interval ends", at: day - 5*time.Minute,
			states: "K1=Active K2=Next", changed: true, transitions: "KeyCreated K2", next: day},
		{name: "the pending successor changes nothing while it waits", at: day - time.Second,
			states: "K1=Active K2=Next", next: day},
		{name: "the successor signs and the old key retires at the same instant", at: day,
			states: "K1=Retired K2=Active", transitions: "KeyActivated K2, KeyRetired K1", next: day + validity},
		{name: "the retired key stays while its tokens may be valid", at: day + validity - time.Second,
			states: "K1=Retired K2=Active", next: day + validity},
		{name: "the retired key is removed when its last token expires", at: day + validity,
			states: "K2=Active", changed: true, transitions: "KeyRemoved K1", next: 2*day - 5*time.Minute},
		{name: "the next rotation is due an interval after the activation", at: 2*day - 5*time.Minute,
			states: "K2=Active K3=Next", changed: true, transitions: "KeyCreated K3", next: 2 * day},
	})
	k1 := l.ks.Lookup(l.kids["K1"])
	if k1 != nil {
		t.Errorf("K1 still in the set: %+v", k1)
	}
	k2 := l.key("K2")
	if !k2.RetiresAt.Equal(t0.Add(2*day)) || !k2.ExpiresAt.Equal(t0.Add(2*day+validity)) {
		t.Errorf("K2 retires %s, expires %s; want t0+48h and t0+48h+%s", k2.RetiresAt, k2.ExpiresAt, validity)
	}
	if k2.CreatedAt.Equal(k2.ActivatesAt) || k2.ActivatesAt.Sub(k2.CreatedAt) != 5*time.Minute {
		t.Errorf("K2 created %s, activates %s: want exactly prePublish between", k2.CreatedAt, k2.ActivatesAt)
	}
}

func TestScheduleWhenTheManagerWasDown(t *testing.T) {
	t.Run("longer than a whole interval, the successor still gets its full pre-publication", func(t *testing.T) {
		l := newLife(t, policy)
		walk(t, l, []instant{
			{at: 0, states: "K1=Active", changed: true, transitions: "KeyCreated K1, KeyActivated K1", next: day - 5*time.Minute},
			{name: "back after two and a half intervals", at: 60 * time.Hour,
				states: "K1=Active K2=Next", changed: true, transitions: "KeyCreated K2", next: 60*time.Hour + 5*time.Minute},
			{name: "the late successor activates prePublish after it was created", at: 60*time.Hour + 5*time.Minute,
				states: "K1=Retired K2=Active", transitions: "KeyActivated K2, KeyRetired K1", next: 60*time.Hour + 5*time.Minute + validity},
		})
		if msg := l.plan.Transitions[0].Message; !strings.Contains(msg, "now signs") {
			t.Errorf("activation message %q", msg)
		}
	})
	t.Run("across an activation and an expiry, every missed transition is reported in order", func(t *testing.T) {
		l := newLife(t, policy)
		walk(t, l, []instant{
			{at: 0, states: "K1=Active", changed: true, transitions: "KeyCreated K1, KeyActivated K1", next: day - 5*time.Minute},
			{at: day - 5*time.Minute, states: "K1=Active K2=Next", changed: true, transitions: "KeyCreated K2", next: day},
			{name: "back six hours later", at: 30 * time.Hour,
				states: "K2=Active", changed: true, transitions: "KeyActivated K2, KeyRetired K1, KeyRemoved K1", next: 2*day - 5*time.Minute},
		})
	})
	t.Run("across a pending activation and past the next due time, rotation resumes at once", func(t *testing.T) {
		l := newLife(t, policy)
		walk(t, l, []instant{
			{at: 0, states: "K1=Active", changed: true, transitions: "KeyCreated K1, KeyActivated K1", next: day - 5*time.Minute},
			{at: day - 5*time.Minute, states: "K1=Active K2=Next", changed: true, transitions: "KeyCreated K2", next: day},
			{name: "back three days later", at: 4 * day,
				states: "K2=Active K3=Next", changed: true, transitions: "KeyActivated K2, KeyRetired K1, KeyRemoved K1, KeyCreated K3", next: 4*day + 5*time.Minute},
		})
		if msg := l.plan.Transitions[3].Message; !strings.Contains(msg, "late") {
			t.Errorf("late creation message %q does not say it is late", msg)
		}
	})
}

func TestScheduleWhenTheClockJumps(t *testing.T) {
	t.Run("backwards within the rotation, the keys keep their times", func(t *testing.T) {
		l := newLife(t, policy)
		walk(t, l, []instant{
			{at: 0, states: "K1=Active", changed: true, transitions: "KeyCreated K1, KeyActivated K1", next: day - 5*time.Minute},
			{at: day - 5*time.Minute, states: "K1=Active K2=Next", changed: true, transitions: "KeyCreated K2", next: day},
			{at: day + time.Minute, states: "K1=Retired K2=Active", transitions: "KeyActivated K2, KeyRetired K1", next: day + validity},
			{name: "an hour back, K1 signs again by this clock", at: day - time.Hour,
				states: "K1=Active K2=Next", next: day},
			{name: "forward again", at: day + 2*time.Minute,
				states: "K1=Retired K2=Active", transitions: "KeyActivated K2, KeyRetired K1", next: day + validity},
		})
	})
	t.Run("backwards before the first activation, the earliest key activates at once", func(t *testing.T) {
		l := newLife(t, policy)
		walk(t, l, []instant{
			{at: 0, states: "K1=Active", changed: true, transitions: "KeyCreated K1, KeyActivated K1", next: day - 5*time.Minute},
			{name: "an hour before the key existed", at: -time.Hour,
				states: "K1=Active", changed: true, transitions: "KeyActivated K1", next: day - time.Hour - 5*time.Minute},
		})
		if tr := l.plan.Transitions[0]; !tr.Warning || !strings.Contains(tr.Message, "clock") {
			t.Errorf("transition %+v should be a warning about the clock", tr)
		}
	})
	t.Run("forwards past several intervals, one successor and no key skipped", func(t *testing.T) {
		l := newLife(t, policy)
		walk(t, l, []instant{
			{at: 0, states: "K1=Active", changed: true, transitions: "KeyCreated K1, KeyActivated K1", next: day - 5*time.Minute},
			{at: 365 * day, states: "K1=Active K2=Next", changed: true, transitions: "KeyCreated K2", next: 365*day + 5*time.Minute},
		})
	})
}

func TestScheduleOnDemand(t *testing.T) {
	t.Run("rotate publishes a successor that signs prePublish later", func(t *testing.T) {
		l := newLife(t, policy)
		walk(t, l, []instant{
			{at: 0, states: "K1=Active", changed: true, transitions: "KeyCreated K1, KeyActivated K1", next: day - 5*time.Minute},
			{at: time.Hour, rotate: true, states: "K1=Active K2=Next", changed: true, transitions: "KeyCreated K2", next: time.Hour + 5*time.Minute},
			{name: "a second request while one is pending changes nothing", at: time.Hour + time.Minute, rotate: true,
				states: "K1=Active K2=Next", next: time.Hour + 5*time.Minute},
			{at: time.Hour + 5*time.Minute, states: "K1=Retired K2=Active", transitions: "KeyActivated K2, KeyRetired K1", next: time.Hour + 5*time.Minute + validity},
			{name: "the next scheduled rotation counts from the new activation", at: time.Hour + 5*time.Minute + validity,
				states: "K2=Active", changed: true, transitions: "KeyRemoved K1", next: day + time.Hour},
		})
	})
	t.Run("an algorithm change rotates to a key of the new algorithm with the same pre-publication", func(t *testing.T) {
		l := newLife(t, policy)
		walk(t, l, []instant{
			{at: 0, states: "K1=Active", changed: true, transitions: "KeyCreated K1, KeyActivated K1", next: day - 5*time.Minute},
		})
		l.policy.Algorithm = keyset.EdDSA
		walk(t, l, []instant{
			{at: time.Hour, states: "K1=Active K2=Next", changed: true, transitions: "KeyCreated K2", next: time.Hour + 5*time.Minute},
			{at: time.Hour + 5*time.Minute, states: "K1=Retired K2=Active", transitions: "KeyActivated K2, KeyRetired K1", next: time.Hour + 5*time.Minute + validity},
		})
		if a := l.key("K2").Algorithm; a != keyset.EdDSA {
			t.Errorf("K2 is %s, want EdDSA", a)
		}
	})
	t.Run("an algorithm change replaces a pending successor of the old algorithm", func(t *testing.T) {
		l := newLife(t, policy)
		walk(t, l, []instant{
			{at: 0, states: "K1=Active", changed: true, transitions: "KeyCreated K1, KeyActivated K1", next: day - 5*time.Minute},
			{at: day - 5*time.Minute, states: "K1=Active K2=Next", changed: true, transitions: "KeyCreated K2", next: day},
		})
		l.policy.Algorithm = keyset.RS256
		walk(t, l, []instant{
			{at: day - 3*time.Minute, states: "K1=Active K3=Next", changed: true, transitions: "KeyRemoved K2, KeyCreated K3", next: day + 2*time.Minute},
		})
		if k1, k3 := l.key("K1"), l.key("K3"); !k1.RetiresAt.Equal(k3.ActivatesAt) || k3.Algorithm != keyset.RS256 {
			t.Errorf("K1 retires %s, K3 (%s) activates %s", k1.RetiresAt, k3.Algorithm, k3.ActivatesAt)
		}
	})
}

func TestScheduleRevocation(t *testing.T) {
	t.Run("revoking the active key activates the pending successor at once", func(t *testing.T) {
		l := newLife(t, policy)
		walk(t, l, []instant{
			{at: 0, states: "K1=Active", changed: true, transitions: "KeyCreated K1, KeyActivated K1", next: day - 5*time.Minute},
			{at: day - 5*time.Minute, states: "K1=Active K2=Next", changed: true, transitions: "KeyCreated K2", next: day},
			{at: day - 2*time.Minute, revoke: []string{"K1"}, states: "K2=Active", changed: true, transitions: "KeyRevoked K1, KeyActivated K2", next: 2*day - 7*time.Minute},
		})
	})
	t.Run("revoking the active key with no successor creates a key active at once and says it was not pre-published", func(t *testing.T) {
		l := newLife(t, policy)
		walk(t, l, []instant{
			{at: 0, states: "K1=Active", changed: true, transitions: "KeyCreated K1, KeyActivated K1", next: day - 5*time.Minute},
			{at: time.Hour, revoke: []string{"K1"}, states: "K2=Active", changed: true, transitions: "KeyRevoked K1, KeyCreated K2, KeyActivated K2", next: day + time.Hour - 5*time.Minute},
		})
		if tr := l.plan.Transitions[1]; !tr.Warning || !strings.Contains(tr.Message, "no pre-publication") {
			t.Errorf("creation %+v should warn that there was no pre-publication", tr)
		}
	})
	t.Run("revoking the pending key unschedules it and a new successor follows the schedule", func(t *testing.T) {
		l := newLife(t, policy)
		walk(t, l, []instant{
			{at: 0, states: "K1=Active", changed: true, transitions: "KeyCreated K1, KeyActivated K1", next: day - 5*time.Minute},
			{at: day - 5*time.Minute, states: "K1=Active K2=Next", changed: true, transitions: "KeyCreated K2", next: day},
			{at: day - time.Minute, revoke: []string{"K2"}, states: "K1=Active K3=Next", changed: true, transitions: "KeyRevoked K2, KeyCreated K3", next: day + 4*time.Minute},
		})
	})
	t.Run("revoking a retired key removes it before its expiry", func(t *testing.T) {
		l := newLife(t, policy)
		walk(t, l, []instant{
			{at: 0, states: "K1=Active", changed: true, transitions: "KeyCreated K1, KeyActivated K1", next: day - 5*time.Minute},
			{at: time.Hour, rotate: true, states: "K1=Active K2=Next", changed: true, transitions: "KeyCreated K2", next: time.Hour + 5*time.Minute},
			{at: time.Hour + 6*time.Minute, revoke: []string{"K1"}, states: "K2=Active", changed: true, transitions: "KeyActivated K2, KeyRetired K1, KeyRevoked K1", next: day + time.Hour},
		})
	})
	t.Run("revoking an unknown key is an error and changes nothing", func(t *testing.T) {
		l := newLife(t, policy)
		l.at(0, false)
		before, _ := l.ks.Marshal()
		_, err := keyset.Schedule(l.ks, policy, t0.Add(time.Hour), keyset.Requests{Revoke: []string{"nosuchkey"}})
		if !errors.Is(err, keyset.ErrUnknownKey) || !strings.Contains(err.Error(), "nosuchkey") {
			t.Fatalf("err = %v, want ErrUnknownKey naming the kid", err)
		}
		if after, _ := l.ks.Marshal(); string(after) != string(before) {
			t.Error("the input keyset was modified")
		}
	})
}

func TestScheduleLeavesItsInputAlone(t *testing.T) {
	l := newLife(t, policy)
	l.at(0, false)
	in := l.ks
	before, _ := in.Marshal()
	if _, err := keyset.Schedule(in, policy, t0.Add(day), keyset.Requests{Rotate: true}); err != nil {
		t.Fatal(err)
	}
	if after, _ := in.Marshal(); string(after) != string(before) {
		t.Errorf("input changed:\n%s\nwant\n%s", after, before)
	}
}

func TestScheduleKeepsTimesOnWholeSeconds(t *testing.T) {
	now := t0.Add(1234567 * time.Microsecond)
	plan, err := keyset.Schedule(nil, policy, now, keyset.Requests{})
	if err != nil {
		t.Fatal(err)
	}
	plan, err = keyset.Schedule(plan.Keyset, policy, now, keyset.Requests{Rotate: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range plan.Keyset.Keys {
		for _, tm := range []time.Time{k.CreatedAt, k.ActivatesAt, k.RetiresAt, k.ExpiresAt} {
			if !tm.Equal(tm.Truncate(time.Second)) {
				t.Errorf("key %s has a time with a fraction of a second: %s", k.KID, tm)
			}
		}
	}
	if next := plan.Keyset.Keys[1]; next.ActivatesAt.Sub(now) < policy.PrePublish {
		t.Errorf("rounding shortened the pre-publication: activates %s, now %s", next.ActivatesAt, now)
	}
}

func TestScheduleRefusesABadPolicy(t *testing.T) {
	for name, p := range map[string]keyset.Policy{
		"unknown algorithm":                  {Algorithm: "none", RotationInterval: day, PrePublish: time.Minute, AccessTokenTTL: time.Minute},
		"prePublish as long as the interval": {Algorithm: keyset.ES256, RotationInterval: time.Hour, PrePublish: time.Hour, AccessTokenTTL: time.Minute},
		"no token lifetime":                  {Algorithm: keyset.ES256, RotationInterval: time.Hour, PrePublish: time.Minute},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := keyset.Schedule(nil, p, t0, keyset.Requests{}); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestScheduleProperties walks the schedule through random instants and requests and checks,
// at every step, what sidecars rely on: exactly one key signs at any instant; no key signs
// before it has been published prePublish (except where no pre-publication was possible);
// every key that can have signed a still-valid token is in the set; NextEvent is in the
// future and nothing happens before it.
func TestScheduleProperties(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			propertyWalk(t, seed)
		})
	}
}

func propertyWalk(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	p := keyset.Policy{
		Algorithm:        keyset.ES256,
		RotationInterval: time.Duration(1+rng.IntN(48)) * time.Hour,
		PrePublish:       time.Duration(1+rng.IntN(30)) * time.Minute,
		AccessTokenTTL:   time.Duration(1+rng.IntN(60)) * time.Minute,
		ClockSkew:        time.Duration(rng.IntN(120)) * time.Second,
	}
	valid := p.AccessTokenTTL + p.ClockSkew

	var ks *keyset.Keyset
	now := t0
	var observed map[string]keyset.State
	published := map[string]time.Time{} // kid -> the step it first appeared at
	atOnce := map[string]bool{}         // kids allowed to sign without pre-publication
	lastSigned := map[string]time.Time{}
	revoked := map[string]bool{}
	var nextEvent time.Time

	for step := 0; step < 400; step++ {
		prev := now
		switch r := rng.IntN(10); {
		case step == 0:
		case r < 5 && !nextEvent.IsZero():
			now = nextEvent // the requeue
		case r < 7:
			now = now.Add(time.Duration(rng.Int64N(int64(p.RotationInterval / 2))))
		case r < 8:
			now = now.Add(time.Duration(rng.Int64N(int64(3 * p.RotationInterval)))) // manager down
		default:
			now = now.Add(time.Duration(rng.Int64N(int64(time.Minute))) + 17*time.Millisecond)
		}
		if step > 0 && !nextEvent.IsZero() && now.Before(nextEvent) {
			// Nothing may happen between passes but what the last plan announced.
			if got := ks.Active(now); got != ks.Active(prev) {
				t.Fatalf("step %d: the signing key changed at %s, before NextEvent %s", step, now, nextEvent)
			}
		}

		// Keys that signed between the previous pass and this one, by the keyset in force.
		if ks != nil {
			for _, k := range ks.Keys {
				start := later(k.ActivatesAt, prev)
				end := now
				if !k.RetiresAt.IsZero() && k.RetiresAt.Before(end) {
					end = k.RetiresAt
				}
				if start.Before(end) || (start.Equal(end) && start.Equal(now)) {
					if !atOnce[k.KID] && start.Sub(published[k.KID]) < p.PrePublish {
						t.Fatalf("step %d: key %s signed at %s, only %s after it was published", step, k.KID, start, start.Sub(published[k.KID]))
					}
					lastSigned[k.KID] = later(lastSigned[k.KID], end)
				}
			}
		}

		req := keyset.Requests{Observed: observed}
		switch r := rng.IntN(40); {
		case r == 0:
			req.Rotate = true
		case r == 1 && ks != nil:
			k := ks.Keys[rng.IntN(len(ks.Keys))]
			req.Revoke = []string{k.KID}
		case r == 2:
			p.Algorithm = keyset.Algorithms[rng.IntN(3)] // not RS256 key generation: too slow for 8000 steps
			if p.Algorithm == keyset.RS256 {
				p.Algorithm = keyset.HS256
			}
		}
		hadSigner := ks != nil && ks.Active(now) != nil
		hadPending := false
		if ks != nil {
			for _, k := range ks.Keys {
				hadPending = hadPending || k.State(now) == keyset.StateNext
			}
		}
		plan, err := keyset.Schedule(ks, p, now, req)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		for _, kid := range req.Revoke {
			revoked[kid] = true
		}
		for _, k := range plan.Keyset.Keys {
			if _, ok := published[k.KID]; !ok {
				published[k.KID] = now
				if !k.ActivatesAt.After(now) {
					revokedSigner := len(req.Revoke) > 0 && !hadPending
					if hadSigner && !revokedSigner {
						t.Fatalf("step %d: key %s created active at once though a key was signing", step, k.KID)
					}
					atOnce[k.KID] = true
				}
			}
			if k.State(now) == keyset.StateExpired {
				t.Fatalf("step %d: expired key %s kept", step, k.KID)
			}
		}
		// A pending key activated at once by a revocation was published before, but maybe
		// for less than prePublish: that is the documented price of a revocation.
		for _, tr := range plan.Transitions {
			if tr.Type == keyset.KeyActivated && len(req.Revoke) > 0 {
				atOnce[tr.KID] = true
			}
		}

		var signing []string
		for _, k := range plan.Keyset.Keys {
			if k.State(now) == keyset.StateActive {
				signing = append(signing, k.KID)
			}
		}
		if len(signing) != 1 {
			t.Fatalf("step %d at %s: %d active keys %v, want exactly one", step, now, len(signing), signing)
		}
		for kid, last := range lastSigned {
			if revoked[kid] || !now.Before(last.Add(valid)) {
				continue
			}
			if plan.Keyset.Lookup(kid) == nil {
				t.Fatalf("step %d: key %s signed a token at %s still valid at %s, but is gone", step, kid, last, now)
			}
		}
		if !plan.NextEvent.After(now) {
			t.Fatalf("step %d: NextEvent %s is not after now %s", step, plan.NextEvent, now)
		}
		if jwks, err := plan.Keyset.JWKS(now); err != nil || len(jwks) == 0 {
			t.Fatalf("step %d: JWKS: %v", step, err)
		}

		ks, nextEvent = plan.Keyset, plan.NextEvent
		observed = map[string]keyset.State{}
		for _, k := range ks.Keys {
			observed[k.KID] = k.State(now)
		}
	}
	if len(published) < 3 {
		t.Errorf("the walk saw only %d keys: it does not exercise rotation", len(published))
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// TestScheduleClockBackAndForth jumps the clock both ways at random and checks that one key
// always signs and NextEvent is ahead.
func TestScheduleClockBackAndForth(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var ks *keyset.Keyset
	now := t0
	for step := 0; step < 2000; step++ {
		now = now.Add(time.Duration(rng.Int64N(int64(2*day))) - day)
		plan, err := keyset.Schedule(ks, policy, now, keyset.Requests{Rotate: rng.IntN(20) == 0})
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		n := 0
		for _, k := range plan.Keyset.Keys {
			if k.State(now) == keyset.StateActive {
				n++
			}
		}
		if n != 1 || !plan.NextEvent.After(now) {
			t.Fatalf("step %d at %s: %d active keys, NextEvent %s", step, now, n, plan.NextEvent)
		}
		if len(plan.Keyset.Keys) > 4 {
			t.Fatalf("step %d: %d keys: the set grows without bound", step, len(plan.Keyset.Keys))
		}
		ks = plan.Keyset
	}
}
