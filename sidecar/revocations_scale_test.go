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
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-dev/tollgate/internal/testproc"
	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// Revocations at scale (issue 14): what a sidecar pays, in memory, per request and per
// reload, for the live revocations of its policy. `make test` runs 10,000;
// TOLLGATE_BENCH_REVOCATIONS=full (`make bench-revocations`) 10,000, 100,000 and 1,000,000.

func revocationCounts() []int {
	switch env := os.Getenv("TOLLGATE_BENCH_REVOCATIONS"); env {
	case "":
		return []int{10_000}
	case "full":
		return []int{10_000, 100_000, 1_000_000}
	default: // sizes of one's own: 200000,500000
		var out []int
		for f := range strings.SplitSeq(env, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n <= 0 {
				panic("TOLLGATE_BENCH_REVOCATIONS: full, or sizes separated by commas")
			}
			out = append(out, n)
		}
		return out
	}
}

// revocationMix is n live revocations as logouts make them: half access tokens (jti), half
// sessions (sid) less 1% of subjects (ids as the operator's revoke request gives them),
// ending at random over the hour from until (as the access tokens they outlive do: in Redis
// each millisecond is a score).
func revocationMix(n int, until time.Time) []store.Revocation {
	list := make([]store.Revocation, n)
	for i := range list {
		end := until.Add(rand.N(time.Hour))
		switch {
		case i%100 < 50:
			list[i] = store.Revocation{Kind: store.RevokedToken, ID: randomID(), Until: end}
		case i%100 < 99:
			list[i] = store.Revocation{Kind: store.RevokedSession, ID: randomID(), Until: end}
		default:
			list[i] = store.Revocation{Kind: store.RevokedSubject, ID: "user-" + randomID(), IssuedBefore: end.Add(-time.Hour), Until: end}
		}
	}
	return list
}

