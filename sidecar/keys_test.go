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
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/keyset"
)

// A Secret update can land between the sidecar's first read of the keys dir and the start of
// its watch (the pod starts during a rotation); the watch must still pick it up, or the
// sidecar goes without the published key until the Secret changes again.
func TestKeysWatchSeesAChangeMadeBeforeItStarted(t *testing.T) {
	now := time.Now()
	k0, err := keyset.Generate(keyset.ES256, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	k1, err := keyset.Generate(keyset.ES256, now)
	if err != nil {
		t.Fatal(err)
	}
	k1.ActivatesAt = now.Add(time.Hour)
	dir := t.TempDir()
	path := filepath.Join(dir, keyset.FileName)
	if err := os.WriteFile(path, marshalKeys(t, k0), 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := LoadKeysDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, marshalKeys(t, k0, k1), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go keys.Watch(ctx, dir, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	testwait.For(t, 10*time.Second, "the watch loads the published key", func() bool { return keys.Keyset().Lookup(k1.KID) != nil })
}

// The users file has the same window between LoadUsers and WatchUsers.
func TestUsersWatchSeesAChangeMadeBeforeItStarted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(path, []byte(testUsersYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	db := NewUserDB(u)
	hash, err := bcrypt.GenerateFromPassword([]byte("erin-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	added := testUsersYAML + "- email: erin@example.com\n  id: \"99\"\n  role: clerk\n  passwordHash: " + string(hash) + "\n"
	if err := os.WriteFile(path, []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go WatchUsers(ctx, path, db, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(func() float64 { return 0 }, func() float64 { return 0 }))
	testwait.For(t, 10*time.Second, "the watch loads the user added before it started", func() bool { return db.Users().ByID("99") != nil })
}
