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

package authpolicy_test

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/keyset"
)

func TestANewPolicyGetsKeysConfigAndStatus(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	create(t, newPolicy(ns, "shop-api", func(p *authv1alpha1.AuthPolicy) {
		p.Spec.Routes = []authv1alpha1.Route{{PathPrefix: "/public", Public: true}}
	}))
	p := waitReady(t, ns, "shop-api")

	secret, ks := getSecret(t, ns, "shop-api")
	checkOwnedBy(t, secret, p)
	now := time.Now()
	if len(ks.Keys) != 1 || ks.Keys[0].State(now) != keyset.StateActive || ks.Keys[0].Algorithm != keyset.ES256 {
		t.Fatalf("keyset %+v: want one active ES256 key", ks.Keys)
	}
	key := ks.Keys[0]

	t.Run("the JWKS holds the public half of the key", func(t *testing.T) {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(secret.Data["jwks.json"], &set); err != nil {
			t.Fatal(err)
		}
		if len(set.Keys) != 1 || set.Keys[0].KeyID != key.KID || set.Keys[0].Algorithm != "ES256" || set.Keys[0].Use != "sig" {
			t.Fatalf("jwks.json %s", secret.Data["jwks.json"])
		}
		if !set.Keys[0].IsPublic() {
			t.Error("jwks.json holds private material")
		}
		pub, ok := set.Keys[0].Key.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(key.VerificationKey()) {
			t.Error("the JWKS key is not the public half of the signing key")
		}
		if strings.Contains(string(secret.Data["jwks.json"]), `"d"`) {
			t.Error("jwks.json carries a private exponent")
		}
	})

	t.Run("the ConfigMap holds the defaulted policy the sidecar reads", func(t *testing.T) {
		cm := &corev1.ConfigMap{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "shop-api-sidecar"}, cm); err != nil {
			t.Fatal(err)
		}
		checkOwnedBy(t, cm, p)
		var got authv1alpha1.AuthPolicy
		if err := yaml.UnmarshalStrict([]byte(cm.Data["policy.yaml"]), &got); err != nil {
			t.Fatalf("policy.yaml: %v\n%s", err, cm.Data["policy.yaml"])
		}
		if got.APIVersion != "auth.tollgate.dev/v1alpha1" || got.Kind != "AuthPolicy" || got.Name != "shop-api" || got.Namespace != ns {
			t.Errorf("policy.yaml header: %+v %+v", got.TypeMeta, got.ObjectMeta)
		}
		want := p.DeepCopy()
		want.Default()
		if got.Spec.Issuer != "https://shop-api."+ns+".svc" || !slices.Equal(got.Spec.Audiences, []string{"shop-api"}) {
			t.Errorf("issuer %q, audiences %v: not derived from name and namespace", got.Spec.Issuer, got.Spec.Audiences)
		}
		wantYAML, _ := yaml.Marshal(want.Spec)
		gotYAML, _ := yaml.Marshal(got.Spec)
		if string(wantYAML) != string(gotYAML) {
			t.Errorf("policy.yaml spec:\n%s\nwant the defaulted spec:\n%s", gotYAML, wantYAML)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("policy.yaml does not validate: %v", err)
		}
	})

	t.Run("the status mirrors the Secret", func(t *testing.T) {
		st := p.Status
		if st.ActiveKeyID != key.KID || st.NextKeyID != "" || st.KeyCount != 1 || len(st.Keys) != 1 {
			t.Fatalf("status %+v", st)
		}
		k := st.Keys[0]
		if k.KID != key.KID || k.State != authv1alpha1.KeyActive || k.Algorithm != "ES256" ||
			!k.ActivatesAt.Time.Equal(key.ActivatesAt) || !k.CreatedAt.Time.Equal(key.CreatedAt) || k.RetiresAt != nil {
			t.Errorf("status key %+v, Secret key %+v", k, key)
		}
		if !st.LastRotationTime.Time.Equal(key.ActivatesAt) || !st.NextRotationTime.Time.Equal(key.ActivatesAt.Add(24*time.Hour)) {
			t.Errorf("last rotation %s, next rotation %s; key activated %s", st.LastRotationTime, st.NextRotationTime, key.ActivatesAt)
		}
		c := meta.FindStatusCondition(st.Conditions, "Ready")
		if c.Reason != "KeysReady" || !strings.Contains(c.Message, key.KID) {
			t.Errorf("Ready condition %+v", c)
		}
	})

	t.Run("the creation and activation are Events", func(t *testing.T) {
		waitForEvent(t, ns, "shop-api", "Normal", "KeyCreated", key.KID)
		waitForEvent(t, ns, "shop-api", "Normal", "KeyActivated", key.KID)
	})

	t.Run("kubectl get shows the printer columns with values", func(t *testing.T) {
		table := getTable(t, ns)
		var names []string
		for _, c := range table.ColumnDefinitions {
			names = append(names, c.Name)
		}
		if want := []string{"Name", "Algorithm", "Active Key", "Next Rotation", "Ready", "Age", "Last Rotation", "Keys", "Pods Current"}; !slices.Equal(names, want) {
			t.Fatalf("columns %v, want %v", names, want)
		}
		if table.ColumnDefinitions[6].Priority != 1 || table.ColumnDefinitions[7].Priority != 1 {
			t.Error("Last Rotation and Keys should show only with -o wide (priority 1)")
		}
		if len(table.Rows) != 1 {
			t.Fatalf("%d rows", len(table.Rows))
		}
		cells := table.Rows[0].Cells
		if cells[0] != "shop-api" || cells[1] != "ES256" || cells[2] != key.KID || cells[4] != "True" || cells[3] == nil || cells[7] != float64(1) {
			t.Errorf("row %v", cells)
		}
	})
}

