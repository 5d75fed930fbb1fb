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
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// claimsFor returns the claims the sidecar itself would put in an access token issued now.
func (h *harness) claimsFor(subject, role string) *AccessClaims {
	now := h.clock.Now()
	return &AccessClaims{
		Role: role,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    h.server.policy().spec.Issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings(h.server.policy().spec.Audiences),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(h.server.policy().spec.Tokens.AccessTokenTTL.Duration)),
			ID:        randomID(),
		},
	}
}

// activeKey is the key the harness's sidecar signs with now.
func (h *harness) activeKey() *keyset.SigningKey {
	h.t.Helper()
	k := h.keys.Keyset().Active(h.clock.Now())
	if k == nil {
		h.t.Fatal("no active key")
	}
	return k
}

// signWith signs claims with key exactly as Tokens.Issue does (alg, kid, typ), after edit,
// when not nil, has changed the header.
func signWith(t testing.TB, key *keyset.SigningKey, claims jwt.Claims, edit func(header map[string]any)) string {
	t.Helper()
	tok := jwt.NewWithClaims(key.Algorithm.SigningMethod(), claims)
	tok.Header["kid"] = key.KID
	tok.Header["typ"] = TokenType
	if edit != nil {
		edit(tok.Header)
	}
	s, err := tok.SignedString(key.SigningKey())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hmacToken is an HS256 token "signed" with secret, claiming to come from key kid.
func hmacToken(t testing.TB, kid string, claims jwt.Claims, secret []byte) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = kid
	tok.Header["typ"] = TokenType
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(j)
}

// unsignedToken builds header.payload.signature by hand, for headers no library would sign.
func unsignedToken(t testing.TB, header map[string]any, claims any, sig []byte) string {
	t.Helper()
	return b64JSON(t, header) + "." + b64JSON(t, claims) + "." + b64(sig)
}

// publicKeyBytes returns a public key as PKIX PEM and DER: what an attacker finds in the
// JWKS, and tries as an HMAC secret.
func publicKeyBytes(t testing.TB, key *keyset.SigningKey) (pemBytes, der []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.VerificationKey())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), der
}

// assertRejected checks that tok is refused both by Tokens.Verify (for a reason containing
// reason) and by the proxy (401 invalid_token, the app never reached).
func (h *harness) assertRejected(t *testing.T, tok, reason string) {
	t.Helper()
	id, err := h.server.Tokens().Verify(tok)
	if err == nil {
		t.Fatalf("Verify accepted the token as %+v", id)
	}
	if !strings.Contains(err.Error(), reason) {
		t.Errorf("Verify refused the token for %q, want a reason containing %q", err, reason)
	}
	before := h.app.Last()
	resp, body := h.do("GET", "/orders", tok, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("proxy answered %d, want 401: %s", resp.StatusCode, body)
	}
	if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("401 without error=\"invalid_token\": %q", resp.Header.Get("WWW-Authenticate"))
	}
	if msg := errorOf(t, body); !strings.HasPrefix(msg, "invalid token") {
		t.Errorf("error %q", msg)
	}
	if h.app.Last() != before {
		t.Fatal("the request reached the app")
	}
}

// assertAccepted checks that tok passes Verify and the proxy as subject.
func (h *harness) assertAccepted(t *testing.T, tok, subject string) {
	t.Helper()
	id, err := h.server.Tokens().Verify(tok)
	if err != nil {
		t.Fatalf("Verify refused a valid token: %v", err)
	}
	if id.Subject != subject {
		t.Fatalf("Verify says subject %q, want %q", id.Subject, subject)
	}
	resp, body := h.do("GET", "/orders", tok, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("proxy answered %d, want 200: %s", resp.StatusCode, body)
	}
	if got := h.app.Last().Header.Get(HeaderSubject); got != subject {
		t.Fatalf("the app saw subject %q, want %q", got, subject)
	}
}

