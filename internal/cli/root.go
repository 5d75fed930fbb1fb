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

// Package cli holds the commands of the tollgate binary: the operator (`tollgate manager`)
// and the commands that inspect and steer key rotation, which also work as a kubectl plugin.
package cli

import (
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// PluginBinary is the name under which kubectl finds tollgate as a plugin.
const PluginBinary = "kubectl-tollgate"

// NewRootCommand builds the tollgate command tree. argv0 is the program's os.Args[0]:
// installed as kubectl-tollgate, the usage says `kubectl tollgate`.
func NewRootCommand(argv0 string, streams genericiooptions.IOStreams) *cobra.Command {
	kube := genericclioptions.NewConfigFlags(true)
	root := &cobra.Command{
		Use:   "tollgate",
		Short: "JWT authentication for Kubernetes workloads",
		Long: `tollgate gives HTTP workloads JWT authentication through an injected sidecar.

This binary runs the operator (tollgate manager), checks an installation (check),
injects the sidecar into manifests (inject), and inspects and steers the signing keys
of AuthPolicies (keys, rotate, revoke-key). Installed as kubectl-tollgate on the
PATH, it is a kubectl plugin: kubectl tollgate keys shop-api -n shop.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	kube.AddFlags(root.PersistentFlags())

	root.AddCommand(
		newManagerCommand(kube),
		newKeysCommand(kube, streams),
		newRotateCommand(kube, streams),
		newRevokeKeyCommand(kube, streams),
		newCheckCommand(kube, streams),
		newInjectCommand(kube, streams),
		newHashPasswordCommand(streams),
		newVersionCommand(streams),
	)
	if IsKubectlPlugin(argv0) {
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl tollgate"}
		for _, c := range root.Commands() {
			c.Example = strings.ReplaceAll(c.Example, "  tollgate ", "  kubectl tollgate ")
		}
	}
	return root
}

// IsKubectlPlugin reports whether the program runs as the kubectl plugin.
func IsKubectlPlugin(argv0 string) bool {
	base := filepath.Base(argv0)
	return strings.TrimSuffix(base, ".exe") == PluginBinary
}
