package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/server"
)

// queueRunNow starts a cycle of the workflow now and returns its trigger run.
func queueRunNow(ctx context.Context, e *env, g *globals, reg string) (int64, error) {
	runs, closeRuns, err := g.runsClient(ctx, e)
	if err != nil {
		return 0, err
	}
	defer closeRuns()
	r, err := runs.RunImmediately(ctx, reg)
	if err != nil {
		return 0, err
	}
	return r.ID, nil
}

// deleteRuns cancels the workflow's active runs and deletes its runs, logs,
// cycles and jobs from the store's database.
func deleteRuns(ctx context.Context, e *env, g *globals, reg string) error {
	eng, db, err := g.openEngine(ctx, e, engineOptions{})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := eng.DeleteWorkflow(ctx, reg); err != nil {
		return fmt.Errorf("deleting the runs of %s: %w", reg, err)
	}
	return nil
}

func printInfo(cmd *cobra.Command, g *globals, verb string, info server.WorkflowInfo) error {
	for _, w := range info.Warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
	}
	if g.output == outputJSON {
		return writeJSON(cmd.OutOrStdout(), info)
	}
	out := cmd.OutOrStdout()
	if verb != "" {
		fmt.Fprintf(out, "%s %s workflow for registry %s.\n", verb, info.Type, info.Registry)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Registry:\t%s\n", info.Registry)
	fmt.Fprintf(tw, "Type:\t%s\n", info.Type)
	fmt.Fprintf(tw, "Schedule:\t%s at %s UTC\n", info.Schedule, info.ScheduleSetAt.UTC().Format("15:04"))
	fmt.Fprintf(tw, "Next run:\t%s\n", rfc3339(info.NextRun))
	fmt.Fprintf(tw, "Policy digest:\t%s\n", info.PolicyDigest)
	if info.RunID != 0 {
		fmt.Fprintf(tw, "Run queued now:\ttrigger run %d\n", info.RunID)
	}
	return tw.Flush()
}

func createViaServer(cmd *cobra.Command, e *env, g *globals, t target, configPath, sched string, dryRun, runNow bool) error {
	b, err := os.ReadFile(configPath)
	if err != nil {
		return fmt.Errorf("reading policy file: %w", err)
	}
	c, err := g.apiClient(e)
	if err != nil {
		return err
	}
	reg, err := registry.Normalize(t.registry)
	if err != nil {
		return err
	}
	info, err := c.CreateWorkflow(cmd.Context(), server.WorkflowSpec{Registry: reg, Type: t.typ, Config: string(b), Schedule: sched, DryRun: dryRun, RunImmediately: runNow})
	if err != nil {
		return err
	}
	if dryRun {
		if g.output == outputJSON {
			return writeJSON(cmd.OutOrStdout(), info)
		}
		out := cmd.OutOrStdout()
		for _, s := range info.Selected {
			fmt.Fprintln(out, s)
		}
		fmt.Fprintf(out, "Matches found: %d\n", len(info.Selected))
		if len(info.NotFound) > 0 {
			fmt.Fprintf(out, "Not found (%d):\n  %s\n", len(info.NotFound), strings.Join(info.NotFound, "\n  "))
		}
		return nil
	}
	return printInfo(cmd, g, "Created", info)
}

func showViaServer(cmd *cobra.Command, e *env, g *globals, reg, typ string) error {
	c, err := g.apiClient(e)
	if err != nil {
		return err
	}
	info, err := c.GetWorkflow(cmd.Context(), reg, typ)
	if err != nil {
		return err
	}
	return printInfo(cmd, g, "", info)
}

func updateViaServer(cmd *cobra.Command, e *env, g *globals, t target, configPath, sched string) error {
	spec := server.WorkflowSpec{Type: t.typ, Schedule: sched}
	if sched != "" {
		s, err := parseSchedule(sched)
		if err != nil {
			return err
		}
		spec.Schedule = s.String()
	}
	if configPath != "" {
		b, err := os.ReadFile(configPath)
		if err != nil {
			return fmt.Errorf("reading policy file: %w", err)
		}
		spec.Config = string(b)
	}
	reg, err := registry.Normalize(t.registry)
	if err != nil {
		return err
	}
	spec.Registry = reg
	c, err := g.apiClient(e)
	if err != nil {
		return err
	}
	info, err := c.UpdateWorkflow(cmd.Context(), spec)
	if err != nil {
		return err
	}
	return printInfo(cmd, g, "Updated", info)
}

func deleteViaServer(cmd *cobra.Command, e *env, g *globals, t target) error {
	reg, err := registry.Normalize(t.registry)
	if err != nil {
		return err
	}
	c, err := g.apiClient(e)
	if err != nil {
		return err
	}
	if err := c.DeleteWorkflow(cmd.Context(), reg, t.typ); err != nil {
		return err
	}
	if g.output == outputJSON {
		return writeJSON(cmd.OutOrStdout(), map[string]any{"registry": reg, "type": t.typ, "deleted": true})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s workflow for registry %s, with its policy artifacts and runs.\n", t.typ, reg)
	return nil
}
