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
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// krewPlugin is krew's index.Plugin (sigs.k8s.io/krew/pkg/index, v0.4.3). That module
// requires k8s.io/client-go v11.0.0+incompatible, which Go's version selection would pick
// over this module's client-go, so its types are restated here; UnmarshalStrict makes any
// field krew does not know an error.
type krewPlugin struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		Version          string         `json:"version,omitempty"`
		ShortDescription string         `json:"shortDescription,omitempty"`
		Description      string         `json:"description,omitempty"`
		Caveats          string         `json:"caveats,omitempty"`
		Homepage         string         `json:"homepage,omitempty"`
		Platforms        []krewPlatform `json:"platforms,omitempty"`
	} `json:"spec"`
}

type krewPlatform struct {
	URI      string                `json:"uri,omitempty"`
	Sha256   string                `json:"sha256,omitempty"`
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	Files    []struct {
		From string `json:"from,omitempty"`
		To   string `json:"to,omitempty"`
	} `json:"files"`
	Bin string `json:"bin"`
}

// validateKrewPlugin is krew's ValidatePlugin (internal/index/validation, v0.4.3), which
// krew-index runs on every submitted manifest.
func validateKrewPlugin(name string, p krewPlugin) error {
	switch {
	case p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2":
		return fmt.Errorf("apiVersion %q", p.APIVersion)
	case p.Kind != "Plugin":
		return fmt.Errorf("kind %q", p.Kind)
	case !regexp.MustCompile(`^[\w-]+$`).MatchString(name) || p.Name != name:
		return fmt.Errorf("name %q", p.Name)
	case p.Spec.ShortDescription == "" || strings.ContainsAny(p.Spec.ShortDescription, "\r\n"):
		return fmt.Errorf("shortDescription %q", p.Spec.ShortDescription)
	case len(p.Spec.Platforms) == 0:
		return errors.New("no platforms")
	case !semver.MatchString(p.Spec.Version):
		return fmt.Errorf("version %q", p.Spec.Version)
	}
	for _, pl := range p.Spec.Platforms {
		switch {
		case pl.URI == "":
			return errors.New("a platform without uri")
		case !regexp.MustCompile(`^[a-f0-9]{64}$`).MatchString(pl.Sha256):
			return fmt.Errorf("sha256 %q", pl.Sha256)
		case pl.Bin == "":
			return errors.New("a platform without bin")
		case pl.Files != nil && len(pl.Files) == 0:
			return errors.New("files empty")
		case pl.Selector == nil || len(pl.Selector.MatchLabels) == 0 || len(pl.Selector.MatchExpressions) > 0:
			return fmt.Errorf("selector %+v", pl.Selector)
		}
		for _, f := range pl.Files {
			if f.From == "" || f.To == "" {
				return fmt.Errorf("file %+v", f)
			}
		}
		for k := range pl.Selector.MatchLabels {
			if k != "os" && k != "arch" {
				return fmt.Errorf("selector key %q", k)
			}
		}
	}
	return nil
}

func readManifest(t *testing.T, b []byte) krewPlugin {
	t.Helper()
	var p krewPlugin
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
	if err := validateKrewPlugin("tollgate", p); err != nil {
		t.Fatalf("krew would refuse the manifest: %v\n%s", err, b)
	}
	return p
}

// TestTheKrewManifestCoversEveryPlatform renders the template for every release platform
// (sums made up: nothing is built) and validates it as krew-index does.
func TestTheKrewManifestCoversEveryPlatform(t *testing.T) {
	var ps []Platform
	for _, pl := range Platforms {
		goos, goarch, _ := strings.Cut(pl, "/")
		bin := "kubectl-tollgate"
		if goos == "windows" {
			bin += ".exe"
		}
		ps = append(ps, Platform{OS: goos, Arch: goarch, Binary: bin, URI: "https://example.com/" + pl, Sha256: strings.Repeat("a", 64)})
	}
	b, err := Manifest(filepath.Join("..", "krew", "tollgate.yaml"), "v1.2.3", ps)
	if err != nil {
		t.Fatal(err)
	}
	p := readManifest(t, b)
	if p.Spec.Version != "v1.2.3" || len(p.Spec.Platforms) != len(Platforms) {
		t.Fatalf("%+v", p.Spec)
	}
	for i, pl := range p.Spec.Platforms {
		want := ps[i]
		if pl.Selector.MatchLabels["os"] != want.OS || pl.Selector.MatchLabels["arch"] != want.Arch || pl.Bin != want.Binary || pl.URI != want.URI {
			t.Errorf("platform %d: %+v, want %+v", i, pl, want)
		}
	}
}

