package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/internal/demo"
	"github.com/patchloop/patchloop/internal/regserver"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/workflow"
)

// demoPolicy is the how-to's example policy, trailing comma included.
const demoPolicy = `{
"version": "v1",
"tag-convention" : "incremental",
"repositories": [{
        "repository": "python",
        "tags": ["*"],
        "enabled": true
    },
    {
        "repository": "ubuntu",
        "tags": ["jammy-20240111", "jammy-20240125"],
     "enabled": true,
    }]
}
`

// demoTags are where the demo image is pushed: python-like tags under "*"
// and the two ubuntu-like tags the example policy names.
var demoTags = []string{"python:3.12-bookworm", "python:3.11-bookworm", "ubuntu:jammy-20240111", "ubuntu:jammy-20240125"}

func newDemoCmd(e *env, g *globals) *cobra.Command {
	var (
		dir      string
		cacheDir string
		workers  int
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Patch a real vulnerable Debian image end to end on an in-process registry",
		Long: `demo shows continuous patching end to end on this machine, with nothing but
network access to the Debian archive:

 1. starts the CNCF distribution registry in-process, storing in a new
    temporary directory it names (or --dir);
 2. builds a small but real Debian bookworm image from archive packages in
    versions that bookworm-security supersedes, installed by the patch
    engine's own .deb code with a valid dpkg database;
 3. pushes it as python:3.12-bookworm, python:3.11-bookworm,
    ubuntu:jammy-20240111 and ubuntu:jammy-20240125;
 4. creates the how-to's example workflow (python: *, ubuntu: two tags,
    incremental) with a 1d schedule and --run-immediately;
 5. runs the tasks in-process until the cycle completes;
 6. prints the workflow list table, the patched tags and the fixed CVEs.

The registry storage, the store and the policy file stay in the directory;
the registry itself stops when demo exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if workers < 1 {
				return usagef("--workers %d: use at least 1", workers)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return runDemo(ctx, cmd.OutOrStdout(), e, g, dir, cacheDir, workers)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the registry storage, store and policy (default a new temporary directory)")
	cmd.Flags().StringVar(&cacheDir, "cache-dir", "", "cache for packages, archive indexes and layers (default $XDG_CACHE_HOME/patchloop)")
	cmd.Flags().IntVar(&workers, "workers", 4, "tasks run at once")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long")
	return cmd
}

func runDemo(ctx context.Context, out io.Writer, e *env, g *globals, dir, cacheDir string, workers int) error {
	start := time.Now()
	step := func(format string, a ...any) {
		fmt.Fprintf(out, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "patchloop-demo-")
		if err != nil {
			return fmt.Errorf("creating the demo directory: %w", err)
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the demo directory: %w", err)
	}
	step("demo directory: %s", dir)
	reg, err := regserver.Start(ctx, regserver.Config{Dir: filepath.Join(dir, "registry")})
	if err != nil {
		return err
	}
	defer reg.Close()
	step("registry: CNCF distribution in-process at %s (storage %s)", reg.Addr, reg.Dir)

	cacheDir, repos, err := newRepos(cacheDir)
	if err != nil {
		return err
	}
	scratch := filepath.Join(dir, "scratch")
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return fmt.Errorf("creating scratch directory: %w", err)
	}
	built, err := demo.Build(ctx, demo.Config{Repos: repos, ScratchDir: scratch})
	if err != nil {
		return fmt.Errorf("building the demo image: %w", err)
	}
	var vuln []string
	for _, u := range built.Packages {
		if sec, ok := built.Vulnerable[u.Name]; ok {
			vuln = append(vuln, fmt.Sprintf("%s %s (bookworm-security has %s)", u.Name, u.NewVersion, sec))
		}
	}
	step("built a Debian 12 image of %d archive packages; vulnerable: %s", len(built.Packages), strings.Join(vuln, ", "))

	c, err := registry.New(reg.Addr, append([]registry.Option{registry.WithUserAgent("patchloop")}, e.registryOptions...)...)
	if err != nil {
		return err
	}
	for _, rt := range demoTags {
		repo, tag, _ := strings.Cut(rt, ":")
		ref, err := c.Tag(repo, tag)
		if err != nil {
			return err
		}
		if _, err := c.WriteImage(ctx, ref, built.Image); err != nil {
			return err
		}
	}
	step("pushed %s", strings.Join(demoTags, ", "))

	pf := filepath.Join(dir, "continuouspatching.json")
	if err := os.WriteFile(pf, []byte(demoPolicy), 0o644); err != nil {
		return fmt.Errorf("writing the demo policy: %w", err)
	}
	storePath := filepath.Join(dir, "patchloop.db")
	step("patchloop workflow create -r %s --config %s --schedule 1d --run-immediately", reg.Addr, pf)
	args := []string{"--store", storePath, "workflow", "create", "-r", reg.Addr, "--config", pf, "--schedule", "1d", "--run-immediately"}
	if code := run(ctx, e, args); code != 0 {
		return fmt.Errorf("creating the demo workflow failed (exit %d)", code)
	}

	dg := &globals{store: storePath, output: g.output}
	p, err := newPipelineWith(e, cacheDir, repos)
	if err != nil {
		return err
	}
	eng, db, err := dg.openEngine(ctx, e, engineOptions{workers: workers, pipeline: p, jobTimeout: 10 * time.Minute})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := eng.Start(ctx); err != nil {
		return err
	}
	step("running cssc-trigger-workflow, cssc-scan-image and cssc-patch-image with %d workers", workers)
	werr := waitCycle(ctx, eng, reg.Addr)
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer scancel()
	if err := eng.Stop(sctx); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return werr
	}
	step("cycle complete")

	rows, err := eng.ListImages(ctx, reg.Addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\npatchloop workflow list -r %s\n", reg.Addr)
	if err := writeImageRows(out, rows); err != nil {
		return err
	}
	patches, err := eng.ListRuns(ctx, workflow.RunFilter{Workflow: reg.Addr, Task: workflow.TaskPatch})
	if err != nil {
		return err
	}
	slices.SortFunc(patches, func(a, b workflow.Run) int { return strings.Compare(a.Image, b.Image) })
	fmt.Fprintln(out, "\nPatched images:")
	failed := 0
	for _, r := range patches {
		switch r.Status {
		case workflow.StatusSucceeded:
			fmt.Fprintf(out, "  %s -> %s (%s)\n", r.Image, r.Result.Tag, r.Result.Digest)
			fmt.Fprintf(out, "    fixed %d: %s\n", len(r.Result.FixedCVEs), strings.Join(r.Result.FixedCVEs, ", "))
		default:
			failed++
			fmt.Fprintf(out, "  %s: %s %s\n", r.Image, r.Status, r.Reason)
		}
	}
	fmt.Fprintf(out, "\nDemo finished in %.1fs. The registry storage, store (%s) and policy stay in %s.\n", time.Since(start).Seconds(), storePath, dir)
	fmt.Fprintf(out, "Runs and logs: patchloop --store %s task list-runs; patchloop --store %s task logs --run-id ID\n", storePath, storePath)
	if failed > 0 {
		return fmt.Errorf("%s of the demo did not succeed", plural(failed, "patch"))
	}
	return nil
}

// waitCycle waits until the workflow's latest cycle has a finished trigger
// and no queued or running task.
func waitCycle(ctx context.Context, eng *workflow.Engine, wf string) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		runs, err := eng.ListRuns(ctx, workflow.RunFilter{Workflow: wf})
		if err != nil {
			return err
		}
		if cycleDone(runs) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the cycle of %s: %w", wf, ctx.Err())
		case <-tick.C:
		}
	}
}

// cycleDone reports whether runs hold a trigger and none is still active.
func cycleDone(runs []workflow.Run) bool {
	trigger := false
	for _, r := range runs {
		if r.Status.Active() {
			return false
		}
		if r.Task == workflow.TaskTrigger {
			trigger = true
		}
	}
	return trigger
}
