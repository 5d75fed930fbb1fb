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
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

const testPolicyFile = `apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata:
  name: shop-api
spec:
  login:
    usersSecretRef: {name: shop-users}
`

const testImage = "registry.example/tollgate:test"

// podTemplate is a pod template (metadata and spec) of one app container that names policy.
const podTemplate = `metadata:
  labels: {app: shop}
  annotations:
    auth.tollgate.dev/policy: shop-api
spec:
  containers:
  - name: app
    image: registry.example/app:1
    ports: [{containerPort: 8080}]`

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

// workloads are one manifest of each kind with a pod template, and where the template is.
var workloads = map[string]struct {
	manifest string
	path     []string
}{
	"Pod":                   {"apiVersion: v1\nkind: Pod\n" + strings.Replace(podTemplate, "metadata:\n", "metadata:\n  name: shop\n", 1), nil},
	"Deployment":            {"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: shop}\nspec:\n  selector: {matchLabels: {app: shop}}\n  template:\n" + indent(podTemplate, 4), []string{"spec", "template"}},
	"StatefulSet":           {"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: shop}\nspec:\n  serviceName: shop\n  template:\n" + indent(podTemplate, 4), []string{"spec", "template"}},
	"DaemonSet":             {"apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: shop}\nspec:\n  template:\n" + indent(podTemplate, 4), []string{"spec", "template"}},
	"ReplicaSet":            {"apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: shop}\nspec:\n  template:\n" + indent(podTemplate, 4), []string{"spec", "template"}},
	"ReplicationController": {"apiVersion: v1\nkind: ReplicationController\nmetadata: {name: shop}\nspec:\n  template:\n" + indent(podTemplate, 4), []string{"spec", "template"}},
	"Job":                   {"apiVersion: batch/v1\nkind: Job\nmetadata: {name: shop}\nspec:\n  template:\n" + indent(podTemplate, 4), []string{"spec", "template"}},
	"CronJob":               {"apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: shop}\nspec:\n  schedule: '@hourly'\n  jobTemplate:\n    spec:\n      template:\n" + indent(podTemplate, 8), []string{"spec", "jobTemplate", "spec", "template"}},
	"PodTemplate":           {"apiVersion: v1\nkind: PodTemplate\nmetadata: {name: shop}\ntemplate:\n" + indent(podTemplate, 2), []string{"template"}},
}

