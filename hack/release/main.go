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

// Command release builds the release archives of the kubectl plugin (kubectl-tollgate and
// LICENSE; tar.gz, zip for Windows), their sha256 sums, and the krew manifest filled with
// them: `make release-archives`.
//
//	go run ./hack/release -version v0.1.0 -out dist/release [-platforms linux/amd64,...]
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"
)

// Platforms are the ones a release supports.
var Platforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}

// Options say what to build and where.
type Options struct {
	// Version is the release, vMAJOR.MINOR.PATCH[-PRERELEASE] (krew requires semver).
	Version string
	// Platforms are GOOS/GOARCH pairs.
	Platforms []string
	// Out is the directory the archives, checksums.txt and tollgate.yaml go to.
	Out string
	// Root is the module's root directory (go.mod, LICENSE, cmd/tollgate).
	Root string
	// Template is the krew manifest template.
	Template string
	// BaseURL is where the archives will be downloaded from; "{{version}}" is replaced.
	BaseURL string
	// LDFlags are passed to go build (the Makefile's: version and commit).
	LDFlags string
	// KeepPaths builds without -trimpath: the test does, to reuse the packages `go test`
	// compiled (-trimpath compiles every package again).
	KeepPaths bool
}

// Platform is one archive, as the krew manifest names it.
type Platform struct {
	OS, Arch, Binary, Archive, URI, Sha256 string
}

// semver is what krew accepts as a version.
var semver = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

// modTime is the time of every file in the archives: the same inputs give the same bytes.
var modTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	o := Options{}
	var platforms string
	flag.StringVar(&o.Version, "version", "", "release version, vMAJOR.MINOR.PATCH")
	flag.StringVar(&platforms, "platforms", strings.Join(Platforms, ","), "GOOS/GOARCH pairs, comma-separated")
	flag.StringVar(&o.Out, "out", "dist/release", "output directory")
	flag.StringVar(&o.Root, "root", ".", "the module's root")
	flag.StringVar(&o.Template, "template", "hack/krew/tollgate.yaml", "krew manifest template")
	flag.StringVar(&o.BaseURL, "base-url", "https://github.com/tollgate-dev/tollgate/releases/download/{{version}}", "where the archives are published")
	flag.StringVar(&o.LDFlags, "ldflags", "", "go build -ldflags")
	flag.Parse()
	o.Platforms = strings.Split(platforms, ",")
	ps, err := Release(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	for _, p := range ps {
		fmt.Printf("%s  %s\n", p.Sha256, filepath.Join(o.Out, p.Archive))
	}
	fmt.Println("krew manifest:", filepath.Join(o.Out, "tollgate.yaml"))
}

// Release builds an archive per platform, writes checksums.txt and the krew manifest.
func Release(o Options) ([]Platform, error) {
	if !semver.MatchString(o.Version) {
		return nil, fmt.Errorf("version %q is not vMAJOR.MINOR.PATCH[-PRERELEASE], which krew requires: make release-archives VERSION=v0.1.0", o.Version)
	}
	license, err := os.ReadFile(filepath.Join(o.Root, "LICENSE"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	build, err := os.MkdirTemp("", "tollgate-release-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(build)

	var out []Platform
	for _, pl := range o.Platforms {
		goos, goarch, ok := strings.Cut(pl, "/")
		if !ok || !slices.Contains(Platforms, pl) {
			return nil, fmt.Errorf("platform %q: want one of %s", pl, strings.Join(Platforms, ", "))
		}
		p := Platform{OS: goos, Arch: goarch, Binary: "kubectl-tollgate"}
		if goos == "windows" {
			p.Binary += ".exe"
		}
		bin := filepath.Join(build, goos+"-"+goarch, p.Binary)
		args := []string{"build", "-trimpath", "-ldflags", o.LDFlags, "-o", bin, "./cmd/tollgate"}
		if o.KeepPaths {
			args = slices.Delete(args, 1, 2)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = o.Root
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("building %s: %w", pl, err)
		}
		binary, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		files := []File{{Name: p.Binary, Mode: 0o755, Data: binary}, {Name: "LICENSE", Mode: 0o644, Data: license}}
		var archive []byte
		if goos == "windows" {
			p.Archive = fmt.Sprintf("kubectl-tollgate_%s_%s_%s.zip", o.Version, goos, goarch)
			archive, err = Zip(files)
		} else {
			p.Archive = fmt.Sprintf("kubectl-tollgate_%s_%s_%s.tar.gz", o.Version, goos, goarch)
			archive, err = TarGz(files)
		}
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(o.Out, p.Archive), archive, 0o644); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(archive)
		p.Sha256 = hex.EncodeToString(sum[:])
		p.URI = strings.ReplaceAll(o.BaseURL, "{{version}}", o.Version) + "/" + p.Archive
		out = append(out, p)
	}

	var sums strings.Builder
	for _, p := range out {
		fmt.Fprintf(&sums, "%s  %s\n", p.Sha256, p.Archive) // sha256sum -c reads this
	}
	if err := os.WriteFile(filepath.Join(o.Out, "checksums.txt"), []byte(sums.String()), 0o644); err != nil {
		return nil, err
	}
	manifest, err := Manifest(o.Template, o.Version, out)
	if err != nil {
		return nil, err
	}
	return out, os.WriteFile(filepath.Join(o.Out, "tollgate.yaml"), manifest, 0o644)
}

// Manifest renders the krew manifest template.
func Manifest(templateFile, version string, platforms []Platform) ([]byte, error) {
	t, err := template.New(filepath.Base(templateFile)).Option("missingkey=error").ParseFiles(templateFile)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, struct {
		Version   string
		Platforms []Platform
	}{version, platforms}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// File is one member of an archive.
type File struct {
	Name string
	Mode int64
	Data []byte
}

// TarGz is a gzipped tar of files, the same bytes for the same files.
func TarGz(files []File) ([]byte, error) {
	var b bytes.Buffer
	gz, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: modTime,
			Typeflag: tar.TypeReg, Uname: "root", Gname: "root", Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Zip is a zip of files, the same bytes for the same files.
func Zip(files []File) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: modTime}
		h.SetMode(os.FileMode(f.Mode))
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := io.Copy(w, bytes.NewReader(f.Data)); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
