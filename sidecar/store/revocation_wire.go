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
	"encoding/json"
	"errors"
	"time"
)

// maxRevocationPayload bounds a published revocation. Payloads come from the network, so
// anything larger is refused before it is parsed. JSON escaping can make an id of maxIDLen
// bytes six times longer (\u0001), and such a revocation must still get through.
const maxRevocationPayload = 8 << 10

// wireRevocation is a Revocation as Redis keeps and publishes it (times in Unix ms):
//
//	{"kind":"sid","id":"…","issuedBefore":0,"until":1767225600000}
//
// The Lua scripts write it (see revocationLua); Go only reads it.
type wireRevocation struct {
	Kind         RevocationKind `json:"kind"`
	ID           string         `json:"id"`
	IssuedBefore int64          `json:"issuedBefore"`
	Until        int64          `json:"until"`
}

// decodeRevocation parses a published or stored revocation and refuses anything a store
// would not have written.
func decodeRevocation(payload string) (Revocation, error) {
	if len(payload) > maxRevocationPayload {
		return Revocation{}, errors.New("revocation payload too large")
	}
	var w wireRevocation
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		return Revocation{}, errors.New("revocation payload is not valid JSON")
	}
	r := Revocation{Kind: w.Kind, ID: w.ID}
	if w.Until <= 0 {
		return Revocation{}, errors.New("revocation payload has no valid until")
	}
	r.Until = time.UnixMilli(w.Until)
	switch w.Kind {
	case RevokedToken, RevokedSession:
	case RevokedSubject:
		if w.IssuedBefore <= 0 {
			return Revocation{}, errors.New("subject revocation payload has no valid issuedBefore")
		}
		r.IssuedBefore = time.UnixMilli(w.IssuedBefore)
	default:
		return Revocation{}, errors.New("revocation payload has an unknown kind")
	}
	if !validID(r.ID) {
		return Revocation{}, errors.New("revocation payload has an invalid id")
	}
	return r, nil
}
