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
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate-dev/tollgate/keyset"
)

// FuzzVerify feeds arbitrary strings to the token verifier: it must never panic, and never
// accept anything but the valid tokens it was seeded with.
func FuzzVerify(f *testing.F) {
	now := time.Now().Truncate(time.Second)
	clock := func() time.Time { return now }
	es, err := keyset.Generate(keyset.ES256, now.Add(-time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	hs, err := keyset.Generate(keyset.HS256, now.Add(-2*time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	keys := NewKeys(&keyset.Keyset{Keys: []*keyset.SigningKey{hs, es}})
	cfg := TokensConfig{
		Keys: keys, Issuer: "https://shop-api.shop.svc", Audiences: []string{"shop-api"},
		TTL: 15 * time.Minute, ClockSkew: 30 * time.Second, Revocations: NewRevocations(), Now: clock,
	}
	cold := NewTokens(cfg)
	cfg.CacheSize = 100
	cached := NewTokens(cfg)

	valid := map[string]bool{}
	claims := func() *AccessClaims {
		return &AccessClaims{Role: "clerk", SessionID: "s1", RegisteredClaims: jwt.RegisteredClaims{
			Issuer: cfg.Issuer, Subject: "7", Audience: jwt.ClaimStrings(cfg.Audiences),
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(cfg.TTL)), ID: randomID(),
		}}
	}
	issued, _, err := cold.Issue("7", "clerk", "s1")
	if err != nil {
		f.Fatal(err)
	}
	for _, tok := range []string{issued, signWith(f, hs, claims(), nil), signWith(f, es, claims(), nil)} {
		valid[tok] = true
		f.Add(tok)
		parts := strings.Split(tok, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + "." + parts[1])
		f.Add(tok + ".")
		f.Add(" " + tok)
	}
	// Refused seeds worth mutating from.
	f.Add(unsignedToken(f, map[string]any{"alg": "none", "kid": es.KID, "typ": TokenType}, claims(), nil))
	f.Add(signWith(f, es, claims(), func(h map[string]any) { h["jwk"] = map[string]any{"kty": "EC"} }))
	f.Add(signWith(f, es, claims(), func(h map[string]any) { h["crit"] = []string{"exp"} }))
	f.Add(signWith(f, es, claims(), func(h map[string]any) { delete(h, "typ") }))
	f.Add(hmacToken(f, es.KID, claims(), []byte("secret")))
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.")
	f.Add(strings.Repeat("A", MaxTokenSize+1))

	f.Fuzz(func(t *testing.T, raw string) {
		for name, tokens := range map[string]*Tokens{"cold": cold, "cached": cached} {
			id, err := tokens.Verify(raw)
			if err == nil && !valid[raw] {
				t.Fatalf("%s verifier accepted a token it was not given: %q as %+v", name, raw, id)
			}
			if err != nil && valid[raw] {
				t.Fatalf("%s verifier refused a valid token: %v", name, err)
			}
			if err == nil && (id.Subject != "7" || id.Role != "clerk") {
				t.Fatalf("%s verifier returned the wrong identity %+v", name, id)
			}
			if err != nil && (err.Error() == "" || len(err.Error()) > 200) {
				t.Fatalf("%s verifier: unfit error %q", name, err)
			}
		}
	})
}

// FuzzCleanPath checks CleanPath's promises on any input: no panic, and an output that is
// absolute, has no dot segments or empty segments, and cleans to itself once escaped again.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{
		"/", "/admin", "//admin", "/./admin", "/public/../admin", "/public/%2e%2e/admin",
		"/%61dmin", "/admin/", "/admin%2fusers", "/public%2f..%2fadmin", "/public/..%2fadmin",
		"/admin;x", "/public;/../admin", `/public\..\admin`, "/ADMIN", "/admin%00",
		"/public/%2E%2E/admin", "/public/%252e%252e/admin", "/caf%C3%A9/", "/a b/%20/", "",
		"admin", "/%", "/%zz", "/public/%c0%ae%c0%ae/admin", "/a/./b/../../c//",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := CleanPath(in)
		if err != nil {
			if out != "" {
				t.Fatalf("CleanPath(%q) returned %q with error %v", in, out, err)
			}
			return
		}
		if !strings.HasPrefix(out, "/") {
			t.Fatalf("CleanPath(%q) = %q: not absolute", in, out)
		}
		if strings.Contains(out, "//") {
			t.Fatalf("CleanPath(%q) = %q: empty segment", in, out)
		}
		for _, seg := range strings.Split(out, "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("CleanPath(%q) = %q: dot segment", in, out)
			}
		}
		if strings.ContainsAny(out, "\\;\x00") {
			t.Fatalf("CleanPath(%q) = %q: a character it should have refused", in, out)
		}
		// What the proxy forwards is out, escaped canonically: the app's own decoding of it
		// must give out back, and cleaning it again must change nothing.
		escaped := (&url.URL{Path: out}).EscapedPath()
		again, err := CleanPath(escaped)
		if err != nil || again != out {
			t.Fatalf("CleanPath(%q) = %q, but CleanPath(%q) = %q, %v", in, out, escaped, again, err)
		}
		if dec, err := url.PathUnescape(escaped); err != nil || dec != out {
			t.Fatalf("escaping %q gives %q, which decodes to %q, %v", out, escaped, dec, err)
		}
	})
}

// The auth bodies: never panic, and what they accept satisfies their checks.

