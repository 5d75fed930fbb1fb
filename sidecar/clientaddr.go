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
)

// MaxTrustedProxies bounds spec.sidecar.trustedProxies and --trusted-proxies.
const MaxTrustedProxies = 64

// maxForwardedHops is how many trusted hops a forwarding header is followed through; past
// them the last trusted hop is the client.
const maxForwardedHops = 32

// TrustedProxies are the peers whose forwarding headers are believed: an ingress
// controller, a Gateway, a mesh's proxy. The zero value trusts no one.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// ParseTrustedProxies reads CIDRs ("10.0.0.0/8", "fd00::/8") and bare addresses
// ("192.0.2.7", a /32 or /128), by the rules of the CRD's isCIDR and isIP: no zones, no
// IPv4-mapped IPv6.
func ParseTrustedProxies(list []string) (TrustedProxies, error) {
	if len(list) > MaxTrustedProxies {
		return TrustedProxies{}, fmt.Errorf("%d trusted proxies, more than the %d allowed", len(list), MaxTrustedProxies)
	}
	var t TrustedProxies
	for _, s := range list {
		p, err := parseTrustedProxy(s)
		if err != nil {
			return TrustedProxies{}, err
		}
		t.prefixes = append(t.prefixes, p)
	}
	return t, nil
}

func parseTrustedProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Is4In6() {
			return netip.Prefix{}, fmt.Errorf("trusted proxy %q: not a CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		return netip.Prefix{}, fmt.Errorf("trusted proxy %q: not an IP address or CIDR", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Len is the number of trusted prefixes.
func (t TrustedProxies) Len() int { return len(t.prefixes) }

func (t TrustedProxies) trusts(a netip.Addr) bool {
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr is the address of the client that sent r: the TCP peer, unless the peer is a
// trusted proxy. Then the forwarding header is read from its right end, where the peer
// wrote, leftwards through trusted hops, and the first untrusted hop is the client:
// whatever a client wrote itself sits further left and is never read.
//
// The header is X-Forwarded-For (what ingress-nginx, Envoy, Traefik and cloud load balancers
// write) or RFC 7239 Forwarded (its `for=`). A request with both is read both ways, and the
// two must name the same client, else the client is the peer: a proxy writes one of them (or
// both alike) and passes the other on from the client untouched, and the client cannot be
// let choose which is believed. A hop that is malformed, "unknown", an obfuscated identifier
// or missing ends a walk: the client is then the last trusted hop, an address a trusted proxy
// vouched for, never text of a client's choosing. The zero Addr means the peer's address
// could not be read (not a TCP peer).
func (t TrustedProxies) ClientAddr(r *http.Request) netip.Addr {
	return t.clientAddr(r.RemoteAddr, r.Header)
}

func (t TrustedProxies) clientAddr(remoteAddr string, h http.Header) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	peer := ap.Addr().WithZone("").Unmap()
	if len(t.prefixes) == 0 || !t.trusts(peer) {
		return peer
	}
	xff, fwd := h.Values("X-Forwarded-For"), h.Values("Forwarded")
	switch {
	case len(fwd) == 0:
		return t.walk(peer, xffHops(xff))
	case len(xff) == 0:
		return t.walk(peer, forwardedHops(fwd))
	}
	if a := t.walk(peer, xffHops(xff)); a == t.walk(peer, forwardedHops(fwd)) {
		return a
	}
	return peer
}

// walk follows next's hops from the trusted peer to the first untrusted one.
func (t TrustedProxies) walk(peer netip.Addr, next hopIter) netip.Addr {
	hop := peer
	for range maxForwardedHops {
		a, ok := next()
		if !ok {
			return hop
		}
		if !t.trusts(a) {
			return a
		}
		hop = a
	}
	return hop
}

// hopIter yields a forwarding header's hops from the right; ok is false at the end or at a
// hop that names no address.
type hopIter func() (a netip.Addr, ok bool)

// xffHops walks X-Forwarded-For values (several headers read as one list, in order) from
// the right.
func xffHops(values []string) hopIter {
	return splitFromRight(values, func(elem string) (netip.Addr, bool) {
		return parseNode(strings.Trim(elem, " \t"), false)
	})
}

// forwardedHops walks RFC 7239 Forwarded values from the right, yielding each element's
// `for=`. A quoted value holding a comma cannot be told from a list separator when reading
// from the right, so it reads as a malformed hop: no proxy writes one.
func forwardedHops(values []string) hopIter {
	return splitFromRight(values, forwardedFor)
}

// splitFromRight yields parse of each comma-separated element of values, right to left,
// skipping empty elements.
func splitFromRight(values []string, parse func(string) (netip.Addr, bool)) hopIter {
	i := len(values) - 1
	rest := ""
	if i >= 0 {
		rest = values[i]
	}
	return func() (netip.Addr, bool) {
		for i >= 0 {
			var elem string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				elem, rest = rest[j+1:], rest[:j]
			} else {
				elem = rest
				if i--; i >= 0 {
					rest = values[i]
				}
			}
			if strings.Trim(elem, " \t") != "" {
				return parse(elem)
			}
		}
		return netip.Addr{}, false
	}
}

// forwardedFor reads the `for` parameter of one Forwarded element:
// `for=192.0.2.60;proto=http;by=203.0.113.43`, `for="[2001:db8:cafe::17]:4711"`.
func forwardedFor(elem string) (netip.Addr, bool) {
	var node string
	found := false
	for rest := elem; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, ";")
		pair = strings.Trim(pair, " \t")
		if pair == "" {
			continue
		}
		name, value, ok := strings.Cut(pair, "=")
		if !ok || !isToken(name) {
			return netip.Addr{}, false
		}
		if strings.HasPrefix(value, `"`) {
			if value, ok = unquote(value); !ok {
				return netip.Addr{}, false
			}
		} else if !isToken(value) && strings.Trim(value, "0123456789abcdefABCDEF.:[]") != "" {
			// Unquoted, an address with a colon is not a token; proxies write it anyway.
			return netip.Addr{}, false
		}
		if strings.EqualFold(name, "for") {
			if found {
				return netip.Addr{}, false // two `for`s: which one would the proxy mean?
			}
			node, found = value, true
		}
	}
	if !found {
		return netip.Addr{}, false
	}
	return parseNode(node, true)
}

