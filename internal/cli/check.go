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
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CheckStatus is the outcome of one check.
type CheckStatus string

// The outcomes of a check. Only Fail makes `tollgate check` exit non-zero.
const (
	CheckOK   CheckStatus = "ok"
	CheckFail CheckStatus = "fail"
	CheckWarn CheckStatus = "warn"
	CheckSkip CheckStatus = "skip"
)

// Categories of checks, in the order they run and print.
const (
	CategoryCRD          = "CRD"
	CategoryWebhook      = "Webhook"
	CategoryCertificates = "Certificates"
	CategoryManager      = "Manager"
	CategoryPolicies     = "Policies"
)

// CheckResult is one line of `tollgate check`.
type CheckResult struct {
	Category string      `json:"category"`
	Name     string      `json:"name"`
	Status   CheckStatus `json:"status"`
	Message  string      `json:"message"`
	// Hint says what to do about a failure or warning.
	Hint string `json:"hint,omitempty"`
}

// CheckReport is `tollgate check -o json`.
type CheckReport struct {
	// OK is false when any check failed.
	OK     bool          `json:"ok"`
	Checks []CheckResult `json:"checks"`
}

// CheckOptions are what `tollgate check` looks at and how strictly.
type CheckOptions struct {
	// Namespace limits the policy checks to one namespace ("": all), and is where the
	// webhook is probed first when it opted in.
	Namespace string
	// MinCertValidity: a certificate that expires sooner fails.
	MinCertValidity time.Duration
	// Timeout bounds each call to the cluster.
	Timeout time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// checker runs the checks against one cluster.
type checker struct {
	client    client.Client
	discovery discovery.DiscoveryInterface
	opts      CheckOptions
	report    CheckReport
	// hooks are the injection webhooks found, for the checks that follow.
	hooks []foundWebhook
}

func (c *checker) add(r CheckResult) { c.report.Checks = append(c.report.Checks, r) }

func (c *checker) now() time.Time {
	if c.opts.Now != nil {
		return c.opts.Now()
	}
	return time.Now()
}

// RunChecks runs every check and returns the report.
func RunChecks(ctx context.Context, c client.Client, d discovery.DiscoveryInterface, opts CheckOptions) CheckReport {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	ch := &checker{client: c, discovery: d, opts: opts}
	served := ch.checkCRD(ctx)
	ch.checkWebhookConfiguration(ctx)
	ch.checkWebhookAnswers(ctx)
	ch.checkCertificates(ctx)
	ch.checkManager(ctx)
	if served {
		ch.checkPolicies(ctx)
	} else {
		ch.add(CheckResult{Category: CategoryPolicies, Name: "policies", Status: CheckSkip, Message: "the AuthPolicy API is not served"})
	}
	ch.report.OK = true
	for _, r := range ch.report.Checks {
		if r.Status == CheckFail {
			ch.report.OK = false
		}
	}
	return ch.report
}

func newCheckCommand(kube *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	var output string
	opts := CheckOptions{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that tollgate is installed and healthy",
		Long: `Check that tollgate is installed and working, and print a checklist with a hint for
each failure:

  CRD           the API server serves auth.tollgate.dev/v1alpha1 AuthPolicy
  Webhook       the injection webhook is configured, and answers: a server-side dry run
                creates a pod naming no policy in a namespace that opted in, which the
                webhook must refuse
  Certificates  the webhook's CA bundle and serving certificate are valid, match, and do
                not expire within --min-cert-validity
  Manager       the manager's Deployment (labels app.kubernetes.io/name=tollgate,
                app.kubernetes.io/component=manager) has every replica available
  Policies      every AuthPolicy is Ready, has a signing key, is not overdue for rotation,
                has no key retiring without a successor, and has no pod running without
                its sidecar

The exit status is 1 when a check fails (warnings and skipped checks do not count).
With -n, only the policies of that namespace are checked.`,
		Example: `  tollgate check
  tollgate check -n shop -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output must be text or json, not %q", output)
			}
			cfg, err := kube.ToRESTConfig()
			if err != nil {
				return err
			}
			c, err := client.New(cfg, client.Options{Scheme: Scheme()})
			if err != nil {
				return err
			}
			d, err := discovery.NewDiscoveryClientForConfig(cfg)
			if err != nil {
				return err
			}
			if kube.Namespace != nil {
				opts.Namespace = *kube.Namespace
			}
			report := RunChecks(cmd.Context(), c, d, opts)
			if output == "json" {
				b, err := json.MarshalIndent(report, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintf(streams.Out, "%s\n", b)
			} else {
				printChecks(streams.Out, report)
			}
			if !report.OK {
				return fmt.Errorf("%d of %d checks failed", count(report, CheckFail), len(report.Checks))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().DurationVar(&opts.MinCertValidity, "min-cert-validity", 72*time.Hour, "fail when a webhook certificate expires sooner than this")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 10*time.Second, "time allowed for each call to the cluster")
	return cmd
}

func count(r CheckReport, s CheckStatus) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == s {
			n++
		}
	}
	return n
}

// checkMarks are plain ASCII: CI logs and terminals without UTF-8 show them as they are.
var checkMarks = map[CheckStatus]string{CheckOK: "[ok]  ", CheckFail: "[FAIL]", CheckWarn: "[warn]", CheckSkip: "[skip]"}

func printChecks(w io.Writer, r CheckReport) {
	category := ""
	for _, c := range r.Checks {
		if c.Category != category {
			category = c.Category
			fmt.Fprintln(w, category)
		}
		fmt.Fprintf(w, "  %s %s: %s\n", checkMarks[c.Status], c.Name, c.Message)
		if c.Hint != "" {
			fmt.Fprintf(w, "         hint: %s\n", strings.ReplaceAll(c.Hint, "\n", "\n               "))
		}
	}
	fmt.Fprintf(w, "\n%d ok, %d failed, %d warnings, %d skipped\n",
		count(r, CheckOK), count(r, CheckFail), count(r, CheckWarn), count(r, CheckSkip))
}