func writePolicyFile(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(f, []byte(testPolicyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func inject(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	return run(t, "tollgate", stdin, append([]string{"inject", "-f", "-", "-n", "shop", "--policy-file", writePolicyFile(t), "--sidecar-image", testImage}, args...)...)
}

// expectedPod is the pod of the test template as injection.InjectSidecar injects it.
func expectedPod(t *testing.T) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	if err := yaml.UnmarshalStrict([]byte(podTemplate), pod); err != nil {
		t.Fatal(err)
	}
	policy := &authv1alpha1.AuthPolicy{}
	if err := yaml.UnmarshalStrict([]byte(testPolicyFile), policy); err != nil {
		t.Fatal(err)
	}
	policy.Namespace = "shop"
	if err := injection.InjectSidecar(pod, policy, testImage); err != nil {
		t.Fatal(err)
	}
	return pod
}

// templateAt decodes the pod template at path of the one object in out.
func templateAt(t *testing.T, out string, path []string) *corev1.Pod {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	node := obj
	for _, f := range path {
		node, _ = node[f].(map[string]any)
	}
	b, _ := yaml.Marshal(node)
	pod := &corev1.Pod{}
	if err := yaml.UnmarshalStrict(b, pod); err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
	return pod
}

func TestInjectEveryKindWithAPodTemplate(t *testing.T) {
	want := expectedPod(t)
	for kind, w := range workloads {
		t.Run(kind+" gets the sidecar the webhook injects", func(t *testing.T) {
			out, _, err := inject(t, w.manifest)
			if err != nil {
				t.Fatal(err)
			}
			got := templateAt(t, out, w.path)
			if len(got.Spec.InitContainers) != 1 || got.Spec.InitContainers[0].Name != contract.ContainerName {
				t.Fatalf("no sidecar in:\n%s", out)
			}
			if !equalJSON(t, got.Spec, want.Spec) || !equalJSON(t, got.Annotations, want.Annotations) || !equalJSON(t, got.Labels, want.Labels) {
				t.Errorf("template differs from InjectSidecar's pod:\n%s", out)
			}
		})
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := yaml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := yaml.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

func TestInjectPassesOtherDocumentsThroughByteForByte(t *testing.T) {
	other := `# a comment kept as it is
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings   # trailing comment
data:
  z: "1"
  a: "2"
`
	unannotated := strings.Replace(workloads["Deployment"].manifest, "auth.tollgate.dev/policy: shop-api", "other: annotation", 1) + "\n"
	service := "apiVersion: v1\nkind: Service\nmetadata: {name: shop}\nspec: {ports: [{port: 80, targetPort: 8000}]}\n"
	in := other + "---\n" + unannotated + "---\n" + service
	out, _, err := inject(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("changed:\n%s\nwant:\n%s", out, in)
	}

	t.Run("and only the documents that name a policy change", func(t *testing.T) {
		in := other + "---\n" + workloads["Deployment"].manifest + "\n---\n" + service
		out, _, err := inject(t, in)
		if err != nil {
			t.Fatal(err)
		}
		docs := strings.Split(out, "---\n")
		if len(docs) != 3 || docs[0] != other || docs[2] != service || !strings.Contains(docs[1], contract.ContainerName) {
			t.Errorf("output:\n%s", out)
		}
	})
}

func TestInjectIsIdempotent(t *testing.T) {
	var all []string
	for _, w := range workloads {
		all = append(all, w.manifest)
	}
	all = append(all, "apiVersion: v1\nkind: List\nitems:\n- "+strings.ReplaceAll(workloads["Deployment"].manifest, "\n", "\n  "))
	in := strings.Join(all, "\n---\n")
	once, _, err := inject(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(once, "name: "+contract.ContainerName) != len(all) {
		t.Fatalf("not every object injected:\n%s", once)
	}
	twice, _, err := inject(t, once)
	if err != nil {
		t.Fatal(err)
	}
	if twice != once {
		t.Errorf("a second injection changed the output:\n%s\nafter the first:\n%s", twice, once)
	}
}

func TestInjectRefusesLikeTheWebhook(t *testing.T) {
	hostNetwork := strings.Replace(workloads["Deployment"].manifest, "  containers:", "  hostNetwork: true\n      containers:", 1)
	pod := expectedPod(t)
	pod.Spec = corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "app", Image: "app"}}}
	pod.Annotations = map[string]string{authv1alpha1.PolicyAnnotation: "shop-api"}
	webhookSays := injection.InjectSidecar(pod, &authv1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Name: "shop-api", Namespace: "shop"}}, testImage)
	var refusal *injection.RefusalError
	if !errors.As(webhookSays, &refusal) {
		t.Fatalf("the webhook's function does not refuse hostNetwork: %v", webhookSays)
	}

	for name, tc := range map[string]struct{ in, want string }{
		"a pod on the host's network": {hostNetwork, "Deployment shop/shop: " + refusal.Error()},
		"an unknown policy": {strings.Replace(workloads["Job"].manifest, "policy: shop-api", "policy: nope", 1),
			`Job shop/shop: AuthPolicy "nope" not found in namespace "shop"`},
		"an empty policy name": {strings.Replace(workloads["Pod"].manifest, "policy: shop-api", `policy: ""`, 1), "annotation auth.tollgate.dev/policy is empty"},
	} {
		t.Run(name+" is refused with the webhook's message, and nothing is written", func(t *testing.T) {
			ok := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
			out, _, err := inject(t, ok+"---\n"+tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant it to contain %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("wrote:\n%s", out)
			}
		})
	}
}