// parseNode reads an address with an optional port: 192.0.2.1, 192.0.2.1:80, 2001:db8::1,
// [2001:db8::1], [2001:db8::1]:80. An RFC 7239 port may be obfuscated (_x). "unknown",
// obfuscated nodes and addresses with a zone name no address.
func parseNode(s string, rfc7239 bool) (netip.Addr, bool) {
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host = s[1:end]
		if after := s[end+1:]; after != "" {
			if after[0] != ':' || len(after) == 1 {
				return netip.Addr{}, false
			}
			port = after[1:]
		}
		if !strings.Contains(host, ":") {
			return netip.Addr{}, false // brackets are for IPv6
		}
	case strings.Count(s, ":") == 1:
		host, port, _ = strings.Cut(s, ":")
		if port == "" {
			return netip.Addr{}, false
		}
	}
	if port != "" && !validPort(port, rfc7239) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func validPort(p string, obfuscatedOK bool) bool {
	if obfuscatedOK && len(p) > 1 && p[0] == '_' {
		for i := 1; i < len(p); i++ {
			c := p[i]
			if c != '.' && c != '_' && c != '-' && !isAlnum(c) {
				return false
			}
		}
		return true
	}
	if len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// unquote reads an RFC 9110 quoted-string that must be the whole of s.
func unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
			if i >= len(s)-1 {
				return "", false
			}
			b.WriteByte(s[i])
		case c == '"' || c < 0x20 && c != '\t' || c == 0x7f:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// clientAddr is r's client address as rate limits and logs name it.
func (p *livePolicy) clientAddr(r *http.Request) string {
	a := p.trustedProxies.ClientAddr(r)
	if !a.IsValid() {
		return "unknown"
	}
	return a.String()
}
