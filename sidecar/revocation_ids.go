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

import "time"

// idSet maps revoked ids (jti or sid) to when their revocation ends. The ids tollgate
// issues (randomID: 16 random bytes in 22 characters of unpadded base64url) are kept as
// their 16 bytes, with the end in Unix nanoseconds: 24 bytes a slot instead of a string
// header, a separate string and a time.Time (64 bytes and more). The decoding is exact:
// only the canonical encoding of 16 bytes (the last character's unused bits zero) is
// compacted, so no two ids share a key; any other id is kept as it is.
type idSet struct {
	compact map[[16]byte]int64
	other   map[string]int64
}

func newIDSet() idSet {
	return idSet{compact: map[[16]byte]int64{}, other: map[string]int64{}}
}

// extend records id as revoked until at least until.
func (s idSet) extend(id string, until time.Time) {
	u := until.UnixNano()
	if k, ok := compactID(id); ok {
		if cur, found := s.compact[k]; !found || u > cur {
			s.compact[k] = u
		}
		return
	}
	if cur, found := s.other[id]; !found || u > cur {
		s.other[id] = u
	}
}

// sweep drops the ids whose revocation has ended at now.
func (s idSet) sweep(now time.Time) {
	n := now.UnixNano()
	for k, u := range s.compact {
		if n >= u {
			delete(s.compact, k)
		}
	}
	for k, u := range s.other {
		if n >= u {
			delete(s.other, k)
		}
	}
}

func (s idSet) len() int { return len(s.compact) + len(s.other) }

// base64url maps a base64url character to its 6 bits, and every other byte to 0xff.
var base64url = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = byte(i)
	}
	return t
}()

// compactID decodes id when it is the canonical unpadded base64url encoding of 16 bytes:
// five groups of four characters (three bytes each), then two characters for the last byte,
// whose 4 unused bits must be zero, or another string would decode to the same bytes.
// Every byte of a valid character is below 64, so one OR of them all tells whether any was
// not one.
func compactID(id string) (k [16]byte, ok bool) {
	if len(id) != 22 {
		return k, false
	}
	t := &base64url
	var bad byte
	for g := range 5 {
		a, b, c, d := t[id[4*g]], t[id[4*g+1]], t[id[4*g+2]], t[id[4*g+3]]
		bad |= a | b | c | d
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		k[3*g], k[3*g+1], k[3*g+2] = byte(v>>16), byte(v>>8), byte(v)
	}
	a, b := t[id[20]], t[id[21]]
	bad |= a | b
	k[15] = a<<2 | b>>4
	return k, bad&0xc0 == 0 && b&0x0f == 0
}

// idKey is an id as an idSet looks it up, decoded in advance: a verified token's ids are
// decoded once, when it is verified, not on every request that carries it.
type idKey struct {
	id      string
	k       [16]byte
	compact bool
}

func newIDKey(id string) idKey {
	k, ok := compactID(id)
	return idKey{id: id, k: k, compact: ok}
}

// getKey returns when the id k was decoded from stops being revoked. With nothing revoked
// (the common case) it hashes nothing: a lookup in an empty map returns before hashing its
// key.
func (s idSet) getKey(k idKey) (int64, bool) {
	if k.compact {
		u, found := s.compact[k.k]
		return u, found
	}
	u, found := s.other[k.id]
	return u, found
}

// revocationKeys are a token's jti and sid as the revocation list looks them up.
type revocationKeys struct {
	jti, sid idKey
}

func newRevocationKeys(jti, sid string) revocationKeys {
	return revocationKeys{jti: newIDKey(jti), sid: newIDKey(sid)}
}
