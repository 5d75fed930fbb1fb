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
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/secretvolume"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/keyset"
)

// secretVolume is a keys directory the kubelet's way, for one test.
type secretVolume struct {
	t *testing.T
	*secretvolume.Volume
	swaps int
}

func newSecretVolume(t *testing.T, keysetJSON []byte) *secretVolume {
	v := &secretVolume{t: t, Volume: secretvolume.New(t.TempDir())}
	v.update(keysetJSON)
	return v
}

func (v *secretVolume) update(keysetJSON []byte) {
	v.t.Helper()
	if err := v.Write(map[string][]byte{keyset.FileName: keysetJSON}); err != nil {
		v.t.Fatal(err)
	}
	v.swaps++
}

func marshalKeys(t *testing.T, keys ...*keyset.SigningKey) []byte {
	t.Helper()
	data, err := (&keyset.Keyset{Keys: keys}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// loadGenerator sends requests with valid tokens through the proxy from several goroutines
// until stopped, and counts what fails.
type loadGenerator struct {
	tokens   atomic.Pointer[[]string]
	ok, fail atomic.Int64
	mu       sync.Mutex
	failures []string
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(h *harness, workers int, tokens ...string) *loadGenerator {
	l := &loadGenerator{stop: make(chan struct{})}
	l.setTokens(tokens...)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 10 * time.Second}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := w; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				toks := *l.tokens.Load()
				tok := toks[i%len(toks)]
				req, _ := http.NewRequest("GET", h.http.URL+"/orders", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				if err != nil {
					l.failed(fmt.Sprintf("request error: %v", err))
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					l.failed(fmt.Sprintf("%d %s (token %d)", resp.StatusCode, body, i%len(toks)))
					continue
				}
				l.ok.Add(1)
			}
		}()
	}
	return l
}

func (l *loadGenerator) setTokens(tokens ...string) { l.tokens.Store(&tokens) }

func (l *loadGenerator) failed(msg string) {
	l.fail.Add(1)
	l.mu.Lock()
	if len(l.failures) < 10 {
		l.failures = append(l.failures, msg)
	}
	l.mu.Unlock()
}

func (l *loadGenerator) halt() {
	close(l.stop)
	l.wg.Wait()
}

func TestKeyReloadUnderLoad(t *testing.T) {
	c := newClock()
	now := c.Now()
	k0, err := keyset.Generate(keyset.ES256, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	vol := newSecretVolume(t, marshalKeys(t, k0))
	keys, err := LoadKeysDir(vol.Dir())
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, withClock(c), withKeys(keys))

	var refused atomic.Int64
	ctx, cancel := context.WithCancel(t.Context())
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		keys.Watch(ctx, vol.Dir(), 20*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), func() { refused.Add(1) })
	}()
	t.Cleanup(func() { cancel(); <-watching })

	tok0 := h.login("bob@example.com", bobPassword).AccessToken
	if kidOf(t, tok0) != k0.KID {
		t.Fatal("the first token is not signed with the first key")
	}
	load := startLoad(h, 8, tok0)
	settle := func() { time.Sleep(150 * time.Millisecond) }
	settle()

	// 1. The next key is published before it signs anything.
	k1, err := keyset.Generate(keyset.ES256, now)
	if err != nil {
		t.Fatal(err)
	}
	k1.ActivatesAt = now.Add(time.Hour)
	// A token signed with k1 by a sidecar that already has it does not validate here yet...
	early := signWith(t, k1, h.claimsFor("7", "clerk"), nil)
	if _, err := h.server.Tokens().Verify(early); err == nil {
		t.Fatal("a token of an unpublished key validated")
	}
	for range 3 { // the same content several times: each swap is a new directory
		vol.update(marshalKeys(t, k0, k1))
		testwait.For(t, 10*time.Second, "the next key is loaded", func() bool { return keys.Keyset().Lookup(k1.KID) != nil })
		settle()
	}
	// ...and does once its key is published.
	h.assertAccepted(t, early, "7")

	// 2. The next key becomes the active one; the old one retires but still validates.
	k1.ActivatesAt = now.Add(-time.Minute)
	k0.RetiresAt, k0.ExpiresAt = k1.ActivatesAt, now.Add(time.Hour)
	vol.update(marshalKeys(t, k0, k1))
	testwait.For(t, 10*time.Second, "the new key is active", func() bool {
		a := keys.Keyset().Active(c.Now())
		return a != nil && a.KID == k1.KID
	})
	tok1 := h.login("bob@example.com", bobPassword).AccessToken
	if kidOf(t, tok1) != k1.KID {
		t.Fatal("tokens issued after the swap are not signed with the new key")
	}
	load.setTokens(tok0, tok1, early)
	settle()

	// 3. Malformed files are refused and the last good keyset stays in force.
	good := keys.Keyset()
	for i, bad := range [][]byte{
		[]byte(`{"keys": [`),
		[]byte(`{"keys": []}`),
		[]byte(`{"keys": [{"kid": "x", "algorithm": "HS256", "createdAt": "2026-01-01T00:00:00Z", "activatesAt": "2026-01-01T00:00:00Z", "privateKey": "c2hvcnQ="}]}`),
		{},
	} {
		vol.update(bad)
		testwait.For(t, 10*time.Second, "the malformed file is refused", func() bool { return refused.Load() == int64(i+1) })
		settle()
		if keys.Keyset() != good {
			t.Fatalf("malformed file %d replaced the keyset", i)
		}
	}
	h.assertAccepted(t, tok0, "7")
	h.assertAccepted(t, tok1, "7")

	// 4. A good file again, with a third key pre-published.
	k2, err := keyset.Generate(keyset.ES256, now)
	if err != nil {
		t.Fatal(err)
	}
	k2.ActivatesAt = now.Add(2 * time.Hour)
	vol.update(marshalKeys(t, k0, k1, k2))
	testwait.For(t, 10*time.Second, "the third key is loaded", func() bool { return keys.Keyset().Lookup(k2.KID) != nil })
	tok2 := signWith(t, k2, h.claimsFor("7", "clerk"), nil)
	load.setTokens(tok0, tok1, early, tok2)
	settle()

	load.halt()
	if n := load.fail.Load(); n != 0 {
		t.Fatalf("%d of %d requests with a valid token failed during the reloads; first: %v", n, n+load.ok.Load(), load.failures)
	}
	if n := load.ok.Load(); n < 100 {
		t.Fatalf("only %d requests went through: the test proves little", n)
	}
	t.Logf("%d requests, none failed, across %d swaps", load.ok.Load(), vol.swaps-1)

	// 5. Removing the old key ends its tokens, and only its tokens.
	vol.update(marshalKeys(t, k1, k2))
	testwait.For(t, 10*time.Second, "the old key is removed", func() bool { return keys.Keyset().Lookup(k0.KID) == nil })
	h.assertRejected(t, tok0, "unknown signing key")
	h.assertAccepted(t, tok1, "7")
	h.assertAccepted(t, tok2, "7")
}
