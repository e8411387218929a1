package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/policy"
)

func newPolicyCmd(e *env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with continuous-patching policy files",
	}
	cmd.AddCommand(newPolicyValidateCmd(e, g))
	return cmd
}

func newPolicyValidateCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a policy file without contacting any registry",
		Long: `Check a policy file (JSON with comments and trailing commas allowed).
Warnings go to stderr and the exit status is 0; problems are printed as
file:line:col: message and the exit status is 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, warnings, err := policy.Load(args[0])
			printWarnings(cmd, warnings)
			if err != nil {
				return err
			}
			if g.output == outputJSON {
				return writeJSON(cmd.OutOrStdout(), policyValidateView{Valid: true, Warnings: warningStrings(warnings), Policy: p})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid: %s\n", args[0], p.Summary())
			return nil
		},
	}
}

type policyValidateView struct {
	Valid    bool           `json:"valid"`
	Warnings []string       `json:"warnings"`
	Policy   *policy.Policy `json:"policy"`
}

func printWarnings(cmd *cobra.Command, ws []policy.Warning) {
	for _, w := range ws {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
	}
}

func warningStrings(ws []policy.Warning) []string {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.String())
	}
	return out
}