// TestReleaseArchives builds the release for this machine's platform and checks what
// krew will do with it: the manifest is valid, its sum is the archive's and the one in
// checksums.txt, and the archive holds the files the manifest names, among them a binary
// that runs as the plugin. `make release-archives` builds every platform.
func TestReleaseArchives(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin")
	}
	out := t.TempDir()
	host := runtime.GOOS + "/" + runtime.GOARCH
	if _, err := Release(Options{
		Version: "v0.1.0-test", Platforms: []string{host}, Out: out, Root: filepath.Join("..", ".."),
		Template: filepath.Join("..", "krew", "tollgate.yaml"), BaseURL: "https://example.com/{{version}}",
		LDFlags:   "-X github.com/tollgate-dev/tollgate/internal/version.Version=v0.1.0-test",
		KeepPaths: true,
	}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "tollgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := readManifest(t, b)
	if len(p.Spec.Platforms) != 1 {
		t.Fatalf("platforms %+v", p.Spec.Platforms)
	}
	pl := p.Spec.Platforms[0]
	name := filepath.Base(pl.URI)
	if pl.URI != "https://example.com/v0.1.0-test/"+name {
		t.Errorf("uri %s", pl.URI)
	}
	archive, err := os.ReadFile(filepath.Join(out, name))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(archive)
	if hex.EncodeToString(sum[:]) != pl.Sha256 {
		t.Errorf("the manifest says sha256 %s, the archive has %x", pl.Sha256, sum)
	}
	sums, err := os.ReadFile(filepath.Join(out, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if string(sums) != fmt.Sprintf("%x  %s\n", sum, name) {
		t.Errorf("checksums.txt:\n%s", sums)
	}

	files := unpack(t, name, archive)
	license, _ := os.ReadFile(filepath.Join("..", "..", "LICENSE"))
	if !bytes.Equal(files["LICENSE"].data, license) {
		t.Error("LICENSE differs from the repository's")
	}
	if len(files) != len(pl.Files) {
		t.Errorf("the archive holds %d files, the manifest names %d", len(files), len(pl.Files))
	}
	for _, f := range pl.Files {
		if _, ok := files[f.From]; !ok {
			t.Errorf("the manifest copies %s, which the archive lacks", f.From)
		}
	}
	bin, ok := files[pl.Bin]
	if !ok || bin.mode&0o111 == 0 {
		t.Fatalf("bin %s missing or not executable (%o)", pl.Bin, bin.mode)
	}
	// Installed as krew does: the binary under its own name, run as a kubectl plugin.
	dir := t.TempDir()
	path := filepath.Join(dir, pl.Bin)
	if err := os.WriteFile(path, bin.data, 0o755); err != nil {
		t.Fatal(err)
	}
	version, err := exec.Command(path, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(version), "v0.1.0-test") {
		t.Errorf("%s version: %v: %s", pl.Bin, err, version)
	}
	help, err := exec.Command(path, "check", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(help), "kubectl tollgate check") {
		t.Errorf("%s check --help: %v: %s", pl.Bin, err, help)
	}
}

type member struct {
	mode int64
	data []byte
}

func unpack(t *testing.T, name string, archive []byte) map[string]member {
	t.Helper()
	files := map[string]member{}
	if strings.HasSuffix(name, ".zip") {
		zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(rc)
			rc.Close()
			files[f.Name] = member{int64(f.Mode().Perm()), data}
		}
		return files
	}
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		files[h.Name] = member{h.Mode, data}
	}
}

func TestArchivesAreReproducible(t *testing.T) {
	files := []File{{Name: "kubectl-tollgate", Mode: 0o755, Data: []byte("binary")}, {Name: "LICENSE", Mode: 0o644, Data: []byte("license")}}
	for name, archive := range map[string]func([]File) ([]byte, error){"tar.gz": TarGz, "zip": Zip} {
		a, err := archive(files)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := archive(files)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two archives of the same files differ", name)
		}
		got := unpack(t, "x."+name, a)
		if got["kubectl-tollgate"].mode != 0o755 || string(got["LICENSE"].data) != "license" {
			t.Errorf("%s: %+v", name, got)
		}
	}
}

func TestReleaseRefusesAVersionKrewCannotParse(t *testing.T) {
	for _, v := range []string{"", "dev", "0.1.0", "v0.1", "ae831f3", "v0.1.0-dirty+meta"} {
		if _, err := Release(Options{Version: v}); err == nil || !strings.Contains(err.Error(), "VERSION=v0.1.0") {
			t.Errorf("version %q: err = %v", v, err)
		}
	}
}
