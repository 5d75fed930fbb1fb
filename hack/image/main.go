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

// Command image writes the images of the local real node (hack/node-up.sh) without a
// container engine: one docker-archive tarball, imported with `ctr -n k8s.io images import`,
// holding
//
//   - the tollgate image: the three static binaries in /usr/local/bin, user 65532, entrypoint
//     tollgate, command manager -- the layout of ./Dockerfile on distroless/static:nonroot;
//   - the demo app (hack/demo/app), the upstream of config/samples/app_deployment.yaml;
//   - the pod sandbox's pause image (hack/image/pause);
//   - redis: Debian's redis-server and the shared libraries ldd names for it.
//
// Each image is one layer with fixed timestamps, so the same binaries give the same digests.
//
//	go run ./hack/image -out bin/images.tar -tollgate bin/tollgate -sidecar bin/tollgate-sidecar \
//	    -authorizer bin/tollgate-authorizer \
//	    -demo-app bin/demo-app -pause bin/pause -redis /usr/bin/redis-server
//
// With -oci DIR it writes the release image instead (`make image`, oci.go): it builds both
// binaries for every -platforms entry and writes one OCI image index in an OCI image layout,
// with a CycloneDX SBOM of the binaries (sbom.go) beside it and attached to the index as
// an OCI referrer.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// NonRootUID is distroless's nonroot user, the Dockerfile's USER.
const NonRootUID = 65532

// Default image names; the pause name is the sandbox_image of hack/node-up.sh's containerd.
const (
	DefaultTollgateImage = "ghcr.io/tollgate-dev/tollgate:dev"
	DefaultDemoAppImage  = "ghcr.io/tollgate-dev/demo-app:latest"
	DefaultPauseImage    = "tollgate.local/pause:dev"
	DefaultRedisImage    = "tollgate.local/redis:dev"
)

// epoch is every file's modification time and the images' creation time: rebuilding the
// same binaries changes no digest. SOURCE_DATE_EPOCH (seconds) sets it, else 1970-01-01.
var epoch = sourceDateEpoch()

// file is one regular file, directory or symlink of a layer.
type file struct {
	path    string // absolute path in the image
	mode    int64
	data    []byte
	dir     bool
	symlink string
}

// spec is an image to write: its files and the parts of its config that matter here.
type spec struct {
	ref        string
	files      []file
	entrypoint []string
	cmd        []string
	user       string
	env        []string
	labels     map[string]string
	arch       string // GOARCH of the binaries; empty: this machine's
}

