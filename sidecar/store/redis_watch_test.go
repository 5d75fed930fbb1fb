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

package store

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testredis"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// TestRedisWatchReplacesASilentConnection: a connection whose peer vanished without closing
// it (a partition, a node gone) carries nothing more. Watch must notice by its unanswered
// ping, subscribe again on a new connection, and resync.
func TestRedisWatchReplacesASilentConnection(t *testing.T) {
	srv := testredis.Start(t)
	proxy := newFreezingProxy(t, srv.Addr())
	ctx := context.Background()

	watched, err := OpenRedis(RedisOptions{Addresses: []string{proxy.addr()}}, "shop/shop-api")
	if err != nil {
		t.Fatal(err)
	}
	defer watched.Close()
	watched.healthEvery = 100 * time.Millisecond
	direct, err := OpenRedis(RedisOptions{Addresses: []string{srv.Addr()}}, "shop/shop-api")
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()

	var resyncs atomic.Int64
	got := make(chan Revocation, 10)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		watched.Watch(wctx, func(r Revocation) { got <- r }, func() { resyncs.Add(1) })
	}()
	defer func() { cancel(); <-done }()

	testwait.For(t, 5*time.Second, "first resync", func() bool { return resyncs.Load() >= 1 })
	proxy.freeze() // the current connections go silent; new ones work
	testwait.For(t, 10*time.Second, "resync on a new connection", func() bool { return resyncs.Load() >= 2 })

	if err := direct.Revoke(ctx, Revocation{Kind: RevokedToken, ID: "after", Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.ID != "after" {
			t.Errorf("got %+v, want the revocation published after the freeze", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no revocation through the new connection")
	}
}

// freezingProxy forwards TCP to a backend; freeze makes every connection open so far stop
// forwarding without closing, as a peer that vanished would.
type freezingProxy struct {
	l       net.Listener
	backend string

	mu     sync.Mutex
	frozen []chan struct{} // one per open connection, closed to freeze it
	conns  []net.Conn
}

func newFreezingProxy(t *testing.T, backend string) *freezingProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{l: l, backend: backend}
	go p.serve()
	t.Cleanup(func() {
		_ = l.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			_ = c.Close()
		}
	})
	return p
}

func (p *freezingProxy) addr() string { return p.l.Addr().String() }

func (p *freezingProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.frozen {
		close(f)
	}
	p.frozen = nil
}

func (p *freezingProxy) serve() {
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.backend)
		if err != nil {
			_ = in.Close()
			continue
		}
		frozen := make(chan struct{})
		p.mu.Lock()
		p.frozen = append(p.frozen, frozen)
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go pipe(out, in, frozen)
		go pipe(in, out, frozen)
	}
}

// pipe copies src to dst until frozen, then drops whatever arrives.
func pipe(dst io.Writer, src io.Reader, frozen <-chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-frozen:
			n = 0
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
