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

package main

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/keyset"
)

// writeKeysDir writes a keys directory as the operator's Secret is mounted: keyset.json and,
// unless recordKey is nil, record-key.
func writeKeysDir(t *testing.T, recordKey []byte) string {
	t.Helper()
	dir := t.TempDir()
	key, err := keyset.Generate(keyset.ES256, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	data, err := (&keyset.Keyset{Keys: []*keyset.SigningKey{key}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, keyset.FileName, string(data))
	if recordKey != nil {
		writeFile(t, dir, keyset.RecordKeyFileName, string(keyset.EncodeRecordKey(recordKey))+"\n")
	}
	return dir
}

func TestSidecarsShareRedisRecordsOnlyWithTheSameRecordKey(t *testing.T) {
	bin := buildSidecar(t)
	srv := testredis.Start(t)
	dir := t.TempDir()
	policy := writeFile(t, dir, "policy.yaml", testPolicy)
	users := writeFile(t, dir, "users.yaml", testUsers)
	shared, other := keyset.GenerateRecordKey(), keyset.GenerateRecordKey()
	keysDir := writeKeysDir(t, shared)
	redisURL := "redis://" + srv.Addr()
	common := []string{"--policy", policy, "--users-file", users, "--redis-url", redisURL, "--upstream", "http://127.0.0.1:1"}

	a := startSidecar(t, bin, append(common, "--keys-dir", keysDir)...)
	b := startSidecar(t, bin, append(common, "--keys-dir", keysDir)...)
	stranger := startSidecar(t, bin, append(common, "--keys-dir", keysDir,
		"--record-key-file", writeFile(t, dir, "other-record-key", string(keyset.EncodeRecordKey(other))))...)

	post := func(p *sidecarProcess, path, body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post("http://"+p.addr+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, tr := post(a, "/auth/login", `{"email":"alice@example.com","password":"wonderland"}`)
	if code != 200 {
		t.Fatalf("login on A: %d", code)
	}
	refresh := `{"refreshToken":"` + tr["refreshToken"].(string) + `"}`
	if code, _ := post(stranger, "/auth/refresh", refresh); code != 401 {
		t.Errorf("refresh on a sidecar with another record key: %d, want 401", code)
	}
	if !stranger.LogsContain("failed authentication", 5*time.Second) {
		t.Errorf("the refusal is not logged:\n%s", stranger.Logs())
	}
	if code, _ := post(b, "/auth/refresh", refresh); code != 200 {
		t.Errorf("refresh on B, with the same keys dir: %d, want 200", code)
	}
	for _, p := range []*sidecarProcess{a, b, stranger} {
		if logs := p.Logs(); strings.Contains(logs, string(keyset.EncodeRecordKey(shared))) || strings.Contains(logs, string(keyset.EncodeRecordKey(other))) {
			t.Errorf("a log holds key material:\n%s", logs)
		}
	}
}

func TestSidecarRefusesARedisStoreWithoutARecordKey(t *testing.T) {
	bin := buildSidecar(t)
	dir := t.TempDir()
	policy := writeFile(t, dir, "policy.yaml", testPolicy)
	redis := []string{"--policy", policy, "--redis-url", "redis://127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a keys dir without record-key", []string{"--keys-dir", writeKeysDir(t, nil)}, "holds no record-key"},
		{"a record key too short", []string{"--record-key-file", writeFile(t, dir, "short", "c2hvcnQ=")}, "--record-key-file"},
		{"a record key file that is missing", []string{"--record-key-file", filepath.Join(dir, "nope")}, "--record-key-file"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			out, err := exec.Command(bin, append(redis, tc.args...)...).CombinedOutput()
			if err == nil {
				t.Fatalf("started; output:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("output does not name %q:\n%s", tc.want, out)
			}
		})
	}
}

func TestSidecarLogsInAsThePolicysRedisUser(t *testing.T) {
	bin := buildSidecar(t)
	srv := testredis.Start(t)
	admin := srv.Client()
	ctx := t.Context()
	for _, cmd := range [][]any{
		{"ACL", "SETUSER", "tollgate-shop-shop-api", "on", ">s3cret", "~tollgate:{shop/shop-api}:*", "&tollgate:{shop/shop-api}:revocations", "+@all"},
		// From here on, logging in without the user name fails: the default user's password is another.
		{"ACL", "SETUSER", "default", "resetpass", ">not-the-tenants"},
	} {
		if err := admin.Do(ctx, cmd...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	policy := writeFile(t, dir, "policy.yaml", strings.Replace(testPolicy, "spec:\n",
		"spec:\n  store:\n    redis: {addresses: [\""+srv.Addr()+"\"], username: tollgate-shop-shop-api}\n", 1))
	t.Setenv("TOLLGATE_REDIS_PASSWORD", "s3cret")
	p := startSidecar(t, bin, "--policy", policy, "--users-file", writeFile(t, dir, "users.yaml", testUsers),
		"--keys-dir", writeKeysDir(t, keyset.GenerateRecordKey()), "--upstream", "http://127.0.0.1:1")
	resp, err := http.Post("http://"+p.addr+"/auth/login", "application/json",
		strings.NewReader(`{"email":"alice@example.com","password":"wonderland"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login through Redis as the policy's user: %d\n%s", resp.StatusCode, p.Logs())
	}
}

// spec.store.redis.waitReplicas reaches the store: on a lone redis-server, which has no
// replica to acknowledge a write, a login waiting for one answers 503, while the same
// policy without it logs in.
func TestSidecarWaitsForThePolicysRedisReplicas(t *testing.T) {
	bin := buildSidecar(t)
	srv := testredis.Start(t)
	dir := t.TempDir()
	users := writeFile(t, dir, "users.yaml", testUsers)
	keysDir := writeKeysDir(t, keyset.GenerateRecordKey())
	for _, tc := range []struct {
		redis string
		want  int
	}{
		{`{addresses: ["` + srv.Addr() + `"]}`, http.StatusOK},
		{`{addresses: ["` + srv.Addr() + `"], waitReplicas: 1}`, http.StatusServiceUnavailable},
	} {
		policy := writeFile(t, dir, "policy.yaml", strings.Replace(testPolicy, "spec:\n",
			"spec:\n  store:\n    redis: "+tc.redis+"\n", 1))
		p := startSidecar(t, bin, "--policy", policy, "--users-file", users, "--keys-dir", keysDir,
			"--upstream", "http://127.0.0.1:1")
		resp, err := http.Post("http://"+p.addr+"/auth/login", "application/json",
			strings.NewReader(`{"email":"alice@example.com","password":"wonderland"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("login with store.redis %s: %d, want %d\n%s", tc.redis, resp.StatusCode, tc.want, p.Logs())
		}
	}
}
