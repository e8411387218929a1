package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/patch"
	"github.com/patchloop/patchloop/policy"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/vulndb"
)

// patchFlags are the flags of `patchloop patch`.
type patchFlags struct {
	report        string
	all           bool
	tag           string
	convention    string
	vex           string
	dryRun        bool
	insecure      bool
	username      string
	passwordStdin bool
	cacheDir      string
	mirrors       []string
	keyrings      []string
	allowUnsigned bool
}

func newPatchCmd(e *env, g *globals) *cobra.Command {
	f := &patchFlags{}
	cmd := &cobra.Command{
		Use:   "patch IMAGE",
		Short: "Patch an image's OS packages and push it under a patch tag",
		Long: `patch upgrades the OS packages of IMAGE (every linux platform of a
multi-arch index) that have a fix, builds one layer on top of the original
image from the distribution's signed archive, without running a container,
and pushes it to the same repository: tag-1, tag-2, … (incremental, the
default), tag-patched (--tag-convention floating) or --tag.

What to fix: by default the image is scanned against the distribution's
archive (as 'patchloop scan' does); --report uses a Trivy JSON report;
--all upgrades every package that has a newer version.

When IMAGE is itself a patched image, the patch starts again from its
original. When nothing applies, it prints "already up to date", pushes
nothing and exits 0. Maintainer scripts are never run: the output and the
image history list the packages whose scripts did not run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPatch(cmd, e, g, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.report, "report", "", "fix the vulnerabilities of this Trivy JSON report instead of scanning")
	fl.BoolVar(&f.all, "all", false, "upgrade every package that has a newer version, vulnerable or not")
	fl.StringVar(&f.tag, "tag", "", "push under this tag (default: derived from IMAGE's tag by --tag-convention)")
	fl.StringVar(&f.convention, "tag-convention", "", "incremental (tag-1, tag-2, …; default) or floating (tag-patched)")
	fl.StringVar(&f.vex, "vex", "", "write the OpenVEX document of the fixed vulnerabilities to this file")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the upgrade plan of each platform and push nothing")
	fl.BoolVar(&f.insecure, "insecure", false, "allow plain HTTP to the registry (loopback and localhost registries may use it anyway)")
	fl.StringVar(&f.username, "username", "", "registry username (default: docker config and credential helpers)")
	fl.BoolVar(&f.passwordStdin, "password-stdin", false, "read the registry password from stdin")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "cache for layers, packages and indexes (default $XDG_CACHE_HOME/patchloop)")
	fl.StringArrayVar(&f.mirrors, "mirror", nil, "rewrite a repository URL prefix, FROM=TO (repeatable), e.g. for an air-gapped mirror")
	fl.StringArrayVar(&f.keyrings, "keyring", nil, "also trust the keys in this keyring file (repeatable)")
	fl.BoolVar(&f.allowUnsigned, "allow-unsigned-repo", false, "accept repositories that are unsigned or signed by unknown keys")
	return cmd
}

// check validates the flags that need no I/O.
func (f *patchFlags) check() error {
	if f.report != "" && f.all {
		return usagef("--report and --all exclude each other")
	}
	if f.tag != "" && f.convention != "" {
		return usagef("--tag and --tag-convention exclude each other")
	}
	if f.tag != "" && !policy.ValidTag(f.tag) {
		return usagef("--tag %q is not a valid tag", f.tag)
	}
	if f.convention != "" {
		if _, err := policy.ParseConvention(f.convention); err != nil {
			return usagef("--tag-convention: %v", err)
		}
	}
	if f.passwordStdin && f.username == "" {
		return usagef("--password-stdin needs --username")
	}
	if f.username != "" && !f.passwordStdin {
		return usagef("--username needs --password-stdin (the password is never taken as a flag)")
	}
	return nil
}

// patchMemoryLimit is the soft heap limit below which a patch run does
// not collect garbage (unless GOGC or GOMEMLIMIT is set): a run is short,
// and its heap is mostly the parsed package indexes it keeps to the end.
const patchMemoryLimit = 512 << 20

func runPatch(cmd *cobra.Command, e *env, g *globals, f *patchFlags, arg string) error {
	if err := f.check(); err != nil {
		return err
	}
	if e.getenv("GOGC") == "" && e.getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(patchMemoryLimit))
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
	}
	ctx := cmd.Context()
	var nameOpts []name.Option
	if f.insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	ref, err := name.ParseReference(arg, nameOpts...)
	if err != nil {
		return usagef("image %q: %v", arg, err)
	}
	cacheDir := f.cacheDir
	if cacheDir == "" {
		if cacheDir, err = distrorepo.DefaultCacheDir(); err != nil {
			return fmt.Errorf("%w (set --cache-dir)", err)
		}
	}
	cache, err := image.NewCache(filepath.Join(cacheDir, "layers"), 0)
	if err != nil {
		return fmt.Errorf("%w (set --cache-dir to a writable directory)", err)
	}
	var mirrors []distrorepo.Mirror
	for _, m := range f.mirrors {
		from, to, ok := strings.Cut(m, "=")
		if !ok || from == "" || to == "" {
			return usagef("--mirror %q: want FROM=TO, e.g. http://deb.debian.org/debian=http://mirror.internal/debian", m)
		}
		mirrors = append(mirrors, distrorepo.Mirror{From: from, To: to})
	}
	repos, err := distrorepo.New(distrorepo.Config{CacheDir: cacheDir, Mirrors: mirrors, Keyrings: f.keyrings, AllowUnsigned: f.allowUnsigned})
	if err != nil {
		return err
	}
	regOpts := append([]registry.Option{registry.WithInsecure(f.insecure), registry.WithUserAgent("patchloop")}, e.registryOptions...)
	if f.passwordStdin {
		pw, err := readPassword(e.stdin)
		if err != nil {
			return err
		}
		regOpts = append(regOpts, registry.WithBasicAuth(f.username, pw))
	}
	rc, err := registry.New(ref.Context().RegistryStr(), regOpts...)
	if err != nil {
		return err
	}
	req := patch.Request{
		Image:      ref,
		Registry:   rc,
		Repos:      repos,
		All:        f.all,
		Tag:        f.tag,
		Convention: policy.Convention(f.convention),
		DryRun:     f.dryRun,
		Cache:      cache,
		ScratchDir: filepath.Join(cacheDir, "tmp"),
		Now:        e.now,
	}
	if err := os.MkdirAll(req.ScratchDir, 0o755); err != nil {
		return fmt.Errorf("creating scratch directory: %w (set --cache-dir to a writable directory)", err)
	}
	if !f.dryRun {
		req.Writer = rc.Pusher()
	}
	switch {
	case f.report != "":
		rf, err := os.Open(f.report)
		if err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		rep, err := vulndb.ReadReport(rf)
		rf.Close()
		if err != nil {
			return fmt.Errorf("--report %s: %w", f.report, err)
		}
		req.Report = rep
	case !f.all:
		req.Source = vulndb.NewRepos(repos)
	}
	res, err := patch.Run(ctx, req)
	if err != nil {
		return err
	}
	if f.vex != "" && res.VEX != nil {
		if err := writeVEXFile(f.vex, res); err != nil {
			return err
		}
	}
	if g.output == outputJSON {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	return writePatch(cmd.OutOrStdout(), res)
}

func writeVEXFile(path string, res *patch.Result) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--vex: %w", err)
	}
	if err := res.VEX.ToJSON(out); err != nil {
		out.Close()
		return fmt.Errorf("--vex: writing %s: %w", path, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("--vex: writing %s: %w", path, err)
	}
	return nil
}

// writePatch prints what patch did, or would do on a dry run.
func writePatch(w io.Writer, res *patch.Result) error {
	if res.UpToDate {
		fmt.Fprintf(w, "%s is already up to date: no package to upgrade\n", res.Original)
		for _, p := range res.Platforms {
			if p.Skipped != "" && len(res.Platforms) > 1 {
				fmt.Fprintf(w, "  %s: %s\n", platformName(p.Platform), p.Skipped)
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, p := range res.Platforms {
		fmt.Fprintf(tw, "%s:", platformName(p.Platform))
		if p.Plan == nil || len(p.Plan.Upgrades) == 0 {
			fmt.Fprintf(tw, " unchanged (%s)\n", p.Skipped)
			continue
		}
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "  PACKAGE\tINSTALLED\tNEW\tREASON")
		for _, u := range p.Plan.Upgrades {
			old := u.OldVersion
			if old == "" {
				old = "(new)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", u.Name, old, u.NewVersion, u.Reason)
		}
		if p.Layer != nil {
			for _, s := range p.Layer.ScriptsNotRun {
				fmt.Fprintf(tw, "  maintainer scripts not run: %s (%s)\n", s.Package, strings.Join(s.Scripts, ","))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing patch plan: %w", err)
	}
	if len(res.FixedCVEs) > 0 {
		fmt.Fprintf(w, "fixes %d vulnerabilities: %s\n", len(res.FixedCVEs), strings.Join(res.FixedCVEs, ", "))
	}
	if res.DryRun {
		fmt.Fprintf(w, "dry run: would push %s (built on %s@%s)\n", res.Tag, res.Original, res.OriginalDigest)
		return nil
	}
	fmt.Fprintf(w, "pushed %s@%s (built on %s@%s)\n", res.Tag, res.Digest, res.Original, res.OriginalDigest)
	if res.VEX != nil && res.VEXDigest.Hex != "" {
		fmt.Fprintf(w, "attached OpenVEX document %s\n", res.VEXDigest)
	}
	return nil
}
