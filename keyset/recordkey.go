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
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// The record key authenticates what the sidecars of one policy keep in a shared store
// (refresh token records in Redis), so that a record written by anything without the key
// is refused. The operator generates it once and keeps it in the keys Secret next to
// keyset.json, under RecordKeyFileName: standard base64 of at least MinRecordKey bytes,
// surrounding whitespace ignored. It is a file of its own, not a keyset.json field, so
// that sidecars that predate it read the Secret as before.
const (
	RecordKeyFileName = "record-key"
	MinRecordKey      = 32
	maxRecordKey      = 512
	// MaxRecordKeyFileSize bounds the file before it is parsed.
	MaxRecordKeyFileSize = 1 << 10
)

// GenerateRecordKey returns a new record key of MinRecordKey random bytes.
func GenerateRecordKey() []byte {
	k := make([]byte, MinRecordKey)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (Go 1.24+)
	return k
}

// EncodeRecordKey is the file content (and Secret value) for a record key.
func EncodeRecordKey(k []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(k))
}

// ParseRecordKey reads a record key file. Its errors never quote the content.
func ParseRecordKey(data []byte) ([]byte, error) {
	if len(data) > MaxRecordKeyFileSize {
		return nil, fmt.Errorf("keyset: %s: more than %d bytes", RecordKeyFileName, MaxRecordKeyFileSize)
	}
	text := bytes.TrimSpace(data)
	if len(text) == 0 {
		return nil, fmt.Errorf("keyset: %s is empty", RecordKeyFileName)
	}
	k, err := base64.StdEncoding.Strict().DecodeString(string(text))
	if err != nil {
		return nil, fmt.Errorf("keyset: %s: not standard base64", RecordKeyFileName)
	}
	switch {
	case len(k) < MinRecordKey:
		return nil, fmt.Errorf("keyset: %s: %d bytes, want at least %d", RecordKeyFileName, len(k), MinRecordKey)
	case len(k) > maxRecordKey:
		return nil, fmt.Errorf("keyset: %s: %d bytes, want at most %d", RecordKeyFileName, len(k), maxRecordKey)
	case bytes.Count(k, k[:1]) == len(k):
		return nil, errors.New("keyset: " + RecordKeyFileName + ": every byte is the same; use random bytes")
	}
	return k, nil
}
