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
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

func run(t *testing.T, argv0, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := NewRootCommand(argv0, genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func TestHashPassword(t *testing.T) {
	t.Run("hashes the first line of a piped stdin with cost 12", func(t *testing.T) {
		out, _, err := run(t, "tollgate", "wonderland\nignored\n", "hash-password")
		if err != nil {
			t.Fatal(err)
		}
		hash := strings.TrimSuffix(out, "\n")
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("wonderland")); err != nil {
			t.Errorf("%q is not a hash of the password: %v", hash, err)
		}
		if cost, _ := bcrypt.Cost([]byte(hash)); cost != 12 {
			t.Errorf("cost %d, want 12", cost)
		}
	})
	t.Run("takes a password without a newline and a lower cost", func(t *testing.T) {
		out, _, err := run(t, "tollgate", "builder", "hash-password", "--cost", "4")
		if err != nil {
			t.Fatal(err)
		}
		hash := strings.TrimSpace(out)
		if bcrypt.CompareHashAndPassword([]byte(hash), []byte("builder")) != nil {
			t.Error("wrong hash")
		}
		if cost, _ := bcrypt.Cost([]byte(hash)); cost != 4 {
			t.Errorf("cost %d, want 4", cost)
		}
	})
	for name, tc := range map[string]struct {
		stdin string
		args  []string
		want  string
	}{
		"refuses an empty password":                {"\n", nil, "empty password"},
		"refuses a password bcrypt would truncate": {strings.Repeat("x", 73), nil, "at most 72"},
		"refuses a cost out of bcrypt's range":     {"pw", []string{"--cost", "3"}, "--cost"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := run(t, "tollgate", tc.stdin, append([]string{"hash-password"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "tollgate", "", "version")
	if err != nil || !strings.HasPrefix(out, "tollgate ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: %q, %v", out, err)
	}
}

func TestUsageNamesTheKubectlPlugin(t *testing.T) {
	for argv0, want := range map[string]string{
		"/usr/local/bin/kubectl-tollgate": "kubectl tollgate revoke-key POLICY KID",
		"./tollgate":                      "tollgate revoke-key POLICY KID",
	} {
		out, _, err := run(t, argv0, "", "revoke-key", "--help")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, want) {
			t.Errorf("%s: usage does not say %q:\n%s", argv0, want, out)
		}
		if strings.Contains(argv0, "kubectl") && strings.Contains(out, "\n  tollgate ") {
			t.Errorf("%s: an example still says plain tollgate:\n%s", argv0, out)
		}
	}
}

func TestManagerFlags(t *testing.T) {
	root := NewRootCommand("tollgate", genericiooptions.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	mgr, _, err := root.Find([]string{"manager"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"metrics-bind-address", "health-probe-bind-address", "pprof-bind-address", "leader-elect", "sidecar-image", "webhook-port", "webhook-cert-dir", "cert-mode", "disable-webhook", "webhook-url", "zap-log-level", "zap-devel", "kubeconfig"} {
		if mgr.Flag(name) == nil {
			t.Errorf("manager has no --%s", name)
		}
	}
}

func TestKeysViewComputesStatesByTheClock(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { m := metav1.NewTime(t0.Add(d)); return &m }
	p := &authv1alpha1.AuthPolicy{}
	p.Namespace, p.Name = "shop", "shop-api"
	p.Status.Keys = []authv1alpha1.KeyStatus{
		{KID: "old", Algorithm: "ES256", State: authv1alpha1.KeyActive, CreatedAt: *at(0), ActivatesAt: *at(0), RetiresAt: at(time.Hour), ExpiresAt: at(time.Hour + 15*time.Minute)},
		{KID: "new", Algorithm: "ES256", State: authv1alpha1.KeyNext, CreatedAt: *at(55 * time.Minute), ActivatesAt: *at(time.Hour)},
	}
	// The status was written before the activation; the command runs after it.
	v := keysView(p, t0.Add(time.Hour+time.Second))
	if v.ActiveKeyID != "new" || v.Keys[0].State != authv1alpha1.KeyRetired || v.Keys[1].State != authv1alpha1.KeyActive || v.NextKeyID != "" {
		t.Errorf("view %+v", v)
	}
	v = keysView(p, t0.Add(2*time.Hour))
	if len(v.Keys) != 1 || v.Keys[0].KID != "new" {
		t.Errorf("an expired key is still listed: %+v", v.Keys)
	}
	var out bytes.Buffer
	if err := printKeys(&out, v, "table"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "new   Active   ES256   2026-11-27T14:55:00Z   2026-11-27T15:00:00Z   -         -") {
		t.Errorf("table:\n%s", out.String())
	}
}
