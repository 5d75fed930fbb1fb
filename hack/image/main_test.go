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

package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestParseLdd(t *testing.T) {
	out := []byte(`	linux-vdso.so.1 (0x00007f56f60fb000)
	libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f56f5d20000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f56f56a5000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f56f60fd000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f56f56a5000)
`)
	got, err := parseLdd(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libm.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseLdd = %v, want %v", got, want)
	}

	t.Run("a missing library is an error, not an image that cannot start", func(t *testing.T) {
		if _, err := parseLdd([]byte("\tlibfoo.so.1 => not found\n")); err == nil {
			t.Error("want an error for a library ldd did not find")
		}
	})
	t.Run("a static binary has no libraries to copy", func(t *testing.T) {
		if _, err := parseLdd([]byte("\tnot a dynamic executable\n")); err == nil {
			t.Error("want an error")
		}
	})
}

// TestTollgateImageHasTheDockerfileLayout writes the tollgate image and reads it back: the
// binaries where ./Dockerfile puts them, its user, entrypoint and command.
func TestTollgateImageHasTheDockerfileLayout(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"tollgate", "tollgate-sidecar", "tollgate-authorizer"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!"+n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	specs, err := buildSpecs(filepath.Join(dir, "tollgate"), filepath.Join(dir, "tollgate-sidecar"), filepath.Join(dir, "tollgate-authorizer"), "", "", "",
		"example.test/tollgate:v1", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "images.tar")
	if err := write(out, specs); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag("example.test/tollgate:v1")
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || !reflect.DeepEqual(cf.Config.Entrypoint, []string{"/usr/local/bin/tollgate"}) ||
		!reflect.DeepEqual(cf.Config.Cmd, []string{"manager"}) || cf.OS != "linux" {
		t.Errorf("config = user %q entrypoint %v cmd %v os %q; want the Dockerfile's", cf.Config.User, cf.Config.Entrypoint, cf.Config.Cmd, cf.OS)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := io.Copy(&b, tr); err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b.String()
	}
	for path, content := range map[string]string{"usr/local/bin/tollgate": "#!tollgate", "usr/local/bin/tollgate-sidecar": "#!tollgate-sidecar", "usr/local/bin/tollgate-authorizer": "#!tollgate-authorizer"} {
		if files[path] != content {
			t.Errorf("%s = %q, want %q", path, files[path], content)
		}
	}
	if _, ok := files["tmp/"]; !ok {
		t.Error("no /tmp in the image")
	}
}
