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
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testwait"

	"github.com/tollgate-dev/tollgate/internal/secretvolume"
	"github.com/tollgate-dev/tollgate/internal/testproc"
)

// The binary follows its policy file through the kubelet's ConfigMap swap, without a restart.
func TestSidecarBinaryReloadsItsPolicy(t *testing.T) {
	vol := secretvolume.New(t.TempDir())
	write := func(gen int, publicRoute string) {
		t.Helper()
		doc := fmt.Sprintf("apiVersion: auth.tollgate.dev/v1alpha1\nkind: AuthPolicy\nmetadata: {name: shop-api, namespace: shop, generation: %d}\nspec:\n  routes:\n  - %s\n", gen, publicRoute)
		if err := vol.Write(map[string][]byte{"policy.yaml": []byte(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	write(1, "{pathPrefix: /public, public: true}")
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hello") }))
	defer app.Close()

	addr, ops := testwait.FreeAddr(t), testwait.FreeAddr(t)
	p := testproc.Start(t, buildSidecar(t), "http://"+ops+"/healthz",
		"--policy", filepath.Join(vol.Dir(), "policy.yaml"), "--upstream", app.URL, "--reload-interval", "20ms",
		"--listen", addr, "--metrics-listen", ops, "--log-format", "text")
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("http://" + addr + "/public/x"); code != http.StatusOK {
		t.Fatalf("a public route answers %d before the change", code)
	}

	write(2, "{pathPrefix: /public, roles: [admin]}")
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := get("http://" + addr + "/public/x")
		if code == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the route is still open (%d) 10s after the policy changed:\n%s", code, p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, body := get("http://" + ops + "/readyz"); !strings.Contains(body, `"generation":2`) {
		t.Errorf("readyz does not name generation 2: %s", body)
	}
	if _, body := get("http://" + ops + "/metrics"); !strings.Contains(body, "tollgate_policy_generation 2") ||
		!strings.Contains(body, `tollgate_reloads_total{file="policy",result="ok"} 1`) {
		t.Errorf("metrics do not show the reload of generation 2")
	}
	if !p.LogsContain("policy reloaded", time.Second) {
		t.Errorf("no log line for the reload:\n%s", p.Logs())
	}
}
