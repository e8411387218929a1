package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/store"
)

func newWorkflowShowCmd(e *env, g *globals) *cobra.Command {
	var t target
	cmd := &cobra.Command{
		Use:   "show -r REGISTRY [-t continuouspatchv1]",
		Short: "Show a workflow: schedule, next run, policy summary, created and updated times",
		Long: `Show a registry's workflow from the local store: its schedule and time of
day, the next run, a summary of its policy, and when it was created and last
updated. It does not contact the registry.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := t.check(); err != nil {
				return err
			}
			regName, err := registry.Normalize(t.registry)
			if err != nil {
				return err
			}
			if g.server != "" {
				return showViaServer(cmd, e, g, regName, t.typ)
			}
			st, err := g.openStore(ctx, e)
			if err != nil {
				return err
			}
			defer st.Close()
			w, err := getWorkflow(ctx, st, regName, t.typ)
			if err != nil {
				return err
			}
			v, err := newWorkflowView(w, e.now())
			if err != nil {
				return err
			}
			if g.output == outputJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "Registry:\t%s\n", v.Registry)
			fmt.Fprintf(tw, "Type:\t%s\n", v.Type)
			fmt.Fprintf(tw, "Schedule:\t%s\n", v.Schedule)
			fmt.Fprintf(tw, "Time of day:\t%s\n", v.TimeOfDay)
			fmt.Fprintf(tw, "Schedule set:\t%s\n", v.ScheduleSetAt)
			fmt.Fprintf(tw, "Next run:\t%s\n", v.NextRun)
			fmt.Fprintf(tw, "Policy:\t%s\n", v.Policy.Summary)
			for _, r := range v.Policy.Repositories {
				state := ""
				if !r.Enabled {
					state = " (disabled)"
				}
				fmt.Fprintf(tw, "\t  %s: %s%s\n", r.Repository, strings.Join(r.Tags, ", "), state)
			}
			fmt.Fprintf(tw, "Policy digest:\t%s\n", v.PolicyDigest)
			fmt.Fprintf(tw, "Created:\t%s\n", v.CreatedAt)
			fmt.Fprintf(tw, "Updated:\t%s\n", v.UpdatedAt)
			return tw.Flush()
		},
	}
	t.addFlags(cmd, false)
	return cmd
}

// workflowView is how commands print a workflow.
type workflowView struct {
	Registry      string     `json:"registry"`
	Type          string     `json:"type"`
	Schedule      string     `json:"schedule"`
	TimeOfDay     string     `json:"timeOfDay"`
	ScheduleSetAt string     `json:"scheduleSetAt"`
	NextRun       string     `json:"nextRun"`
	Policy        policyView `json:"policy"`
	PolicyDigest  string     `json:"policyDigest"`
	CreatedAt     string     `json:"createdAt"`
	UpdatedAt     string     `json:"updatedAt"`
}

type policyView struct {
	Summary       string           `json:"summary"`
	TagConvention string           `json:"tagConvention"`
	Repositories  []repositoryView `json:"repositories"`
}

type repositoryView struct {
	Repository string   `json:"repository"`
	Tags       []string `json:"tags"`
	Enabled    bool     `json:"enabled"`
}

func newWorkflowView(w *store.Workflow, now time.Time) (*workflowView, error) {
	sched, err := parseSchedule(w.Schedule)
	if err != nil {
		return nil, fmt.Errorf("stored schedule of %s: %w", w.Registry, err)
	}
	p, err := storedPolicy(w)
	if err != nil {
		return nil, err
	}
	set := w.ScheduleSetAt.UTC()
	v := &workflowView{
		Registry:      w.Registry,
		Type:          w.Type,
		Schedule:      sched.String(),
		TimeOfDay:     set.Format("15:04") + " UTC",
		ScheduleSetAt: rfc3339(set),
		NextRun:       rfc3339(sched.Next(set, now)),
		Policy: policyView{
			Summary:       p.Summary(),
			TagConvention: p.TagConvention.String(),
			Repositories:  []repositoryView{},
		},
		PolicyDigest: w.PolicyDigest,
		CreatedAt:    rfc3339(w.CreatedAt),
		UpdatedAt:    rfc3339(w.UpdatedAt),
	}
	for _, r := range p.Repositories {
		v.Policy.Repositories = append(v.Policy.Repositories, repositoryView{Repository: r.Name, Tags: r.Tags, Enabled: r.Enabled})
	}
	return v, nil
}