// getTable asks the API server for what `kubectl get authpolicies` prints.
func getTable(t *testing.T, ns string) *metav1.Table {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	body, err := cs.CoreV1().RESTClient().Get().
		AbsPath("/apis/auth.tollgate.dev/v1alpha1/namespaces", ns, "authpolicies").
		SetHeader("Accept", "application/json;as=Table;g=meta.k8s.io;v=v1").
		DoRaw(context.Background())
	if err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	table := &metav1.Table{}
	if err := json.Unmarshal(body, table); err != nil || table.Kind != "Table" {
		t.Fatalf("not a Table (%v): %s", err, body)
	}
	return table
}

func TestInvalidManifestsAreRefusedWithTheFieldNamed(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	d := func(s string) *authv1alpha1.Duration {
		v, _ := time.ParseDuration(s)
		return &authv1alpha1.Duration{Duration: v}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*authv1alpha1.AuthPolicy)
		want   []string // substrings of the error; empty: accepted
	}{
		{"prePublish as long as the rotation interval", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Signing.RotationInterval, p.Spec.Signing.PrePublish = d("1m"), d("1m")
		}, []string{"spec.signing", "prePublish must be shorter than spec.signing.rotationInterval"}},
		{"a rotation interval of 30s", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Signing.RotationInterval, p.Spec.Signing.PrePublish = d("30s"), d("10s")
		}, []string{"spec.signing.rotationInterval", "between 1m and 8760h"}},
		{"a prePublish of 5s", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Signing.PrePublish = d("5s")
		}, []string{"spec.signing.prePublish", "between 10s and 720h"}},
		{"an unknown algorithm", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Signing.Algorithm = "HS512"
		}, []string{"spec.signing.algorithm", "Unsupported value", "ES256"}},
		{"both usersSecretRef and verifyURL", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Login.UsersSecretRef = &authv1alpha1.LocalObjectReference{Name: "users"}
			p.Spec.Login.VerifyURL = "http://app:8080/verify"
		}, []string{"spec.login", "at most one of spec.login.usersSecretRef and spec.login.verifyURL"}},
		{"a public route with roles", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Routes = []authv1alpha1.Route{{PathPrefix: "/x", Public: true, Roles: []string{"admin"}}}
		}, []string{"spec.routes[0]", "a public route takes no roles"}},
		{"a route with both path and pathPrefix", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Routes = []authv1alpha1.Route{{Path: "/x", PathPrefix: "/y"}}
		}, []string{"spec.routes[0]", "exactly one of path and pathPrefix"}},
		{"a route with neither path nor pathPrefix", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Routes = []authv1alpha1.Route{{Roles: []string{"admin"}}}
		}, []string{"spec.routes[0]", "exactly one of path and pathPrefix"}},
		{"an access token TTL of 25h", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Tokens.AccessTokenTTL = d("25h")
		}, []string{"spec.tokens.accessTokenTTL"}},
		{"a refresh reuse interval of 61s", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Tokens.RefreshReuseInterval = d("61s")
		}, []string{"spec.tokens.refreshReuseInterval", "between 0s and 60s"}},
		{"a refresh reuse interval of 60s", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Tokens.RefreshReuseInterval = d("60s")
		}, nil},
		{"the sidecar on the app's port", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.Port, p.Spec.Sidecar.UpstreamPort = 8080, 8080
		}, []string{"spec.sidecar", "must differ"}},
		{"an unknown methodOverride", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.MethodOverride = "Forward"
		}, []string{"spec.sidecar.methodOverride", "Unsupported value", "Strip", "Evaluate"}},
		{"methodOverride Evaluate", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.MethodOverride = authv1alpha1.MethodOverrideEvaluate
		}, nil},
		{"an unknown upstreamProtocol", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.UpstreamProtocol = "h2"
		}, []string{"spec.sidecar.upstreamProtocol", "Unsupported value", "http1", "h2c"}},
		{"upstreamProtocol h2c", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.UpstreamProtocol = authv1alpha1.UpstreamH2C
		}, nil},
		{"a name too long for its Secret's label", func(p *authv1alpha1.AuthPolicy) {
			p.Name = strings.Repeat("a", 64)
		}, []string{"metadata.name must be at most 63 characters"}},
		{"a trusted proxy that is a hostname", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.TrustedProxies = []string{"10.0.0.0/8", "ingress.example"}
		}, []string{"spec.sidecar.trustedProxies", "must be an IP address or a CIDR"}},
		{"a trusted proxy in IPv4-mapped IPv6", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.TrustedProxies = []string{"::ffff:10.0.0.0/104"}
		}, []string{"spec.sidecar.trustedProxies", "must be an IP address or a CIDR"}},
		{"trusted proxies as CIDRs and addresses", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7", "fd00::/8", "2001:db8::1"}
		}, nil},
		{"a tracing endpoint with credentials", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.Tracing = &authv1alpha1.SidecarTracing{OTLPEndpoint: "http://user:pass@collector:4318"}
		}, []string{"spec.sidecar.tracing.otlpEndpoint"}},
		{"a tracing endpoint with a query", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.Tracing = &authv1alpha1.SidecarTracing{OTLPEndpoint: "http://collector:4318/?key=1"}
		}, []string{"spec.sidecar.tracing.otlpEndpoint"}},
		{"a gRPC tracing endpoint", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.Tracing = &authv1alpha1.SidecarTracing{OTLPEndpoint: "grpc://collector:4317"}
		}, []string{"spec.sidecar.tracing.otlpEndpoint"}},
		// Each of these once passed the schema and made every injected sidecar exit at
		// start: its exporter could not parse the URL.
		{"a tracing endpoint with a broken percent escape", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.Tracing = &authv1alpha1.SidecarTracing{OTLPEndpoint: "http://collector:4318/%zz"}
		}, []string{"spec.sidecar.tracing.otlpEndpoint"}},
		{"a tracing endpoint whose port is not a number", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.Tracing = &authv1alpha1.SidecarTracing{OTLPEndpoint: "http://collector:otlp"}
		}, []string{"spec.sidecar.tracing.otlpEndpoint"}},
		{"a tracing endpoint in brackets that is no IPv6 address", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.Tracing = &authv1alpha1.SidecarTracing{OTLPEndpoint: "http://[0]:4318"}
		}, []string{"spec.sidecar.tracing.otlpEndpoint"}},
		{"a tracing endpoint at an IPv6 address", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.Tracing = &authv1alpha1.SidecarTracing{OTLPEndpoint: "http://[fd00::7]:4318/v%2F1"}
		}, nil},
		{"a tracing endpoint and its headers Secret", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Sidecar.Tracing = &authv1alpha1.SidecarTracing{OTLPEndpoint: "https://otel-collector.observability:4318/otlp",
				HeadersSecretRef: &authv1alpha1.SecretKeySelector{Name: "otlp", Key: "headers"}}
		}, nil},
		{"the shortest schedule: rotation 1m, prePublish 10s", func(p *authv1alpha1.AuthPolicy) {
			p.Spec.Signing.RotationInterval, p.Spec.Signing.PrePublish = d("1m"), d("10s")
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPolicy(ns, "p-"+fmt.Sprint(time.Now().UnixNano()), tc.mutate)
			err := k8s.Create(context.Background(), p)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestRotationOnDemand(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	create(t, newPolicy(ns, "rotating", fastRotation))
	p := waitReady(t, ns, "rotating")
	k1 := p.Status.ActiveKeyID

	p.Annotations = map[string]string{authv1alpha1.RotateRequestedAtAnnotation: time.Now().Format(time.RFC3339Nano)}
	if err := k8s.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	requested := time.Now()

	var k2 string
	testwait.Until(t, 15*time.Second, "a published next key", func() (bool, string) {
		p = getPolicy(t, ns, "rotating")
		k2 = p.Status.NextKeyID
		return k2 != "", fmt.Sprintf("status %+v", p.Status)
	})
	secret, ks := getSecret(t, ns, "rotating")
	next := ks.Lookup(k2)
	if next == nil || len(ks.Keys) != 2 {
		t.Fatalf("Secret keys %+v, want the active key and %s", ks.Keys, k2)
	}
	if pre := next.ActivatesAt.Sub(next.CreatedAt); pre < 10*time.Second {
		t.Errorf("next key pre-published for %s, want at least prePublish (10s)", pre)
	}
	if !strings.Contains(string(secret.Data["jwks.json"]), k2) || !strings.Contains(string(secret.Data["jwks.json"]), k1) {
		t.Errorf("jwks.json does not publish both keys: %s", secret.Data["jwks.json"])
	}
	if secret.Annotations["auth.tollgate.dev/rotate-handled"] != p.Annotations[authv1alpha1.RotateRequestedAtAnnotation] {
		t.Errorf("the Secret does not remember the handled request: %v", secret.Annotations)
	}

	// Nothing pokes the operator from here on: each step comes from its own requeue.
	testwait.Until(t, 20*time.Second, "the next key active and the old one retired", func() (bool, string) {
		p = getPolicy(t, ns, "rotating")
		return p.Status.ActiveKeyID == k2 && stateOf(p, k1) == authv1alpha1.KeyRetired, fmt.Sprintf("status %+v", p.Status.Keys)
	})
	if time.Now().Before(next.ActivatesAt) {
		t.Errorf("the status says %s is active before its activation at %s", k2, next.ActivatesAt)
	}
	if took := time.Since(requested); took < 9*time.Second {
		t.Errorf("the new key was active %s after the request, before prePublish (10s)", took)
	}
	testwait.Until(t, 20*time.Second, "the retired key removed after its expiry", func() (bool, string) {
		p = getPolicy(t, ns, "rotating")
		return stateOf(p, k1) == "" && p.Status.KeyCount == 1, fmt.Sprintf("status %+v", p.Status.Keys)
	})
	if _, ks := getSecret(t, ns, "rotating"); ks.Lookup(k1) != nil || len(ks.Keys) != 1 {
		t.Errorf("the Secret still holds %s: %+v", k1, ks.Keys)
	}
	waitForEvent(t, ns, "rotating", "Normal", "KeyCreated", k2, "rotation requested")
	waitForEvent(t, ns, "rotating", "Normal", "KeyActivated", k2)
	waitForEvent(t, ns, "rotating", "Normal", "KeyRetired", k1)
	waitForEvent(t, ns, "rotating", "Normal", "KeyRemoved", k1)
}

func stateOf(p *authv1alpha1.AuthPolicy, kid string) authv1alpha1.KeyState {
	for _, k := range p.Status.Keys {
		if k.KID == kid {
			return k.State
		}
	}
	return ""
}

func TestAnAlgorithmChangeRotatesWithPrePublication(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	create(t, newPolicy(ns, "algo", fastRotation))
	p := waitReady(t, ns, "algo")
	k1 := p.Status.ActiveKeyID
	p.Spec.Signing.Algorithm = authv1alpha1.EdDSA
	if err := k8s.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	p = waitReady(t, ns, "algo")
	var next *authv1alpha1.KeyStatus
	for i, k := range p.Status.Keys {
		if k.KID == p.Status.NextKeyID {
			next = &p.Status.Keys[i]
		}
	}
	if next == nil || next.Algorithm != authv1alpha1.EdDSA || p.Status.ActiveKeyID != k1 {
		t.Fatalf("status %+v: want %s active and a published EdDSA key next", p.Status, k1)
	}
	if pre := next.ActivatesAt.Sub(next.CreatedAt.Time); pre < 10*time.Second {
		t.Errorf("the EdDSA key is pre-published for %s only", pre)
	}
	waitForEvent(t, ns, "algo", "Normal", "KeyCreated", next.KID, "algorithm changed from ES256 to EdDSA")
}

func TestADeletedSecretIsRecreated(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	create(t, newPolicy(ns, "lost"))
	p := waitReady(t, ns, "lost")
	old := p.Status.ActiveKeyID
	secret, _ := getSecret(t, ns, "lost")
	if err := k8s.Delete(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 30*time.Second, "a new Secret with a new key", func() (bool, string) {
		s := &corev1.Secret{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "lost-signing-keys"}, s); err != nil {
			return false, err.Error()
		}
		ks, err := keyset.Parse(s.Data["keyset.json"])
		if err != nil {
			return false, err.Error()
		}
		return ks.Lookup(old) == nil && ks.Active(time.Now()) != nil, "still the old key"
	})
	p = waitReady(t, ns, "lost")
	if p.Status.ActiveKeyID == old || p.Status.KeyCount != 1 {
		t.Errorf("status %+v still mirrors the lost key %s", p.Status, old)
	}
	secret, _ = getSecret(t, ns, "lost")
	checkOwnedBy(t, secret, p)
	waitForEvent(t, ns, "lost", "Warning", "SecretRecreated", old, "no longer validate")
}

func TestACorruptSecretIsRepaired(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		corrupt func(*corev1.Secret)
		reason  string // in the Warning
	}{
		{"garbage in keyset.json", func(s *corev1.Secret) { s.Data["keyset.json"] = []byte("{not json") }, "syntax error"},
		{"a key without private material", func(s *corev1.Secret) {
			s.Data["keyset.json"] = []byte(strings.Replace(string(s.Data["keyset.json"]), "BEGIN PRIVATE KEY", "BEGIN NOTHING", 1))
		}, "privateKey"},
		{"no keyset.json at all", func(s *corev1.Secret) { delete(s.Data, "keyset.json") }, "no keyset.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			create(t, newPolicy(ns, "corrupt"))
			p := waitReady(t, ns, "corrupt")
			old := p.Status.ActiveKeyID

			// Watch from here: the Ready=False the repair reports is followed at once by the
			// next pass's Ready=True, so a poll could miss it.
			w, err := k8s.Watch(context.Background(), &authv1alpha1.AuthPolicyList{}, client.InNamespace(ns), client.MatchingFields{"metadata.name": "corrupt"})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()

			secret, _ := getSecret(t, ns, "corrupt")
			tc.corrupt(secret)
			if err := k8s.Update(context.Background(), secret); err != nil {
				t.Fatal(err)
			}
			sawInvalid := waitForCondition(t, w, metav1.ConditionFalse, "KeysetInvalid")
			if !strings.Contains(sawInvalid.Message, tc.reason) {
				t.Errorf("Ready=False message %q does not say what was wrong (%q)", sawInvalid.Message, tc.reason)
			}
			testwait.Until(t, 30*time.Second, "a repaired Secret", func() (bool, string) {
				s := &corev1.Secret{}
				if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "corrupt-signing-keys"}, s); err != nil {
					return false, err.Error()
				}
				ks, err := keyset.Parse(s.Data["keyset.json"])
				if err != nil {
					return false, err.Error()
				}
				return ks.Lookup(old) == nil && ks.Active(time.Now()) != nil && len(s.Data["jwks.json"]) > 0, "not yet"
			})
			p = waitReady(t, ns, "corrupt")
			if p.Status.ActiveKeyID == old {
				t.Errorf("status still names key %s", old)
			}
			waitForEvent(t, ns, "corrupt", "Warning", "KeysetInvalid", tc.reason, "fresh keyset")
		})
	}
}

