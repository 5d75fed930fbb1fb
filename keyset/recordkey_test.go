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
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/keyset"
)

func TestRecordKeyRoundTrips(t *testing.T) {
	k := keyset.GenerateRecordKey()
	if len(k) != keyset.MinRecordKey {
		t.Fatalf("generated %d bytes, want %d", len(k), keyset.MinRecordKey)
	}
	if bytes.Equal(k, keyset.GenerateRecordKey()) {
		t.Fatal("two generated record keys are equal")
	}
	for _, file := range [][]byte{keyset.EncodeRecordKey(k), append(keyset.EncodeRecordKey(k), '\n'), append([]byte("  "), keyset.EncodeRecordKey(k)...)} {
		got, err := keyset.ParseRecordKey(file)
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("ParseRecordKey(%q) = %x, %v; want the key back", file, got, err)
		}
	}
}

func TestHostileRecordKeysAreRefused(t *testing.T) {
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	random := keyset.GenerateRecordKey()
	for _, tc := range []struct{ name, file string }{
		{"empty", ""},
		{"only whitespace", " \n\t"},
		{"not base64", "this is not base64 at all, not even close!!"},
		{"url-safe base64", strings.NewReplacer("+", "-", "/", "_").Replace(b64(bytes.Repeat([]byte{0xfb, 0xff, 0x01}, 16)))},
		{"unpadded base64", strings.TrimRight(b64(random[:31]), "=")},
		{"too short", b64(random[:31])},
		{"too long", b64(bytes.Repeat(random, 17))},
		{"one byte repeated", b64(bytes.Repeat([]byte{'a'}, 32))},
		{"over the file limit", strings.Repeat(" ", 2000) + b64(random)},
		{"two keys", b64(random) + "\n" + b64(random)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := keyset.ParseRecordKey([]byte(tc.file))
			if err == nil {
				t.Fatalf("accepted: %x", k)
			}
			if len(tc.file) > 8 && strings.Contains(err.Error(), strings.TrimSpace(tc.file)[:8]) {
				t.Errorf("the error quotes the file: %v", err)
			}
		})
	}
}

// FuzzParseRecordKey: the record key comes from a mounted Secret or a file a user writes.
// ParseRecordKey must never panic, must refuse with a "keyset: " error that does not quote
// the input, and whatever it accepts must encode back to the same key.
func FuzzParseRecordKey(f *testing.F) {
	f.Add(keyset.EncodeRecordKey(keyset.GenerateRecordKey()))
	f.Add([]byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)) + "\n"))
	f.Add([]byte("====\n"))
	f.Add([]byte(""))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := keyset.ParseRecordKey(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "keyset: ") {
				t.Fatalf("error without the keyset prefix: %v", err)
			}
			if s := strings.TrimSpace(string(data)); len(s) >= 16 && strings.Contains(err.Error(), s) {
				t.Fatalf("error quotes the input: %v", err)
			}
			return
		}
		if len(k) < keyset.MinRecordKey {
			t.Fatalf("accepted a key of %d bytes", len(k))
		}
		again, err := keyset.ParseRecordKey(keyset.EncodeRecordKey(k))
		if err != nil || !bytes.Equal(again, k) {
			t.Fatalf("an accepted key does not survive encoding: %v", err)
		}
	})
}
