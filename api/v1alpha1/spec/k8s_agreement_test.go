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

package spec

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Package spec stands in for apimachinery's types so that the sidecar need not link them;
// these tests hold the stand-ins to the originals (tests may link apimachinery).

func TestDurationReadsAndWritesAsMetav1Duration(t *testing.T) {
	for _, in := range []string{`"15m"`, `"1h0m0s"`, `"0s"`, `"0"`, `"-5s"`, `"1.5h"`, `"90s"`, `"2562047h"`,
		`""`, `"15"`, `"1d"`, `15`, `null`, `true`, `{}`, `"15m "`, `"+3m"`, `"9223372036854775808ns"`} {
		var ours Duration
		var theirs metav1.Duration
		errOurs := json.Unmarshal([]byte(in), &ours)
		errTheirs := json.Unmarshal([]byte(in), &theirs)
		if (errOurs == nil) != (errTheirs == nil) || ours.Duration != theirs.Duration {
			t.Errorf("%s: spec.Duration read %v (error %v), metav1.Duration read %v (error %v)", in, ours.Duration, errOurs, theirs.Duration, errTheirs)
		}
		if errOurs != nil {
			continue
		}
		a, _ := json.Marshal(ours)
		b, _ := json.Marshal(theirs)
		if string(a) != string(b) {
			t.Errorf("%s: spec.Duration writes %s, metav1.Duration %s", in, a, b)
		}
	}
	for _, d := range []time.Duration{0, time.Second, 90 * time.Minute, 168 * time.Hour, -time.Millisecond, 1} {
		a, _ := json.Marshal(&Duration{d})
		b, _ := json.Marshal(&metav1.Duration{Duration: d})
		if string(a) != string(b) {
			t.Errorf("%v: spec.Duration writes %s, metav1.Duration %s", d, a, b)
		}
	}
}

func jsonKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	sort.Strings(keys)
	return keys
}

func TestObjectMetaHasTheKeysOfMetav1ObjectMeta(t *testing.T) {
	ours, theirs := jsonKeys(reflect.TypeFor[ObjectMeta]()), jsonKeys(reflect.TypeFor[metav1.ObjectMeta]())
	if !reflect.DeepEqual(ours, theirs) {
		t.Errorf("spec.ObjectMeta reads %v, metav1.ObjectMeta %v: a manifest with the missing keys would be refused", ours, theirs)
	}
}

// kubectlGetOutput is a policy as `kubectl get authpolicy -o yaml` prints it.
const kubectlGetOutput = `apiVersion: auth.tollgate.dev/v1alpha1
kind: AuthPolicy
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"auth.tollgate.dev/v1alpha1"}
  creationTimestamp: "2026-12-03T12:00:00Z"
  finalizers: [auth.tollgate.dev/cleanup]
  generation: 3
  labels: {app: shop, tier: 2}
  managedFields:
  - apiVersion: auth.tollgate.dev/v1alpha1
    fieldsType: FieldsV1
    fieldsV1: {f:spec: {}}
    manager: kubectl
    operation: Update
    time: "2026-12-03T12:00:00Z"
  name: shop-api
  namespace: shop
  ownerReferences:
  - {apiVersion: v1, kind: Namespace, name: shop, uid: 6f1c}
  resourceVersion: "4711"
  uid: 0b5e9a3c-1111-2222-3333-444455556666
spec:
  tokens: {accessTokenTTL: 10m, clockSkew: 0s}
  cors: {allowedOrigins: ["https://a.example"], maxAge: 1h}
status:
  observedGeneration: 3
  conditions:
  - {type: Ready, status: "True", reason: KeysReady, message: ok, lastTransitionTime: "2026-12-03T12:00:00Z"}
`

func TestAKubectlGetManifestReads(t *testing.T) {
	var p Policy
	if err := yaml.UnmarshalStrict([]byte(kubectlGetOutput), &p); err != nil {
		t.Fatal(err)
	}
	if p.Name != "shop-api" || p.Namespace != "shop" || p.Generation != 3 || p.Labels["tier"] != "2" {
		t.Errorf("metadata read as %+v", p.ObjectMeta)
	}
	if p.Spec.Tokens.AccessTokenTTL.Duration != 10*time.Minute || p.Spec.CORS.MaxAge.Duration != time.Hour {
		t.Errorf("spec read as %+v", p.Spec)
	}
}
