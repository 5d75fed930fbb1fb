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
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// sbomBinary is one binary of the image, for one platform.
type sbomBinary struct {
	name     string // tollgate or tollgate-sidecar
	path     string
	platform v1.Platform
}

// The build settings each binary records that say how it was built.
var recordedSettings = []string{"GOOS", "GOARCH", "GOAMD64", "GOARM64", "CGO_ENABLED", "-trimpath", "-ldflags"}

// writeSBOM is a CycloneDX 1.6 JSON SBOM of the image ref: each binary (per platform) as an
// application component with the Go toolchain and the modules linked into it, read back
// from the binary's own build information (debug/buildinfo, what `go version -m` prints),
// so it lists exactly what was linked, not what go.mod allows. The modules' hashes are
// go.sum's h1 hashes (SHA-256). Nothing in it depends on when or where it was written:
// the timestamp is created (SOURCE_DATE_EPOCH) and the serial number a hash of the content.
func writeSBOM(ref, version string, created time.Time, bins []sbomBinary) ([]byte, error) {
	name := ref
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		name = ref[:i]
	}
	bom := cdx.NewBOM()
	bom.Metadata = &cdx.Metadata{
		Timestamp: created.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "hack/image", Group: "github.com/tollgate-dev/tollgate",
		}}},
		Component: &cdx.Component{
			BOMRef: "image", Type: cdx.ComponentTypeContainer, Name: name, Version: version,
			Licenses: &cdx.Licenses{{License: &cdx.License{ID: "Apache-2.0"}}},
		},
	}
	libraries := map[string]cdx.Component{}
	var apps []cdx.Component
	var deps []cdx.Dependency
	var imageDeps []string
	for _, b := range bins {
		info, err := buildinfo.ReadFile(b.path)
		if err != nil {
			return nil, fmt.Errorf("reading the build information of %s: %w", b.path, err)
		}
		platform := b.platform.OS + "/" + b.platform.Architecture
		ref := b.name + "@" + platform
		app := cdx.Component{
			BOMRef: ref, Type: cdx.ComponentTypeApplication, Name: b.name, Version: version,
			PackageURL: fmt.Sprintf("pkg:golang/%s@%s?goarch=%s&goos=%s", info.Main.Path, purlVersion(version), b.platform.Architecture, b.platform.OS),
			Properties: &[]cdx.Property{{Name: "go:package", Value: info.Path}, {Name: "go:toolchain", Value: info.GoVersion}},
		}
		for _, s := range info.Settings {
			if slices.Contains(recordedSettings, s.Key) {
				*app.Properties = append(*app.Properties, cdx.Property{Name: "go:build:" + s.Key, Value: s.Value})
			}
		}
		apps = append(apps, app)
		imageDeps = append(imageDeps, ref)

		std := cdx.Component{
			BOMRef: "pkg:golang/stdlib@" + info.GoVersion, Type: cdx.ComponentTypeLibrary, Name: "stdlib",
			Version: info.GoVersion, PackageURL: "pkg:golang/stdlib@" + info.GoVersion,
		}
		libraries[std.BOMRef] = std
		on := []string{std.BOMRef}
		for _, m := range info.Deps {
			c := moduleComponent(m)
			libraries[c.BOMRef] = c
			on = append(on, c.BOMRef)
		}
		slices.Sort(on)
		deps = append(deps, cdx.Dependency{Ref: ref, Dependencies: &on})
	}
	comps := apps
	for _, ref := range sortedKeys(libraries) {
		comps = append(comps, libraries[ref])
	}
	bom.Components = &comps
	deps = append([]cdx.Dependency{{Ref: "image", Dependencies: &imageDeps}}, deps...)
	bom.Dependencies = &deps

	encode := func() ([]byte, error) {
		var buf bytes.Buffer
		enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON)
		enc.SetPretty(true)
		if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
			return nil, fmt.Errorf("encoding the SBOM: %w", err)
		}
		return buf.Bytes(), nil
	}
	content, err := encode()
	if err != nil {
		return nil, err
	}
	bom.SerialNumber = contentUUID(content)
	return encode()
}

// moduleComponent is a linked module (its replacement, if replaced) as a library.
func moduleComponent(m *debug.Module) cdx.Component {
	if m.Replace != nil {
		m = m.Replace
	}
	purl := fmt.Sprintf("pkg:golang/%s@%s?type=module", m.Path, purlVersion(m.Version))
	c := cdx.Component{BOMRef: purl, Type: cdx.ComponentTypeLibrary, Name: m.Path, Version: m.Version, PackageURL: purl}
	if h, ok := strings.CutPrefix(m.Sum, "h1:"); ok {
		if sum, err := base64.StdEncoding.DecodeString(h); err == nil && len(sum) == sha256.Size {
			c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: hex.EncodeToString(sum)}}
		}
	}
	return c
}

// purlVersion escapes a version for a package URL ("+incompatible" has a plus).
func purlVersion(v string) string { return strings.ReplaceAll(v, "+", "%2B") }

// contentUUID is an RFC 4122 version-5-style URN from the SHA-256 of content: the same
// SBOM gets the same serial number.
func contentUUID(content []byte) string {
	sum := sha256.Sum256(content)
	u := sum[:16]
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
