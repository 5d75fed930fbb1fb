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

// Package secretvolume writes a directory the way the kubelet projects a Secret or
// ConfigMap volume, so tests see the same file swaps a pod does.
//
// The data lives in a timestamped directory, `..data` is a symlink to it, and each visible
// file is a symlink through `..data`. An update writes a new timestamped directory, points
// `..data_tmp` at it and renames that over `..data` (one atomic step), then removes the old
// directory: a reader sees the old files or the new ones, never a mix.
package secretvolume

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Volume is one projected volume directory.
type Volume struct {
	dir string

	mu sync.Mutex
	n  int
}

// New returns a Volume in dir, which must exist and start empty.
func New(dir string) *Volume { return &Volume{dir: dir} }

// Dir is the directory a reader mounts.
func (v *Volume) Dir() string { return v.dir }

// Write replaces the volume's files with files (name to content) in one atomic swap.
func (v *Volume) Write(files map[string][]byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.n++
	ts := fmt.Sprintf("..%s.%d", time.Now().UTC().Format("2006_01_02_15_04_05"), v.n)
	if err := os.Mkdir(filepath.Join(v.dir, ts), 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(v.dir, ts, name), data, 0o644); err != nil {
			return err
		}
		names = append(names, name)
	}
	sort.Strings(names)
	old, _ := os.Readlink(filepath.Join(v.dir, "..data"))
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		return err
	}
	for _, name := range names {
		link := filepath.Join(v.dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			return err
		}
	}
	if old != "" {
		return os.RemoveAll(filepath.Join(v.dir, old))
	}
	return nil
}
