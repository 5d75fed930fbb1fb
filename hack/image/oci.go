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
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// SBOMFile is the SBOM's name beside the layout's index.json; SBOMMediaType is its media
// type as an OCI artifact.
const (
	SBOMFile      = "sbom.cdx.json"
	SBOMMediaType = "application/vnd.cyclonedx+json"
)

// ociFlags are the settings of -oci mode.
type ociFlags struct {
	dir       string
	platforms string
	version   string
	commit    string
	binDir    string
}

func (o *ociFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&o.dir, "oci", "", "write the release image: an OCI image layout in this directory (replaced), one index of -platforms, and its SBOM")
	fs.StringVar(&o.platforms, "platforms", "linux/amd64,linux/arm64", "with -oci: the platforms of the index, comma-separated")
	fs.StringVar(&o.version, "version", "dev", "with -oci: the version linked into the binaries (internal/version.Version)")
	fs.StringVar(&o.commit, "commit", "unknown", "with -oci: the commit linked into the binaries (internal/version.Commit)")
	fs.StringVar(&o.binDir, "bin-dir", "bin/image", "with -oci: where the binaries are built, one directory per platform")
}

func (o *ociFlags) run(ref string) error {
	var platforms []v1.Platform
	for _, p := range strings.Split(o.platforms, ",") {
		goos, arch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok || goos != "linux" || arch == "" {
			return fmt.Errorf("-platforms %q: want linux/<arch>[,linux/<arch>...]", o.platforms)
		}
		platforms = append(platforms, v1.Platform{OS: goos, Architecture: arch})
	}
	var builds []platformBinaries
	for _, p := range platforms {
		began := time.Now()
		b, err := buildBinaries(context.Background(), filepath.Join(o.binDir, p.OS+"-"+p.Architecture), p, ldflags(o.version, o.commit))
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "image: built %s binaries in %.1fs\n", p, time.Since(began).Seconds())
		builds = append(builds, b)
	}
	digest, err := writeOCI(o.dir, ref, o.version, builds)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "image: wrote %s: %s@%s (%s), SBOM %s\n", o.dir, ref, digest, o.platforms, filepath.Join(o.dir, SBOMFile))
	fmt.Println(digest)
	return nil
}

// ldflags are the Makefile's LDFLAGS.
func ldflags(version, commit string) string {
	return "-s -w -X github.com/tollgate-dev/tollgate/internal/version.Version=" + version +
		" -X github.com/tollgate-dev/tollgate/internal/version.Commit=" + commit
}

// platformBinaries are the three binaries built for one platform.
type platformBinaries struct {
	platform                      v1.Platform
	tollgate, sidecar, authorizer string
}

// buildBinaries runs `go build` for the binaries the way the Makefile and the Dockerfile
// do: static (CGO_ENABLED=0), -trimpath, no VCS stamp, the same ldflags; so the same
// source and toolchain give the same bytes.
func buildBinaries(ctx context.Context, dir string, p v1.Platform, ldflags string) (platformBinaries, error) {
	b := platformBinaries{platform: p, tollgate: filepath.Join(dir, "tollgate"), sidecar: filepath.Join(dir, "tollgate-sidecar"), authorizer: filepath.Join(dir, "tollgate-authorizer")}
	for _, bin := range []struct{ out, pkg string }{
		{b.tollgate, "github.com/tollgate-dev/tollgate/cmd/tollgate"},
		{b.sidecar, "github.com/tollgate-dev/tollgate/cmd/tollgate-sidecar"},
		{b.authorizer, "github.com/tollgate-dev/tollgate/cmd/tollgate-authorizer"},
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", bin.out, bin.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOFLAGS=-buildvcs=false")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("go build %s for %s: %w\n%s", bin.pkg, p, err, out.String())
		}
	}
	return b, nil
}

