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
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

func newInjectCommand(kube *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	var files, policyFiles []string
	var image string
	cmd := &cobra.Command{
		Use:   "inject -f FILE",
		Short: "Add the tollgate sidecar to the pod templates of manifests, as the webhook would",
		Long: `Add the tollgate sidecar to every pod template that names an AuthPolicy (annotation
auth.tollgate.dev/policy on the pod template), and print the manifests: for GitOps, where
what is applied should be what runs. It runs the injection webhook's own code: the
result is what the webhook makes of the pod at creation, and a pod the webhook would
refuse is refused with the same message (nothing is printed then, exit status 1).

Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs,
CronJobs, PodTemplates and Lists of them are injected; other documents pass through byte
for byte. Injecting twice changes nothing, and the webhook leaves an injected pod as it
is. Changed documents are printed as YAML with sorted keys (their comments are lost).

The policies come from the cluster (the object's namespace, else -n), or, with
--policy-file, from files only: then no cluster is contacted. The sidecar image is
--sidecar-image, else the one the installed manager injects, else this build's.`,
		Example: `  tollgate inject -f deployment.yaml > deployment.injected.yaml
  kustomize build overlays/prod | tollgate inject -f - -n shop
  tollgate inject -f app.yaml --policy-file policy.yaml --sidecar-image registry.example.com/tollgate:v0.1.0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("-f is required: a manifest file, or - for stdin")
			}
			ctx := cmd.Context()
			var reader client.Reader
			namespace := ""
			if kube.Namespace != nil {
				namespace = *kube.Namespace
			}
			if len(policyFiles) > 0 {
				policies, err := readPolicyFiles(policyFiles)
				if err != nil {
					return err
				}
				reader = policies
				if image == "" {
					image = DefaultSidecarImage
				}
			} else {
				k, err := newKubeTarget(kube)
				if err != nil {
					return err
				}
				reader = k.client
				namespace = k.namespace
				if image == "" {
					if image, err = installedSidecarImage(ctx, k.client); err != nil {
						return err
					}
				}
			}
			if namespace == "" {
				namespace = "default"
			}
			m := &ManifestInjector{
				Injector:  injection.NewPodInjector(reader, nil, Scheme(), image),
				Namespace: namespace,
				Warnings:  streams.ErrOut,
			}
			var out bytes.Buffer
			for _, f := range files {
				in, closeIn, err := openManifest(f, streams.In)
				if err != nil {
					return err
				}
				if out.Len() > 0 {
					out.WriteString("---\n")
				}
				err = m.InjectManifests(ctx, in, &out)
				closeIn()
				if err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
			}
			_, err := streams.Out.Write(out.Bytes())
			return err
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file to inject (- for stdin); repeatable")
	cmd.Flags().StringArrayVar(&policyFiles, "policy-file", nil, "read AuthPolicies from this file (YAML, several documents) instead of the cluster; repeatable")
	cmd.Flags().StringVar(&image, "sidecar-image", "", "image of the injected sidecar (default: the manager's, else "+DefaultSidecarImage+")")
	return cmd
}

func openManifest(name string, stdin io.Reader) (io.Reader, func(), error) {
	if name == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// installedSidecarImage is the image the installed manager injects: its --sidecar-image,
// else its own image (as `tollgate manager` decides), else this build's.
func installedSidecarImage(ctx context.Context, c client.Reader) (string, error) {
	deps := &appsv1.DeploymentList{}
	err := c.List(ctx, deps, client.MatchingLabels(ManagerLabels))
	if apierrors.IsForbidden(err) || (err == nil && len(deps.Items) == 0) {
		return DefaultSidecarImage, nil
	}
	if err != nil {
		return "", fmt.Errorf("looking for the tollgate manager (or set --sidecar-image): %w", err)
	}
	for _, ctr := range deps.Items[0].Spec.Template.Spec.Containers {
		if ctr.Name != "manager" {
			continue
		}
		for i, a := range ctr.Args {
			if v, ok := strings.CutPrefix(a, "--sidecar-image="); ok {
				return v, nil
			}
			if a == "--sidecar-image" && i+1 < len(ctr.Args) {
				return ctr.Args[i+1], nil
			}
		}
		return ctr.Image, nil
	}
	return DefaultSidecarImage, nil
}

// ManagerLabels select the manager's Deployment as config/default installs it.
var ManagerLabels = map[string]string{"app.kubernetes.io/name": "tollgate", "app.kubernetes.io/component": "manager"}

// policyFiles are AuthPolicies read from files: a client.Reader for the webhook's handler
// that knows nothing else. A policy without a namespace serves every namespace.
type policyFiles struct {
	client.Reader
	policies []*authv1alpha1.AuthPolicy
}

func readPolicyFiles(names []string) (*policyFiles, error) {
	pf := &policyFiles{}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		docs, err := splitDocuments(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, doc := range docs {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			gv, _ := schema.ParseGroupVersion(tm.APIVersion)
			if gv.Group != authv1alpha1.GroupVersion.Group || tm.Kind != "AuthPolicy" {
				continue
			}
			p := &authv1alpha1.AuthPolicy{}
			if err := yaml.UnmarshalStrict(doc, p); err != nil {
				return nil, fmt.Errorf("%s: AuthPolicy: %w", name, err)
			}
			pf.policies = append(pf.policies, p)
		}
	}
	if len(pf.policies) == 0 {
		return nil, fmt.Errorf("no AuthPolicy in %s", strings.Join(names, ", "))
	}
	return pf, nil
}

func (pf *policyFiles) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	p, ok := obj.(*authv1alpha1.AuthPolicy)
	if !ok {
		return fmt.Errorf("the policy files hold AuthPolicies only, not %T", obj)
	}
	for _, f := range pf.policies {
		if f.Name == key.Name && (f.Namespace == "" || f.Namespace == key.Namespace) {
			f.DeepCopyInto(p)
			p.Namespace = key.Namespace
			return nil
		}
	}
	return apierrors.NewNotFound(authv1alpha1.GroupVersion.WithResource("authpolicies").GroupResource(), key.Name)
}
