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
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/tollgate-dev/tollgate/keyset"
)

// tokenCache remembers tokens whose signature and claims were verified, keyed by the
// SHA-256 of the token, so that a client repeating its token costs no signature check.
// An entry is good until the token's exp (plus skew) and only while the keyset it was
// verified against is in force: a reload empties the cache, so a removed key takes its
// tokens with it. Revocation is checked on every hit, outside the cache.
type tokenCache struct {
	lru *lru.Cache[[32]byte, cacheEntry]
}

type cacheEntry struct {
	id     *Identity
	ks     *keyset.Keyset
	expiry time.Time
}

func newTokenCache(size int) *tokenCache {
	c, err := lru.New[[32]byte, cacheEntry](size)
	if err != nil {
		panic(err) // only for size <= 0, which callers exclude
	}
	return &tokenCache{lru: c}
}

func (c *tokenCache) get(sum [32]byte, ks *keyset.Keyset, now time.Time) (*Identity, bool) {
	e, ok := c.lru.Get(sum)
	if !ok {
		return nil, false
	}
	if e.ks != ks || !now.Before(e.expiry) {
		c.lru.Remove(sum)
		return nil, false
	}
	return e.id, true
}

func (c *tokenCache) put(sum [32]byte, id *Identity, ks *keyset.Keyset, expiry time.Time) {
	c.lru.Add(sum, cacheEntry{id: id, ks: ks, expiry: expiry})
}

// Len is the number of cached tokens.
func (c *tokenCache) Len() int { return c.lru.Len() }
