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
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/xeipuuv/gojsonschema"
)

const testRef = "ghcr.io/tollgate-dev/tollgate:test"

// The platforms the tests build: this machine's in `make test`; linux/amd64 and
// linux/arm64 (the release index, a cold cross-compile of both binaries) with
// TOLLGATE_IMAGE_MULTIARCH=1, which `make test-image` sets.
func testPlatforms() []v1.Platform {
	if os.Getenv("TOLLGATE_IMAGE_MULTIARCH") == "1" {
		return []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	}
	return []v1.Platform{{OS: "linux", Architecture: runtime.GOARCH}}
}

var (
	buildsOnce sync.Once
	builds     [2][]platformBinaries
	buildsErr  error
)

// twoBuilds builds the binaries for testPlatforms twice, into two directories, from the
// same source with the same toolchain and flags.
func twoBuilds(t *testing.T) [2][]platformBinaries {
	t.Helper()
	buildsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tollgate-image-test-")
		if err != nil {
			buildsErr = err
			return
		}
		for i := range builds {
			for _, p := range testPlatforms() {
				began := time.Now()
				b, err := buildBinaries(context.Background(), filepath.Join(dir, string(rune('a'+i)), p.Architecture), p, ldflags("v0.0.0-test", "abc1234"))
				if err != nil {
					buildsErr = err
					return
				}
				t.Logf("built the %s binaries (build %d) in %.1fs", p, i+1, time.Since(began).Seconds())
				builds[i] = append(builds[i], b)
			}
		}
	})
	if buildsErr != nil {
		t.Fatal(buildsErr)
	}
	return builds
}

// Same source, same toolchain, same flags: the same binaries, and an image layout that is
// the same to the byte (index digest, every blob, the SBOM). A different SOURCE_DATE_EPOCH
// gives another digest, so the timestamps in the image are the ones we set.
func TestTheReleaseImageIsReproducible(t *testing.T) {
	b := twoBuilds(t)
	for i := range b[0] {
		for _, pair := range [][2]string{{b[0][i].tollgate, b[1][i].tollgate}, {b[0][i].sidecar, b[1][i].sidecar}, {b[0][i].authorizer, b[1][i].authorizer}} {
			if !bytes.Equal(readFile(t, pair[0]), readFile(t, pair[1])) {
				t.Fatalf("two builds of %s differ", filepath.Base(pair[0]))
			}
		}
	}
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	digestA, err := writeOCI(dirA, testRef, "v0.0.0-test", b[0])
	if err != nil {
		t.Fatal(err)
	}
	digestB, err := writeOCI(dirB, testRef, "v0.0.0-test", b[1])
	if err != nil {
		t.Fatal(err)
	}
	if digestA != digestB {
		t.Errorf("index digests %s and %s", digestA, digestB)
	}
	filesA, filesB := layoutFiles(t, dirA), layoutFiles(t, dirB)
	if !slices.Equal(sortedKeys(filesA), sortedKeys(filesB)) {
		t.Fatalf("the layouts hold different files:\n%v\n%v", sortedKeys(filesA), sortedKeys(filesB))
	}
	for name, data := range filesA {
		if !bytes.Equal(data, filesB[name]) {
			t.Errorf("%s differs between the two builds", name)
		}
	}
	t.Logf("index %s (%d files in the layout)", digestA, len(filesA))

	t.Run("another SOURCE_DATE_EPOCH gives another digest", func(t *testing.T) {
		saved := epoch
		epoch = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		t.Cleanup(func() { epoch = saved })
		d, err := writeOCI(filepath.Join(t.TempDir(), "c"), testRef, "v0.0.0-test", b[0])
		if err != nil {
			t.Fatal(err)
		}
		if d == digestA {
			t.Error("the digest does not depend on the timestamps")
		}
	})
}