func FuzzParseLoginRequest(f *testing.F) {
	for _, s := range []string{
		`{"email":"alice@example.com","password":"wonderland"}`,
		`{"username":"bob@example.com","password":"builder"}`,
		`{"email":"a","username":"b","password":"c"}`,
		`{"email":1,"password":"x"}`, `{}`, ``, `null`, `[]`, `{"email":"a","password":"b"}{}`,
		`{"email":"a","password":"` + strings.Repeat("x", 73) + `"}`,
		`{"email":"\u0000","password":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseLoginRequest(body)
		if err != nil {
			checkFitError(t, err)
			return
		}
		if req.Email == "" || req.Password == "" || len(req.Email) > 320 || len(req.Password) > 72 {
			t.Fatalf("accepted %+v", req)
		}
	})
}

func FuzzParseRefreshRequest(f *testing.F) {
	tok, _ := newRefreshToken()
	for _, s := range []string{
		`{"refreshToken":"` + tok + `"}`, `{"refreshToken":""}`, `{"refreshToken":1}`, `{}`, ``,
		`{"refreshToken":"a"} x`, `{"refreshToken":"a","refreshToken":"b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRefreshRequest(body)
		if err != nil {
			checkFitError(t, err)
			return
		}
		if req.RefreshToken == "" {
			t.Fatalf("accepted %+v", req)
		}
		_ = wellFormedRefreshToken(req.RefreshToken)
	})
}

func FuzzParseLogoutRequest(f *testing.F) {
	tok, _ := newRefreshToken()
	for _, s := range []string{
		``, ` `, `{}`, `{"all":true}`, `{"all":"yes"}`, `{"refreshToken":"` + tok + `","all":false}`,
		`null`, `{"all":true}{"all":false}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := ParseLogoutRequest(body); err != nil {
			checkFitError(t, err)
		}
	})
}

// checkFitError: an error a client may be shown is short and says something.
func checkFitError(t *testing.T, err error) {
	t.Helper()
	if msg := err.Error(); msg == "" || len(msg) > 200 {
		t.Fatalf("unfit error %q", msg)
	}
}

func FuzzParseUsers(f *testing.F) {
	f.Add([]byte(testUsersYAML))
	f.Add([]byte(`[{"email":"a@b","id":"1","role":"r","passwordHash":"$2a$04$ZYe5j153F9qXAd9VPTHyIeNa/ERn07J8H4EwWxHqypHt7aUjL39lG"}]`))
	f.Add([]byte("- email: a@b\n  id: \"1\"\n  passwordHash: nope\n"))
	f.Add([]byte("- {email: a@b, id: 1, unknown: x}\n"))
	f.Add([]byte("{}"))
	// Hashes where a key or field name belongs: the errors must not quote them.
	f.Add([]byte("- $2a$04$ZYe5j153F9qXAd9VPTHyIeNa/ERn07J8H4EwWxHqypHt7aUjL39lG: x\n"))
	f.Add([]byte("- ? [$2a$04$ZYe5j153F9qXAd9VPTHyIeNa/ERn07J8H4EwWxHqypHt7aUjL39lG]\n  : x\n"))
	// A cost of 31 would take days to check; it must be refused, not computed.
	f.Add([]byte("- {email: a@b, id: \"1\", passwordHash: $2a$31$ZYe5j153F9qXAd9VPTHyIeNa/ERn07J8H4EwWxHqypHt7aUjL39lG}\n"))
	// A salt outside bcrypt's alphabet: bcrypt.Cost takes it, a comparison fails at once.
	f.Add([]byte("- {email: a@b, id: \"1\", passwordHash: $2a$10$!!!!!!!!!!!!!!!!!!!!!!Na/ERn07J8H4EwWxHqypHt7aUjL39lG}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUsers(data)
		if err != nil {
			if strings.Contains(err.Error(), "$2a$") || strings.Contains(err.Error(), "$2b$") {
				t.Fatalf("the error quotes a hash: %v", err)
			}
			return
		}
		if u.maxCost < bcrypt.MinCost || len(u.dummies) != u.maxCost+1 {
			t.Fatalf("parsed users without dummy hashes up to cost %d", u.maxCost)
		}
		for _, user := range u.byEmail {
			if cost, err := bcrypt.Cost([]byte(user.PasswordHash)); err != nil || cost > MaxBcryptCost {
				t.Fatalf("accepted a hash of cost %d (%v)", cost, err)
			}
			// Every accepted hash costs bcrypt work to compare: relabelled to the cheapest
			// cost, a comparison matches or mismatches, it does not fail at once.
			cheap := []byte(user.PasswordHash)
			copy(cheap[len(cheap)-56:], "04")
			if err := bcrypt.CompareHashAndPassword(cheap, []byte("x")); err != nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
				t.Fatalf("accepted a hash bcrypt cannot compare: %v", err)
			}
		}
	})
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(testPolicyYAML))
	f.Add([]byte(`{"apiVersion":"auth.tollgate.dev/v1alpha1","kind":"AuthPolicy","metadata":{"name":"x"},"spec":{"issuer":"https://x","audiences":["x"]}}`))
	f.Add([]byte(strings.Replace(testPolicyYAML, "ES256", "none", 1)))
	f.Add([]byte(strings.Replace(testPolicyYAML, "clockSkew: 30s", "clockSkew: -1s", 1)))
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			return
		}
		// What parses is usable: its routes compile and its issuer is set.
		if p.Spec.Issuer == "" {
			t.Fatalf("accepted a policy without an issuer")
		}
		r := NewRoutes(p.Spec.Routes)
		_ = r.Match("GET", "/")
	})
}