// writeRevocations puts list into the policy's list in Redis, as the store's scripts write
// it (without publishing: revocations a sidecar missed), pipelined for speed.
func writeRevocations(t testing.TB, c *redis.Client, policyKey string, list []store.Revocation) {
	t.Helper()
	ctx := context.Background()
	key := "tollgate:{" + policyKey + "}:revoked"
	for len(list) > 0 {
		batch := list[:min(10_000, len(list))]
		list = list[len(batch):]
		pipe := c.Pipeline()
		for _, r := range batch {
			var issuedBefore int64
			if r.Kind == store.RevokedSubject {
				issuedBefore = r.IssuedBefore.UnixMilli()
			}
			until := r.Until.UnixMilli()
			pipe.ZAdd(ctx, key, redis.Z{Score: float64(until), Member: fmt.Sprintf(
				`{"kind":%q,"id":%q,"issuedBefore":%d,"until":%d}`, r.Kind, r.ID, issuedBefore, until)})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// The real sidecar binary with a large revocation list in a real Redis: it loads it at
// start, validates requests, and reloads it whole after its connection is cut (as after a
// Redis restart or a network break), answering every request meanwhile: a valid token is
// let through and a logged-out one refused throughout. It logs, per list size, the
// figures of docs/benchmarks.md: time to ready, resident memory (VmRSS) and its peak (VmHWM)
// once loaded and after the reload, the reload's length, and request latency idle and
// during the reload.
func TestRevocationsAtScaleInTheSidecarBinary(t *testing.T) {
	bin := os.Getenv("TOLLGATE_SIDECAR_BIN") // a build to compare; by default this tree's
	if bin == "" {
		var err error
		if bin, err = testproc.Build("../cmd/tollgate-sidecar", t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	policy, err := ParsePolicy([]byte(testPolicyYAML))
	if err != nil {
		t.Fatal(err)
	}
	srv := testredis.Start(t)
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	usersFile := filepath.Join(dir, "users.yaml")
	recordKey := filepath.Join(dir, "record-key")
	for f, content := range map[string]string{policyFile: testPolicyYAML, usersFile: testUsersYAML, recordKey: base64.StdEncoding.EncodeToString(testRecordKey)} {
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer app.Close()

	t.Log("| live revocations | ready after | VmRSS loaded | VmHWM loaded | reload | VmRSS after reload | VmHWM after reload | requests during reload | p50 / p99 / max during reload | p50 / p99 idle |")
	for _, n := range revocationCounts() {
		writeRevocations(t, srv.Client(), policy.Key(), revocationMix(n, time.Now().Add(2*time.Hour)))
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			s := startScaleSidecar(t, bin, "--policy", policyFile, "--users-file", usersFile,
				"--record-key-file", recordKey, "--upstream", app.URL, "--redis-url", srv.URL())
			s.measure(t, srv, n)
		})
		srv.Flush() // bob's logout added two: start the next size afresh
	}
}

type scaleSidecar struct {
	*testproc.Process
	addr, ops string
	started   time.Time
}

func startScaleSidecar(t *testing.T, bin string, args ...string) *scaleSidecar {
	s := &scaleSidecar{addr: testwait.FreeAddr(t), ops: testwait.FreeAddr(t), started: time.Now()}
	s.Process = testproc.Start(t, bin, "http://"+s.ops+"/healthz", append(args,
		"--listen", s.addr, "--metrics-listen", s.ops, "--log-format", "text", "--log-level", "info")...)
	return s
}

var loadedLine = regexp.MustCompile(`msg="revocations loaded"[^\n]*? entries=(\d+)`)

// loads is the entries of each "revocations loaded" the sidecar has logged.
func (s *scaleSidecar) loads() []int {
	var out []int
	for _, m := range loadedLine.FindAllStringSubmatch(s.Logs(), -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

func (s *scaleSidecar) status(t *testing.T, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.Pid()))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, s.Pid())
	return 0
}

func (s *scaleSidecar) measure(t *testing.T, srv *testredis.Server, n int) {
	client := &http.Client{Timeout: 30 * time.Second}
	testwait.For(t, 10*time.Minute, "the sidecar loads the list", func() bool {
		resp, err := client.Get("http://" + s.ops + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	ready := time.Since(s.started)
	// Start loads the list once, and the watch's first subscription again: wait for both.
	testwait.For(t, 10*time.Minute, "the watch's first load", func() bool { return len(s.loads()) > 0 })
	if got := s.loads()[0]; got != n {
		t.Fatalf("loaded %d revocations, want %d", got, n)
	}
	time.Sleep(time.Second)
	rssLoaded, hwmLoaded := s.status(t, "VmRSS"), s.status(t, "VmHWM")

	alice, bob := s.login(t, client, "alice@example.com", alicePassword), s.login(t, client, "bob@example.com", bobPassword)
	s.post(t, client, "/auth/logout", bob, http.StatusNoContent)
	idle := s.requests(t, client, alice, bob, 500, nil)

	// Cut the watch's connection: the sidecar subscribes again and reloads the whole list.
	before := len(s.loads())
	stop := make(chan struct{})
	var during []time.Duration
	var wg sync.WaitGroup
	wg.Go(func() { during = s.requests(t, client, alice, bob, -1, stop) })
	cut := time.Now()
	if err := srv.Client().ClientKillByFilter(context.Background(), "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Minute, "the reload after the cut", func() bool { return len(s.loads()) > before })
	reload := time.Since(cut)
	close(stop)
	wg.Wait()
	if got := s.loads()[before]; got != n+2 {
		t.Errorf("reloaded %d revocations, want %d (and bob's logout)", got, n+2)
	}
	time.Sleep(time.Second)
	rssAfter, hwmAfter := s.status(t, "VmRSS"), s.status(t, "VmHWM")

	t.Logf("| %d | %.1f s | %.1f MiB | %.1f MiB | %.2f s | %.1f MiB | %.1f MiB | %d | %s | %s |",
		n, ready.Seconds(), rssLoaded, hwmLoaded, reload.Seconds(), rssAfter, hwmAfter, len(during),
		percentiles(during, true), percentiles(idle, false))
}

func (s *scaleSidecar) login(t *testing.T, client *http.Client, email, password string) string {
	resp, err := client.Post("http://"+s.addr+"/auth/login", "application/json",
		strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var tr TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login %s: %d %v", email, resp.StatusCode, err)
	}
	return tr.AccessToken
}

func (s *scaleSidecar) post(t *testing.T, client *http.Client, path, token string, want int) {
	req, _ := http.NewRequest("POST", "http://"+s.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d, want %d", path, resp.StatusCode, want)
	}
}

// requests sends GET /orders in turn with a valid token (200) and a logged-out one (401),
// count times or until stop is closed, and returns each one's latency. Any other answer
// fails the test.
func (s *scaleSidecar) requests(t *testing.T, client *http.Client, valid, revoked string, count int, stop <-chan struct{}) []time.Duration {
	var out []time.Duration
	for i := 0; count < 0 || i < count; i++ {
		select {
		case <-stop:
			return out
		default:
		}
		token, want := valid, http.StatusOK
		if i%2 == 1 {
			token, want = revoked, http.StatusUnauthorized
		}
		req, _ := http.NewRequest("GET", "http://"+s.addr+"/orders", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("request %d: %v", i, err)
			return out
		}
		_ = resp.Body.Close()
		out = append(out, time.Since(start))
		if resp.StatusCode != want {
			t.Errorf("request %d: %d, want %d", i, resp.StatusCode, want)
			return out
		}
	}
	return out
}

func percentiles(d []time.Duration, withMax bool) string {
	if len(d) == 0 {
		return "-"
	}
	d = slices.Clone(d)
	slices.Sort(d)
	ms := func(x time.Duration) string { return fmt.Sprintf("%.1f", float64(x.Microseconds())/1000) }
	out := ms(d[len(d)/2]) + " / " + ms(d[len(d)*99/100])
	if withMax {
		out += " / " + ms(d[len(d)-1])
	}
	return out + " ms"
}
