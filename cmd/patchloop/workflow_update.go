package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/store"
)

func newWorkflowUpdateCmd(e *env, g *globals) *cobra.Command {
	var (
		t            target
		configPath   string
		scheduleFlag string
	)
	cmd := &cobra.Command{
		Use:   "update -r REGISTRY [--config FILE] [--schedule Nd]",
		Short: "Change a workflow's policy and/or schedule",
		Long: `Change a workflow's policy (--config), schedule (--schedule), or both; at
least one is required. The policy is validated and pushed again to
csscpolicies/patchpolicy:v1, then the store is updated and the next run is
printed. A new schedule counts from now (its time of day becomes the current
UTC hour and minute); a policy-only change keeps the schedule as it was.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := t.check(); err != nil {
				return err
			}
			if configPath == "" && scheduleFlag == "" {
				return usagef("nothing to update: give --config, --schedule, or both")
			}
			if g.server != "" {
				return updateViaServer(cmd, e, g, t, configPath, scheduleFlag)
			}
			params := &store.WorkflowUpdateParams{Type: t.typ}
			if scheduleFlag != "" {
				sched, err := parseSchedule(scheduleFlag)
				if err != nil {
					return err
				}
				s := sched.String()
				setAt := e.now().UTC()
				params.Schedule, params.ScheduleSetAt = &s, &setAt
			}
			var canon []byte
			if configPath != "" {
				var err error
				if _, canon, err = loadPolicy(cmd, configPath); err != nil {
					return err
				}
				params.Policy = canon
			}
			c, err := t.client(e)
			if err != nil {
				return err
			}
			params.Registry = c.Name()
			st, err := g.openStore(ctx, e)
			if err != nil {
				return err
			}
			defer st.Close()
			w, err := getWorkflow(ctx, st, c.Name(), t.typ)
			if err != nil {
				return err
			}
			if canon == nil {
				canon = w.Policy
			}
			digest, err := c.PushPolicy(ctx, registry.PolicyTag, canon)
			if err != nil {
				return err
			}
			d := digest.String()
			params.PolicyDigest = &d
			w, err = st.WorkflowUpdate(ctx, params)
			if err != nil {
				return fmt.Errorf("recording the update: %w", err)
			}
			v, err := newWorkflowView(w, e.now())
			if err != nil {
				return err
			}
			if g.output == outputJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Updated %s workflow for registry %s.\n", w.Type, w.Registry)
			fmt.Fprintf(out, "Policy: %s:%s (%s)\n", registry.PolicyRepository, registry.PolicyTag, w.PolicyDigest)
			fmt.Fprintf(out, "Schedule: %s at %s\n", w.Schedule, v.TimeOfDay)
			fmt.Fprintf(out, "Next run: %s\n", v.NextRun)
			return nil
		},
	}
	t.addFlags(cmd, true)
	cmd.Flags().StringVar(&configPath, "config", "", "new policy file")
	cmd.Flags().StringVar(&scheduleFlag, "schedule", "", "new schedule, 1d to 30d, counted from now")
	return cmd
}