// writeOCI writes the tollgate image of every build as one OCI index in an OCI image layout
// at dir (what was there goes), the SBOM of all binaries beside it (dir/sbom.cdx.json) and,
// as an OCI 1.1 referrer of the index (artifactType application/vnd.cyclonedx+json, subject
// the index), in the layout too. It returns the index's digest.
func writeOCI(dir, ref, version string, builds []platformBinaries) (v1.Hash, error) {
	if len(builds) == 0 {
		return v1.Hash{}, errors.New("no platforms")
	}
	var idx v1.ImageIndex = empty.Index
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	var sbomBins []sbomBinary
	for _, b := range builds {
		s, err := tollgateSpec(ref, b.tollgate, b.sidecar, b.authorizer)
		if err != nil {
			return v1.Hash{}, err
		}
		s.arch = b.platform.Architecture
		img, err := ociImage(s)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("image for %s: %w", b.platform, err)
		}
		p := b.platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
		sbomBins = append(sbomBins,
			sbomBinary{name: "tollgate", path: b.tollgate, platform: p},
			sbomBinary{name: "tollgate-sidecar", path: b.sidecar, platform: p},
			sbomBinary{name: "tollgate-authorizer", path: b.authorizer, platform: p})
	}
	digest, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	sbom, err := writeSBOM(ref, version, epoch, sbomBins)
	if err != nil {
		return v1.Hash{}, err
	}

	if err := os.RemoveAll(dir); err != nil {
		return v1.Hash{}, err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
		return v1.Hash{}, err
	}
	if err := attachSBOM(p, idx, sbom); err != nil {
		return v1.Hash{}, err
	}
	return digest, os.WriteFile(filepath.Join(dir, SBOMFile), sbom, 0o644)
}

// ociImage is image(s) with OCI media types (the docker-archive of the node keeps
// Docker's).
func ociImage(s spec) (v1.Image, error) {
	img, err := image(s)
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	out := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	out = mutate.ConfigMediaType(out, types.OCIConfigJSON)
	for _, l := range layers {
		out, err = mutate.Append(out, mutate.Addendum{Layer: l, MediaType: types.OCILayer})
		if err != nil {
			return nil, err
		}
	}
	cf = cf.DeepCopy()
	return mutate.ConfigFile(out, cf)
}

// attachSBOM writes the SBOM into the layout as an OCI 1.1 artifact whose subject is the
// index: an image manifest with artifactType application/vnd.cyclonedx+json, the empty
// config and the SBOM as its one layer (what `oras attach` writes); a registry that
// receives the layout lists it under the index's referrers.
func attachSBOM(p layout.Path, subject v1.ImageIndex, sbom []byte) error {
	subj, err := partialDescriptor(subject)
	if err != nil {
		return err
	}
	emptyConfig := []byte("{}")
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  SBOMMediaType,
		Config:        blobDescriptor("application/vnd.oci.empty.v1+json", emptyConfig),
		Layers:        []v1.Descriptor{blobDescriptor(SBOMMediaType, sbom)},
		Subject:       subj,
	}
	m.Config.Data = emptyConfig
	m.Layers[0].Annotations = map[string]string{"org.opencontainers.image.title": SBOMFile}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	for _, blob := range [][]byte{emptyConfig, sbom, raw} {
		d := blobDescriptor("", blob)
		if err := p.WriteBlob(d.Digest, io.NopCloser(bytes.NewReader(blob))); err != nil {
			return err
		}
	}
	d := blobDescriptor(types.OCIManifestSchema1, raw)
	d.ArtifactType = SBOMMediaType
	return p.AppendDescriptor(d)
}

func blobDescriptor(mt types.MediaType, b []byte) v1.Descriptor {
	sum := sha256.Sum256(b)
	return v1.Descriptor{MediaType: mt, Size: int64(len(b)), Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}
}

func partialDescriptor(idx v1.ImageIndex) (*v1.Descriptor, error) {
	d, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	sz, err := idx.Size()
	if err != nil {
		return nil, err
	}
	mt, err := idx.MediaType()
	if err != nil {
		return nil, err
	}
	return &v1.Descriptor{MediaType: mt, Digest: d, Size: sz}, nil
}

// sourceDateEpoch is SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/)
// as a time, else the Unix epoch.
func sourceDateEpoch() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Unix(0, 0).UTC()
}
