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

// Command bench measures the sidecar against the same upstream, on one machine, with one
// load generator (wrk): the upstream alone, a bare httputil.ReverseProxy, and the sidecar
// with the memory store, the Redis store and the token cache disabled. It also measures
// login against raw bcrypt, refresh with Redis, and the sidecar's resident memory.
//
//	go run ./hack/bench [-duration 10s] [-connections 32] [-write docs/benchmarks.md]
//
// `make bench` runs it. The subcommands upstream and bareproxy are the processes it starts.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/sidecar"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "upstream":
			serveUpstream(os.Args[2])
			return
		case "bareproxy":
			serveBareProxy(os.Args[2], os.Args[3])
			return
		}
	}
	duration := flag.Duration("duration", 10*time.Second, "measured time per case")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up per case")
	conns := flag.Int("connections", 32, "concurrent keep-alive connections")
	threads := flag.Int("threads", 1, "wrk threads")
	sidecarBin := flag.String("sidecar", "bin/tollgate-sidecar", "sidecar binary")
	write := flag.String("write", "", "also write the report (markdown) to this file")
	flag.Parse()
	b := &bench{duration: *duration, warmup: *warmup, conns: *conns, threads: *threads, sidecarBin: *sidecarBin}
	report, err := b.run()
	b.stopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Print(report)
	if *write != "" {
		if err := os.WriteFile(*write, []byte(report), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

// serveUpstream is the app every case reaches: a fixed small JSON answer.
func serveUpstream(addr string) {
	body := []byte(`{"ok":true}` + "\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	fmt.Fprintln(os.Stderr, http.ListenAndServe(addr, h))
}

// serveBareProxy is the floor any proxy pays: httputil.ReverseProxy with the same upstream
// transport settings and the same server timeouts as the sidecar (a proxy facing clients
// needs a header timeout), and nothing else.
func serveBareProxy(addr, upstream string) {
	u, _ := url.Parse(upstream)
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() },
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	fmt.Fprintln(os.Stderr, sidecar.NewHTTPServer(addr, p).ListenAndServe())
}

type bench struct {
	duration, warmup time.Duration
	conns, threads   int
	sidecarBin       string
	procs            []*exec.Cmd
	dir              string
}

type result struct {
	name          string
	rps, p50, p99 float64 // req/s, ms, ms
	cpuPerReq     float64 // CPU µs the answering process spent per request
	errors        int
}

func (b *bench) start(name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(args[0], args[1:]...)
	logf, _ := os.Create(filepath.Join(b.dir, name+".log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	b.procs = append(b.procs, cmd)
	return cmd, nil
}

func (b *bench) stopAll() {
	for _, p := range b.procs {
		_ = p.Process.Kill()
		_, _ = p.Process.Wait()
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitHTTP(u string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer", u)
}

const benchPolicy = `apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata: {name: bench, namespace: bench}
spec:
  issuer: https://bench.bench.svc
  login:
    rateLimit: {maxAttempts: 10000, maxAttemptsPerClient: 100000, window: 1s}
  routes:
  - {pathPrefix: /public, public: true}
`

func (b *bench) run() (string, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return "", errors.New("wrk not found: install it (Debian: apt-get install wrk; `make bench` does so as root)")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		return "", errors.New("redis-server not found: run `make redis-server`")
	}
	var err error
	if b.dir, err = os.MkdirTemp("", "tollgate-bench"); err != nil {
		return "", err
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}

	// One keyset shared by every sidecar, so one token is valid everywhere.
	key, err := keyset.Generate(keyset.ES256, time.Now().Add(-time.Minute))
	if err != nil {
		return "", err
	}
	ksJSON, err := (&keyset.Keyset{Keys: []*keyset.SigningKey{key}}).Marshal()
	if err != nil {
		return "", err
	}
	keysDir := filepath.Join(b.dir, "keys")
	_ = os.MkdirAll(keysDir, 0o700)
	_ = os.WriteFile(filepath.Join(keysDir, keyset.FileName), ksJSON, 0o600)
	_ = os.WriteFile(filepath.Join(keysDir, keyset.RecordKeyFileName), keyset.EncodeRecordKey(keyset.GenerateRecordKey()), 0o600)
	policy := filepath.Join(b.dir, "policy.yaml")
	_ = os.WriteFile(policy, []byte(benchPolicy), 0o600)
	const password = "bench-password"
	hash, _ := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	users := filepath.Join(b.dir, "users.yaml")
	_ = os.WriteFile(users, []byte(fmt.Sprintf("- email: bench@example.com\n  id: \"1\"\n  role: user\n  passwordHash: %s\n", hash)), 0o600)

	upstream := freePort()
	bare := freePort()
	redisAddr := freePort()
	_, redisPort, _ := net.SplitHostPort(redisAddr)
	upstreamCmd, err := b.start("upstream", self, "upstream", upstream)
	if err != nil {
		return "", err
	}
	bareCmd, err := b.start("bareproxy", self, "bareproxy", bare, "http://"+upstream)
	if err != nil {
		return "", err
	}
	if _, err := b.start("redis", "redis-server", "--port", redisPort, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", b.dir); err != nil {
		return "", err
	}
	sidecar := func(name string, change func(*contract.Args)) (string, *exec.Cmd, error) {
		addr, ops := freePort(), freePort()
		a := contract.Args{Policy: policy, KeysDir: keysDir, UsersFile: users,
			Upstream: "http://" + upstream, Listen: addr, MetricsListen: ops, LogLevel: "warn"}
		if change != nil {
			change(&a)
		}
		cmd, err := b.start(name, append([]string{b.sidecarBin}, a.Args()...)...)
		return addr, cmd, err
	}
	memAddr, memCmd, err := sidecar("sidecar-memory", nil)
	if err != nil {
		return "", err
	}
	redisSidecar, redisSidecarCmd, err := sidecar("sidecar-redis", func(a *contract.Args) { a.RedisURL = "redis://" + redisAddr })
	if err != nil {
		return "", err
	}
	nocache, nocacheCmd, err := sidecar("sidecar-nocache", func(a *contract.Args) { a.TokenCacheSize = new(int) })
	if err != nil {
		return "", err
	}
	for _, a := range []string{upstream, bare, memAddr, redisSidecar, nocache} {
		if err := waitHTTP("http://" + a + "/public/ping"); err != nil {
			return "", err
		}
	}
	idleRSS := procStatus(memCmd.Process.Pid, "VmRSS")

	token, _, err := login("http://"+memAddr, password)
	if err != nil {
		return "", err
	}
	auth := "Authorization: Bearer " + token

	var results []result
	for _, c := range []struct {
		name, addr, header string
		server             *exec.Cmd // the process that answers wrk
	}{
		// Every case gets the same request, token included, so the bytes moved are the same.
		{"1. upstream directly", upstream, auth, upstreamCmd},
		{"2. bare httputil.ReverseProxy", bare, auth, bareCmd},
		{"3. sidecar, ES256, memory store", memAddr, auth, memCmd},
		{"4. sidecar, ES256, Redis store", redisSidecar, auth, redisSidecarCmd},
		{"5. sidecar, ES256, no token cache", nocache, auth, nocacheCmd},
	} {
		before := redisCalls(redisAddr)
		r, err := b.wrk(c.name, "http://"+c.addr+"/api/items", c.header, c.server.Process.Pid)
		if err != nil {
			return "", err
		}
		if c.addr == redisSidecar {
			redisPerCase = redisCalls(redisAddr) - before
		}
		results = append(results, r)
	}
	loadHWM := procStatus(memCmd.Process.Pid, "VmHWM")

	loginRPS, bcryptRPS := b.loginVsBcrypt("http://"+memAddr, password, hash)
	refreshRPS, refreshErrs := b.refreshRate("http://"+redisSidecar, password)

	return b.report(results, idleRSS, loadHWM, loginRPS, bcryptRPS, refreshRPS, refreshErrs), nil
}

// redisPerCase is the number of Redis commands during the Redis store's case.
var redisPerCase int64

var wrkLine = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)

// wrk runs wrk against target, and measures the CPU time of the answering process pid
// over the measured run (after the warm-up).
func (b *bench) wrk(name, target, header string, pid int) (result, error) {
	args := func(d time.Duration) []string {
		a := []string{"-t", strconv.Itoa(b.threads), "-c", strconv.Itoa(b.conns), "-d", fmt.Sprintf("%ds", int(d.Seconds())), "--latency"}
		if header != "" {
			a = append(a, "-H", header)
		}
		return append(a, target)
	}
	if b.warmup > 0 {
		_ = exec.Command("wrk", args(b.warmup)...).Run()
	}
	cpu0 := procCPU(pid)
	out, err := exec.Command("wrk", args(b.duration)...).CombinedOutput()
	cpu := procCPU(pid) - cpu0
	if err != nil {
		return result{}, fmt.Errorf("wrk %s: %w\n%s", name, err, out)
	}
	r := result{name: name}
	s := string(out)
	if m := regexp.MustCompile(`(\d+) requests in`).FindStringSubmatch(s); m != nil {
		if n, _ := strconv.ParseFloat(m[1], 64); n > 0 && cpu >= 0 {
			r.cpuPerReq = float64(cpu.Microseconds()) / n
		}
	}
	if m := regexp.MustCompile(`Requests/sec:\s+([\d.]+)`).FindStringSubmatch(s); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range wrkLine.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if m[1] == "50" {
			r.p50 = v
		} else {
			r.p99 = v
		}
	}
	if m := regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`).FindStringSubmatch(s); m != nil {
		r.errors, _ = strconv.Atoi(m[1])
	}
	if r.rps == 0 {
		return r, fmt.Errorf("wrk %s: no Requests/sec in:\n%s", name, s)
	}
	return r, nil
}

// redisCalls sums the calls of every command but INFO and PING (the sidecar's health check).
func redisCalls(addr string) int64 {
	_, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command("redis-cli", "-p", port, "INFO", "commandstats").Output()
	if err != nil {
		return -1
	}
	var total int64
	re := regexp.MustCompile(`cmdstat_(\w+):calls=(\d+)`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		if m[1] == "info" || m[1] == "ping" {
			continue
		}
		n, _ := strconv.ParseInt(m[2], 10, 64)
		total += n
	}
	return total
}

// procCPU is the user and system CPU time process pid has used (from /proc/<pid>/stat,
// in clock ticks of 1/100 s), or -1 if it cannot be read.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from after it.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(data)[i+1:])
	if len(f) < 13 {
		return -1
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func procStatus(pid int, field string) string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "n/a"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), field+":") {
			kb, _ := strconv.Atoi(strings.Fields(sc.Text())[1])
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "n/a"
}

func login(base, password string) (access, refresh string, err error) {
	resp, err := http.Post(base+"/auth/login", "application/json",
		strings.NewReader(`{"email":"bench@example.com","password":"`+password+`"}`))
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var tr struct{ AccessToken, RefreshToken string }
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("login: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		return "", "", fmt.Errorf("login: %w", err)
	}
	return tr.AccessToken, tr.RefreshToken, nil
}

// loginVsBcrypt runs logins for the measured duration with one client per core, then raw
// bcrypt comparisons at the same cost with one goroutine per core, and returns both rates.
func (b *bench) loginVsBcrypt(base, password string, hash []byte) (float64, float64) {
	workers := runtime.NumCPU()
	count := func(f func() bool) float64 {
		var n atomic.Int64
		ctx, cancel := context.WithTimeout(context.Background(), b.duration)
		defer cancel()
		var wg sync.WaitGroup
		for i := 0; i < workers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if f() {
						n.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		return float64(n.Load()) / b.duration.Seconds()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	body := []byte(`{"email":"bench@example.com","password":"` + password + `"}`)
	logins := count(func() bool {
		resp, err := client.Post(base+"/auth/login", "application/json", bytes.NewReader(body))
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	raw := count(func() bool { return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil })
	return logins, raw
}

// refreshRate runs chains of refreshes (each spends the previous token) against the Redis
// sidecar, one chain per connection.
func (b *bench) refreshRate(base, password string) (float64, int64) {
	var n, errs atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), b.duration)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: b.conns}}
	var wg sync.WaitGroup
	for i := 0; i < b.conns; i++ {
		_, refresh, err := login(base, password)
		if err != nil {
			errs.Add(1)
			continue
		}
		wg.Add(1)
		go func(refresh string) {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, err := client.Post(base+"/auth/refresh", "application/json", strings.NewReader(`{"refreshToken":"`+refresh+`"}`))
				if err != nil {
					errs.Add(1)
					return
				}
				var tr struct{ RefreshToken string }
				_ = json.NewDecoder(resp.Body).Decode(&tr)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs.Add(1)
					return
				}
				refresh = tr.RefreshToken
				n.Add(1)
			}
		}(refresh)
	}
	wg.Wait()
	return float64(n.Load()) / b.duration.Seconds(), errs.Load()
}

func (b *bench) report(rs []result, idle, hwm string, loginRPS, bcryptRPS, refreshRPS float64, refreshErrs int64) string {
	var sb strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&sb, "## Sidecar benchmark, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&sb, "Machine: %s, %d CPUs (%s), %s, Go %s. Load: wrk -t%d -c%d, %v per case after a %v warm-up, keep-alive, GET with a bearer token; everything on this one machine.\n\n",
		cpuModel(), runtime.NumCPU(), runtime.GOARCH, host, runtime.Version(), b.threads, b.conns, b.duration, b.warmup)
	fmt.Fprintln(&sb, "| case | req/s | p50 ms | p99 ms | non-2xx | server CPU µs/req |")
	fmt.Fprintln(&sb, "|---|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		fmt.Fprintf(&sb, "| %s | %.0f | %.2f | %.2f | %d | %.1f |\n", r.name, r.rps, r.p50, r.p99, r.errors, r.cpuPerReq)
	}
	bare := rs[1].rps
	fmt.Fprintf(&sb, "\nRatios to the bare proxy (target ≥ 0.9 for 3 and 4): 3/2 = %.2f, 4/2 = %.2f, 5/2 = %.2f\n\n", rs[2].rps/bare, rs[3].rps/bare, rs[4].rps/bare)
	if b := rs[1].cpuPerReq; b > 0 {
		fmt.Fprintf(&sb, "CPU per request of the answering process, against the bare proxy's (the cost tollgate adds, free of how wrk, the upstream and the proxy share the cores): 3/2 = %.2f, 4/2 = %.2f, 5/2 = %.2f\n\n", rs[2].cpuPerReq/b, rs[3].cpuPerReq/b, rs[4].cpuPerReq/b)
	}
	perReq := float64(redisPerCase) / (rs[3].rps * b.duration.Seconds())
	fmt.Fprintf(&sb, "Redis commands during case 4 (INFO commandstats, PING and INFO excluded): %d, %.4f per validated request (target 0)\n\n", redisPerCase, perReq)
	fmt.Fprintf(&sb, "Sidecar resident memory: %s at idle (VmRSS after start), %s peak under load (VmHWM) (targets 15 MiB, 40 MiB)\n\n", idle, hwm)
	fmt.Fprintf(&sb, "Login: %.1f/s against raw bcrypt comparisons (cost %d) %.1f/s: ratio %.2f (target 0.9)\n\n", loginRPS, bcrypt.DefaultCost, bcryptRPS, loginRPS/bcryptRPS)
	fmt.Fprintf(&sb, "Refresh with Redis (%d chains of rotations): %.0f/s, %d errors\n", b.conns, refreshRPS, refreshErrs)
	return sb.String()
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "model name") {
			if i := strings.Index(l, ":"); i > 0 {
				return strings.TrimSpace(l[i+1:])
			}
		}
	}
	return "unknown CPU"
}