func TestInjectHostileInput(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"a scalar":                  {"just text\n", "not a Kubernetes object"},
		"a list of scalars":         {"- 1\n- 2\n", "not a Kubernetes object"},
		"no kind":                   {"apiVersion: v1\nmetadata: {name: x}\n", "not a Kubernetes object"},
		"a bad apiVersion":          {"apiVersion: a/b/c\nkind: Pod\n", "not a Kubernetes object"},
		"broken YAML":               {"apiVersion: v1\nkind: [Pod\n", "document 1"},
		"a spec that is no PodSpec": {"apiVersion: v1\nkind: Pod\nmetadata: {name: x, annotations: {auth.tollgate.dev/policy: shop-api}}\nspec: 42\n", "decoding the pod"},
		"a List with a scalar item": {"apiVersion: v1\nkind: List\nitems: [1]\n", "an item is not an object"},
		"a YAML alias bomb": {"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n",
			"document 1"},
	} {
		t.Run(name+" is an error", func(t *testing.T) {
			out, _, err := inject(t, tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("wrote %q", out)
			}
		})
	}
	t.Run("more than MaxManifestBytes is refused before parsing", func(t *testing.T) {
		m := &ManifestInjector{Namespace: "shop"}
		err := m.InjectManifests(context.Background(), strings.NewReader(strings.Repeat("#", MaxManifestBytes+1)), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestInjectWarnsAboutAnAnnotationOnTheWorkload(t *testing.T) {
	in := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\n  annotations: {auth.tollgate.dev/policy: shop-api}\nspec:\n  template:\n    spec: {containers: [{name: app, image: app}]}\n"
	out, stderr, err := inject(t, in)
	if err != nil || out != in {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(stderr, "Deployment shop/shop carries annotation auth.tollgate.dev/policy, but only pods are injected: put it on its pod template (spec.template.metadata.annotations)") {
		t.Errorf("stderr %q", stderr)
	}
}

func TestInjectNeedsAFileAndAPolicy(t *testing.T) {
	if _, _, err := run(t, "tollgate", "", "inject"); err == nil || !strings.Contains(err.Error(), "-f is required") {
		t.Errorf("err = %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(empty, []byte("apiVersion: v1\nkind: ConfigMap\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "tollgate", "", "inject", "-f", "-", "--policy-file", empty); err == nil || !strings.Contains(err.Error(), "no AuthPolicy in") {
		t.Errorf("err = %v", err)
	}
}

func TestInjectReadsFilesAndJSON(t *testing.T) {
	dir := t.TempDir()
	yamlFile, jsonFile := filepath.Join(dir, "app.yaml"), filepath.Join(dir, "pod.json")
	if err := os.WriteFile(yamlFile, []byte(workloads["Deployment"].manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	podJSON := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{"auth.tollgate.dev/policy":"shop-api"}},"spec":{"containers":[{"name":"app","image":"app","ports":[{"containerPort":8080}]}],"activeDeadlineSeconds":9007199254740993}}`
	if err := os.WriteFile(jsonFile, []byte(podJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "tollgate", "", "inject", "-f", yamlFile, "-f", jsonFile, "-n", "shop", "--policy-file", writePolicyFile(t), "--sidecar-image", testImage)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(out, "---\n")
	if len(docs) != 2 || !strings.Contains(docs[0], "kind: Deployment") || !strings.Contains(docs[1], "kind: Pod") || strings.Count(out, "name: "+contract.ContainerName) != 2 {
		t.Fatalf("output:\n%s", out)
	}
	// Numbers are kept as written, not rounded through float64.
	if !strings.Contains(docs[1], "activeDeadlineSeconds: 9007199254740993") {
		t.Errorf("a large number changed:\n%s", docs[1])
	}
}