func TestForgedTokensAreRejected(t *testing.T) {
	h := newHarness(t)
	key := h.activeKey()
	claims := func() *AccessClaims { return h.claimsFor("7", "clerk") }

	// Every forgery below starts from this: the control must pass, so that each case fails
	// for the one thing it changes.
	t.Run("the control token signed by the real key is accepted", func(t *testing.T) {
		h.assertAccepted(t, signWith(t, key, claims(), nil), "7")
	})

	t.Run("alg none is refused in any case, with or without a signature", func(t *testing.T) {
		for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
			header := map[string]any{"alg": alg, "kid": key.KID, "typ": TokenType}
			c := claims()
			input := b64JSON(t, header) + "." + b64JSON(t, c)
			realSig, err := jwt.SigningMethodES256.Sign(input, key.SigningKey())
			if err != nil {
				t.Fatal(err)
			}
			for name, tok := range map[string]string{
				"no signature":             input + ".",
				"no signature and no dot":  input,
				"the real key's signature": input + "." + b64(realSig),
				"a random signature":       input + "." + b64([]byte("not a signature at all")),
				"no kid and no signature":  unsignedToken(t, map[string]any{"alg": alg, "typ": TokenType}, c, nil),
				"no typ, no kid, no sig":   unsignedToken(t, map[string]any{"alg": alg}, c, nil),
				"half the real signature":  input + "." + b64(realSig[:32]),
			} {
				t.Run(alg+" with "+name, func(t *testing.T) { h.assertRejected(t, tok, "") })
			}
		}
	})

	t.Run("a stripped signature is refused", func(t *testing.T) {
		good := signWith(t, key, claims(), nil)
		input := good[:strings.LastIndex(good, ".")]
		h.assertRejected(t, input+".", "bad signature")
		h.assertRejected(t, input, "malformed")
	})

	t.Run("HS256 signed with the public key is refused (key confusion)", func(t *testing.T) {
		pemBytes, der := publicKeyBytes(t, key)
		h.assertRejected(t, hmacToken(t, key.KID, claims(), pemBytes), "algorithm not allowed")
		h.assertRejected(t, hmacToken(t, key.KID, claims(), der), "algorithm not allowed")
		// With a trailing newline stripped, as some tools hand the PEM over.
		h.assertRejected(t, hmacToken(t, key.KID, claims(), []byte(strings.TrimSpace(string(pemBytes)))), "algorithm not allowed")
	})

	t.Run("a foreign key with the same kid is refused", func(t *testing.T) {
		foreign, err := keyset.Generate(keyset.ES256, h.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		foreign.KID = key.KID
		h.assertRejected(t, signWith(t, foreign, claims(), nil), "bad signature")
	})

	t.Run("headers that bring their own key are refused even with a valid signature", func(t *testing.T) {
		attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		jwk, err := json.Marshal(jose.JSONWebKey{Key: attacker.Public(), KeyID: key.KID, Algorithm: "ES256", Use: "sig"})
		if err != nil {
			t.Fatal(err)
		}
		var jwkMap map[string]any
		_ = json.Unmarshal(jwk, &jwkMap)
		_, der := publicKeyBytes(t, key)
		for name, value := range map[string]any{
			"jwk": jwkMap,
			"jku": "https://attacker.example/jwks.json",
			"x5u": "https://attacker.example/cert.pem",
			"x5c": []string{base64.StdEncoding.EncodeToString(der)},
		} {
			t.Run(name+" signed by the real key", func(t *testing.T) {
				tok := signWith(t, key, claims(), func(hd map[string]any) { hd[name] = value })
				h.assertRejected(t, tok, `header "`+name+`" is not accepted`)
			})
			t.Run(name+" signed by the attacker's key", func(t *testing.T) {
				own := &keyset.SigningKey{KID: key.KID, Algorithm: keyset.ES256, Private: attacker}
				tok := signWith(t, own, claims(), func(hd map[string]any) { hd[name] = value })
				h.assertRejected(t, tok, `header "`+name+`" is not accepted`)
			})
		}
	})

	t.Run("a kid that is not in the keyset is refused", func(t *testing.T) {
		for name, kid := range map[string]any{
			"path traversal":   "../../etc/passwd",
			"an absolute path": "/dev/null",
			"a NUL byte":       key.KID + "\x00",
			"a NUL byte first": "\x00" + key.KID,
			"a trailing space": key.KID + " ",
			"a number":         1,
			"a list":           []string{key.KID},
			"an empty string":  "",
		} {
			t.Run(name, func(t *testing.T) {
				tok := signWith(t, key, claims(), func(hd map[string]any) { hd["kid"] = kid })
				h.assertRejected(t, tok, "unknown signing key")
			})
		}
		t.Run("a missing kid", func(t *testing.T) {
			tok := signWith(t, key, claims(), func(hd map[string]any) { delete(hd, "kid") })
			h.assertRejected(t, tok, "unknown signing key")
		})
	})

	t.Run("a wrong issuer is refused", func(t *testing.T) {
		c := claims()
		c.Issuer = "https://attacker.example"
		h.assertRejected(t, signWith(t, key, c, nil), "wrong issuer")
		c.Issuer = ""
		h.assertRejected(t, signWith(t, key, c, nil), "iss is missing")
	})

	t.Run("a wrong audience is refused", func(t *testing.T) {
		c := claims()
		c.Audience = jwt.ClaimStrings{"another-api"}
		h.assertRejected(t, signWith(t, key, c, nil), "wrong audience")
		c.Audience = nil
		h.assertRejected(t, signWith(t, key, c, nil), "aud is missing")
	})

	t.Run("a wrong typ is refused", func(t *testing.T) {
		for name, edit := range map[string]func(map[string]any){
			"missing":     func(hd map[string]any) { delete(hd, "typ") },
			"JWT":         func(hd map[string]any) { hd["typ"] = "JWT" },
			"empty":       func(hd map[string]any) { hd["typ"] = "" },
			"a number":    func(hd map[string]any) { hd["typ"] = 1 },
			"id_token":    func(hd map[string]any) { hd["typ"] = "id_token+jwt" },
			"at+jwt\\x00": func(hd map[string]any) { hd["typ"] = "at+jwt\x00" },
		} {
			t.Run(name, func(t *testing.T) {
				h.assertRejected(t, signWith(t, key, claims(), edit), "typ is not at+jwt")
			})
		}
	})

	t.Run("a missing exp is refused", func(t *testing.T) {
		c := claims()
		c.ExpiresAt = nil
		h.assertRejected(t, signWith(t, key, c, nil), "exp is missing")
	})

	t.Run("a missing sub is refused", func(t *testing.T) {
		c := claims()
		c.Subject = ""
		h.assertRejected(t, signWith(t, key, c, nil), "sub is missing")
	})

	t.Run("a missing jti is refused", func(t *testing.T) {
		c := claims()
		c.ID = ""
		h.assertRejected(t, signWith(t, key, c, nil), "jti is missing")
	})

	t.Run("an iat beyond the clock skew is refused", func(t *testing.T) {
		c := claims()
		c.IssuedAt = jwt.NewNumericDate(h.clock.Now().Add(time.Minute))
		h.assertRejected(t, signWith(t, key, c, nil), "issued in the future")
	})

	t.Run("a crit header is refused", func(t *testing.T) {
		tok := signWith(t, key, claims(), func(hd map[string]any) {
			hd["crit"] = []string{"exp"}
			hd["exp"] = 1
		})
		h.assertRejected(t, tok, "is not accepted")
		tok = signWith(t, key, claims(), func(hd map[string]any) { hd["crit"] = []string{} })
		h.assertRejected(t, tok, `header "crit" is not accepted`)
	})

	t.Run("a token over the size cap is refused before parsing", func(t *testing.T) {
		// Validly signed, so only its size can be the reason.
		c := claims()
		c.Role = strings.Repeat("a", MaxTokenSize)
		tok := signWith(t, key, c, nil)
		if len(tok) <= MaxTokenSize {
			t.Fatalf("token of %d bytes is not oversized", len(tok))
		}
		h.assertRejected(t, tok, "too large")
		// Garbage that size is refused for its size too, not as malformed.
		h.assertRejected(t, strings.Repeat("x", MaxTokenSize+1), "too large")
	})

	t.Run("a modified payload is refused", func(t *testing.T) {
		bob := h.login("bob@example.com", bobPassword).AccessToken
		h.assertAccepted(t, bob, "7") // cached now
		parts := strings.Split(bob, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Fatal(err)
		}
		m["role"] = "admin"
		forged := parts[0] + "." + b64JSON(t, m) + "." + parts[2]
		h.assertRejected(t, forged, "bad signature")
		resp, body := h.do("GET", "/admin/users", forged, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged admin token on /admin: %d %s", resp.StatusCode, body)
		}
		// The same claims with one character of the signature changed.
		sig := []byte(parts[2])
		sig[10] = map[bool]byte{true: 'B', false: 'A'}[sig[10] == 'A'] // still base64url
		h.assertRejected(t, parts[0]+"."+parts[1]+"."+string(sig), "")
	})

	t.Run("a token of another policy signed with another keyset is refused", func(t *testing.T) {
		other, err := keyset.Generate(keyset.ES256, h.clock.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		c := claims()
		c.Issuer = "https://other-api.other.svc"
		c.Audience = jwt.ClaimStrings{"other-api"}
		h.assertRejected(t, signWith(t, other, c, nil), "unknown signing key")
		// Even when it names this policy's audience.
		c.Audience = jwt.ClaimStrings(h.server.policy().spec.Audiences)
		h.assertRejected(t, signWith(t, other, c, nil), "unknown signing key")
	})
}

func TestKeyConfusionAgainstAnRSAKeyset(t *testing.T) {
	h := newHarness(t, withAlgorithm(keyset.RS256))
	key := h.activeKey()
	c := func() *AccessClaims { return h.claimsFor("7", "clerk") }
	h.assertAccepted(t, signWith(t, key, c(), nil), "7")

	pemBytes, der := publicKeyBytes(t, key)
	pkcs1 := x509.MarshalPKCS1PublicKey(key.VerificationKey().(*rsa.PublicKey))
	for name, secret := range map[string][]byte{
		"PKIX PEM":  pemBytes,
		"PKIX DER":  der,
		"PKCS1 DER": pkcs1,
		"PKCS1 PEM": pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1}),
		"modulus":   key.VerificationKey().(*rsa.PublicKey).N.Bytes(),
	} {
		t.Run("HS256 with the "+name+" public key", func(t *testing.T) {
			h.assertRejected(t, hmacToken(t, key.KID, c(), secret), "algorithm not allowed")
		})
	}
	t.Run("an RS256 token when the key is RS256 but signed with PS256", func(t *testing.T) {
		tok := jwt.NewWithClaims(jwt.SigningMethodPS256, c())
		tok.Header["kid"] = key.KID
		tok.Header["typ"] = TokenType
		s, err := tok.SignedString(key.SigningKey())
		if err != nil {
			t.Fatal(err)
		}
		h.assertRejected(t, s, "algorithm not allowed")
	})
}

