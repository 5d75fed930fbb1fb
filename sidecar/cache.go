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
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/tollgate-dev/tollgate/keyset"
)

// tokenCache remembers tokens whose signature and claims were verified, keyed by the
// token itself, so that a client repeating its token costs no signature check. The map
// compares keys in full: a hit is the very token that was verified. (Keys were the SHA-256
// of the token; hashing every request's token cost more than the rest of the sidecar's own
// work per request together, and only verified tokens, a few hundred bytes each, are kept.)
// An entry is good until the token's exp (plus skew) and only while the keyset it was
// verified against is in force: a reload empties the cache, so a removed key takes its
// tokens with it. Revocation is checked on every hit, outside the cache.
type tokenCache struct {
	lru *lru.Cache[string, cacheEntry]
}

type cacheEntry struct {
	id     *Identity
	ks     *keyset.Keyset
	expiry time.Time
}

func newTokenCache(size int) *tokenCache {
	c, err := lru.New[string, cacheEntry](size)
	if err != nil {
		panic(err) // only for size <= 0, which callers exclude
	}
	return &tokenCache{lru: c}
}

func (c *tokenCache) get(token string, ks *keyset.Keyset, now time.Time) (*Identity, bool) {
	e, ok := c.lru.Get(token)
	if !ok {
		return nil, false
	}
	if e.ks != ks || !now.Before(e.expiry) {
		c.lru.Remove(token)
		return nil, false
	}
	return e.id, true
}

func (c *tokenCache) put(token string, id *Identity, ks *keyset.Keyset, expiry time.Time) {
	c.lru.Add(strings.Clone(token), cacheEntry{id: id, ks: ks, expiry: expiry})
}

// Len is the number of cached tokens.
func (c *tokenCache) Len() int { return c.lru.Len() }
