package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/store"
)

func newWorkflowDeleteCmd(e *env, g *globals) *cobra.Command {
	var (
		t   target
		yes bool
	)
	cmd := &cobra.Command{
		Use:   "delete -r REGISTRY [--yes]",
		Short: "Delete a workflow: its policy artifacts in the registry and its stored state",
		Long: `Delete a registry's workflow. Every manifest in csscpolicies/patchpolicy is
deleted from the registry, its queued and running tasks are canceled and its
runs, logs and jobs deleted, then the workflow is removed from the store.
It asks for confirmation on the terminal unless --yes is given; without a
terminal (or with --password-stdin, which uses stdin) --yes is required.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := t.check(); err != nil {
				return err
			}
			if !yes && (t.passwordStdin || !e.interactive) {
				return usagef("refusing to delete without confirmation: stdin is not a terminal; pass --yes")
			}
			if g.server != "" {
				return deleteViaServer(cmd, e, g, t)
			}
			c, err := t.client(e)
			if err != nil {
				return err
			}
			st, err := g.openStore(ctx, e)
			if err != nil {
				return err
			}
			defer st.Close()
			w, err := getWorkflow(ctx, st, c.Name(), t.typ)
			if err != nil {
				return err
			}
			if !yes {
				ok, err := confirm(cmd.ErrOrStderr(), e.stdin, fmt.Sprintf("Delete the %s workflow of %s and every manifest in %s? [y/N] ", w.Type, w.Registry, registry.PolicyRepository))
				if err != nil {
					return err
				}
				if !ok {
					fmt.Fprintln(cmd.OutOrStdout(), "Not deleted.")
					return nil
				}
			}
			deleted, err := c.DeletePolicies(ctx)
			if err != nil {
				return err
			}
			if err := deleteRuns(ctx, e, g, w.Registry); err != nil {
				return err
			}
			if err := st.WorkflowDelete(ctx, &store.WorkflowDeleteParams{Registry: w.Registry, Type: w.Type}); err != nil {
				return fmt.Errorf("removing the stored workflow: %w", err)
			}
			if g.output == outputJSON {
				ds := make([]string, 0, len(deleted))
				for _, d := range deleted {
					ds = append(ds, d.String())
				}
				return writeJSON(cmd.OutOrStdout(), struct {
					Registry         string   `json:"registry"`
					Type             string   `json:"type"`
					Deleted          bool     `json:"deleted"`
					DeletedManifests []string `json:"deletedManifests"`
					PolicyRepository string   `json:"policyRepository"`
				}{w.Registry, w.Type, true, ds, registry.PolicyRepository})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s workflow for registry %s (%s removed from %s).\n", w.Type, w.Registry, plural(len(deleted), "manifest"), registry.PolicyRepository)
			return nil
		},
	}
	t.addFlags(cmd, true)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// confirm asks question on w and reads one line from r: y or yes agree.
func confirm(w io.Writer, r io.Reader, question string) (bool, error) {
	fmt.Fprint(w, question)
	line, err := bufio.NewReader(io.LimitReader(r, 1024)).ReadString('\n')
	if err != nil && line == "" {
		if err == io.EOF {
			return false, nil
		}
		return false, fmt.Errorf("reading the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
