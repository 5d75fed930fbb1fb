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
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
	"sigs.k8s.io/yaml"
)

// MaxUsersFileSize caps the users file.
const MaxUsersFileSize = 4 << 20

// MaxBcryptCost bounds the cost of password hashes: each step doubles the time of every login,
// and of every failed one through the dummy hash, so a cost of 31 would take days.
const MaxBcryptCost = 16

// ErrInvalidCredentials is the one answer to an unknown user and a wrong password alike.
var ErrInvalidCredentials = errors.New("invalid credentials")

// ErrPasswordCheckDown marks an error of an Authenticator that could not ask (the app
// unreachable, too slow, answering 502, 503 or 504): the login answers 503 and does not count
// against the limits.
var ErrPasswordCheckDown = errors.New("password check down")

// Authenticator checks an email and password. It returns ErrInvalidCredentials for a wrong
// pair and any other error when it could not decide (503). An error that wraps
// ErrPasswordCheckDown gives the login's place in the limits back; any other counts as a
// failed login, for an answer outside the contract may be how the app says "wrong password".
type Authenticator interface {
	Authenticate(ctx context.Context, email, password string) (Identity, error)
}

// User is one entry of the users file.
type User struct {
	Email        string `json:"email"`
	ID           string `json:"id"`
	Role         string `json:"role"`
	PasswordHash string `json:"passwordHash"`

	cost int // of PasswordHash
}

// Users is a parsed users file.
type Users struct {
	byEmail map[string]*User
	byID    map[string]*User
	// maxCost is the highest bcrypt cost in the file: every login does the work of one
	// comparison at this cost, whoever logs in and whether the email exists.
	maxCost int
	// dummies[c] is a hash of cost c that no password matches, for c up to maxCost: an
	// unknown email is compared with dummies[maxCost], and a user whose hash is cheaper is
	// padded up to maxCost with them.
	dummies [][]byte
	// loaded is the SHA-256 of the file LoadUsers read, where WatchUsers starts from.
	loaded [32]byte
}

// ParseUsers reads a users file (YAML or JSON list). Errors name the entry and the field,
// never a hash.
func ParseUsers(data []byte) (*Users, error) {
	if len(data) > MaxUsersFileSize {
		return nil, fmt.Errorf("users file is %d bytes, more than the %d allowed", len(data), MaxUsersFileSize)
	}
	var list []User
	if err := yaml.UnmarshalStrict(data, &list); err != nil {
		return nil, fmt.Errorf("users file: not a YAML list of {email, id, role, passwordHash}: %s", redactYAMLError(err))
	}
	u := &Users{byEmail: map[string]*User{}, byID: map[string]*User{}}
	maxCost := bcrypt.MinCost
	for i := range list {
		e := &list[i]
		where := fmt.Sprintf("users[%d]", i)
		e.Email = strings.TrimSpace(e.Email)
		named := where + " (" + redactHashes(e.Email) + ")" // a misplaced hash is not quoted
		switch {
		case e.Email == "":
			return nil, fmt.Errorf("%s: email: required", where)
		case len(e.Email) > 320:
			return nil, fmt.Errorf("%s: email: longer than 320 characters", where)
		case e.ID == "":
			return nil, fmt.Errorf("%s: id: required", named)
		}
		cost, err := bcrypt.Cost([]byte(e.PasswordHash))
		if err != nil || !bcryptHash.MatchString(e.PasswordHash) {
			return nil, fmt.Errorf("%s: passwordHash: not a bcrypt hash (make one with `tollgate hash-password`)", named)
		}
		if cost > MaxBcryptCost {
			return nil, fmt.Errorf("%s: passwordHash: cost %d is above the %d allowed", named, cost, MaxBcryptCost)
		}
		e.cost = cost
		maxCost = max(maxCost, cost)
		key := strings.ToLower(e.Email)
		if u.byEmail[key] != nil {
			return nil, fmt.Errorf("%s: email: duplicate", named)
		}
		if u.byID[e.ID] != nil {
			return nil, fmt.Errorf("%s: id: duplicate %q", named, redactHashes(e.ID))
		}
		u.byEmail[key], u.byID[e.ID] = e, e
	}
	if len(list) == 0 {
		maxCost = bcrypt.DefaultCost
	}
	dummies, err := dummyHashes(maxCost)
	if err != nil {
		return nil, err
	}
	u.maxCost, u.dummies = maxCost, dummies
	return u, nil
}

