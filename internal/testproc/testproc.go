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

// Package testproc builds tollgate's binaries and runs them as child processes of a test,
// so a test can kill and restart them as an orchestrator or a crash would.
package testproc

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a process may take to answer its readiness URL.
const startTimeout = 30 * time.Second

// Build compiles the main package pkg (an import path or ./relative path) into dir and
// returns the binary's path.
func Build(pkg, dir string) (string, error) {
	name := filepath.Base(pkg)
	if abs, err := filepath.Abs(pkg); err == nil && strings.HasPrefix(pkg, ".") {
		name = filepath.Base(abs)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// Process is one running binary owned by a test.
type Process struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error // the exit status, once done is closed
}

// Start runs bin with args and waits until readyURL answers 200 (every 20ms, up to 30s).
// The process is killed when the test ends. Its stdout and stderr are kept for Logs.
func Start(t testing.TB, bin, readyURL string, args ...string) *Process {
	t.Helper()
	p := &Process{t: t, name: filepath.Base(bin), logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.Kill)

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		if resp, err := client.Get(readyURL); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited at start (%v):\n%s", p.name, p.err, p.Logs())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %s within %v:\n%s", p.name, readyURL, startTimeout, p.Logs())
		}
	}
}

// Pid is the process's id, for reading its /proc entries.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Logs is what the process wrote to stdout and stderr so far.
func (p *Process) Logs() string { return p.logs.String() }

// LogsContain reports whether the process has logged substr within timeout. The process's
// output reaches the test through a pipe, so a line written before an HTTP answer can still
// be on its way when the answer arrives.
func (p *Process) LogsContain(substr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.Logs(), substr) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// Kill ends the process with SIGKILL, as a crash or an OOM kill would, and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Terminate sends SIGTERM, as the kubelet does, and waits up to timeout for the exit. It
// returns the exit error (nil for status 0), or an error if the process outlived timeout,
// in which case it is killed.
func (p *Process) Terminate(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return errors.New(p.name + " did not exit within " + timeout.String() + " of SIGTERM")
	}
}

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.done }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TempDir makes a directory outside any test's TempDir, for binaries built in TestMain.
func TempDir() (string, error) { return os.MkdirTemp("", "tollgate-bin-") }
