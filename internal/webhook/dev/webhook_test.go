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

package dev_test

import (
	"context"
	"path/filepath"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tollgate-dev/tollgate/internal/operatortest"
	"github.com/tollgate-dev/tollgate/internal/webhook/dev"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

// The webhook the manager installs itself in local development is the one config/default
// installs in a cluster, clientConfig aside.
func TestTheDevWebhookIsTheInstalledWebhook(t *testing.T) {
	for _, dir := range []string{"webhook", "default"} {
		hooks, err := operatortest.WebhookConfigurations(filepath.Join("..", "..", "..", "config", dir))
		if err != nil {
			t.Fatal(err)
		}
		installed := hooks[0].Webhooks[0]
		dev := injection.Webhook("tollgate-system", installed.ClientConfig)
		if !equality.Semantic.DeepEqual(installed, dev) {
			t.Errorf("config/%s renders\n%+v\nthe manager installs\n%+v", dir, installed, dev)
		}
	}
}

// The dev webhook configuration is put back when someone changes it (a new caBundle, say).
func TestTheDevWebhookConfigurationIsKept(t *testing.T) {
	ctx := context.Background()
	// Point it where the suite's webhook is, so that it works while it exists.
	suite := &admissionregistrationv1.MutatingWebhookConfigurationList{}
	if err := k8s.List(ctx, suite); err != nil || len(suite.Items) == 0 {
		t.Fatalf("listing webhook configurations: %v", err)
	}
	cc := suite.Items[0].Webhooks[0].ClientConfig
	d := &dev.Webhook{Client: k8s, URL: *cc.URL, CABundle: cc.CABundle, OperatorNamespace: "tollgate-system"}
	if err := d.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKey{Name: dev.ConfigurationName}
	t.Cleanup(func() {
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := k8s.Get(ctx, key, cfg); err == nil {
			_ = k8s.Delete(ctx, cfg)
		}
	})
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := k8s.Get(ctx, key, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Webhooks[0].ClientConfig.CABundle = []byte("stale")
	cfg.Webhooks[0].TimeoutSeconds = nil
	if err := k8s.Update(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := d.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Get(ctx, key, cfg); err != nil {
		t.Fatal(err)
	}
	if string(cfg.Webhooks[0].ClientConfig.CABundle) != string(cc.CABundle) || *cfg.Webhooks[0].TimeoutSeconds != 5 {
		t.Errorf("not restored: caBundle %q, timeout %v", cfg.Webhooks[0].ClientConfig.CABundle, cfg.Webhooks[0].TimeoutSeconds)
	}
}