// While a keyset holds an HS256 key next to an asymmetric one (an algorithm change rolling
// out), HS256 is an allowed algorithm: the key named by kid must still decide.
func TestKeyConfusionAgainstAMixedKeyset(t *testing.T) {
	c := newClock()
	ec, err := keyset.Generate(keyset.ES256, c.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	hs, err := keyset.Generate(keyset.HS256, c.Now().Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, withClock(c), withKeys(NewKeys(&keyset.Keyset{Keys: []*keyset.SigningKey{hs, ec}})))
	claims := func() *AccessClaims { return h.claimsFor("7", "clerk") }
	h.assertAccepted(t, signWith(t, ec, claims(), nil), "7")
	h.assertAccepted(t, signWith(t, hs, claims(), nil), "7")

	pemBytes, der := publicKeyBytes(t, ec)
	h.assertRejected(t, hmacToken(t, ec.KID, claims(), pemBytes), "algorithm does not match the key")
	h.assertRejected(t, hmacToken(t, ec.KID, claims(), der), "algorithm does not match the key")
	// An ES256 token naming the HS256 key.
	forged := signWith(t, ec, claims(), func(hd map[string]any) { hd["kid"] = hs.KID })
	h.assertRejected(t, forged, "algorithm does not match the key")
	// EdDSA is not in the keyset at all.
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ed := &keyset.SigningKey{KID: ec.KID, Algorithm: keyset.EdDSA, Private: edPriv}
	h.assertRejected(t, signWith(t, ed, claims(), nil), "algorithm not allowed")
}

func TestTimeClaims(t *testing.T) {
	// The test policy's clock skew is 30s and its access-token lifetime 15m.
	const skew = 30 * time.Second
	for _, cache := range []int{0, DefaultTokenCacheSize} {
		name := "with the cache"
		if cache == 0 {
			name = "without the cache"
		}
		t.Run(name, func(t *testing.T) {
			t.Run("a token is accepted until exp plus the skew and refused after", func(t *testing.T) {
				c := newClock()
				h := newHarness(t, withClock(c), withCache(cache))
				tok := h.login("bob@example.com", bobPassword).AccessToken
				h.assertAccepted(t, tok, "7")
				c.Advance(15*time.Minute + skew - time.Second)
				h.assertAccepted(t, tok, "7")
				c.Advance(time.Second)
				h.assertRejected(t, tok, "expired")
			})
			t.Run("an nbf beyond the skew is refused, within it accepted", func(t *testing.T) {
				c := newClock()
				h := newHarness(t, withClock(c), withCache(cache))
				key := h.activeKey()

				early := h.claimsFor("7", "clerk")
				early.NotBefore = jwt.NewNumericDate(c.Now().Add(skew + time.Second))
				h.assertRejected(t, signWith(t, key, early, nil), "not valid yet")

				within := h.claimsFor("7", "clerk")
				within.NotBefore = jwt.NewNumericDate(c.Now().Add(skew - time.Second))
				h.assertAccepted(t, signWith(t, key, within, nil), "7")

				// The refused one becomes good once its time has come.
				tok := signWith(t, key, early, nil)
				c.Advance(2 * time.Second)
				h.assertAccepted(t, tok, "7")
			})
		})
	}
}

func TestRemovedKeyStopsValidating(t *testing.T) {
	for _, cache := range []int{0, DefaultTokenCacheSize} {
		t.Run("with cache size "+strconv.Itoa(cache), func(t *testing.T) {
			h := newHarness(t, withCache(cache))
			old := h.activeKey()
			tok := h.login("bob@example.com", bobPassword).AccessToken
			h.assertAccepted(t, tok, "7")
			h.assertAccepted(t, tok, "7") // a cache hit, when there is a cache

			replacement, err := keyset.Generate(keyset.ES256, h.clock.Now().Add(-time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			h.keys.Set(&keyset.Keyset{Keys: []*keyset.SigningKey{replacement}})
			h.assertRejected(t, tok, "unknown signing key")

			fresh := h.login("bob@example.com", bobPassword).AccessToken
			if kidOf(t, fresh) != replacement.KID {
				t.Fatalf("new tokens are not signed with the new key")
			}
			h.assertAccepted(t, fresh, "7")

			// Putting the old key back (a revocation undone) brings its tokens back: nothing
			// about them was remembered as valid in between.
			h.keys.Set(&keyset.Keyset{Keys: []*keyset.SigningKey{old, replacement}})
			h.assertAccepted(t, tok, "7")
		})
	}
}

func TestRevocationOfACachedToken(t *testing.T) {
	h := newHarness(t)
	t.Run("a revoked jti is refused at once", func(t *testing.T) {
		tok := h.login("bob@example.com", bobPassword).AccessToken
		id, err := h.server.Tokens().Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		h.assertAccepted(t, tok, "7")
		if h.server.Tokens().cache.Len() == 0 {
			t.Fatal("the token was not cached")
		}
		h.server.Revocations().Add(store.Revocation{Kind: store.RevokedToken, ID: id.JTI, Until: id.ExpiresAt})
		h.assertRejected(t, tok, "revoked")
	})
	t.Run("a revoked session is refused at once", func(t *testing.T) {
		tok := h.login("bob@example.com", bobPassword).AccessToken
		id, _ := h.server.Tokens().Verify(tok)
		h.assertAccepted(t, tok, "7")
		h.server.Revocations().Add(store.Revocation{Kind: store.RevokedSession, ID: id.SessionID, Until: id.ExpiresAt})
		h.assertRejected(t, tok, "revoked")
	})
	t.Run("logout refuses the cached token on the next request", func(t *testing.T) {
		tok := h.login("bob@example.com", bobPassword).AccessToken
		h.assertAccepted(t, tok, "7")
		if resp, body := h.do("POST", "/auth/logout", tok, nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %d %s", resp.StatusCode, body)
		}
		h.assertRejected(t, tok, "revoked")
	})
}

func kidOf(t testing.TB, tok string) string {
	t.Helper()
	hd, err := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(hd, &m); err != nil {
		t.Fatal(err)
	}
	kid, _ := m["kid"].(string)
	return kid
}
