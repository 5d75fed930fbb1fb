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
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// mixedCostUsers is a users file whose hashes have bcrypt costs 4, 5 and 7, and its
// users' passwords by email.
func mixedCostUsers(tb testing.TB) (*Users, map[string]string) {
	tb.Helper()
	passwords := map[string]string{"low@example.com": "low-pw", "mid@example.com": "mid-pw", "high@example.com": "high-pw"}
	costs := map[string]int{"low@example.com": 4, "mid@example.com": 5, "high@example.com": 7}
	var file strings.Builder
	for i, email := range []string{"low@example.com", "mid@example.com", "high@example.com"} {
		h, err := bcrypt.GenerateFromPassword([]byte(passwords[email]), costs[email])
		if err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(&file, "- {email: %s, id: \"%d\", role: r, passwordHash: %q}\n", email, i, h)
	}
	u, err := ParseUsers([]byte(file.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return u, passwords
}

func TestEveryLoginDoesTheWorkOfTheHighestCost(t *testing.T) {
	users, passwords := mixedCostUsers(t)
	db := NewUserDB(users)
	var work int // bcrypt work: a comparison at cost c costs 2^c rounds
	db.compare = func(hash, password []byte) error {
		c, err := bcrypt.Cost(hash)
		if err != nil {
			t.Fatalf("compared with a hash that is not bcrypt: %v", err)
		}
		work += 1 << c
		return bcrypt.CompareHashAndPassword(hash, password)
	}
	const want = 1 << 7 // the file's highest cost
	for _, tc := range []struct {
		name, email, password string
		ok                    bool
	}{
		{"an unknown email", "nobody@example.com", "x", false},
		{"an unknown email with a known user's password", "nobody@example.com", "low-pw", false},
		{"the cost-4 user, right password", "low@example.com", "low-pw", true},
		{"the cost-4 user, wrong password", "low@example.com", "x", false},
		{"the cost-5 user, right password", "mid@example.com", "mid-pw", true},
		{"the cost-5 user, wrong password", "MID@example.com ", "x", false},
		{"the cost-7 user, right password", "high@example.com", "high-pw", true},
		{"the cost-7 user, wrong password", "high@example.com", "x", false},
		{"a password of another user", "high@example.com", passwords["low@example.com"], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work = 0
			_, err := db.Authenticate(t.Context(), tc.email, tc.password)
			if tc.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("Authenticate = %v, want success %v", err, tc.ok)
			}
			if work != want {
				t.Fatalf("bcrypt work %d rounds, want %d (one comparison at the file's highest cost)", work, want)
			}
		})
	}
}

func TestUsersFileRefusesHashesBcryptCannotCheck(t *testing.T) {
	// bcrypt.Cost reads only the prefix; a comparison with one of these fails at once, with
	// no bcrypt work, so a user listed with it would answer sooner than an unknown email.
	const salt = "ZYe5j153F9qXAd9VPTHyIe"
	for name, hash := range map[string]string{
		"a salt outside bcrypt's alphabet": "$2a$10$" + strings.Repeat("!", 22) + "Na/ERn07J8H4EwWxHqypHt7aUjL39lG",
		"a salt with base64 padding":       "$2a$10$ZYe5j153F9qXAd9VPTHy==Na/ERn07J8H4EwWxHqypHt7aUjL39lG",
		"a salt with a space":              "$2a$10$ZYe5j153F9 XAd9VPTHyIeNa/ERn07J8H4EwWxHqypHt7aUjL39lG",
		"a hash part too short":            "$2a$10$" + salt + "Na/ERn07J8H4EwWxHqypHt7aUjL39l",
		"a hash part too long":             "$2a$10$" + salt + "Na/ERn07J8H4EwWxHqypHt7aUjL39lGxx",
		"a hash part outside the alphabet": "$2a$10$" + salt + "Na/ERn07J8H4EwWxHqypHt7aUjL39l!",
		"an unknown version":               "$1a$10$" + salt + "Na/ERn07J8H4EwWxHqypHt7aUjL39lG",
	} {
		t.Run("it refuses "+name, func(t *testing.T) {
			if _, err := bcrypt.Cost([]byte(hash)); err != nil {
				t.Fatalf("bcrypt.Cost refuses it already (%v): the case tests nothing", err)
			}
			_, err := ParseUsers([]byte(fmt.Sprintf("- {email: a@example.com, id: \"1\", role: r, passwordHash: %q}\n", hash)))
			if err == nil || !strings.Contains(err.Error(), "passwordHash") {
				t.Fatalf("ParseUsers = %v, want the entry's passwordHash refused", err)
			}
			if strings.Contains(err.Error(), hash[7:]) {
				t.Fatalf("the error quotes the hash: %v", err)
			}
		})
	}
	for _, hash := range []string{
		"$2a$04$ZYe5j153F9qXAd9VPTHyIeNa/ERn07J8H4EwWxHqypHt7aUjL39lG",
		"$2b$04$ZYe5j153F9qXAd9VPTHyIeNa/ERn07J8H4EwWxHqypHt7aUjL39lG",
		"$2y$04$ZYe5j153F9qXAd9VPTHyIeNa/ERn07J8H4EwWxHqypHt7aUjL39lG",
	} {
		if _, err := ParseUsers([]byte(fmt.Sprintf("- {email: a@example.com, id: \"1\", role: r, passwordHash: %q}\n", hash))); err != nil {
			t.Errorf("ParseUsers refuses a well-formed hash %.7s...: %v", hash, err)
		}
	}
}

func TestDummyHashesMatchNoPassword(t *testing.T) {
	dummies, err := dummyHashes(6)
	if err != nil {
		t.Fatal(err)
	}
	for c := bcrypt.MinCost; c <= 6; c++ {
		if got, err := bcrypt.Cost(dummies[c]); err != nil || got != c {
			t.Fatalf("dummies[%d] has cost %d (%v)", c, got, err)
		}
		for _, pw := range []string{"", "tollgate timing equaliser", "x"} {
			if bcrypt.CompareHashAndPassword(dummies[c], []byte(pw)) == nil {
				t.Fatalf("dummies[%d] matches %q", c, pw)
			}
		}
	}
}

// BenchmarkAuthenticate shows the time of a login by kind of user, in a file with bcrypt
// costs 4, 5 and 7: the same for all.
func BenchmarkAuthenticate(b *testing.B) {
	users, passwords := mixedCostUsers(b)
	db := NewUserDB(users)
	for _, bc := range []struct{ name, email, password string }{
		{"unknown", "nobody@example.com", "x"},
		{"cost4-wrong", "low@example.com", "x"},
		{"cost4-right", "low@example.com", passwords["low@example.com"]},
		{"cost7-wrong", "high@example.com", "x"},
		{"cost7-right", "high@example.com", passwords["high@example.com"]},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_, _ = db.Authenticate(b.Context(), bc.email, bc.password)
			}
		})
	}
}
