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
	"testing"
	"time"
)

// BenchmarkCachedRevocationCheck is the revocation check of a request whose token the cache
// holds, with 10,000 live revocations: the ids decoded on every request (Revoked, as the
// cached path did), and decoded once when the token was verified (what it does now).
func BenchmarkCachedRevocationCheck(b *testing.B) {
	rv := NewRevocations()
	rv.Load(revocationMix(10_000, time.Now().Add(time.Hour)))
	now := time.Now()
	id := &Identity{JTI: randomID(), SessionID: randomID(), Subject: "user-1", IssuedAt: now}
	id.revocation = newRevocationKeys(id.JTI, id.SessionID)
	b.Run("ids-decoded-per-request", func(b *testing.B) {
		for b.Loop() {
			if rv.Revoked(id.JTI, id.SessionID, id.Subject, id.IssuedAt) {
				b.Fatal("revoked")
			}
		}
	})
	b.Run("ids-decoded-at-verification", func(b *testing.B) {
		for b.Loop() {
			if rv.revoked(id) {
				b.Fatal("revoked")
			}
		}
	})
}