// The layout holds one OCI index with an image per platform in the Dockerfile's layout
// (both binaries in /usr/local/bin, mode 0755, owned by root, the fixed timestamp; user
// 65532; entrypoint tollgate, command manager), and the SBOM both beside it and as a
// referrer whose subject is the index.
func TestTheReleaseImageLayout(t *testing.T) {
	b := twoBuilds(t)
	dir := t.TempDir()
	digest, err := writeOCI(dir, testRef, "v0.0.0-test", b[0])
	if err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("index.json lists %d manifests, want the index and the SBOM", len(im.Manifests))
	}
	if im.Manifests[0].Digest != digest || im.Manifests[0].MediaType != types.OCIImageIndex ||
		im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != testRef {
		t.Errorf("index.json's first entry %+v, want the index %s named %s", im.Manifests[0], digest, testRef)
	}

	idx, err := top.ImageIndex(digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms, want []string
	for _, p := range testPlatforms() {
		want = append(want, p.String())
	}
	for _, d := range m.Manifests {
		platforms = append(platforms, d.Platform.String())
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
			t.Errorf("%s: media type %s", d.Platform, mt)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != d.Platform.Architecture || cf.OS != "linux" || !cf.Created.Equal(epoch) ||
			cf.Config.User != "65532:65532" || !slices.Equal(cf.Config.Entrypoint, []string{"/usr/local/bin/tollgate"}) ||
			!slices.Equal(cf.Config.Cmd, []string{"manager"}) {
			t.Errorf("%s: config %s/%s created %s user %q entrypoint %v cmd %v", d.Platform, cf.OS, cf.Architecture, cf.Created, cf.Config.User, cf.Config.Entrypoint, cf.Config.Cmd)
		}
		files := layerFiles(t, img)
		for _, bin := range []string{"usr/local/bin/tollgate", "usr/local/bin/tollgate-sidecar", "usr/local/bin/tollgate-authorizer"} {
			h, ok := files[bin]
			if !ok {
				t.Errorf("%s: no %s", d.Platform, bin)
				continue
			}
			if h.Mode != 0o755 || h.Uid != 0 || !h.ModTime.Equal(epoch) {
				t.Errorf("%s: %s mode %o uid %d mtime %s", d.Platform, bin, h.Mode, h.Uid, h.ModTime)
			}
		}
	}
	if !slices.Equal(platforms, want) {
		t.Errorf("platforms %v, want %v", platforms, want)
	}

	sbom := readFile(t, filepath.Join(dir, SBOMFile))
	art := im.Manifests[1]
	if art.ArtifactType != SBOMMediaType {
		t.Fatalf("second entry %+v, want the SBOM artifact", art)
	}
	var am v1.Manifest
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, "blobs", "sha256", art.Digest.Hex)), &am); err != nil {
		t.Fatal(err)
	}
	if am.Subject == nil || am.Subject.Digest != digest || am.ArtifactType != SBOMMediaType || len(am.Layers) != 1 {
		t.Fatalf("the SBOM artifact %+v: want subject %s, artifactType %s, one layer", am, digest, SBOMMediaType)
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, "blobs", "sha256", am.Layers[0].Digest.Hex)), sbom) {
		t.Error("the attached SBOM is not the one beside the layout")
	}
}

