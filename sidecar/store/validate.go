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
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// maxIDLen bounds a subject, family id or jti, so a key or a published message stays small.
const maxIDLen = 1024

// validHash reports whether h is a hex SHA-256, the only form of a refresh token a store
// keeps. Lower case only, so one token has one hash.
func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func validID(id string) bool {
	return id != "" && len(id) <= maxIDLen && utf8.ValidString(id)
}

// checkNewToken checks what CreateRefresh is given. Its errors are the caller's mistakes,
// not store failures, and never show the hash.
func checkNewToken(t RefreshToken) error {
	switch {
	case !validHash(t.Hash):
		return errors.New("store: refresh token hash must be a lower-case hex SHA-256")
	case t.Parent != "" && !validHash(t.Parent):
		return errors.New("store: refresh token parent must be a lower-case hex SHA-256")
	case !validID(t.Subject):
		return fmt.Errorf("store: refresh token subject must be 1 to %d bytes of UTF-8", maxIDLen)
	case !validID(t.Family):
		return fmt.Errorf("store: refresh token family must be 1 to %d bytes of UTF-8", maxIDLen)
	case len(t.Role) > maxIDLen:
		return fmt.Errorf("store: refresh token role must be at most %d bytes", maxIDLen)
	case t.ExpiresAt.IsZero():
		return errors.New("store: refresh token needs ExpiresAt")
	}
	return nil
}

// checkRotation checks RotateRefresh's arguments. An old hash that is not a hash cannot be
// in the store, so it is ErrNotFound; a bad next hash is the caller's mistake.
func checkRotation(oldHash string, next RefreshToken) error {
	switch {
	case !validHash(oldHash):
		return ErrNotFound
	case !validHash(next.Hash):
		return errors.New("store: next refresh token hash must be a lower-case hex SHA-256")
	case next.Hash == oldHash:
		return errors.New("store: next refresh token must differ from the old one")
	}
	return nil
}

func checkRevocation(r Revocation) error {
	switch {
	case r.Kind != RevokedToken && r.Kind != RevokedSession && r.Kind != RevokedSubject:
		return fmt.Errorf("store: unknown revocation kind %q", r.Kind)
	case !validID(r.ID):
		return fmt.Errorf("store: revocation id must be 1 to %d bytes of UTF-8", maxIDLen)
	case r.Kind == RevokedSubject && r.IssuedBefore.IsZero():
		return errors.New("store: a subject revocation needs IssuedBefore")
	case r.Until.IsZero():
		return errors.New("store: revocation needs Until")
	}
	return nil
}

func checkSubjectRevocation(subject string, until time.Time) error {
	switch {
	case !validID(subject):
		return fmt.Errorf("store: subject must be 1 to %d bytes of UTF-8", maxIDLen)
	case until.IsZero():
		return errors.New("store: revocation needs Until")
	}
	return nil
}

func checkWindow(window time.Duration) error {
	if window < time.Millisecond {
		return errors.New("store: attempt window must be at least 1ms")
	}
	return nil
}

// ms rounds t down to the millisecond and drops its monotonic reading and zone, so both
// stores hand back the same instants (Redis keeps Unix milliseconds).
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli())
}
