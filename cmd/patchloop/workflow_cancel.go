package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/store"
	"github.com/patchloop/patchloop/workflow"
)

func newWorkflowCancelRunCmd(e *env, g *globals) *cobra.Command {
	var t target
	cmd := &cobra.Command{
		Use:   "cancel-run -r REGISTRY",
		Short: "Cancel every queued, started or running task of the workflow's current cycle",
		Long: `Cancel every Queued, Started or Running task run of the current (latest)
cycle of a registry's workflow. The images are handled again by the next
cycle.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := t.check(); err != nil {
				return err
			}
			reg, err := registry.Normalize(t.registry)
			if err != nil {
				return err
			}
			runs, closeRuns, err := g.runsClient(ctx, e)
			if err != nil {
				return err
			}
			defer closeRuns()
			canceled, err := runs.CancelCycle(ctx, reg)
			if errors.Is(err, workflow.ErrNotFound) || errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("workflow of %s has no run to cancel: %w", reg, err)
			}
			if err != nil {
				return err
			}
			if canceled == nil {
				canceled = []workflow.Run{}
			}
			if g.output == outputJSON {
				return writeJSON(cmd.OutOrStdout(), struct {
					Canceled []workflow.Run `json:"canceled"`
				}{canceled})
			}
			out := cmd.OutOrStdout()
			for _, r := range canceled {
				fmt.Fprintf(out, "canceled run %d: %s %s\n", r.ID, r.Task, describeRun(r))
			}
			fmt.Fprintf(out, "Canceled %s of the current cycle of %s.\n", plural(len(canceled), "run"), reg)
			return nil
		},
	}
	t.addFlags(cmd, false)
	return cmd
}

func describeRun(r workflow.Run) string {
	if r.Image == "" {
		return "cycle " + r.Cycle
	}
	return r.Image + " (cycle " + r.Cycle + ")"
}
