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
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/keyset"
)

// KeysView is `tollgate keys -o json|yaml`: the policy's keys without private material,
// with each state computed at the time of the command, as the sidecars compute it.
type KeysView struct {
	Policy           string                   `json:"policy"`
	ActiveKeyID      string                   `json:"activeKeyID,omitempty"`
	NextKeyID        string                   `json:"nextKeyID,omitempty"`
	NextRotationTime *metav1.Time             `json:"nextRotationTime,omitempty"`
	Keys             []authv1alpha1.KeyStatus `json:"keys"`
}

func newKeysCommand(kube *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "keys POLICY",
		Short: "List the signing keys of an AuthPolicy and where each stands in its life",
		Long: `List the signing keys of an AuthPolicy: KID, STATE (Next: published, not yet
signing; Active: signs new tokens; Retired: signs no more, still validates the tokens
it signed), ALG, and the instants it was created, activates, retires and expires.

The keys come from the policy's status, which mirrors its keys Secret; reading them
needs no access to Secrets.`,
		Example: `  tollgate keys shop-api -n shop
  tollgate keys shop-api -n shop -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" && output != "yaml" {
				return fmt.Errorf("--output must be table, json or yaml, not %q", output)
			}
			k, err := newKubeTarget(kube)
			if err != nil {
				return err
			}
			p, err := k.policy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			view := keysView(p, time.Now())
			if len(view.Keys) == 0 {
				return fmt.Errorf("AuthPolicy %s has no keys in its status yet: is the tollgate operator running?", p.Key())
			}
			return printKeys(streams.Out, view, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}

func keysView(p *authv1alpha1.AuthPolicy, now time.Time) KeysView {
	v := KeysView{Policy: p.Key(), Keys: []authv1alpha1.KeyStatus{}}
	var signing []*keyset.SigningKey
	for _, ks := range p.Status.Keys {
		k := &keyset.SigningKey{KID: ks.KID, CreatedAt: ks.CreatedAt.Time, ActivatesAt: ks.ActivatesAt.Time}
		if ks.RetiresAt != nil {
			k.RetiresAt = ks.RetiresAt.Time
		}
		if ks.ExpiresAt != nil {
			k.ExpiresAt = ks.ExpiresAt.Time
		}
		st := k.State(now)
		if st == keyset.StateExpired {
			continue // the operator is about to remove it
		}
		ks.State = authv1alpha1.KeyState(st)
		v.Keys = append(v.Keys, ks)
		signing = append(signing, k)
	}
	set := keyset.Keyset{Keys: signing}
	if a := set.Active(now); a != nil {
		v.ActiveKeyID = a.KID
	}
	for _, k := range v.Keys {
		if k.State == authv1alpha1.KeyNext {
			v.NextKeyID = k.KID
			break
		}
	}
	v.NextRotationTime = p.Status.NextRotationTime
	return v
}

func printKeys(w io.Writer, v KeysView, output string) error {
	switch output {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "KID\tSTATE\tALG\tCREATED\tACTIVATES\tRETIRES\tEXPIRES")
	for _, k := range v.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.State, k.Algorithm,
			formatTime(&k.CreatedAt), formatTime(&k.ActivatesAt), formatTime(k.RetiresAt), formatTime(k.ExpiresAt))
	}
	return tw.Flush()
}

func formatTime(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
