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
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/controller/unprotected"
)

// CacheOptions restricts the manager's cache of Secrets and ConfigMaps to the ones tollgate
// owns, so that the operator's memory does not grow with the cluster's Secrets, reduces
// pods to the little the unprotected-pod report reads, and drops managed fields, which the
// operator never reads.
func CacheOptions() cache.Options {
	owned := labels.SelectorFromSet(labels.Set{authv1alpha1.ManagedByLabel: authv1alpha1.ManagedByValue})
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:     {Label: owned},
			&corev1.ConfigMap{}:  {Label: owned},
			&appsv1.Deployment{}: {Label: owned},
			&corev1.Service{}:    {Label: owned},
			// Every pod, reduced to what the unprotected-pod report reads.
			&corev1.Pod{}: {Transform: unprotected.StripPod},
		},
		DefaultTransform: cache.TransformStripManagedFields(),
	}
}
