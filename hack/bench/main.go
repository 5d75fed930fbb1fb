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
// with the memory store, the Redis store and the token cache disabled. The cases run in
// interleaved rounds (each round runs every case once, in a rotated order), and the report
// gives each figure's median and range over the rounds, and each round's ratio to the bare
// proxy of the same round. With valgrind on PATH it also counts the instructions the bare
// proxy and the sidecar execute per request (callgrind, a fixed number of requests), which
// two busy cores do not disturb. It also measures login against raw bcrypt, refresh with
// Redis, and the sidecar's resident memory.
//
//	go run ./hack/bench [-rounds 5] [-duration 5s] [-connections 32] [-instructions 2000] [-write FILE]
//
// `make bench` runs it. The subcommands upstream, bareproxy and bareproxy-pooled are the
// processes it starts.
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
	"slices"
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
			serveBareProxy(os.Args[2], os.Args[3], nil)
			return
		case "bareproxy-pooled":
			serveBareProxy(os.Args[2], os.Args[3], pooledBuffers{})
			return
		}
	}
	duration := flag.Duration("duration", 5*time.Second, "measured time per case and round")
	warmup := flag.Duration("warmup", time.Second, "warm-up per case and round")
	rounds := flag.Int("rounds", 5, "interleaved rounds of every case (0: only the instruction counts)")
	logins := flag.Bool("logins", true, "also measure login against bcrypt and refresh with Redis")
	callgrindDir := flag.String("callgrind-dir", "", "keep callgrind's dumps here, one per case, for callgrind_annotate")
	instructions := flag.Int("instructions", 2000, "requests whose instructions callgrind counts, per case (0: skip; needs valgrind)")
	conns := flag.Int("connections", 32, "concurrent keep-alive connections")
	threads := flag.Int("threads", 1, "wrk threads")
	sidecarBin := flag.String("sidecar", "bin/tollgate-sidecar", "sidecar binary")
	write := flag.String("write", "", "also write the report (markdown) to this file")
	tracedCase := flag.Bool("traced", true, "also measure a sidecar that traces every request (case 7; needs a sidecar built with tracing)")
	flag.Parse()
	b := &bench{duration: *duration, warmup: *warmup, conns: *conns, threads: *threads, sidecarBin: *sidecarBin, traced: *tracedCase,
		rounds: max(*rounds, 0), instructions: *instructions, callgrindDir: *callgrindDir, logins: *logins}
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

// serveBareProxy is the proxy a user would otherwise write: httputil.ReverseProxy with a
// pooled upstream transport and the same server timeouts as the sidecar (a proxy facing
// clients needs a header timeout), and nothing else. With a BufferPool it is the same proxy
// with the one tuning the sidecar's own proxy has, which isolates what authentication costs.
func serveBareProxy(addr, upstream string, pool httputil.BufferPool) {
	u, _ := url.Parse(upstream)
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() },
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
		},
		BufferPool: pool,
	}
	fmt.Fprintln(os.Stderr, sidecar.NewHTTPServer(addr, p).ListenAndServe())
}

// pooledBuffers is a BufferPool like the sidecar's: 32 KiB buffers lent from a sync.Pool.
type pooledBuffers struct{}

var bufferPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (pooledBuffers) Get() []byte { return bufferPool.Get().(*[32 << 10]byte)[:] }

func (pooledBuffers) Put(b []byte) {
	if len(b) == 32<<10 {
		bufferPool.Put((*[32 << 10]byte)(b))
	}
}

type bench struct {
	duration, warmup     time.Duration
	conns, threads       int
	rounds, instructions int
	callgrindDir         string
	logins               bool
	traced               bool // case 7
	sidecarBin           string
	procs                []*exec.Cmd
	dir                  string
}

