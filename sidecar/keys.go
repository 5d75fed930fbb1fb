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
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/tollgate-dev/tollgate/keyset"
)

// Keys holds the keyset the sidecar signs and verifies with, swapped atomically on reload.
type Keys struct {
	current atomic.Pointer[keyset.Keyset]
	// loaded is the SHA-256 of the keyset.json LoadKeysDir read. Watch reloads whenever the
	// file differs from it, so a swap that lands between the load and the watch is not lost.
	loaded [32]byte
	// Ephemeral is true when the keyset was generated at start (no --keys-dir).
	Ephemeral bool
	// OnChange, when set, is called after a new keyset is in place.
	OnChange func(old, updated *keyset.Keyset)
}

// NewKeys holds a fixed keyset.
func NewKeys(ks *keyset.Keyset) *Keys {
	k := &Keys{}
	k.current.Store(ks)
	return k
}

// EphemeralKeys generates one key, active at once, that lives as long as the process.
func EphemeralKeys(alg keyset.Algorithm, now time.Time) (*Keys, error) {
	key, err := keyset.Generate(alg, now)
	if err != nil {
		return nil, err
	}
	k := NewKeys(&keyset.Keyset{Keys: []*keyset.SigningKey{key}})
	k.Ephemeral = true
	return k, nil
}

// LoadKeysDir reads dir/keyset.json, as the operator's Secret is mounted.
func LoadKeysDir(dir string) (*Keys, error) {
	data, err := readCapped(filepath.Join(dir, keyset.FileName), keyset.MaxFileSize)
	if err != nil {
		return nil, err
	}
	ks, err := keyset.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, keyset.FileName), err)
	}
	k := NewKeys(ks)
	k.loaded = sha256.Sum256(data)
	return k, nil
}

// LoadRecordKey reads a record key file (keyset.RecordKeyFileName in the keys Secret, or
// --record-key-file). A missing file is an error that wraps fs.ErrNotExist.
func LoadRecordKey(path string) ([]byte, error) {
	data, err := readCapped(path, keyset.MaxRecordKeyFileSize)
	if err != nil {
		return nil, err
	}
	k, err := keyset.ParseRecordKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Keyset is the keyset in force.
func (k *Keys) Keyset() *keyset.Keyset { return k.current.Load() }

// Set puts a new keyset in force.
func (k *Keys) Set(ks *keyset.Keyset) {
	old := k.current.Swap(ks)
	if k.OnChange != nil {
		k.OnChange(old, ks)
	}
}

// Watch reloads dir/keyset.json whenever its content changes, until ctx ends. A malformed
// file is logged and ignored: the last good keyset stays in force.
func (k *Keys) Watch(ctx context.Context, dir string, every time.Duration, log *slog.Logger, onError func()) {
	path := filepath.Join(dir, keyset.FileName)
	watchFile(ctx, path, keyset.MaxFileSize, every, log, k.loaded, func(data []byte) error {
		ks, err := keyset.Parse(data)
		if err != nil {
			if onError != nil {
				onError()
			}
			return err
		}
		k.Set(ks)
		log.Info("keyset reloaded", "keys", len(ks.Keys))
		return nil
	})
}

// watchFile polls path and calls apply with its content each time the content changes.
// loaded is the SHA-256 of the content in force, as read at start: a change that lands
// between that read and the first poll (a pod starting during a rotation) is applied too.
//
// Polling, rather than inotify, because the kubelet updates a mounted Secret by swapping the
// `..data` symlink of the volume, and editors and config tools replace files in as many other
// ways; reading a few kilobytes once a second sees every one of them the same way.
func watchFile(ctx context.Context, path string, limit int64, every time.Duration, log *slog.Logger, loaded [32]byte, apply func([]byte) error) {
	last := loaded
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := readCapped(path, limit)
		if err != nil {
			// Mid-swap the file can be briefly missing; the next tick sees the new one.
			continue
		}
		sum := sha256.Sum256(data)
		if bytes.Equal(sum[:], last[:]) {
			continue
		}
		last = sum
		if err := apply(data); err != nil {
			log.Error("reload refused; keeping the last good version", "file", path, "error", err)
		}
	}
}

// readCapped reads a file of at most limit bytes.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: more than the %d bytes allowed", path, limit)
	}
	return data, nil
}
