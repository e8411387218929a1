package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/scan"
	"github.com/patchloop/patchloop/vulndb"
)

// exitCode is returned by a command that wants a particular exit status
// without an error message (scan --exit-code).
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// scanFlags are the flags of `patchloop scan`.
type scanFlags struct {
	source        string
	db            string
	dbRepository  string
	osv           string
	report        string
	severity      string
	platform      string
	exitCode      int
	insecure      bool
	username      string
	passwordStdin bool
	cacheDir      string
	mirrors       []string
	keyrings      []string
	allowUnsigned bool
	packages      bool
}

func newScanCmd(e *env, g *globals) *cobra.Command {
	f := &scanFlags{}
	cmd := &cobra.Command{
		Use:   "scan IMAGE",
		Short: "Find the OS-package vulnerabilities of an image that have a fix",
		Long: `scan reads the installed OS packages of IMAGE (every linux platform of a
multi-arch index, or the one --platform names) and reports the
vulnerabilities that have a fix. With -o json it writes a Trivy-compatible
report that Copa reads as-is.

The exit status is 0 when the scan succeeds, whatever it finds, unless
--exit-code N is given: then it is N when a fixable vulnerability is found.
Errors give 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd, e, g, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.source, "source", "repos", "vulnerability source: repos (the distro archive), trivy-db or osv")
	fl.StringVar(&f.db, "db", "", "trivy-db: a trivy.db file or a directory holding trivy.db and metadata.json")
	fl.StringVar(&f.dbRepository, "db-repository", "", "trivy-db: pull the DB as an OCI artifact from this reference (e.g. ghcr.io/aquasecurity/trivy-db:2)")
	fl.StringVar(&f.osv, "osv", "", "osv: a directory or zip of OSV JSON records")
	fl.StringVar(&f.report, "report", "", "use this Trivy JSON report instead of a vulnerability source")
	fl.StringVar(&f.severity, "severity", "", "keep only these severities: UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL (default all)")
	fl.StringVar(&f.platform, "platform", "", "scan only this platform of a multi-arch image, e.g. linux/arm64")
	fl.IntVar(&f.exitCode, "exit-code", 0, "exit status when fixable vulnerabilities are found")
	fl.BoolVar(&f.insecure, "insecure", false, "allow plain HTTP to the registry (loopback and localhost registries may use it anyway)")
	fl.StringVar(&f.username, "username", "", "registry username (default: docker config and credential helpers)")
	fl.BoolVar(&f.passwordStdin, "password-stdin", false, "read the registry password from stdin")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "cache for layers, packages and databases (default $XDG_CACHE_HOME/patchloop)")
	fl.StringArrayVar(&f.mirrors, "mirror", nil, "repos: rewrite a repository URL prefix, FROM=TO (repeatable)")
	fl.StringArrayVar(&f.keyrings, "keyring", nil, "repos: also trust the keys in this keyring file (repeatable)")
	fl.BoolVar(&f.allowUnsigned, "allow-unsigned-repo", false, "repos: accept repositories that are unsigned or signed by unknown keys")
	fl.BoolVar(&f.packages, "packages", false, "list the installed packages instead of vulnerabilities (no source is asked)")
	return cmd
}

// check validates the flags that need no I/O.
func (f *scanFlags) check(cmd *cobra.Command) error {
	if f.report != "" && cmd.Flags().Changed("source") {
		return usagef("--report and --source exclude each other: the report is the source")
	}
	switch f.source {
	case "repos":
		if f.db != "" || f.dbRepository != "" || f.osv != "" {
			return usagef("--db, --db-repository and --osv need --source trivy-db or osv")
		}
	case "trivy-db":
		if (f.db == "") == (f.dbRepository == "") {
			return usagef("--source trivy-db needs exactly one of --db PATH and --db-repository REF")
		}
		if f.osv != "" {
			return usagef("--osv needs --source osv")
		}
	case "osv":
		if f.osv == "" {
			return usagef("--source osv needs --osv PATH")
		}
		if f.db != "" || f.dbRepository != "" {
			return usagef("--db and --db-repository need --source trivy-db")
		}
	default:
		return usagef("--source %q: use repos, trivy-db or osv", f.source)
	}
	if f.source != "repos" && (len(f.mirrors) > 0 || len(f.keyrings) > 0 || f.allowUnsigned) {
		return usagef("--mirror, --keyring and --allow-unsigned-repo apply to --source repos only")
	}
	if f.passwordStdin && f.username == "" {
		return usagef("--password-stdin needs --username")
	}
	if f.username != "" && !f.passwordStdin {
		return usagef("--username needs --password-stdin (the password is never taken as a flag)")
	}
	if f.exitCode < 0 || f.exitCode > 255 {
		return usagef("--exit-code %d: use 0 to 255", f.exitCode)
	}
	return nil
}

func runScan(cmd *cobra.Command, e *env, g *globals, f *scanFlags, arg string) error {
	if err := f.check(cmd); err != nil {
		return err
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
	opts := scan.Options{Now: e.now}
	if f.severity != "" {
		set, err := vulndb.ParseSeveritySet(f.severity)
		if err != nil {
			return usagef("--severity: %v", err)
		}
		opts.Severities = set
	}
	if f.platform != "" {
		p, err := v1.ParsePlatform(f.platform)
		if err != nil {
			return usagef("--platform %q: %v", f.platform, err)
		}
		opts.Platform = p
	}
	cacheDir := f.cacheDir
	if cacheDir == "" {
		if cacheDir, err = distrorepo.DefaultCacheDir(); err != nil {
			return fmt.Errorf("%w (set --cache-dir)", err)
		}
	}
	if opts.Cache, err = image.NewCache(filepath.Join(cacheDir, "layers"), 0); err != nil {
		return fmt.Errorf("%w (set --cache-dir to a writable directory)", err)
	}
	rc, err := f.registryClient(e, ref.Context().RegistryStr())
	if err != nil {
		return err
	}
	opts.Registry = rc
	if !f.packages {
		src, closeSrc, err := f.openSource(ctx, cacheDir)
		if err != nil {
			return err
		}
		defer closeSrc()
		opts.Source = src
	}
	if isTerminalWriter(e.stderr) {
		p := newProgress(e.stderr)
		defer p.finish()
		opts.Progress = p.update
	}
	res, err := scan.Scan(ctx, ref, opts)
	if err != nil {
		return err
	}
	for _, img := range res.Images {
		for _, w := range img.Warnings {
			fmt.Fprintf(e.stderr, "patchloop: warning: %s (%s)\n", w, platformName(img.Platform))
		}
	}
	if f.packages {
		if err := writePackages(cmd.OutOrStdout(), g.output, res); err != nil {
			return err
		}
		return nil
	}
	if err := writeScan(cmd.OutOrStdout(), g.output, res); err != nil {
		return err
	}
	if res.Fixable && f.exitCode != 0 {
		return exitCode(f.exitCode)
	}
	return nil
}

func (f *scanFlags) registryClient(e *env, host string) (*registry.Client, error) {
	opts := append([]registry.Option{registry.WithInsecure(f.insecure), registry.WithUserAgent("patchloop")}, e.registryOptions...)
	if f.passwordStdin {
		pw, err := readPassword(e.stdin)
		if err != nil {
			return nil, err
		}
		opts = append(opts, registry.WithBasicAuth(f.username, pw))
	}
	return registry.New(host, opts...)
}

// openSource opens the vulnerability source the flags name.
func (f *scanFlags) openSource(ctx context.Context, cacheDir string) (vulndb.Source, func(), error) {
	noop := func() {}
	if f.report != "" {
		rf, err := os.Open(f.report)
		if err != nil {
			return nil, noop, fmt.Errorf("--report: %w", err)
		}
		defer rf.Close()
		rep, err := vulndb.ReadReport(rf)
		if err != nil {
			return nil, noop, fmt.Errorf("--report %s: %w", f.report, err)
		}
		return vulndb.NewReportSource(rep), noop, nil
	}
	switch f.source {
	case "trivy-db":
		path := f.db
		if f.dbRepository != "" {
			var nameOpts []name.Option
			if f.insecure {
				nameOpts = append(nameOpts, name.Insecure)
			}
			ref, err := name.ParseReference(f.dbRepository, nameOpts...)
			if err != nil {
				return nil, noop, usagef("--db-repository %q: %v", f.dbRepository, err)
			}
			path, err = vulndb.PullTrivyDB(ctx, ref, cacheDir, vulndb.WithRemoteOptions(remote.WithAuthFromKeychain(authn.DefaultKeychain)))
			if err != nil {
				return nil, noop, err
			}
		}
		db, err := vulndb.OpenTrivyDB(path)
		if err != nil {
			return nil, noop, err
		}
		return db, func() { _ = db.Close() }, nil
	case "osv":
		o, err := vulndb.OpenOSV(f.osv)
		if err != nil {
			return nil, noop, err
		}
		return o, noop, nil
	}
	var mirrors []distrorepo.Mirror
	for _, m := range f.mirrors {
		from, to, ok := strings.Cut(m, "=")
		if !ok || from == "" || to == "" {
			return nil, noop, usagef("--mirror %q: want FROM=TO, e.g. http://deb.debian.org/debian=http://mirror.internal/debian", m)
		}
		mirrors = append(mirrors, distrorepo.Mirror{From: from, To: to})
	}
	c, err := distrorepo.New(distrorepo.Config{
		CacheDir:      cacheDir,
		Mirrors:       mirrors,
		Keyrings:      f.keyrings,
		AllowUnsigned: f.allowUnsigned,
	})
	if err != nil {
		return nil, noop, err
	}
	return vulndb.NewRepos(c), noop, nil
}

// writeScan prints a scan: the Trivy report(s) as JSON, or a table.
func writeScan(w io.Writer, format string, res *scan.Result) error {
	if format == outputJSON {
		if len(res.Images) == 1 {
			return vulndb.WriteReport(w, res.Images[0].Report)
		}
		reports := make([]*vulndb.Report, len(res.Images))
		for i, img := range res.Images {
			reports[i] = img.Report
		}
		return writeJSON(w, reports)
	}
	for i, img := range res.Images {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s (%s) %s: %s\n", res.Ref, platformName(img.Platform), img.Digest, osLine(img))
		if img.EOSL {
			fmt.Fprintf(w, "end of support (EOSL): not matched, never patched\n")
			continue
		}
		rows := tableRows(img.Findings)
		if len(rows) == 0 {
			fmt.Fprintf(w, "no fixable vulnerabilities in %d packages (source %s)\n", len(img.Packages), img.Source)
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PACKAGE\tINSTALLED\tFIXED\tSEVERITY\tVULNERABILITIES")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.pkg, r.installed, cmp.Or(r.fixed, "-"), r.severity, strings.Join(r.ids, ", "))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("writing scan table: %w", err)
		}
		fmt.Fprintf(w, "%d vulnerabilities in %d of %d packages (source %s)\n", len(img.Findings), len(rows), len(img.Packages), img.Source)
	}
	return nil
}

type scanRow struct {
	pkg, installed, fixed string
	severity              vulndb.Severity
	ids                   []string
}

// tableRows groups findings by package and fixed version.
func tableRows(fs []vulndb.Finding) []scanRow {
	var rows []scanRow
	for _, f := range fs {
		n := len(rows)
		if n > 0 && rows[n-1].pkg == f.PkgName && rows[n-1].installed == f.InstalledVersion && rows[n-1].fixed == f.FixedVersion {
			rows[n-1].ids = append(rows[n-1].ids, f.VulnerabilityID.String())
			rows[n-1].severity = max(rows[n-1].severity, f.Severity)
			continue
		}
		rows = append(rows, scanRow{f.PkgName, f.InstalledVersion, f.FixedVersion, f.Severity, []string{f.VulnerabilityID.String()}})
	}
	slices.SortStableFunc(rows, func(a, b scanRow) int { return cmp.Compare(a.pkg, b.pkg) })
	return rows
}

func osLine(img *scan.Image) string {
	s := img.OS.PrettyName
	if s == "" {
		s = img.OS.ID + " " + img.OS.VersionID
	}
	return s
}

func platformName(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// writePackages prints the inventory of each image.
func writePackages(w io.Writer, format string, res *scan.Result) error {
	if format == outputJSON {
		type out struct {
			Platform string `json:"platform"`
			Digest   string `json:"digest"`
			OS       any    `json:"os"`
			EOSL     bool   `json:"eosl"`
			Packages any    `json:"packages"`
		}
		var list []out
		for _, img := range res.Images {
			list = append(list, out{platformName(img.Platform), img.Digest.String(), img.OS, img.EOSL, img.Packages})
		}
		return writeJSON(w, list)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLATFORM\tPACKAGE\tVERSION\tARCH\tSOURCE")
	for _, img := range res.Images {
		for _, p := range img.Packages {
			src := p.SourceName
			if p.SourceVersion != "" && p.SourceVersion != p.Version {
				src += " " + p.SourceVersion
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", platformName(img.Platform), p.Name, p.Version, p.Arch, src)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing package table: %w", err)
	}
	return nil
}

// isTerminalWriter reports whether w is a terminal.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}
