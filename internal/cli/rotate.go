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
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

func newRotateCommand(kube *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate POLICY",
		Short: "Ask for a key rotation now",
		Long: `Ask the operator to rotate an AuthPolicy's signing key now. It sets the annotation
auth.tollgate.dev/rotate-requested-at to the current time; the operator publishes a new
key at once, which starts signing spec.signing.prePublish later. If a new key is already
published and waiting, the request changes nothing.`,
		Example: `  tollgate rotate shop-api -n shop`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := newKubeTarget(kube)
			if err != nil {
				return err
			}
			p, err := k.policy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			now := time.Now().UTC().Format(time.RFC3339Nano)
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
				"annotations": map[string]string{authv1alpha1.RotateRequestedAtAnnotation: now}}})
			if err := k.client.Patch(cmd.Context(), p, client.RawPatch(types.MergePatchType, patch)); err != nil {
				return fmt.Errorf("annotating AuthPolicy %s: %w", p.Key(), err)
			}
			p.Default()
			_, err = fmt.Fprintf(streams.Out, "rotation of AuthPolicy %s requested at %s: a new key is published now and signs %s later (spec.signing.prePublish)\n",
				p.Key(), now, p.Spec.Signing.PrePublish.Duration)
			return err
		},
	}
}
