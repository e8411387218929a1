package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/policy"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/store"
)

func newWorkflowCreateCmd(e *env, g *globals) *cobra.Command {
	var (
		t              target
		configPath     string
		scheduleFlag   string
		dryRun         bool
		runImmediately bool
		showPatchTags  bool
	)
	cmd := &cobra.Command{
		Use:   "create -r REGISTRY --config FILE --schedule Nd [--dry-run | --run-immediately]",
		Short: "Create a registry's continuous-patching workflow, or preview what it selects",
		Long: `Create the continuous-patching workflow of a registry.

The policy file is validated, pushed to the registry as an OCI artifact at
csscpolicies/patchpolicy:v1 and recorded with the schedule in the local store;
the next run time is printed.

--dry-run lists the images the policy selects from the live registry instead
(one "repository: tag" line each, "Matches found: N", then the named tags and
repositories that do not exist), pushes the policy to
csscpolicies/patchpolicy:dryrun and records nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := t.check(); err != nil {
				return err
			}
			if dryRun && runImmediately {
				return usagef("--dry-run and --run-immediately cannot be used together")
			}
			if configPath == "" {
				return usagef("--config is required: the policy file")
			}
			if showPatchTags && !dryRun {
				return usagef("--show-patch-tags only applies to --dry-run")
			}
			sched, err := parseSchedule(scheduleFlag)
			if err != nil {
				return err
			}
			if g.server != "" {
				return createViaServer(cmd, e, g, t, configPath, sched.String(), dryRun, runImmediately)
			}
			p, canon, err := loadPolicy(cmd, configPath)
			if err != nil {
				return err
			}
			c, err := t.client(e)
			if err != nil {
				return err
			}
			if dryRun {
				return dryRunCreate(cmd, g, c, p, canon, showPatchTags)
			}

			setAt := e.now().UTC()
			// Reach the registry (and check the credentials) before
			// writing anything, even the store file.
			policyTag, err := c.Tag(registry.PolicyRepository, registry.PolicyTag)
			if err != nil {
				return err
			}
			if _, err := c.Exists(ctx, policyTag); err != nil {
				return err
			}
			st, err := g.openStore(ctx, e)
			if err != nil {
				return err
			}
			defer st.Close()
			if _, err := st.WorkflowGet(ctx, &store.WorkflowGetParams{Registry: c.Name(), Type: t.typ}); err == nil {
				return fmt.Errorf("a %s workflow already exists for registry %s: change it with patchloop workflow update, or delete it first", t.typ, c.Name())
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			digest, err := c.PushPolicy(ctx, registry.PolicyTag, canon)
			if err != nil {
				return err
			}
			w, err := st.WorkflowCreate(ctx, &store.WorkflowCreateParams{
				Registry:      c.Name(),
				Type:          t.typ,
				Schedule:      sched.String(),
				ScheduleSetAt: setAt,
				Policy:        canon,
				PolicyDigest:  digest.String(),
			})
			if err != nil {
				return fmt.Errorf("recording the workflow: %w", err)
			}
			var runID int64
			if runImmediately {
				if runID, err = queueRunNow(ctx, e, g, w.Registry); err != nil {
					return fmt.Errorf("workflow created, but queueing its run: %w", err)
				}
			}
			v, err := newWorkflowView(w, e.now())
			if err != nil {
				return err
			}
			if g.output == outputJSON {
				return writeJSON(cmd.OutOrStdout(), struct {
					*workflowView
					RunID int64 `json:"runId,omitempty"`
				}{v, runID})
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Created %s workflow for registry %s.\n", w.Type, w.Registry)
			fmt.Fprintf(out, "Policy: %s:%s (%s)\n", registry.PolicyRepository, registry.PolicyTag, w.PolicyDigest)
			fmt.Fprintf(out, "Schedule: %s at %s\n", w.Schedule, v.TimeOfDay)
			fmt.Fprintf(out, "Next run: %s\n", v.NextRun)
			if runID != 0 {
				fmt.Fprintf(out, "Run queued now: trigger run %d (see patchloop task logs --run-id %d; patchloop serve runs it)\n", runID, runID)
			}
			return nil
		},
	}
	t.addFlags(cmd, true)
	cmd.Flags().StringVar(&configPath, "config", "", "policy file (JSON, comments and trailing commas allowed) (required)")
	cmd.Flags().StringVar(&scheduleFlag, "schedule", "", "run every N days, 1d to 30d (required)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what the policy selects from the registry; record nothing")
	cmd.Flags().BoolVar(&runImmediately, "run-immediately", false, "also queue a run now and print its run id")
	cmd.Flags().BoolVar(&showPatchTags, "show-patch-tags", false, "with --dry-run, show each image's latest existing patch tag")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("schedule")
	return cmd
}

// dryRunView is the -o json form of a dry run.
type dryRunView struct {
	Registry      string         `json:"registry"`
	PolicyDigest  string         `json:"policyDigest"`
	PolicyTag     string         `json:"policyTag"`
	TagConvention string         `json:"tagConvention"`
	Images        []imageView    `json:"images"`
	MatchesFound  int            `json:"matchesFound"`
	Missing       []policyMissed `json:"missing"`
}

type imageView struct {
	Repository     string   `json:"repository"`
	Tag            string   `json:"tag"`
	PatchTags      []string `json:"patchTags"`
	LatestPatchTag string   `json:"latestPatchTag,omitempty"`
	NextPatchTag   string   `json:"nextPatchTag,omitempty"`
	NextPatchError string   `json:"nextPatchError,omitempty"`
}

type policyMissed struct {
	Repository        string `json:"repository"`
	Tag               string `json:"tag"`
	RepositoryMissing bool   `json:"repositoryMissing"`
}

// dryRunCreate lists the policy's repositories, selects, pushes the policy
// to the dry-run tag and prints the selection.
func dryRunCreate(cmd *cobra.Command, g *globals, c *registry.Client, p *policy.Policy, canon []byte, showPatchTags bool) error {
	ctx := cmd.Context()
	inv, err := c.Inventory(ctx, repositoriesOf(p))
	if err != nil {
		return err
	}
	sel := p.Select(inv)
	digest, err := c.PushPolicy(ctx, registry.DryRunPolicyTag, canon)
	if err != nil {
		return err
	}
	v := dryRunView{
		Registry:      c.Name(),
		PolicyDigest:  digest.String(),
		PolicyTag:     registry.PolicyRepository + ":" + registry.DryRunPolicyTag,
		TagConvention: p.TagConvention.String(),
		Images:        []imageView{},
		MatchesFound:  len(sel.Images),
		Missing:       []policyMissed{},
	}
	for _, im := range sel.Images {
		iv := imageView{Repository: im.Repository, Tag: im.Tag, PatchTags: im.PatchTags, LatestPatchTag: im.LatestPatchTag, NextPatchTag: im.NextPatchTag}
		if iv.PatchTags == nil {
			iv.PatchTags = []string{}
		}
		if im.NextPatchErr != nil {
			iv.NextPatchError = im.NextPatchErr.Error()
		}
		v.Images = append(v.Images, iv)
	}
	for _, m := range sel.Missing {
		v.Missing = append(v.Missing, policyMissed(m))
	}
	if g.output == outputJSON {
		return writeJSON(cmd.OutOrStdout(), v)
	}
	printDryRun(cmd.OutOrStdout(), v, showPatchTags)
	return nil
}

func printDryRun(w io.Writer, v dryRunView, showPatchTags bool) {
	for _, im := range v.Images {
		line := im.Repository + ": " + im.Tag
		if showPatchTags {
			if im.LatestPatchTag != "" {
				line += "  (latest patch tag: " + im.LatestPatchTag + ")"
			} else {
				line += "  (no patch tag yet)"
			}
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "Matches found: %d\n", v.MatchesFound)
	var tags, repos []string
	for _, m := range v.Missing {
		if m.RepositoryMissing {
			repos = append(repos, m.Repository)
		} else {
			tags = append(tags, m.Repository+": "+m.Tag)
		}
	}
	if len(tags) > 0 {
		fmt.Fprintf(w, "Tags not found (%d):\n  %s\n", len(tags), strings.Join(tags, "\n  "))
	}
	if len(repos) > 0 {
		fmt.Fprintf(w, "Repositories not found (%d):\n  %s\n", len(repos), strings.Join(dedupe(repos), "\n  "))
	}
	fmt.Fprintf(w, "Dry-run policy pushed to %s (%s); nothing was recorded.\n", v.PolicyTag, v.PolicyDigest)
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
