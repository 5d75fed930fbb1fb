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
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-dev/tollgate/internal/testredis"
)

// A full reload of a large list from Redis (after a reconnection) must not stop validation:
// requests are answered while it is held half-way, and what it merged so far is enforced
// already. The list is written straight into Redis, as revocations this sidecar missed while
// it was cut off, and spans two of the store's pages, which are read one at a time as they
// are merged (never the whole list at once): one written during the pause, past the first
// page, is loaded too.
func TestValidationGoesOnWhileALargeListReloads(t *testing.T) {
	srv := testredis.Start(t)
	h := newHarness(t, withRedis(srv))
	rv := h.server.Revocations()
	bob := h.login("bob@example.com", bobPassword)
	alice := h.login("alice@example.com", alicePassword)
	aliceID, err := h.server.Tokens().Verify(alice.AccessToken)
	if err != nil {
		t.Fatal(err)
	}

	// Alice's jti ends first, so it comes first, in the first chunk merged.
	until := h.clock.Now().Add(time.Hour).UnixMilli()
	const n = 6000
	ctx := t.Context()
	pipe := srv.Client().Pipeline()
	policy, err := ParsePolicy([]byte(testPolicyYAML))
	if err != nil {
		t.Fatal(err)
	}
	key := "tollgate:{" + policy.Key() + "}:revoked"
	member := func(kind, id string, until int64) redis.Z {
		return redis.Z{Score: float64(until), Member: fmt.Sprintf(`{"kind":%q,"id":%q,"issuedBefore":0,"until":%d}`, kind, id, until)}
	}
	pipe.ZAdd(ctx, key, member("jti", aliceID.JTI, until))
	for range n - 1 {
		pipe.ZAdd(ctx, key, member("sid", randomID(), until+1))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	before := rv.Len()

	midway, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var pause sync.Once
	hold := func() { // held once, at the first pause
		pause.Do(func() {
			close(midway)
			<-release
		})
	}
	rv.betweenChunks.Store(&hold)
	defer rv.betweenChunks.Store(nil)
	go func() { done <- rv.LoadFrom(ctx, h.store, h.clock.Now(), time.Minute) }()
	var releaseOnce sync.Once
	resume := func() { releaseOnce.Do(func() { close(release) }) }
	defer resume() // a failing test still lets the reload, and so the server, finish
	select {
	case <-midway:
	case err := <-done:
		t.Fatalf("the reload ended (%v) without pausing between chunks", err)
	}

	// A deadline only so that a blocked request fails the test instead of hanging it.
	get := func(token string) int {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", h.http.URL+"/orders", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("a request during the reload did not complete: %v", err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(bob.AccessToken); got != http.StatusOK {
		t.Errorf("a valid token during the reload: %d, want 200", got)
	}
	if got := get(alice.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("a token revoked in the part already merged: %d, want 401", got)
	}
	if got := rv.Len() - before; got != loadChunk {
		t.Errorf("held after the first chunk with %d entries merged, want %d", got, loadChunk)
	}
	late := randomID()
	if err := srv.Client().ZAdd(ctx, key, member("jti", late, until+2)).Err(); err != nil {
		t.Fatal(err)
	}
	resume()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := rv.Len() - before; got != n+1 {
		t.Errorf("after the reload: %d entries merged, want %d", got, n+1)
	}
	if !rv.Revoked(late, "", "", h.clock.Now()) {
		t.Error("a revocation written to Redis during the reload, past the page being merged, was not loaded")
	}
}