// The SBOM is valid CycloneDX 1.6 (the schema cyclonedx-go ships) and lists what the
// binaries link, as their build information says: each binary per platform, the Go
// toolchain, the modules at the versions go.mod resolves, with their go.sum hashes; the
// sidecar without client-go (DESIGN: it stays lean), neither with Helm.
func TestTheSBOMListsWhatTheBinariesLink(t *testing.T) {
	b := twoBuilds(t)
	var bins []sbomBinary
	for _, pb := range b[0] {
		bins = append(bins, sbomBinary{name: "tollgate", path: pb.tollgate, platform: pb.platform},
			sbomBinary{name: "tollgate-sidecar", path: pb.sidecar, platform: pb.platform})
	}
	doc, err := writeSBOM(testRef, "v0.0.0-test", epoch, bins)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("it is valid against the CycloneDX 1.6 JSON schema", func(t *testing.T) {
		// The schema refers to its two companions by their $id URLs: load them from the
		// module too, so that the test needs no network.
		dir := filepath.Join(goListModDir(t, "github.com/CycloneDX/cyclonedx-go"), "schema")
		sl := gojsonschema.NewSchemaLoader()
		for _, companion := range []string{"spdx.schema.json", "jsf-0.82.schemax.json"} {
			if err := sl.AddSchemas(gojsonschema.NewReferenceLoader("file://" + filepath.Join(dir, companion))); err != nil {
				t.Fatal(err)
			}
		}
		schema, err := sl.Compile(gojsonschema.NewReferenceLoader("file://" + filepath.Join(dir, "bom-1.6.schema.json")))
		if err != nil {
			t.Fatal(err)
		}
		res, err := schema.Validate(gojsonschema.NewBytesLoader(doc))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Valid() && len(res.Errors()) == 0 {
			t.Error("invalid, without errors")
		}
		for _, e := range res.Errors() {
			t.Error(e.String())
		}
	})

	bom := &cdx.BOM{}
	if err := cdx.NewBOMDecoder(bytes.NewReader(doc), cdx.BOMFileFormatJSON).Decode(bom); err != nil {
		t.Fatal(err)
	}
	comps := map[string]cdx.Component{}
	for _, c := range *bom.Components {
		comps[c.BOMRef] = c
	}
	deps := map[string][]string{}
	for _, d := range *bom.Dependencies {
		for _, on := range *d.Dependencies {
			if _, ok := comps[on]; !ok {
				t.Errorf("%s depends on %s, which is no component", d.Ref, on)
			}
		}
		deps[d.Ref] = *d.Dependencies
	}
	redis := "pkg:golang/github.com/redis/go-redis/v9@" + goListModVersion(t, "github.com/redis/go-redis/v9") + "?type=module"
	runtimeRef := "pkg:golang/sigs.k8s.io/controller-runtime@" + goListModVersion(t, "sigs.k8s.io/controller-runtime") + "?type=module"
	std := "pkg:golang/stdlib@" + runtime.Version()
	for _, p := range testPlatforms() {
		platform := p.OS + "/" + p.Architecture
		manager, sidecar := deps["tollgate@"+platform], deps["tollgate-sidecar@"+platform]
		if !slices.Contains(deps["image"], "tollgate@"+platform) || !slices.Contains(deps["image"], "tollgate-sidecar@"+platform) {
			t.Errorf("the image's dependencies %v miss the %s binaries", deps["image"], platform)
		}
		if !slices.Contains(sidecar, redis) || !slices.Contains(sidecar, std) || !slices.Contains(manager, runtimeRef) {
			t.Errorf("%s: the sidecar's modules miss %s or %s, or the manager's %s", platform, redis, std, runtimeRef)
		}
		for _, ref := range sidecar {
			if strings.Contains(ref, "k8s.io/client-go") {
				t.Errorf("%s: the sidecar links %s", platform, ref)
			}
		}
		for _, ref := range append(slices.Clone(manager), sidecar...) {
			if strings.Contains(ref, "helm.sh/") {
				t.Errorf("%s: a binary links %s", platform, ref)
			}
		}
		app := comps["tollgate-sidecar@"+platform]
		if !slices.Contains(*app.Properties, cdx.Property{Name: "go:build:GOARCH", Value: p.Architecture}) ||
			!slices.Contains(*app.Properties, cdx.Property{Name: "go:build:-trimpath", Value: "true"}) {
			t.Errorf("%s: the sidecar's build properties %v", platform, *app.Properties)
		}
	}
	for ref, c := range comps {
		if c.Type != cdx.ComponentTypeLibrary || c.Name == "stdlib" {
			continue
		}
		if c.PackageURL != ref || c.Hashes == nil || len((*c.Hashes)[0].Value) != 64 {
			t.Errorf("%s: purl %q, hashes %v", ref, c.PackageURL, c.Hashes)
		}
	}
	if bom.Metadata.Timestamp != epoch.Format(time.RFC3339) || !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") {
		t.Errorf("timestamp %s, serial %s", bom.Metadata.Timestamp, bom.SerialNumber)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// layoutFiles is every file of an image layout, by path.
func layoutFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// layerFiles are the tar headers of an image's one layer, by path.
func layerFiles(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers: %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	headers := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return headers
		}
		if err != nil {
			t.Fatal(err)
		}
		headers[h.Name] = h
	}
}

func goListModDir(t *testing.T, mod string) string {
	t.Helper()
	return goListMod(t, mod, "{{.Dir}}")
}

func goListModVersion(t *testing.T, mod string) string {
	t.Helper()
	return goListMod(t, mod, "{{.Version}}")
}

func goListMod(t *testing.T, mod, format string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", format, mod).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", mod, err)
	}
	return strings.TrimSpace(string(out))
}
