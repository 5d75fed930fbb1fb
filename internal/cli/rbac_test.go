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
	"context"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

// The manager's ClusterRole, as config/default installs it, lets it write its own webhook
// configuration and no other, and create none: a manager that could would hold every pod
// of the cluster.
func TestTheManagerMayWriteOnlyItsOwnWebhookConfiguration(t *testing.T) {
	cluster(t)
	ctx := context.Background()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join("..", "..", "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	var installed string
	for _, r := range res.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r.GetKind() == "ClusterRole" && r.GetName() == "tollgate-manager-role":
			if err := yaml.Unmarshal(doc, role); err != nil {
				t.Fatal(err)
			}
		case r.GetKind() == "MutatingWebhookConfiguration":
			installed = r.GetName()
		}
	}
	if installed != injection.WebhookConfigurationName {
		t.Fatalf("config/default installs webhook configuration %q, the manager writes %q", installed, injection.WebhookConfigurationName)
	}
	if len(role.Rules) == 0 {
		t.Fatal("config/default renders no tollgate-manager-role")
	}

	// The role under a name of its own, bound to a user of its own.
	user := "tollgate-test-manager"
	role.ObjectMeta = metav1.ObjectMeta{GenerateName: "tollgate-test-manager-"}
	create(t, role)
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "tollgate-test-manager-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	create(t, binding)
	own := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: injection.WebhookConfigurationName}}
	other := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses-webhooks"}}
	create(t, own)
	create(t, other)
	t.Cleanup(func() {
		for _, o := range []client.Object{binding, role, own, other} {
			_ = k8s.Delete(ctx, o)
		}
	})

	as := rest.CopyConfig(cfg)
	as.Impersonate = rest.ImpersonationConfig{UserName: user}
	manager, err := client.New(as, client.Options{Scheme: cli.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	got := &admissionregistrationv1.MutatingWebhookConfiguration{}
	// The authorizer learns of the binding through its informers.
	testwait.Until(t, 30*time.Second, "the role to take effect", func() (bool, string) {
		err := manager.Get(ctx, client.ObjectKeyFromObject(own), got)
		return err == nil, "get: " + errString(err)
	})
	got.Labels = map[string]string{"example.com/ca": "injected"}
	if err := manager.Update(ctx, got); err != nil {
		t.Errorf("updating its own webhook configuration: %v", err)
	}
	if err := manager.List(ctx, &admissionregistrationv1.MutatingWebhookConfigurationList{}); err != nil {
		t.Errorf("listing webhook configurations (cert-controller's cache does): %v", err)
	}

	theirs := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(other), theirs); err != nil {
		t.Fatal(err)
	}
	theirs.Labels = map[string]string{"example.com/taken": "over"}
	for what, err := range map[string]error{
		"update another webhook configuration": manager.Update(ctx, theirs),
		"create a webhook configuration": manager.Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "tollgate-test-"},
		}),
		"delete its own webhook configuration": manager.Delete(ctx, got),
	} {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: got %v, want Forbidden", what, err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
