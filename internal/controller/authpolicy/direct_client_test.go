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

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/controller/unprotected"
)

// directClient reads the API server, past the cache, for a reconciler a test runs by
// hand. The API server has no unprotected.PolicyIndex, which the manager's cache serves
// the reconciler: a pod list by that index lists the namespace and keeps the pods that
// name the policy, as the index would.
type directClient struct{ client.Client }

func (c directClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	pods, isPods := list.(*corev1.PodList)
	if lo.FieldSelector == nil || !isPods {
		return c.Client.List(ctx, list, opts...)
	}
	policy, ok := lo.FieldSelector.RequiresExactMatch(unprotected.PolicyIndex)
	if !ok {
		return c.Client.List(ctx, list, opts...)
	}
	all := &corev1.PodList{}
	if err := c.Client.List(ctx, all, client.InNamespace(lo.Namespace)); err != nil {
		return err
	}
	pods.Items = nil
	for _, p := range all.Items {
		if p.Annotations[authv1alpha1.PolicyAnnotation] == policy {
			pods.Items = append(pods.Items, p)
		}
	}
	return nil
}