type result struct {
	name          string
	rps, p50, p99 float64 // req/s, ms, ms
	cpuPerReq     float64 // CPU µs the answering process spent per request
	requests      int64
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
	pooled := freePort()
	pooledCmd, err := b.start("bareproxy-pooled", self, "bareproxy-pooled", pooled, "http://"+upstream)
	if err != nil {
		return "", err
	}
	if _, err := b.start("redis", "redis-server", "--port", redisPort, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", b.dir); err != nil {
		return "", err
	}
	idle := map[string]string{} // VmRSS half a second after start, by sidecar
	sidecarArgs := func(change func(*contract.Args)) (string, []string) {
		addr, ops := freePort(), freePort()
		a := contract.Args{Policy: policy, KeysDir: keysDir, UsersFile: users,
			Upstream: "http://" + upstream, Listen: addr, MetricsListen: ops, LogLevel: "warn"}
		if change != nil {
			change(&a)
		}
		return addr, append([]string{b.sidecarBin}, a.Args()...)
	}
	sidecar := func(name string, change func(*contract.Args)) (string, *exec.Cmd, error) {
		addr, args := sidecarArgs(change)
		cmd, err := b.start(name, args...)
		if err == nil {
			time.Sleep(500 * time.Millisecond)
			idle[name] = procStatus(cmd.Process.Pid, "VmRSS")
		}
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
	addrs := []string{upstream, bare, pooled, memAddr, redisSidecar, nocache}
	var collector, traced string
	var tracedCmd *exec.Cmd
	if b.traced {
		if collector, err = otlpSink(); err != nil {
			return "", err
		}
		if traced, tracedCmd, err = sidecar("sidecar-traced", func(a *contract.Args) { a.OTLPEndpoint = collector }); err != nil {
			return "", err
		}
		addrs = append(addrs, traced)
	}
	for _, a := range addrs {
		if err := waitHTTP("http://" + a + "/public/ping"); err != nil {
			return "", err
		}
	}
	token, _, err := login("http://"+memAddr, password)
	if err != nil {
		return "", err
	}
	auth := "Authorization: Bearer " + token

	// Every case gets the same request, token included, so the bytes moved are the same.
	cases := []benchCase{
		{"1. upstream directly", upstream, upstreamCmd},
		{caseBare, bare, bareCmd},
		{casePooled, pooled, pooledCmd},
		{"4. sidecar, ES256, memory store", memAddr, memCmd},
		{"5. sidecar, ES256, Redis store", redisSidecar, redisSidecarCmd},
		{"6. sidecar, ES256, no token cache", nocache, nocacheCmd},
	}
	if b.traced {
		cases = append(cases, benchCase{caseTraced, traced, tracedCmd})
	}
	const redisCase = 4
	runs := make([][]result, len(cases)) // by case, then round
	var redisCmds, redisReqs int64
	for round := range b.rounds {
		// Each round starts one case later, so no case always runs first or last.
		for k := range cases {
			i := (k + round) % len(cases)
			c := cases[i]
			before := redisCalls(redisAddr)
			r, err := b.wrk(c.name, "http://"+c.addr+"/api/items", auth, c.server.Process.Pid)
			if err != nil {
				return "", err
			}
			if i == redisCase {
				redisCmds += redisCalls(redisAddr) - before
				redisReqs += r.requests
			}
			runs[i] = append(runs[i], r)
		}
	}
	hwm := map[string]string{
		"sidecar-memory": procStatus(memCmd.Process.Pid, "VmHWM"),
		"sidecar-redis":  procStatus(redisSidecarCmd.Process.Pid, "VmHWM"),
	}
	if b.traced {
		hwm["sidecar-traced"] = procStatus(tracedCmd.Process.Pid, "VmHWM")
	}

	var counts []instructionCount
	if b.instructions > 0 {
		if _, err := exec.LookPath("valgrind"); err != nil {
			fmt.Fprintln(os.Stderr, "bench: valgrind not found: instruction counts skipped (Debian: apt-get install valgrind)")
		} else {
			quiet := func(a *contract.Args) { a.ReloadInterval = time.Hour }
			type counted struct {
				name string
				args func() (string, []string)
			}
			list := []counted{
				{caseBare, func() (string, []string) {
					a := freePort()
					return a, []string{self, "bareproxy", a, "http://" + upstream}
				}},
				{casePooled, func() (string, []string) {
					a := freePort()
					return a, []string{self, "bareproxy-pooled", a, "http://" + upstream}
				}},
				{"4. sidecar, ES256, memory store", func() (string, []string) { return sidecarArgs(quiet) }},
				{"5. sidecar, ES256, Redis store", func() (string, []string) {
					return sidecarArgs(func(a *contract.Args) { quiet(a); a.RedisURL = "redis://" + redisAddr })
				}},
				{"6. sidecar, ES256, no token cache", func() (string, []string) {
					return sidecarArgs(func(a *contract.Args) { quiet(a); a.TokenCacheSize = new(int) })
				}},
			}
			if b.traced {
				list = append(list, counted{caseTraced, func() (string, []string) {
					return sidecarArgs(func(a *contract.Args) { quiet(a); a.OTLPEndpoint = collector })
				}})
			}
			for _, c := range list {
				addr, args := c.args()
				n, err := b.countInstructions(c.name, args, "http://"+addr+"/api/items", token)
				if err != nil {
					return "", fmt.Errorf("counting instructions of %s: %w", c.name, err)
				}
				counts = append(counts, instructionCount{c.name, n})
			}
		}
	}

	var loginRPS, bcryptRPS, refreshRPS float64
	var refreshErrs int64
	if b.logins {
		loginRPS, bcryptRPS = b.loginVsBcrypt("http://"+memAddr, password, hash)
		refreshRPS, refreshErrs = b.refreshRate("http://"+redisSidecar, password)
	}

	return b.report(runs, counts, redisCmds, redisReqs, idle, hwm, loginRPS, bcryptRPS, refreshRPS, refreshErrs), nil
}

const (
	caseBare   = "2. bare httputil.ReverseProxy (what a user writes)"
	casePooled = "3. bare httputil.ReverseProxy + the sidecar's buffer pool"
	caseTraced = "7. sidecar, ES256, memory store, traced (a span per request, exported over OTLP)"
)

// otlpSink is a collector's OTLP/HTTP endpoint that reads and drops what it is sent; its
// base URL.
func otlpSink() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
		}))
	}()
	return "http://" + ln.Addr().String(), nil
}