func main() {
	var (
		out                                      = flag.String("out", "bin/images.tar", "the docker-archive tarball to write")
		tollgateBin, sidecarBin, demoBin, pause  string
		authorizerBin                            string
		redisBin                                 string
		tollgateRef, demoRef, pauseRef, redisRef string
	)
	flag.StringVar(&tollgateBin, "tollgate", "", "static tollgate binary (required)")
	flag.StringVar(&sidecarBin, "sidecar", "", "static tollgate-sidecar binary (required)")
	flag.StringVar(&authorizerBin, "authorizer", "", "static tollgate-authorizer binary (required)")
	flag.StringVar(&demoBin, "demo-app", "", "static demo app binary (hack/demo/app); empty: no demo-app image")
	flag.StringVar(&pause, "pause", "", "static pause binary (hack/image/pause); empty: no pause image")
	flag.StringVar(&redisBin, "redis", "", "redis-server binary (dynamically linked: its libraries come along); empty: no redis image")
	flag.StringVar(&tollgateRef, "tollgate-image", DefaultTollgateImage, "name of the tollgate image")
	flag.StringVar(&demoRef, "demo-app-image", DefaultDemoAppImage, "name of the demo app image")
	flag.StringVar(&pauseRef, "pause-image", DefaultPauseImage, "name of the pause image")
	flag.StringVar(&redisRef, "redis-image", DefaultRedisImage, "name of the redis image")
	var oci ociFlags
	oci.add(flag.CommandLine)
	flag.Parse()
	if oci.dir != "" {
		if err := oci.run(tollgateRef); err != nil {
			fmt.Fprintln(os.Stderr, "image:", err)
			os.Exit(1)
		}
		return
	}
	if tollgateBin == "" || sidecarBin == "" || authorizerBin == "" {
		fmt.Fprintln(os.Stderr, "image: -tollgate, -sidecar and -authorizer are required")
		os.Exit(2)
	}
	specs, err := buildSpecs(tollgateBin, sidecarBin, authorizerBin, demoBin, pause, redisBin, tollgateRef, demoRef, pauseRef, redisRef)
	if err == nil {
		err = write(*out, specs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	for _, s := range specs {
		fmt.Fprintf(os.Stderr, "image: %s (%d files)\n", s.ref, len(s.files))
	}
	fmt.Fprintf(os.Stderr, "image: wrote %s\n", *out)
}

func buildSpecs(tollgateBin, sidecarBin, authorizerBin, demoBin, pause, redisBin, tollgateRef, demoRef, pauseRef, redisRef string) ([]spec, error) {
	var specs []spec
	tg, err := tollgateSpec(tollgateRef, tollgateBin, sidecarBin, authorizerBin)
	if err != nil {
		return nil, err
	}
	specs = append(specs, tg)
	if demoBin != "" {
		s, err := staticSpec(demoRef, demoBin, "/usr/local/bin/demo-app")
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	if pause != "" {
		s, err := staticSpec(pauseRef, pause, "/pause")
		if err != nil {
			return nil, err
		}
		s.user = "" // the sandbox's user is the runtime's choice
		specs = append(specs, s)
	}
	if redisBin != "" {
		s, err := redisSpec(redisRef, redisBin)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// baseFiles is what distroless/static gives a static binary: users, a writable /tmp, the
// CA bundle when the host has one.
func baseFiles() []file {
	fs := []file{
		{path: "/etc", dir: true, mode: 0o755},
		{path: "/etc/passwd", mode: 0o644, data: []byte(fmt.Sprintf(
			"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonRootUID, NonRootUID))},
		{path: "/etc/group", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonRootUID))},
		{path: "/home/nonroot", dir: true, mode: 0o700},
		{path: "/tmp", dir: true, mode: 0o1777},
	}
	if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		fs = append(fs, file{path: "/etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca})
	}
	return fs
}

var defaultEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}

// tollgateSpec is ./Dockerfile's final stage.
func tollgateSpec(ref, tollgateBin, sidecarBin, authorizerBin string) (spec, error) {
	fs := baseFiles()
	for _, b := range []struct{ src, dst string }{
		{tollgateBin, "/usr/local/bin/tollgate"}, {sidecarBin, "/usr/local/bin/tollgate-sidecar"}, {authorizerBin, "/usr/local/bin/tollgate-authorizer"},
	} {
		data, err := os.ReadFile(b.src)
		if err != nil {
			return spec{}, err
		}
		fs = append(fs, file{path: b.dst, mode: 0o755, data: data})
	}
	return spec{
		ref: ref, files: fs,
		entrypoint: []string{"/usr/local/bin/tollgate"}, cmd: []string{"manager"},
		user: fmt.Sprintf("%d:%d", NonRootUID, NonRootUID), env: defaultEnv,
		labels: map[string]string{
			"org.opencontainers.image.source":      "https://github.com/tollgate-dev/tollgate",
			"org.opencontainers.image.description": "tollgate: JWT authentication for Kubernetes workloads (operator and sidecar)",
			"org.opencontainers.image.licenses":    "Apache-2.0",
		},
	}, nil
}

// staticSpec is one static binary as the entrypoint, run as nonroot.
func staticSpec(ref, bin, dst string) (spec, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return spec{}, err
	}
	return spec{
		ref: ref, files: append(baseFiles(), file{path: dst, mode: 0o755, data: data}),
		entrypoint: []string{dst}, user: fmt.Sprintf("%d:%d", NonRootUID, NonRootUID), env: defaultEnv,
	}, nil
}

// redisSpec is redis-server with the libraries it loads, at the paths ldd resolves them to,
// and a /data directory owned by the nonroot user.
func redisSpec(ref, bin string) (spec, error) {
	real, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return spec{}, err
	}
	data, err := os.ReadFile(real)
	if err != nil {
		return spec{}, err
	}
	lddOut, err := exec.Command("ldd", real).Output()
	if err != nil {
		return spec{}, fmt.Errorf("ldd %s: %w", real, err)
	}
	libs, err := parseLdd(lddOut)
	if err != nil {
		return spec{}, fmt.Errorf("ldd %s: %w", real, err)
	}
	// Debian's redis-server is a symlink to redis-check-rdb, which picks its mode from
	// argv[0]: the image holds the binary itself under redis-server's name.
	fs := append(baseFiles(),
		file{path: "/usr/bin/redis-server", mode: 0o755, data: data},
		file{path: "/data", dir: true, mode: 0o777})
	for _, lib := range libs {
		b, err := os.ReadFile(lib) // follows symlinks: the image holds the file
		if err != nil {
			return spec{}, err
		}
		fs = append(fs, file{path: lib, mode: 0o755, data: b})
	}
	return spec{
		ref: ref, files: fs,
		entrypoint: []string{"/usr/bin/redis-server"},
		cmd:        []string{"--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", "/data"},
		user:       fmt.Sprintf("%d:%d", NonRootUID, NonRootUID), env: defaultEnv,
	}, nil
}

// parseLdd returns the absolute paths of the libraries in ldd's output, the dynamic loader
// included, sorted; the vDSO (no file) is skipped and a library ldd could not find is an error.
func parseLdd(out []byte) ([]string, error) {
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var p string
		if lib, target, ok := strings.Cut(line, "=>"); ok {
			target = strings.TrimSpace(target)
			if strings.HasPrefix(target, "not found") {
				return nil, fmt.Errorf("library %s not found", strings.TrimSpace(lib))
			}
			p, _, _ = strings.Cut(target, " ")
		} else {
			p, _, _ = strings.Cut(line, " ")
		}
		if p == "" || !path.IsAbs(p) {
			continue // linux-vdso.so.1, or an empty target of a vDSO
		}
		seen[path.Clean(p)] = true
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(seen) == 0 {
		return nil, errors.New("no libraries: not a dynamically linked executable?")
	}
	libs := make([]string, 0, len(seen))
	for p := range seen {
		libs = append(libs, p)
	}
	sort.Strings(libs)
	return libs, nil
}

// layerTar is the files as one tar, parent directories first, each path once.
func layerTar(files []file) ([]byte, error) {
	byPath := map[string]file{}
	for _, f := range files {
		p := path.Clean("/" + f.path)
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = file{path: d, dir: true, mode: 0o755}
			}
		}
		f.path = p
		byPath[p] = f
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths) // a parent sorts before its children
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := byPath[p]
		h := &tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case f.dir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case f.symlink != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.symlink
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if p == "/home/nonroot" || p == "/data" {
			h.Uid, h.Gid = NonRootUID, NonRootUID
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// image is the spec as a one-layer image for linux on this architecture.
func image(s spec) (v1.Image, error) {
	data, err := layerTar(s.files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	arch := s.arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	cf.OS, cf.Architecture, cf.Created = "linux", arch, v1.Time{Time: epoch}
	cf.Config = v1.Config{Entrypoint: s.entrypoint, Cmd: s.cmd, User: s.user, Env: s.env, Labels: s.labels, WorkingDir: "/"}
	return mutate.ConfigFile(img, cf)
}

// write puts every image into one docker-archive tarball at out (through a temporary file,
// so a reader never sees half of it).
func write(out string, specs []spec) error {
	refs := map[name.Reference]v1.Image{}
	for _, s := range specs {
		ref, err := name.ParseReference(s.ref)
		if err != nil {
			return err
		}
		img, err := image(s)
		if err != nil {
			return fmt.Errorf("image %s: %w", s.ref, err)
		}
		refs[ref] = img
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