// dummyHashes returns hashes of every cost up to maxCost that no password matches. They
// are one hash of a random secret, made at the cheapest cost and relabelled: a hash of cost c
// costs 2^c rounds to compare whatever its origin.
func dummyHashes(maxCost int) ([][]byte, error) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	h, err := bcrypt.GenerateFromPassword([]byte(base64.RawStdEncoding.EncodeToString(secret)), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	// "$2a$04$" + salt and hash: the cost is the two digits at [4:6].
	out := make([][]byte, maxCost+1)
	for c := bcrypt.MinCost; c <= maxCost; c++ {
		d := bytes.Clone(h)
		copy(d[4:6], fmt.Sprintf("%02d", c))
		out[c] = d
	}
	return out, nil
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.byEmail) }

// ByID returns the user with this id, or nil.
func (u *Users) ByID(id string) *User { return u.byID[id] }

// bcryptHash is the whole form of a bcrypt hash: version, cost, 22 characters of salt and
// 31 of hash in bcrypt's base64. bcrypt.Cost reads only the prefix, and a comparison with a
// hash whose salt does not decode fails at once, with no bcrypt work: a user listed with
// one would answer sooner than an unknown email.
var bcryptHash = regexp.MustCompile(`^\$2[abxy]?\$[0-9]{2}\$[./A-Za-z0-9]{53}$`)

// bcryptLike matches a bcrypt hash or any start of one.
var bcryptLike = regexp.MustCompile(`\$2[abxy]?\$[./A-Za-z0-9$]*`)

// redactHashes replaces whatever looks like a bcrypt hash in s.
func redactHashes(s string) string { return bcryptLike.ReplaceAllString(s, "<redacted>") }

func redactYAMLError(err error) string {
	msg := err.Error()
	// yaml errors quote offending values, which could be hashes: keep only the kind.
	if i := strings.Index(msg, ":"); i > 0 && strings.Contains(msg, "line") {
		msg = msg[:i]
	}
	// Other errors quote map keys and unknown field names, which can be hashes too.
	msg = redactHashes(msg)
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

// UserDB authenticates against a users file and can swap it on reload.
type UserDB struct {
	users atomic.Pointer[Users]
	// compare is bcrypt.CompareHashAndPassword; tests count the work through it.
	compare func(hash, password []byte) error
}

// NewUserDB serves these users.
func NewUserDB(u *Users) *UserDB {
	db := &UserDB{compare: bcrypt.CompareHashAndPassword}
	db.users.Store(u)
	return db
}

// Set swaps in a new users file.
func (db *UserDB) Set(u *Users) { db.users.Store(u) }

// Users is the users file in force.
func (db *UserDB) Users() *Users { return db.users.Load() }

// Authenticate compares the password with the user's bcrypt hash, or with a dummy hash when
// the email is unknown. Every call does the work of one comparison at the file's highest
// cost, so that neither an unknown email nor a user with a cheaper hash answers sooner: a
// hash of cost c is followed by dummy comparisons of costs c, c+1, ..., max-1, and
// 2^c + 2^c + 2^(c+1) + ... + 2^(max-1) = 2^max.
func (db *UserDB) Authenticate(_ context.Context, email, password string) (Identity, error) {
	u := db.users.Load()
	user := u.byEmail[strings.ToLower(strings.TrimSpace(email))]
	hash, cost := u.dummies[u.maxCost], u.maxCost
	if user != nil {
		hash, cost = []byte(user.PasswordHash), user.cost
	}
	pw := []byte(password)
	err := db.compare(hash, pw)
	for c := cost; c < u.maxCost; c++ {
		_ = db.compare(u.dummies[c], pw)
	}
	if user == nil || err != nil {
		return Identity{}, ErrInvalidCredentials
	}
	return Identity{Subject: user.ID, Role: user.Role}, nil
}

// LoadUsers reads a users file.
func LoadUsers(path string) (*Users, error) {
	data, err := readCapped(path, MaxUsersFileSize)
	if err != nil {
		return nil, err
	}
	u, err := ParseUsers(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	u.loaded = sha256.Sum256(data)
	return u, nil
}

// WatchUsers reloads the users file into db when it changes, until ctx ends; a malformed
// file is refused and the last good one stays in force.
func WatchUsers(ctx context.Context, path string, db *UserDB, every time.Duration, log *slog.Logger, m *Metrics) {
	watchFile(ctx, path, MaxUsersFileSize, every, log, db.Users().loaded, func(data []byte) error {
		u, err := ParseUsers(data)
		if err != nil {
			m.Reloads.WithLabelValues("users", "rejected").Inc()
			return err
		}
		db.Set(u)
		m.Reloads.WithLabelValues("users", "ok").Inc()
		log.Info("users file reloaded", "users", u.Len())
		return nil
	})
}
