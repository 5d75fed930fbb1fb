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

package reliability

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/keyset"
)

// sessionsPolicy is standalonePolicy with a per-client login limit high enough for tests
// that log in hundreds of times from 127.0.0.1 (the default is 50 per 15 minutes).
const sessionsPolicy = `apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: shop-api, namespace: shop}
spec:
  login:
    rateLimit: {maxAttemptsPerClient: 100000, window: 1m}
  routes:
  - {pathPrefix: /public, public: true}
  - {pathPrefix: /admin, roles: [admin]}
`

// writePersistentKeys writes a keyset.json with one ES256 key, Active since a minute ago,
// and a record-key into a new directory under dir and returns the directory, for --keys-dir: tokens signed
// with it still validate after the sidecar restarts.
func writePersistentKeys(t *testing.T, dir string) string {
	t.Helper()
	key, err := keyset.Generate(keyset.ES256, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	data, err := (&keyset.Keyset{Keys: []*keyset.SigningKey{key}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	keysDir := filepath.Join(dir, "keys")
	if err := os.MkdirAll(keysDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, keysDir, keyset.FileName, string(data))
	// The record key authenticates refresh tokens in Redis; replicas share it, as they share
	// the operator's keys Secret.
	writeFile(t, keysDir, keyset.RecordKeyFileName, string(keyset.EncodeRecordKey(keyset.GenerateRecordKey())))
	return keysDir
}

// sidecarReadiness is what a sidecar's /readyz answered.
type sidecarReadiness struct {
	Code   int               `json:"-"`
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// ok is true when the sidecar is fully ready: keys, store and revocations all "ok".
func (r sidecarReadiness) ok() bool {
	return r.Code == http.StatusOK && r.Status == "ok" &&
		r.Checks["keys"] == "ok" && r.Checks["store"] == "ok" && r.Checks["revocations"] == "ok"
}

func (r sidecarReadiness) String() string {
	return fmt.Sprintf("%d %s %v", r.Code, r.Status, r.Checks)
}

// readSidecarReadiness asks the sidecar's /readyz.
func readSidecarReadiness(c *http.Client, s *sidecar) (sidecarReadiness, error) {
	var r sidecarReadiness
	resp, err := c.Get(s.OpsURL + "/readyz")
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	r.Code = resp.StatusCode
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, fmt.Errorf("/readyz body: %w", err)
	}
	return r, nil
}

// waitRevocationsLoaded waits until the sidecar's /readyz is "ok" in every check, the
// revocation list loaded from the store included: before that, a logged-out token may
// still pass.
func waitRevocationsLoaded(t *testing.T, c *http.Client, s *sidecar, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	testwait.Until(t, within, "readyz ok with the revocations loaded", func() (bool, string) {
		r, err := readSidecarReadiness(c, s)
		if err != nil {
			return false, err.Error()
		}
		return r.ok(), r.String()
	})
	return time.Since(start)
}

// newSessionsClient is an HTTP client for many concurrent requests to a few sidecars: enough
// idle connections to keep them alive, and a timeout far above anything a sidecar should
// take, so that a hang shows up as a failure instead of stalling the test.
func newSessionsClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}
