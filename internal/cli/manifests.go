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

package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

// MaxManifestBytes bounds what `tollgate inject` reads: manifests are a few hundred KiB at
// most, and a pipe that never ends should fail rather than fill the memory.
const MaxManifestBytes = 32 << 20

// podTemplatePaths are where each workload kind keeps the pod it makes; a Pod is its own
// template (no path).
var podTemplatePaths = map[schema.GroupKind][]string{
	{Group: "", Kind: "Pod"}:                   nil,
	{Group: "", Kind: "PodTemplate"}:           {"template"},
	{Group: "", Kind: "ReplicationController"}: {"spec", "template"},
	{Group: "apps", Kind: "Deployment"}:        {"spec", "template"},
	{Group: "apps", Kind: "StatefulSet"}:       {"spec", "template"},
	{Group: "apps", Kind: "DaemonSet"}:         {"spec", "template"},
	{Group: "apps", Kind: "ReplicaSet"}:        {"spec", "template"},
	{Group: "batch", Kind: "Job"}:              {"spec", "template"},
	{Group: "batch", Kind: "CronJob"}:          {"spec", "jobTemplate", "spec", "template"},
}

// ManifestInjector gives the pod templates of manifests the sidecar, through the webhook's
// own handler: the pods come out as the webhook would patch them at creation, and are
// refused for the same reasons.
type ManifestInjector struct {
	// Injector is the webhook's handler, reading policies from the cluster or from files.
	Injector *injection.PodInjector
	// Namespace is where objects without metadata.namespace go (kubectl's -n).
	Namespace string
	// Warnings receives notes about objects that look meant to be protected but are not.
	Warnings io.Writer
}

// Refusals are the objects the webhook would refuse, each with its reason.
type Refusals []string

func (r Refusals) Error() string {
	return fmt.Sprintf("%d object(s) refused, nothing written:\n  %s", len(r), strings.Join(r, "\n  "))
}

// InjectManifests reads Kubernetes manifests (YAML, several documents, or JSON) and writes
// them with the sidecar injected into every pod template that names an AuthPolicy. Other
// documents, and templates that need nothing, are written byte for byte as they came; a
// changed document is written as YAML. Nothing is written when an object is refused:
// the error is Refusals.
func (m *ManifestInjector) InjectManifests(ctx context.Context, in io.Reader, out io.Writer) error {
	data, err := io.ReadAll(io.LimitReader(in, MaxManifestBytes+1))
	if err != nil {
		return err
	}
	if len(data) > MaxManifestBytes {
		return fmt.Errorf("the manifests are larger than %d MiB", MaxManifestBytes>>20)
	}
	docs, err := splitDocuments(data)
	if err != nil {
		return err
	}
	var result bytes.Buffer
	var refusals Refusals
	written := 0
	for i, doc := range docs {
		outDoc, err := m.injectDocument(ctx, doc)
		var refused Refusals
		if errors.As(err, &refused) {
			refusals = append(refusals, refused...)
			continue
		}
		if err != nil {
			return fmt.Errorf("document %d: %w", i+1, err)
		}
		if len(bytes.TrimSpace(outDoc)) == 0 {
			continue
		}
		if written > 0 {
			result.WriteString("---\n")
		}
		result.Write(outDoc)
		if !bytes.HasSuffix(outDoc, []byte("\n")) {
			result.WriteByte('\n')
		}
		written++
	}
	if len(refusals) > 0 {
		return refusals
	}
	_, err = out.Write(result.Bytes())
	return err
}

// splitDocuments splits a YAML stream at its "---" lines.
func splitDocuments(data []byte) ([][]byte, error) {
	var docs [][]byte
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the manifests: %w", err)
		}
		docs = append(docs, doc)
	}
}

// injectDocument is one document of the stream, injected where it names a policy.
func (m *ManifestInjector) injectDocument(ctx context.Context, doc []byte) ([]byte, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	js = bytes.TrimSpace(js)
	if len(js) == 0 || string(js) == "null" {
		return doc, nil // comments or nothing
	}
	obj, ok, err := decodeObject(js)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("not a Kubernetes object (a map with apiVersion and kind)")
	}
	changed, err := m.injectObject(ctx, obj, m.Namespace)
	if err != nil || !changed {
		return doc, err
	}
	return yaml.Marshal(obj)
}