func waitForCondition(t *testing.T, w watch.Interface, status metav1.ConditionStatus, reason string) metav1.Condition {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed")
			}
			p, ok := ev.Object.(*authv1alpha1.AuthPolicy)
			if !ok {
				continue
			}
			if c := meta.FindStatusCondition(p.Status.Conditions, "Ready"); c != nil && c.Status == status && c.Reason == reason {
				return *c
			}
		case <-timeout:
			t.Fatalf("no Ready=%s with reason %s within 30s", status, reason)
		}
	}
}

func TestDeletingAPolicyLeavesNothingBehindButGarbage(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	create(t, newPolicy(ns, "gone"))
	p := waitReady(t, ns, "gone")
	secret, _ := getSecret(t, ns, "gone")
	checkOwnedBy(t, secret, p)
	if err := k8s.Delete(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	// envtest runs no garbage collector: the owner references checked above are what makes
	// the cluster's collector delete the Secret and ConfigMap. The operator must not fight
	// the deletion by recreating anything or failing.
	time.Sleep(2 * time.Second)
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "gone-signing-keys"}, s); err != nil {
		t.Fatal(err)
	}
	if s.ResourceVersion != secret.ResourceVersion {
		t.Errorf("the Secret of a deleted policy was rewritten")
	}
}
