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
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

// Scheme knows the Kubernetes built-in types and AuthPolicy.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := authv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// kubeTarget is a client plus the namespace the kubectl flags chose.
type kubeTarget struct {
	client    client.Client
	namespace string
}

func newKubeTarget(kube *genericclioptions.ConfigFlags) (*kubeTarget, error) {
	cfg, err := kube.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	ns, _, err := kube.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, err
	}
	return &kubeTarget{client: c, namespace: ns}, nil
}

func (k *kubeTarget) policy(ctx context.Context, name string) (*authv1alpha1.AuthPolicy, error) {
	p := &authv1alpha1.AuthPolicy{}
	err := k.client.Get(ctx, types.NamespacedName{Namespace: k.namespace, Name: name}, p)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("no AuthPolicy %q in namespace %q", name, k.namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("reading AuthPolicy %s/%s: %w", k.namespace, name, err)
	}
	return p, nil
}