type benchCase struct {
	name, addr string
	server     *exec.Cmd // the process that answers wrk
}

type instructionCount struct {
	name  string
	perOp float64 // instructions per request
}

// countInstructions runs a server under callgrind, warms it up, and counts the instructions
// it executes (every thread) while it answers b.instructions requests on four keep-alive
// connections. Go's asynchronous preemption signals are turned off: callgrind cannot follow
// them, and they change nothing a request executes.
func (b *bench) countInstructions(name string, args []string, target, token string) (float64, error) {
	dir := b.callgrindDir
	if dir == "" {
		dir = b.dir
	}
	out := filepath.Join(dir, "callgrind."+strings.Fields(name)[0]+strings.Join(strings.Fields(name)[1:], "-"))
	cmd := exec.Command("valgrind", append([]string{"--tool=callgrind", "--callgrind-out-file=" + out}, args...)...)
	cmd.Env = append(os.Environ(), "GODEBUG=asyncpreemptoff=1")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	const conns = 4
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}, Timeout: time.Minute}
	get := func() error {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	ready := time.Now().Add(2 * time.Minute)
	for get() != nil {
		if time.Now().After(ready) {
			return 0, errors.New("did not answer under valgrind")
		}
		time.Sleep(200 * time.Millisecond)
	}
	requests := func(n int) error {
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		for w := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += conns {
					if err := get(); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	if err := requests(200); err != nil {
		return 0, err
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	if out, err := exec.Command("callgrind_control", "--zero", pid).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("callgrind_control --zero: %w: %s", err, out)
	}
	if err := requests(b.instructions); err != nil {
		return 0, err
	}
	if out, err := exec.Command("callgrind_control", "--dump", pid).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("callgrind_control --dump: %w: %s", err, out)
	}
	// callgrind writes each dump to out.<n>, the totals line last.
	dumps, _ := filepath.Glob(out + ".*")
	if len(dumps) == 0 {
		return 0, errors.New("callgrind wrote no dump")
	}
	data, err := os.ReadFile(dumps[len(dumps)-1])
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^(?:totals|summary): (\d+)`).FindSubmatch(data)
	if m == nil {
		return 0, errors.New("no totals in callgrind's dump")
	}
	total, _ := strconv.ParseFloat(string(m[1]), 64)
	return total / float64(b.instructions), nil
}

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
		r.requests, _ = strconv.ParseInt(m[1], 10, 64)
		if r.requests > 0 && cpu >= 0 {
			r.cpuPerReq = float64(cpu.Microseconds()) / float64(r.requests)
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

func (b *bench) report(runs [][]result, counts []instructionCount, redisCmds, redisReqs int64, idle, hwm map[string]string, loginRPS, bcryptRPS, refreshRPS float64, refreshErrs int64) string {
	var sb strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&sb, "## Sidecar benchmark, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&sb, "Machine: %s, %d CPUs (%s), %s, Go %s. Load: wrk -t%d -c%d, keep-alive, GET with a bearer token; %d interleaved rounds, each running every case for %v after a %v warm-up, in an order rotated by one case per round; everything on this one machine. Figures: median (min-max) over the rounds.\n\n",
		cpuModel(), runtime.NumCPU(), runtime.GOARCH, host, runtime.Version(), b.threads, b.conns, b.rounds, b.duration, b.warmup)
	if b.rounds == 0 {
		runs = nil
	}
	if len(runs) > 0 {
		b.roundsReport(&sb, runs)
	}
	if len(counts) > 0 {
		fmt.Fprintf(&sb, "\nInstructions per request, counted by callgrind over %d requests on 4 connections after a warm-up (every thread of the answering process; unaffected by what else the cores run):\n\n", b.instructions)
		fmt.Fprintln(&sb, "| case | instructions/req | / case 2 | / case 3 |")
		fmt.Fprintln(&sb, "|---|---:|---:|---:|")
		for _, c := range counts {
			fmt.Fprintf(&sb, "| %s | %.0f | %.3f | %.3f |\n", c.name, c.perOp, c.perOp/counts[0].perOp, c.perOp/counts[1].perOp)
		}
	}
	if len(runs) > 0 {
		perReq := 0.0
		if redisReqs > 0 {
			perReq = float64(redisCmds) / float64(redisReqs)
		}
		fmt.Fprintf(&sb, "\nRedis commands during case 5 (INFO commandstats, PING and INFO excluded): %d, %.4f per validated request (target 0)\n", redisCmds, perReq)
	}
	fmt.Fprintf(&sb, "\nSidecar resident memory (targets: 15 MiB idle, 40 MiB under load): memory store %s idle (VmRSS 0.5 s after start), %s peak (VmHWM, after every round); Redis store %s idle, %s peak",
		idle["sidecar-memory"], hwm["sidecar-memory"], idle["sidecar-redis"], hwm["sidecar-redis"])
	if b.traced {
		fmt.Fprintf(&sb, "; traced (case 7) %s idle, %s peak", idle["sidecar-traced"], hwm["sidecar-traced"])
	}
	sb.WriteString("\n")
	if b.logins {
		fmt.Fprintf(&sb, "\nLogin: %.1f/s against raw bcrypt comparisons (cost %d) %.1f/s: ratio %.2f (target 0.9)\n\n", loginRPS, bcrypt.DefaultCost, bcryptRPS, loginRPS/bcryptRPS)
		fmt.Fprintf(&sb, "Refresh with Redis (%d chains of rotations): %.0f/s, %d errors\n", b.conns, refreshRPS, refreshErrs)
	}
	return sb.String()
}

// roundsReport writes the table of the wrk rounds and each case's ratios to the bare proxy.
func (b *bench) roundsReport(sb *strings.Builder, runs [][]result) {
	fmt.Fprintln(sb, "| case | req/s | p50 ms | p99 ms | non-2xx | server CPU µs/req |")
	fmt.Fprintln(sb, "|---|---:|---:|---:|---:|---:|")
	field := func(rs []result, f func(result) float64) []float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return v
	}
	for _, rs := range runs {
		errs := 0
		for _, r := range rs {
			errs += r.errors
		}
		fmt.Fprintf(sb, "| %s | %s | %s | %s | %d | %s |\n", rs[0].name,
			spread(field(rs, func(r result) float64 { return r.rps }), "%.0f"),
			spread(field(rs, func(r result) float64 { return r.p50 }), "%.2f"),
			spread(field(rs, func(r result) float64 { return r.p99 }), "%.2f"),
			errs,
			spread(field(rs, func(r result) float64 { return r.cpuPerReq }), "%.1f"))
	}
	// Each round's ratio to the bare proxy of the same round: what the machine did during a
	// round (another process, frequency, caches) affects both sides of it alike.
	ratios := func(i, base int, f func(result) float64) string {
		v := make([]float64, len(runs[i]))
		for r := range runs[i] {
			v[r] = f(runs[i][r]) / f(runs[base][r])
		}
		return spread(v, "%.3f")
	}
	rps := func(r result) float64 { return r.rps }
	cpu := func(r result) float64 { return r.cpuPerReq }
	fmt.Fprintln(sb, "\nAgainst the bare proxies, round by round (targets, against case 2: 4 and 5 throughput ≥ 0.95 and CPU per request ≤ 1.05; 6 throughput ≥ 0.6). Against case 3, the same proxy tuned as the sidecar's, the ratio is what authentication itself costs:")
	fmt.Fprintln(sb)
	fmt.Fprintln(sb, "| case | throughput / case 2 | CPU per request / case 2 | throughput / case 3 | CPU per request / case 3 |")
	fmt.Fprintln(sb, "|---|---:|---:|---:|---:|")
	for i := 3; i < len(runs); i++ {
		fmt.Fprintf(sb, "| %s | %s | %s | %s | %s |\n", runs[i][0].name, ratios(i, 1, rps), ratios(i, 1, cpu), ratios(i, 2, rps), ratios(i, 2, cpu))
	}
}

// spread formats the median of v and, with more than one value, its range.
func spread(v []float64, format string) string {
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if len(s) == 1 {
		return fmt.Sprintf(format, med)
	}
	return fmt.Sprintf(format+" ("+format+"-"+format+")", med, s[0], s[len(s)-1])
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
