/*
Copyright 2014 The Kubernetes Authors.
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

// Package field is the part of k8s.io/apimachinery/pkg/util/validation/field that AuthPolicy
// validation uses, with the same messages, so that the sidecar reports an invalid policy as
// `kubectl apply` would without linking apimachinery. A test compares the two.
package field

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Path is a field's path in an object, as "spec.routes[2].path".
type Path struct {
	name   string
	index  string
	parent *Path
}

// NewPath is the path of a top-level field and its children.
func NewPath(name string, more ...string) *Path {
	p := &Path{name: name}
	for _, n := range more {
		p = &Path{name: n, parent: p}
	}
	return p
}

// Child is the path of a field below p.
func (p *Path) Child(name string, more ...string) *Path {
	r := NewPath(name, more...)
	first := r
	for first.parent != nil {
		first = first.parent
	}
	first.parent = p
	return r
}

// Index is the path of p's i-th item.
func (p *Path) Index(i int) *Path {
	return &Path{index: strconv.Itoa(i), parent: p}
}

func (p *Path) String() string {
	if p == nil {
		return "<nil>"
	}
	var elems []*Path
	for ; p != nil; p = p.parent {
		elems = append(elems, p)
	}
	var b strings.Builder
	for i := len(elems) - 1; i >= 0; i-- {
		e := elems[i]
		if e.parent != nil && e.name != "" {
			b.WriteString(".")
		}
		if e.name != "" {
			b.WriteString(e.name)
		} else {
			fmt.Fprintf(&b, "[%s]", e.index)
		}
	}
	return b.String()
}

// Error is one field's problem.
type Error struct {
	Type     string
	Field    string
	BadValue any
	Detail   string
}

type omitValueType struct{}

var omitValue = omitValueType{}

func (e *Error) Error() string {
	s := e.Type
	switch {
	case e.Type == "Required value" || e.Type == "Forbidden" || e.Type == "Too long":
	case e.BadValue == omitValue:
	default:
		switch t := e.BadValue.(type) {
		case int64, int32, float64, float32, bool:
			s = fmt.Sprintf("%s: %v", e.Type, t)
		case string:
			s = fmt.Sprintf("%s: %q", e.Type, t)
		default:
			var v string
			if jb, err := json.Marshal(e.BadValue); err == nil {
				v = string(jb)
			} else if st, ok := e.BadValue.(fmt.Stringer); ok {
				v = st.String()
			} else {
				v = fmt.Sprintf("%#v", e.BadValue)
			}
			s = fmt.Sprintf("%s: %s", e.Type, v)
		}
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return e.Field + ": " + s
}

// Required: the field must be set.
func Required(p *Path, detail string) *Error {
	return &Error{Type: "Required value", Field: p.String(), Detail: detail, BadValue: ""}
}

// Forbidden: the field may not be set (here).
func Forbidden(p *Path, detail string) *Error {
	return &Error{Type: "Forbidden", Field: p.String(), Detail: detail, BadValue: ""}
}

// Invalid: the value is wrong for the reason detail gives.
func Invalid(p *Path, value any, detail string) *Error {
	return &Error{Type: "Invalid value", Field: p.String(), BadValue: value, Detail: detail}
}

// Duplicate: the value appears twice in a set.
func Duplicate(p *Path, value any) *Error {
	return &Error{Type: "Duplicate value", Field: p.String(), BadValue: value}
}

// NotSupported: the value is none of valid.
func NotSupported[T ~string](p *Path, value any, valid []T) *Error {
	detail := ""
	if len(valid) > 0 {
		q := make([]string, len(valid))
		for i, v := range valid {
			q[i] = strconv.Quote(fmt.Sprint(v))
		}
		detail = "supported values: " + strings.Join(q, ", ")
	}
	return &Error{Type: "Unsupported value", Field: p.String(), BadValue: value, Detail: detail}
}

// TooLong: the value is longer than maxLength bytes.
func TooLong(p *Path, _ any, maxLength int) *Error {
	msg := "value is too long"
	if maxLength >= 0 {
		unit := "bytes"
		if maxLength == 1 {
			unit = "byte"
		}
		msg = fmt.Sprintf("may not be more than %d %s", maxLength, unit)
	}
	return &Error{Type: "Too long", Field: p.String(), BadValue: "<value omitted>", Detail: msg}
}

// TooMany: the list has more than maxQuantity items.
func TooMany(p *Path, actualQuantity, maxQuantity int) *Error {
	msg := "has too many items"
	if maxQuantity >= 0 {
		unit := "items"
		if maxQuantity == 1 {
			unit = "item"
		}
		msg = fmt.Sprintf("must have at most %d %s", maxQuantity, unit)
	}
	var actual any = omitValue
	if actualQuantity >= 0 {
		actual = actualQuantity
	}
	return &Error{Type: "Too many", Field: p.String(), BadValue: actual, Detail: msg}
}

// ErrorList is a list of field errors.
type ErrorList []*Error

// ToAggregate is the list as one error, nil when empty: one error's message, or
// "[first, second, ...]" with duplicate messages once.
func (list ErrorList) ToAggregate() error {
	var msgs []string
	seen := map[string]bool{}
	for _, e := range list {
		m := e.Error()
		if !seen[m] {
			seen[m] = true
			msgs = append(msgs, m)
		}
	}
	switch len(msgs) {
	case 0:
		return nil
	case 1:
		return aggregate{list, msgs[0]}
	}
	return aggregate{list, "[" + strings.Join(msgs, ", ") + "]"}
}

type aggregate struct {
	errs ErrorList
	msg  string
}

func (a aggregate) Error() string { return a.msg }

// Unwrap gives errors.Is and errors.As each field error.
func (a aggregate) Unwrap() []error {
	out := make([]error, len(a.errs))
	for i, e := range a.errs {
		out[i] = e
	}
	return out
}
