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
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/util/retry"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
)

func newRevokeKeyCommand(kube *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	var reason string
	var waitFor bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "revoke-key POLICY KID",
		Short: "Remove a compromised signing key at once",
		Long: `Remove a compromised signing key from an AuthPolicy at once: every token it signed
stops validating as soon as the sidecars see the keys Secret change.

The command adds the kid and the reason to the policy's annotation
auth.tollgate.dev/revoke-keys (a JSON object from kid to reason). The operator removes
the key from the keys Secret, records the reason in a KeyRevoked Event
(kubectl describe authpolicy POLICY), and takes the kid off the annotation.

Revoking the key that signs now makes the published next key sign at once or, when
there is none, a new key that could not be published beforehand.`,
		Example: `  tollgate revoke-key shop-api 3f2a9c0e1b2d4f6a -n shop --reason "leaked in a CI log" --wait`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, kid := args[0], args[1]
			k, err := newKubeTarget(kube)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			p, err := k.policy(ctx, name)
			if err != nil {
				return err
			}
			if !hasKey(p, kid) {
				return fmt.Errorf("AuthPolicy %s has no key %q; its keys: %s", p.Key(), kid, strings.Join(kids(p), ", "))
			}
			err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
				p, err := k.policy(ctx, name)
				if err != nil {
					return err
				}
				reqs, err := authv1alpha1.ParseRevokeRequests(p.Annotations[authv1alpha1.RevokeKeysAnnotation])
				if err != nil {
					reqs = map[string]string{} // unreadable: the operator has reported it; replace it
				}
				reqs[kid] = reason
				if p.Annotations == nil {
					p.Annotations = map[string]string{}
				}
				p.Annotations[authv1alpha1.RevokeKeysAnnotation] = authv1alpha1.FormatRevokeRequests(reqs)
				return k.client.Update(ctx, p)
			})
			if err != nil {
				return fmt.Errorf("annotating AuthPolicy %s: %w", p.Key(), err)
			}
			if !waitFor {
				_, err = fmt.Fprintf(streams.Out, "revocation of key %s of AuthPolicy %s requested\n", kid, p.Key())
				return err
			}
			if err := waitRevoked(ctx, k, name, kid, timeout); err != nil {
				return err
			}
			p, err = k.policy(ctx, name)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(streams.Out, "key %s of AuthPolicy %s revoked; key %s signs now\n", kid, p.Key(), p.Status.ActiveKeyID)
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the key is revoked (recorded in the KeyRevoked Event)")
	cmd.Flags().BoolVar(&waitFor, "wait", false, "wait until the operator has removed the key")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long --wait waits")
	return cmd
}

// waitRevoked polls until the key is gone from the status and the request from the
// annotation: then the Secret no longer holds it.
func waitRevoked(ctx context.Context, k *kubeTarget, name, kid string, timeout time.Duration) error {
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := k.policy(ctx, name)
		if err != nil {
			return false, err
		}
		reqs, _ := authv1alpha1.ParseRevokeRequests(p.Annotations[authv1alpha1.RevokeKeysAnnotation])
		_, pending := reqs[kid]
		return !pending && !hasKey(p, kid), nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the operator to revoke key %s: %w", kid, err)
	}
	return nil
}

func hasKey(p *authv1alpha1.AuthPolicy, kid string) bool {
	for _, k := range p.Status.Keys {
		if k.KID == kid {
			return true
		}
	}
	return false
}

func kids(p *authv1alpha1.AuthPolicy) []string {
	var out []string
	for _, k := range p.Status.Keys {
		out = append(out, fmt.Sprintf("%s (%s)", k.KID, k.State))
	}
	return out
}