// decodeObject decodes a JSON object keeping numbers exact; ok is false for anything that
// is not an object.
func decodeObject(js []byte) (map[string]any, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false, err
	}
	obj, ok := v.(map[string]any)
	return obj, ok, nil
}

// injectObject injects obj's pod template in place, and the items of a List; changed
// says whether anything was added.
func (m *ManifestInjector) injectObject(ctx context.Context, obj map[string]any, defaultNamespace string) (bool, error) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || kind == "" {
		return false, fmt.Errorf("not a Kubernetes object: apiVersion %q, kind %q", apiVersion, kind)
	}
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	namespace, _ := meta["namespace"].(string)
	if namespace == "" {
		namespace = defaultNamespace
	}
	what := kind + " " + namespace + "/" + name

	if gv.Group == "" && strings.HasSuffix(kind, "List") {
		items, _ := obj["items"].([]any)
		var refusals Refusals
		changed := false
		for _, it := range items {
			item, ok := it.(map[string]any)
			if !ok {
				return false, fmt.Errorf("%s: an item is not an object", kind)
			}
			c, err := m.injectObject(ctx, item, namespace)
			var refused Refusals
			if errors.As(err, &refused) {
				refusals = append(refusals, refused...)
				continue
			}
			if err != nil {
				return false, err
			}
			changed = changed || c
		}
		if len(refusals) > 0 {
			return false, refusals
		}
		return changed, nil
	}

	path, ok := podTemplatePaths[schema.GroupKind{Group: gv.Group, Kind: kind}]
	if !ok {
		return false, nil
	}
	template := obj
	for _, field := range path {
		next, ok := template[field].(map[string]any)
		if !ok {
			return false, nil // no pod template: nothing to inject, the API server will say
		}
		template = next
	}
	tmeta, _ := template["metadata"].(map[string]any)
	if !hasAnnotation(tmeta, authv1alpha1.PolicyAnnotation) && len(path) > 0 && m.Warnings != nil {
		if hasAnnotation(meta, authv1alpha1.PolicyAnnotation) {
			fmt.Fprintf(m.Warnings, "warning: %s carries annotation %s, but only pods are injected: put it on its pod template (%s.metadata.annotations)\n",
				what, authv1alpha1.PolicyAnnotation, strings.Join(path, "."))
		}
	}

	// The pod the workload's controller would create from the template.
	pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "spec": template["spec"]}
	podMeta := map[string]any{}
	for k, v := range tmeta {
		podMeta[k] = v
	}
	podMeta["namespace"] = namespace
	if path != nil {
		podMeta["generateName"] = name + "-"
	}
	pod["metadata"] = podMeta
	raw, err := json.Marshal(pod)
	if err != nil {
		return false, err
	}
	resp := m.Injector.Handle(ctx, admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       types.UID("tollgate-inject"),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: namespace,
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
	}})
	if !resp.Allowed {
		msg := "refused"
		if resp.Result != nil && resp.Result.Message != "" {
			msg = resp.Result.Message
		}
		if resp.Result != nil && resp.Result.Code >= 500 {
			return false, fmt.Errorf("%s: %s", what, msg)
		}
		return false, Refusals{what + ": " + msg}
	}
	if len(resp.Patches) == 0 {
		return false, nil
	}
	if tmeta == nil {
		template["metadata"] = map[string]any{}
	}
	target, err := json.Marshal(template)
	if err != nil {
		return false, err
	}
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		return false, err
	}
	patch, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		return false, err
	}
	patched, err := patch.Apply(target)
	if err != nil {
		return false, fmt.Errorf("%s: applying the webhook's patch: %w", what, err)
	}
	newTemplate, _, err := decodeObject(patched)
	if err != nil {
		return false, err
	}
	clear(template)
	for k, v := range newTemplate {
		template[k] = v
	}
	return true, nil
}

func hasAnnotation(meta map[string]any, key string) bool {
	annotations, _ := meta["annotations"].(map[string]any)
	_, ok := annotations[key]
	return ok
}
