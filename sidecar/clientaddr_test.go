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
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// The proxies of these tests: an ingress at 10.0.0.5 (in 10.0.0.0/8), a mesh hop at
// fd00::7 (in fd00::/8), a load balancer at 192.0.2.10.
var testTrusted = mustTrust("10.0.0.0/8", "fd00::/8", "192.0.2.10")

func mustTrust(list ...string) TrustedProxies {
	t, err := ParseTrustedProxies(list)
	if err != nil {
		panic(err)
	}
	return t
}

func TestClientAddr(t *testing.T) {
	const ingress = "10.0.0.5:40000"
	huge := strings.Repeat("198.51.100.1, ", 4000) // 56 KiB of spoofed hops
	manyTrusted := strings.Repeat("10.0.0.9, ", 100)
	for _, tc := range []struct {
		name    string
		trusted TrustedProxies
		peer    string
		xff     []string
		fwd     []string
		want    string
	}{
		// Who is believed.
		{"no trusted proxies: the peer, whatever the headers say", TrustedProxies{}, ingress, []string{"203.0.113.9"}, []string{"for=203.0.113.9"}, "10.0.0.5"},
		{"an untrusted peer's headers are ignored", testTrusted, "198.51.100.7:1234", []string{"203.0.113.9"}, nil, "198.51.100.7"},
		{"behind the ingress: the hop it appended", testTrusted, ingress, []string{"203.0.113.9"}, nil, "203.0.113.9"},
		{"a trusted peer without a header: the peer", testTrusted, ingress, nil, nil, "10.0.0.5"},
		{"an IPv6 peer", testTrusted, "[fd00::7]:443", []string{"2001:db8::1"}, nil, "2001:db8::1"},
		{"an IPv4-mapped peer is read as IPv4", testTrusted, "[::ffff:10.0.0.5]:1", []string{"203.0.113.9"}, nil, "203.0.113.9"},
		{"a peer with a zone", testTrusted, "[fe80::1%eth0]:1", []string{"203.0.113.9"}, nil, "fe80::1"},
		{"a peer that is no address", testTrusted, "@", []string{"203.0.113.9"}, nil, ""},

		// X-Forwarded-For, right to left.
		{"a spoofed left-most hop is not read", testTrusted, ingress, []string{"1.2.3.4, 203.0.113.9"}, nil, "203.0.113.9"},
		{"trusted hops are skipped", testTrusted, ingress, []string{"1.2.3.4, 203.0.113.9, 192.0.2.10, 10.1.1.1"}, nil, "203.0.113.9"},
		{"several headers read as one list, in order", testTrusted, ingress, []string{"1.2.3.4, 203.0.113.9", "10.1.1.1"}, nil, "203.0.113.9"},
		{"a spoofed header before the ingress's own", testTrusted, ingress, []string{"1.2.3.4", "203.0.113.9"}, nil, "203.0.113.9"},
		{"every hop trusted: the left-most", testTrusted, ingress, []string{"10.9.9.9, 10.1.1.1"}, nil, "10.9.9.9"},
		{"a port on a hop", testTrusted, ingress, []string{"203.0.113.9:5555"}, nil, "203.0.113.9"},
		{"a bracketed IPv6 hop with a port", testTrusted, ingress, []string{"[2001:db8::1]:80"}, nil, "2001:db8::1"},
		{"an IPv4-mapped hop is read as IPv4, and trusted as such", testTrusted, ingress, []string{"203.0.113.9, ::ffff:10.1.1.1"}, nil, "203.0.113.9"},
		{"empty elements are skipped", testTrusted, ingress, []string{"203.0.113.9, , 10.1.1.1,"}, nil, "203.0.113.9"},
		{"spaces and tabs around hops", testTrusted, ingress, []string{" 203.0.113.9\t,\t10.1.1.1 "}, nil, "203.0.113.9"},
		{"a huge spoofed prefix", testTrusted, ingress, []string{huge + "203.0.113.9"}, nil, "203.0.113.9"},
		{"more trusted hops than are followed: the last one followed", testTrusted, ingress, []string{"203.0.113.9, " + manyTrusted + "10.1.1.1"}, nil, "10.0.0.9"},

		// Malformed hops end the walk at the last trusted hop, never at the text.
		{"garbage written by the ingress", testTrusted, ingress, []string{"203.0.113.9, not-an-ip"}, nil, "10.0.0.5"},
		{"garbage behind a trusted hop", testTrusted, ingress, []string{"1.2.3.4, evil, 10.1.1.1"}, nil, "10.1.1.1"},
		{"an empty header", testTrusted, ingress, []string{""}, nil, "10.0.0.5"},
		{"a hop with a zone", testTrusted, ingress, []string{"fe80::1%eth0"}, nil, "10.0.0.5"},
		{"a hop with a bad port", testTrusted, ingress, []string{"203.0.113.9:http"}, nil, "10.0.0.5"},
		{"a hop with a long port", testTrusted, ingress, []string{"203.0.113.9:123456"}, nil, "10.0.0.5"},
		{"IPv4 in brackets", testTrusted, ingress, []string{"[203.0.113.9]"}, nil, "10.0.0.5"},
		{"an unclosed bracket", testTrusted, ingress, []string{"[2001:db8::1"}, nil, "10.0.0.5"},
		{"a bracket followed by junk", testTrusted, ingress, []string{"[2001:db8::1]x"}, nil, "10.0.0.5"},
		{"a bracket and a colon without a port", testTrusted, ingress, []string{"[2001:db8::1]:"}, nil, "10.0.0.5"},
		{"leading zeros", testTrusted, ingress, []string{"010.0.0.1"}, nil, "10.0.0.5"},
		{"a NUL byte", testTrusted, ingress, []string{"203.0.113.9\x00"}, nil, "10.0.0.5"},
		{"unknown", testTrusted, ingress, []string{"unknown"}, nil, "10.0.0.5"},

		// RFC 7239 Forwarded.
		{"Forwarded: for=", testTrusted, ingress, nil, []string{"for=192.0.2.60;proto=http;by=203.0.113.43"}, "192.0.2.60"},
		{"Forwarded: a quoted IPv6 with a port", testTrusted, ingress, nil, []string{`for="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17"},
		{"Forwarded: the parameter name in any case", testTrusted, ingress, nil, []string{`For="[2001:db8:cafe::17]"`}, "2001:db8:cafe::17"},
		{"Forwarded: a spoofed left-most element", testTrusted, ingress, nil, []string{"for=1.2.3.4, for=203.0.113.9"}, "203.0.113.9"},
		{"Forwarded: trusted elements are skipped", testTrusted, ingress, nil, []string{"for=1.2.3.4", "for=203.0.113.9;proto=https, for=10.1.1.1"}, "203.0.113.9"},
		{"Forwarded: an unquoted IPv4 with a port", testTrusted, ingress, nil, []string{"for=203.0.113.9:80"}, "203.0.113.9"},
		{"Forwarded: an obfuscated port", testTrusted, ingress, nil, []string{`for="[2001:db8::1]:_abc"`}, "2001:db8::1"},
		{"Forwarded: quoted-pair escapes", testTrusted, ingress, nil, []string{`for="203.0.113\.9"`}, "203.0.113.9"},
		{"Forwarded: unknown ends the walk", testTrusted, ingress, nil, []string{"for=203.0.113.9, for=unknown"}, "10.0.0.5"},
		{"Forwarded: an obfuscated node ends the walk", testTrusted, ingress, nil, []string{"for=203.0.113.9, for=_hidden, for=10.1.1.1"}, "10.1.1.1"},
		{"Forwarded: an element without for ends the walk", testTrusted, ingress, nil, []string{"for=203.0.113.9, by=10.0.0.5;proto=https"}, "10.0.0.5"},
		{"Forwarded: two fors in one element", testTrusted, ingress, nil, []string{"for=203.0.113.9;for=1.2.3.4"}, "10.0.0.5"},
		{"Forwarded: an unterminated quote", testTrusted, ingress, nil, []string{`for="203.0.113.9`}, "10.0.0.5"},
		{"Forwarded: a comma inside quotes", testTrusted, ingress, nil, []string{`for=203.0.113.9;host="a,b"`}, "10.0.0.5"},
		{"Forwarded: a value that is no token", testTrusted, ingress, nil, []string{`for=203.0.113.9;host=a b`}, "10.0.0.5"},
		{"Forwarded: a pair without a value", testTrusted, ingress, nil, []string{`for`}, "10.0.0.5"},
		{"Forwarded: garbage", testTrusted, ingress, nil, []string{`;;=;"`}, "10.0.0.5"},

		// Both headers: a client cannot know which one its proxy writes, so the other one,
		// wholly the client's, must not choose its address.
		{"a client's own X-Forwarded-For behind a proxy that writes Forwarded", testTrusted, ingress, []string{"198.51.100.66"}, []string{"for=203.0.113.9"}, "10.0.0.5"},
		{"a client's own X-Forwarded-For naming a trusted hop", testTrusted, ingress, []string{"10.7.7.7"}, []string{"for=203.0.113.9"}, "10.0.0.5"},
		{"a client's own Forwarded behind a proxy that writes X-Forwarded-For", testTrusted, ingress, []string{"203.0.113.9"}, []string{"for=1.2.3.4"}, "10.0.0.5"},
		{"a proxy that writes both: they agree", testTrusted, ingress, []string{"1.2.3.4, 203.0.113.9"}, []string{"for=203.0.113.9"}, "203.0.113.9"},
		{"both, agreeing after trusted hops", testTrusted, ingress, []string{"203.0.113.9, 10.1.1.1"}, []string{"for=5.6.7.8, for=203.0.113.9", "for=10.1.1.1"}, "203.0.113.9"},
		{"an empty X-Forwarded-For and a Forwarded", testTrusted, ingress, []string{""}, []string{"for=1.2.3.4"}, "10.0.0.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.xff {
				h.Add("X-Forwarded-For", v)
			}
			for _, v := range tc.fwd {
				h.Add("Forwarded", v)
			}
			got := tc.trusted.ClientAddr(&http.Request{RemoteAddr: tc.peer, Header: h})
			if tc.want == "" {
				if got.IsValid() {
					t.Fatalf("ClientAddr = %s, want none", got)
				}
				return
			}
			if got != netip.MustParseAddr(tc.want) {
				t.Fatalf("ClientAddr = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	good := []string{"10.0.0.0/8", "192.0.2.7", "fd00::/8", "2001:db8::1", "10.1.2.3/8", "0.0.0.0/0"}
	tp, err := ParseTrustedProxies(good)
	if err != nil || tp.Len() != len(good) {
		t.Fatalf("ParseTrustedProxies(%q) = %d, %v", good, tp.Len(), err)
	}
	if !tp.trusts(netip.MustParseAddr("10.200.0.1")) || !tp.trusts(netip.MustParseAddr("203.0.113.1")) {
		t.Error("a CIDR written with host bits set is not read as its network")
	}
	for _, bad := range []string{"", "10.0.0.0/33", "10.0.0.1/8/8", "fe80::1%eth0", "::ffff:10.0.0.1", "::ffff:10.0.0.0/104", "host.example", " 10.0.0.1", "010.0.0.1"} {
		if _, err := ParseTrustedProxies([]string{bad}); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted", bad)
		}
	}
	tooMany := make([]string, MaxTrustedProxies+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("10.0.0.%d", i)
	}
	if _, err := ParseTrustedProxies(tooMany); err == nil {
		t.Errorf("%d trusted proxies accepted", len(tooMany))
	}
}

// FuzzClientAddr: whatever the headers hold, the client address is the peer or an address
// the headers spell, never text of their own choosing, and parsing neither panics nor hangs.
func FuzzClientAddr(f *testing.F) {
	for _, seed := range [][2]string{
		{"203.0.113.9", ""},
		{"1.2.3.4, 203.0.113.9, 10.1.1.1", ""},
		{"[2001:db8::1]:80, ::ffff:10.0.0.1", ""},
		{"", `for=192.0.2.60;proto=http;by=203.0.113.43`},
		{"", `for="[2001:db8:cafe::17]:4711", for=unknown, For=_x`},
		{"", `for="\"\\", for=1.2.3.4;for=5.6.7.8`},
		{"garbage,,,", `;;="`},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, xff, fwd string) {
		h := http.Header{}
		if xff != "" {
			h.Set("X-Forwarded-For", xff)
		}
		if fwd != "" {
			h.Set("Forwarded", fwd)
		}
		got := testTrusted.ClientAddr(&http.Request{RemoteAddr: "10.0.0.5:1", Header: h})
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("ClientAddr = %v", got)
		}
		if got != netip.MustParseAddr("10.0.0.5") && !spelled(xff + "," + fwd)[got] {
			t.Fatalf("ClientAddr = %s, which %q and %q do not spell", got, xff, fwd)
		}
	})
}

// spelled is every address written in s: each run of address characters (escapes
// removed), as it is or without a trailing :port.
func spelled(s string) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	runs := strings.FieldsFunc(strings.ReplaceAll(s, `\`, ""), func(r rune) bool {
		return !strings.ContainsRune("0123456789abcdefABCDEF.:", r)
	})
	for _, run := range runs {
		for _, c := range []string{run, run[:max(0, strings.LastIndexByte(run, ':'))]} {
			if a, err := netip.ParseAddr(c); err == nil {
				out[a.Unmap()] = true
			}
		}
	}
	return out
}
