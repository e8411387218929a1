package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/workflow"
)

func newTaskCmd(e *env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "task",
		Short: "List task runs and show their logs",
	}
	cmd.AddCommand(newTaskListRunsCmd(e, g), newTaskLogsCmd(e, g))
	return cmd
}

func newTaskListRunsCmd(e *env, g *globals) *cobra.Command {
	var (
		reg      string
		taskName string
		statuses []string
		top      int
	)
	cmd := &cobra.Command{
		Use:   "list-runs [-r REGISTRY] [--name cssc-patch-image] [--run-status Failed] [--top N]",
		Short: "List task runs, newest first",
		Long: `List task runs, newest first. --name keeps one task (cssc-trigger-workflow,
cssc-scan-image or cssc-patch-image), --run-status the runs in a status
(repeatable, any case), -r one registry's workflow, --top the first N.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f := workflow.RunFilter{Top: top}
			if top < 0 {
				return usagef("--top %d: use a positive number", top)
			}
			if taskName != "" {
				t, err := workflow.ParseTask(taskName)
				if err != nil {
					return usagef("--name: %v", err)
				}
				f.Task = t
			}
			sts, err := parseStatuses(statuses)
			if err != nil {
				return err
			}
			f.Statuses = sts
			if reg != "" {
				if f.Workflow, err = registry.Normalize(reg); err != nil {
					return err
				}
			}
			runs, closeRuns, err := g.runsClient(ctx, e)
			if err != nil {
				return err
			}
			defer closeRuns()
			list, err := runs.ListRuns(ctx, f)
			if err != nil {
				return err
			}
			if list == nil {
				list = []workflow.Run{}
			}
			if g.output == outputJSON {
				return writeJSON(cmd.OutOrStdout(), list)
			}
			return writeRuns(cmd.OutOrStdout(), list)
		},
	}
	cmd.Flags().StringVarP(&reg, "registry", "r", "", "only this registry's workflow")
	cmd.Flags().StringVar(&taskName, "name", "", "only this task: cssc-trigger-workflow, cssc-scan-image or cssc-patch-image")
	cmd.Flags().StringArrayVar(&statuses, "run-status", nil, "only runs in this status (repeatable)")
	cmd.Flags().IntVar(&top, "top", 0, "show at most N runs (default all)")
	return cmd
}

func writeRuns(w io.Writer, runs []workflow.Run) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tTASK\tSTATUS\tREGISTRY\tIMAGE\tCYCLE\tATTEMPT\tCREATED\tFINISHED\tRESULT OR REASON")
	for _, r := range runs {
		what := r.Reason
		if what == "" {
			switch {
			case r.Result.Tag != "":
				what = fmt.Sprintf("%s (%d fixed)", r.Result.Tag, len(r.Result.FixedCVEs))
			case r.Task == workflow.TaskTrigger && r.Status == workflow.StatusSucceeded:
				what = fmt.Sprintf("%d images", r.Result.Images)
			case r.Task == workflow.TaskScan && r.Status == workflow.StatusSucceeded:
				what = fmt.Sprintf("%d fixable", len(r.Result.CVEs))
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Task, r.Status, r.Workflow, cell(r.Image), r.Cycle,
			r.Attempt, dateCell(r.CreatedAt), dateCell(r.FinishedAt), cell(what))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing run table: %w", err)
	}
	return nil
}

func newTaskLogsCmd(e *env, g *globals) *cobra.Command {
	var id int64
	cmd := &cobra.Command{
		Use:   "logs --run-id ID",
		Short: "Print a task run's full log",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if id < 1 {
				return usagef("--run-id is required: a run id from task list-runs or workflow list")
			}
			runs, closeRuns, err := g.runsClient(ctx, e)
			if err != nil {
				return err
			}
			defer closeRuns()
			if _, err := runs.GetRun(ctx, id); err != nil {
				return fmt.Errorf("run %d: %w", id, err)
			}
			return runs.CopyLog(ctx, id, cmd.OutOrStdout())
		},
	}
	cmd.Flags().Int64Var(&id, "run-id", 0, "the run (required)")
	return cmd
}
