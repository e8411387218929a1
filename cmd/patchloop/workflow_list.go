package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/workflow"
)

// parseStatuses parses --run-status values (repeatable or comma lists),
// case-insensitively.
func parseStatuses(vals []string) ([]workflow.Status, error) {
	var out []workflow.Status
	for _, v := range vals {
		for _, part := range strings.Split(v, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			s, err := workflow.ParseStatus(part)
			if err != nil {
				return nil, usagef("--run-status: %v", err)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func newWorkflowListCmd(e *env, g *globals) *cobra.Command {
	var (
		t        target
		statuses []string
	)
	cmd := &cobra.Command{
		Use:   "list -r REGISTRY [--run-status S]",
		Short: "List each image of a workflow with its latest scan and patch runs",
		Long: `List the images a registry's workflow has scanned, one row each: the latest
scan's status, date and task id; the latest patch's status, date and task id;
the last patched image; the workflow type; and any skip or error reason.
--run-status keeps rows whose scan or patch status matches (Queued, Started,
Running, Succeeded, Failed, Canceled, Skipped; any case; repeatable).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := t.check(); err != nil {
				return err
			}
			sts, err := parseStatuses(statuses)
			if err != nil {
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
			rows, err := runs.ListImages(ctx, reg, sts...)
			if err != nil {
				return err
			}
			if g.output == outputJSON {
				return writeJSON(cmd.OutOrStdout(), imageRowViews(rows))
			}
			return writeImageRows(cmd.OutOrStdout(), rows)
		},
	}
	t.addFlags(cmd, false)
	cmd.Flags().StringArrayVar(&statuses, "run-status", nil, "keep rows whose scan or patch status is this (repeatable)")
	return cmd
}

// imageRowView is a `workflow list -o json` row, with the reference's
// field names.
type imageRowView struct {
	Image              string `json:"image"`
	ScanStatus         string `json:"scan_status"`
	ScanDate           string `json:"scan_date"`
	ScanTaskID         string `json:"scan_task_ID"`
	PatchStatus        string `json:"patch_status"`
	PatchDate          string `json:"patch_date"`
	PatchTaskID        string `json:"patch_task_ID"`
	LastPatchedImage   string `json:"last_patched_image"`
	WorkflowType       string `json:"workflow_type"`
	PatchSkippedReason string `json:"patch_skipped_reason,omitempty"`
	ScanErrorReason    string `json:"scan_error_reason,omitempty"`
	PatchErrorReason   string `json:"patch_error_reason,omitempty"`
}

func imageRowViews(rows []workflow.ImageRow) []imageRowView {
	out := make([]imageRowView, 0, len(rows))
	for _, r := range rows {
		v := imageRowView{
			Image: r.Image, ScanStatus: string(r.ScanStatus), PatchStatus: string(r.PatchStatus),
			LastPatchedImage: r.LastPatchedImage, WorkflowType: r.WorkflowType,
			PatchSkippedReason: r.PatchSkippedReason, ScanErrorReason: r.ScanErrorReason, PatchErrorReason: r.PatchErrorReason,
		}
		if !r.ScanDate.IsZero() {
			v.ScanDate = rfc3339(r.ScanDate)
		}
		if !r.PatchDate.IsZero() {
			v.PatchDate = rfc3339(r.PatchDate)
		}
		if r.ScanRunID != 0 {
			v.ScanTaskID = fmt.Sprint(r.ScanRunID)
		}
		if r.PatchRunID != 0 {
			v.PatchTaskID = fmt.Sprint(r.PatchRunID)
		}
		out = append(out, v)
	}
	return out
}

func dateCell(tm time.Time) string {
	if tm.IsZero() {
		return "-"
	}
	return tm.UTC().Format(time.RFC3339)
}

func idCell(id int64) string {
	if id == 0 {
		return "-"
	}
	return fmt.Sprint(id)
}

func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(s, "\t", " ")
}

// writeImageRows prints `workflow list` as a table with the reference's columns.
func writeImageRows(w io.Writer, rows []workflow.ImageRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tSCAN STATUS\tSCAN DATE\tSCAN TASK ID\tPATCH STATUS\tPATCH DATE\tPATCH TASK ID\tLAST PATCHED IMAGE\tWORKFLOW TYPE\tREASON")
	for _, r := range rows {
		reason := r.PatchSkippedReason
		if r.ScanErrorReason != "" {
			reason = "scan: " + r.ScanErrorReason
		}
		if r.PatchErrorReason != "" {
			reason = "patch: " + r.PatchErrorReason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Image,
			cell(string(r.ScanStatus)), dateCell(r.ScanDate), idCell(r.ScanRunID),
			cell(string(r.PatchStatus)), dateCell(r.PatchDate), idCell(r.PatchRunID),
			cell(r.LastPatchedImage), r.WorkflowType, cell(reason))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing image table: %w", err)
	}
	return nil
}
