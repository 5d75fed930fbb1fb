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

package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

// tollgate runs the CLI in this process, as `tollgate ARGS... --kubeconfig <envtest>`.
func tollgate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return tollgateWithInput(t, "", args...)
}

// tollgateWithInput is tollgate with stdin.
func tollgateWithInput(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	return tollgateOn(t, kubeconfig, stdin, args...)
}

// tollgateOn runs the CLI against the cluster of a kubeconfig file.
func tollgateOn(t *testing.T, kubeconfig, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := cli.NewRootCommand("tollgate", genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	root.SetArgs(append(args, "--kubeconfig", kubeconfig))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestCLIKeys(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	create(t, newPolicy(ns, "shop-api"))
	p := waitReady(t, ns, "shop-api")
	kid := p.Status.ActiveKeyID

	t.Run("a table with one row per key", func(t *testing.T) {
		out, err := tollgate(t, "keys", "shop-api", "-n", ns)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "KID STATE ALG CREATED ACTIVATES RETIRES EXPIRES" {
			t.Fatalf("output:\n%s", out)
		}
		row := strings.Fields(lines[1])
		created := p.Status.Keys[0].CreatedAt.UTC().Format(time.RFC3339)
		if len(row) != 7 || row[0] != kid || row[1] != "Active" || row[2] != "ES256" || row[3] != created || row[5] != "-" || row[6] != "-" {
			t.Errorf("row %q", row)
		}
	})
	t.Run("json for scripts", func(t *testing.T) {
		out, err := tollgate(t, "keys", "shop-api", "-n", ns, "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var v cli.KeysView
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if v.Policy != ns+"/shop-api" || v.ActiveKeyID != kid || len(v.Keys) != 1 || v.Keys[0].State != authv1alpha1.KeyActive {
			t.Errorf("%+v", v)
		}
		if strings.Contains(out, "PRIVATE") {
			t.Error("private material in the output")
		}
	})
	t.Run("yaml", func(t *testing.T) {
		out, err := tollgate(t, "keys", "shop-api", "-n", ns, "-o", "yaml")
		if err != nil {
			t.Fatal(err)
		}
		var v cli.KeysView
		if err := yaml.UnmarshalStrict([]byte(out), &v); err != nil || v.ActiveKeyID != kid {
			t.Errorf("%v: %s", err, out)
		}
	})
	t.Run("an unknown policy is an error that names it", func(t *testing.T) {
		_, err := tollgate(t, "keys", "nope", "-n", ns)
		if err == nil || !strings.Contains(err.Error(), `no AuthPolicy "nope"`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a bad output format is refused", func(t *testing.T) {
		if _, err := tollgate(t, "keys", "shop-api", "-n", ns, "-o", "wide"); err == nil {
			t.Error("no error")
		}
	})
}

func TestCLIRotate(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	create(t, newPolicy(ns, "spin"))
	p := waitReady(t, ns, "spin")
	out, err := tollgate(t, "rotate", "spin", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "rotation of AuthPolicy "+ns+"/spin requested") || !strings.Contains(out, "5m0s") {
		t.Errorf("output %q", out)
	}
	testwait.Until(t, 15*time.Second, "a published next key", func() (bool, string) {
		p = getPolicy(t, ns, "spin")
		return p.Status.NextKeyID != "", fmt.Sprintf("%+v", p.Status)
	})
	if p.Annotations[authv1alpha1.RotateRequestedAtAnnotation] == "" {
		t.Error("no rotate-requested-at annotation")
	}
	out, err = tollgate(t, "keys", "spin", "-n", ns)
	if err != nil || !strings.Contains(out, p.Status.NextKeyID) || !strings.Contains(out, "Next") {
		t.Errorf("keys after rotate (%v):\n%s", err, out)
	}
}

func TestCLIRevokeKey(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	create(t, newPolicy(ns, "leaky"))
	p := waitReady(t, ns, "leaky")
	leaked := p.Status.ActiveKeyID

	t.Run("an unknown kid is refused before anything changes", func(t *testing.T) {
		_, err := tollgate(t, "revoke-key", "leaky", "deadbeefdeadbeef", "-n", ns)
		if err == nil || !strings.Contains(err.Error(), "deadbeefdeadbeef") || !strings.Contains(err.Error(), leaked) {
			t.Errorf("err = %v; want it to name the kid and list the keys", err)
		}
	})

	t.Run("revoking the active key replaces it at once and records the reason", func(t *testing.T) {
		out, err := tollgate(t, "revoke-key", "leaky", leaked, "-n", ns, "--reason", "leaked in a CI log", "--wait", "--timeout", "30s")
		if err != nil {
			t.Fatal(err)
		}
		p = getPolicy(t, ns, "leaky")
		if !strings.Contains(out, "key "+leaked+" of AuthPolicy "+ns+"/leaky revoked") || !strings.Contains(out, p.Status.ActiveKeyID) {
			t.Errorf("output %q", out)
		}
		_, ks := getSecret(t, ns, "leaky")
		if ks.Lookup(leaked) != nil {
			t.Fatal("the revoked key is still in the Secret")
		}
		if a := ks.Active(time.Now()); a == nil || a.KID != p.Status.ActiveKeyID {
			t.Errorf("no new active key in the Secret: %+v", ks.Keys)
		}
		if _, pending := p.Annotations[authv1alpha1.RevokeKeysAnnotation]; pending {
			t.Errorf("the request is still on the policy: %v", p.Annotations)
		}
		secret := &corev1.Secret{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "leaky-signing-keys"}, secret); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(secret.Annotations["auth.tollgate.dev/revoked-keys"], leaked) {
			t.Errorf("the Secret does not record the revocation: %v", secret.Annotations)
		}
		waitForEvent(t, ns, "leaky", "Warning", "KeyRevoked", leaked, "reason: leaked in a CI log")
		waitForEvent(t, ns, "leaky", "Warning", "KeyCreated", p.Status.ActiveKeyID, "no pre-publication")
	})

	t.Run("a revoke request for a key that is gone is dropped with a Warning", func(t *testing.T) {
		p = getPolicy(t, ns, "leaky")
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[authv1alpha1.RevokeKeysAnnotation] = `{"0123456789abcdef": "typo"}`
		if err := k8s.Update(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		waitForEvent(t, ns, "leaky", "Warning", "RevokeRequestIgnored", "0123456789abcdef")
		testwait.Until(t, 15*time.Second, "the request taken off the policy", func() (bool, string) {
			p = getPolicy(t, ns, "leaky")
			_, pending := p.Annotations[authv1alpha1.RevokeKeysAnnotation]
			return !pending, fmt.Sprint(p.Annotations)
		})
	})
}

func TestCLIAsAKubectlPlugin(t *testing.T) {
	var out bytes.Buffer
	root := cli.NewRootCommand("/usr/local/bin/kubectl-tollgate", genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	root.SetArgs([]string{"keys", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "kubectl tollgate keys POLICY") || !strings.Contains(out.String(), "--kubeconfig") || !strings.Contains(out.String(), "-n, --namespace") {
		t.Errorf("help:\n%s", out.String())
	}
}

// TestSamples applies config/samples and checks that the sample policy becomes Ready and
// that the demo users' hashes match the passwords the sample documents.
func TestSamples(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	users := &corev1.Secret{}
	readYAML(t, "users_secret.yaml", users)
	usersFile := users.StringData["users"]
	users.Namespace = ns
	create(t, users)
	policy := &authv1alpha1.AuthPolicy{}
	readYAML(t, "auth_v1alpha1_authpolicy.yaml", policy)
	policy.Namespace = ns
	create(t, policy)
	waitReady(t, ns, policy.Name)

	var entries []struct {
		Email        string `json:"email"`
		ID           string `json:"id"`
		Role         string `json:"role"`
		PasswordHash string `json:"passwordHash"`
	}
	if err := yaml.UnmarshalStrict([]byte(usersFile), &entries); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{"alice@example.com": {"wonderland", "admin"}, "bob@example.com": {"builder", "clerk"}}
	for _, e := range entries {
		w, ok := want[e.Email]
		if !ok {
			t.Errorf("undocumented user %s", e.Email)
			continue
		}
		if err := bcrypt.CompareHashAndPassword([]byte(e.PasswordHash), []byte(w[0])); err != nil || e.Role != w[1] {
			t.Errorf("%s: hash does not match %q (%v) or role %q != %q", e.Email, w[0], err, e.Role, w[1])
		}
		delete(want, e.Email)
	}
	if len(want) > 0 {
		t.Errorf("users missing from the sample: %v", want)
	}
	if policy.Spec.Login.UsersSecretRef == nil || policy.Spec.Login.UsersSecretRef.Name != users.Name {
		t.Errorf("the sample policy does not use the sample users Secret")
	}
}

func readYAML(t *testing.T, name string, into any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
