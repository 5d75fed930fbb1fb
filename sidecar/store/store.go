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

// Package store keeps what sidecars of one policy share: refresh token families,
// revocations and login attempt counters, in memory (one replica) or in Redis (several).
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors a Store returns. Callers map them to HTTP statuses; anything else is a store
// failure (503).
var (
	// ErrNotFound: no such refresh token, or it expired, or its family was revoked.
	ErrNotFound = errors.New("refresh token not found")
	// ErrReused: the refresh token was already spent. The store has revoked its family.
	ErrReused = errors.New("refresh token reused")
	// ErrUnavailable wraps failures to reach the store.
	ErrUnavailable = errors.New("store unavailable")
	// ErrTampered: a stored refresh token record failed authentication: it was written or
	// changed by something that does not hold the policy's record key. It wraps ErrNotFound:
	// to a client, such a token is unknown.
	ErrTampered = fmt.Errorf("%w: the stored record failed authentication", ErrNotFound)
)

// RefreshToken is what the store keeps of an issued refresh token. The token itself never
// reaches the store: Hash is the hex SHA-256 of it.
type RefreshToken struct {
	Hash    string
	Subject string
	Role    string
	// Family is the id shared by every token descended from one login.
	Family string
	// Parent is the hash of the token this one replaced ("" for the login's first token).
	Parent    string
	IssuedAt  time.Time
	ExpiresAt time.Time // absolute: the family's end, the same for every token of a family
}

// RevocationKind says what a Revocation revokes.
type RevocationKind string

const (
	// RevokedToken revokes one access token by its jti.
	RevokedToken RevocationKind = "jti"
	// RevokedSession revokes every access token of one refresh family (claim sid).
	RevokedSession RevocationKind = "sid"
	// RevokedSubject revokes every access token of a subject issued before IssuedBefore.
	// Logout-all no longer writes it (it revokes each session by sid, which needs no
	// clock); sidecars still honour one written by an older version.
	RevokedSubject RevocationKind = "sub"
)

// SessionIndexRetention is how long after its end a session stays in its subject's index:
// the longest access token lifetime a policy allows (24h) plus the largest clock skew
// (5m). A session refreshed just before its end issued an access token that lives on that
// long, and RevokeSubject must still reach it.
const SessionIndexRetention = 24*time.Hour + 5*time.Minute

// Revocation is one entry of the revocation list. It is dropped at Until, when no token it
// could match is still valid.
type Revocation struct {
	Kind         RevocationKind
	ID           string
	IssuedBefore time.Time // RevokedSubject only
	Until        time.Time
}

// ReleaseSlack is how much longer than its releaser reckons a window may still run and be the
// reservation's own window: the store's answer took time to arrive, and stores count whole
// milliseconds. A later window, opened after the reservation's ended, has nearly its whole
// length to run.
const ReleaseSlack = 50 * time.Millisecond

// Store is the shared state of one policy's sidecars. Every method is safe for concurrent
// use and bounded in time by ctx and by the store's own timeouts.
type Store interface {
	// CreateRefresh stores the first token of a new family.
	CreateRefresh(ctx context.Context, t RefreshToken) error

	// RotateRefresh spends the token with hash oldHash and stores next in its place, in one
	// atomic step: of concurrent calls with the same oldHash exactly one succeeds. next's
	// Subject, Role, Family, Parent and ExpiresAt are taken from the old token; the old
	// token is returned.
	//
	// A spent oldHash presented again within reuseInterval of its spending gets next as
	// one more successor in the same family, with no revocation (a client retrying after a
	// lost response, two tabs refreshing at once). Later, it revokes the whole family (every
	// token of it, and a RevokedSession revocation for the family until its ExpiresAt) and
	// returns the spent token with ErrReused. A next already stored as oldHash's successor
	// is a retry of the same call and succeeds again. An unknown, expired or revoked oldHash
	// returns ErrNotFound.
	RotateRefresh(ctx context.Context, oldHash string, next RefreshToken, now time.Time, reuseInterval time.Duration) (RefreshToken, error)

	// UndoRotation takes back a rotation whose successor never reached the client (the
	// sidecar could not sign its access token): the successor nextHash is forgotten, and
	// oldHash, if that was its first successor, is unspent again, so the client may retry.
	// A successor that has been spent already is left alone. Undoing what is not there is
	// not an error.
	UndoRotation(ctx context.Context, oldHash, nextHash string) error

	// LookupRefresh returns the live token with this hash, or ErrNotFound.
	LookupRefresh(ctx context.Context, hash string, now time.Time) (RefreshToken, error)

	// RevokeFamily makes every token of the family unusable and publishes a RevokedSession
	// revocation until `until`.
	RevokeFamily(ctx context.Context, family string, until time.Time) error

	// RevokeSubject ends every session of the subject that exists now, in one atomic step:
	// every family recorded for the subject by CreateRefresh (ended ones included, for
	// SessionIndexRetention) has its tokens made unusable and gets a RevokedSession
	// revocation until `until`, published like any other. It returns those revocations.
	// A session created after it is untouched, whatever the replicas' clocks say.
	RevokeSubject(ctx context.Context, subject string, until time.Time) ([]Revocation, error)

	// Revoke adds one revocation (a logged-out access token) and publishes it.
	Revoke(ctx context.Context, r Revocation) error

	// Revocations returns every revocation still in force at now.
	Revocations(ctx context.Context, now time.Time) ([]Revocation, error)

	// Watch calls onRevoke for each revocation published from now on by any replica
	// (this one included), and onResync after (re)connecting, when the caller must reload
	// Revocations because some may have been missed. It returns when ctx ends.
	Watch(ctx context.Context, onRevoke func(Revocation), onResync func())

	// Attempts returns the count under key and how long until it resets.
	Attempts(ctx context.Context, key string) (int, time.Duration, error)

	// AddAttempt adds one to the count under key, starting a window of the given length if
	// none is open, and returns the new count and how long until it resets.
	AddAttempt(ctx context.Context, key string, window time.Duration) (int, time.Duration, error)

	// ReleaseAttempt gives back one attempt added under key: the count drops by one, never
	// below zero, and the window stays. A caller reserves an attempt with AddAttempt before
	// the work it limits, so that concurrent callers cannot all pass the limit, and releases
	// it when the attempt turned out not to count.
	//
	// left is how long the reservation's window still has to run as the caller reckons it
	// (what AddAttempt answered, less the time since). The window under key must not have
	// longer, or it is a later window, opened after the reservation's ended, whose count is
	// other attempts' only: it stays. With left <= 0 nothing is given back.
	ReleaseAttempt(ctx context.Context, key string, left time.Duration) error

	// ClearAttempts resets the count under key.
	ClearAttempts(ctx context.Context, key string) error

	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error

	// Close releases connections and stops watchers.
	Close() error
}

// RevocationPager is a Store that can hand over Revocations a page at a time, as it reads
// them: a sidecar reloading a large list merges each page and lets it go, instead of
// holding the whole list decoded next to its own copy (1,000,000 revocations: about 100 MiB).
type RevocationPager interface {
	// RevocationPages calls each with every revocation still in force at now, in pages; a
	// page's slice is only valid during the call. On an error some pages may have been
	// handed over already.
	RevocationPages(ctx context.Context, now time.Time, each func([]Revocation)) error
}
