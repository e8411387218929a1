package vulndb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/version"
)

// DefaultReposJobs is how many changelogs Repos downloads at once.
const DefaultReposJobs = 4

// Repos is the "repos" source: the distribution's own apt archive, no
// vulnerability database. An installed package is vulnerable when
//
//   - the security pocket (<codename>-security) offers a newer version: every
//     CVE id named by that version's changelog entries above the installed
//     version is a finding; when they name none, the DSA/DLA/USN ids they
//     name are, else one placeholder id "SU-<source>-<version>" (see
//     PlaceholderID), so a security update always counts;
//   - another configured suite (release, -updates, third-party) offers a
//     newer version whose changelog entries above the installed version name
//     CVE ids; those CVEs are findings. Backports and proposed suites are
//     not considered, as apt does not upgrade to them by default.
//
// A CVE named by several newer versions is reported with the lowest one as
// its FixedVersion. Changelogs come from the candidate .debs, downloaded and
// verified through the distrorepo client and cached by content. Repos knows
// no severities: findings are UNKNOWN.
//
// Repos needs the image's apt configuration: bind it to an image with
// ForImage. Unbound, it uses the built-in default sources of the OS.
type Repos struct {
	client *distrorepo.Client
	fsys   fs.FS
	arch   string
	jobs   int
}

var _ Source = (*Repos)(nil)

// NewRepos returns the repos source reading the archive through c.
func NewRepos(c *distrorepo.Client) *Repos {
	return &Repos{client: c, jobs: DefaultReposJobs}
}

// ForImage returns a copy of r bound to an image's root filesystem (its
// apt sources and keys; nil for none) and its dpkg architecture ("" to
// take it from the installed packages).
func (r *Repos) ForImage(fsys fs.FS, arch string) Source {
	c := *r
	c.fsys, c.arch = fsys, arch
	return &c
}

// Name returns "repos".
func (r *Repos) Name() string { return "repos" }

// candidate is a newer version of an installed package offered by a suite.
type candidate struct {
	pkg      *distrorepo.Package
	security bool
}

// changelogKey names the changelog of one source package version.
type changelogKey struct{ source, version string }

// Find implements Source.
func (r *Repos) Find(ctx context.Context, osr pkgdb.OS, pkgs []pkgdb.Package) ([]Finding, error) {
	if osr.Family != pkgdb.Deb {
		return nil, fmt.Errorf("repos source on %s %s: only dpkg-based distributions are supported: %w", osr.ID, osr.VersionID, ErrUnsupportedOS)
	}
	cmpr, err := comparerFor(osr.Family)
	if err != nil {
		return nil, err
	}
	arch := r.arch
	if arch == "" {
		arch = mainArch(pkgs)
	}
	set, err := r.client.Sources(r.fsys, osr, arch)
	if err != nil {
		return nil, fmt.Errorf("repos source: resolving apt sources of %s %s: %w", osr.ID, osr.VersionID, err)
	}
	var names []string
	for _, p := range pkgs {
		// Source names too: a doc directory often links to the package
		// named after the source, whose .deb then holds the changelog.
		names = append(names, p.Name, p.SourceName)
	}
	ix, err := r.client.Index(ctx, set, distrorepo.WithPackages(names...))
	if err != nil {
		return nil, fmt.Errorf("repos source: %w", err)
	}

	cands := make([][]candidate, len(pkgs))
	need := map[changelogKey]*distrorepo.Package{}
	for i, p := range pkgs {
		cs, err := candidates(ix, p, cmpr)
		if err != nil {
			return nil, err
		}
		cands[i] = cs
		for _, c := range cs {
			k := changelogKey{c.pkg.Source, c.pkg.SourceVersion}
			if need[k] == nil {
				need[k] = c.pkg
			}
		}
	}
	logs, err := r.changelogs(ctx, ix, need)
	if err != nil {
		return nil, err
	}
	var out []Finding
	for i, p := range pkgs {
		out = append(out, findingsFor(osr, p, cands[i], logs, cmpr)...)
	}
	SortFindings(out)
	return out, nil
}

// candidates returns the versions of p newer than the installed one, from
// suites apt would upgrade to, lowest first.
func candidates(ix *distrorepo.Index, p pkgdb.Package, cmpr version.Comparer) ([]candidate, error) {
	var out []candidate
	for _, q := range ix.Packages(p.Name) {
		if q.Architecture != p.Arch && q.Architecture != "all" && p.Arch != "all" {
			continue
		}
		pocket := q.Suite.Pocket
		if pocket == distrorepo.PocketBackports || pocket == distrorepo.PocketProposed {
			continue
		}
		c, err := cmpr.Compare(q.Version, p.Version)
		if err != nil {
			// A version the archive offers that does not parse cannot be
			// an upgrade apt would make; the installed one must parse.
			if _, perr := cmpr.Compare(p.Version, p.Version); perr != nil {
				return nil, fmt.Errorf("repos source: installed %s %s: %w", p.Name, p.Version, perr)
			}
			continue
		}
		if c > 0 {
			out = append(out, candidate{pkg: q, security: pocket == distrorepo.PocketSecurity})
		}
	}
	var sortErr error
	slices.SortStableFunc(out, func(a, b candidate) int {
		c, err := cmpr.Compare(a.pkg.Version, b.pkg.Version)
		if err != nil && sortErr == nil {
			sortErr = err
		}
		return c
	})
	return out, sortErr
}

// changelogs downloads and parses the changelog of each needed source
// version, r.jobs at a time. A package without a changelog gets none; any
// other failure (network, checksum) is an error.
func (r *Repos) changelogs(ctx context.Context, ix *distrorepo.Index, need map[changelogKey]*distrorepo.Package) (map[changelogKey][]changelogEntry, error) {
	keys := make([]changelogKey, 0, len(need))
	for k := range need {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b changelogKey) int {
		return cmp.Or(cmp.Compare(a.source, b.source), cmp.Compare(a.version, b.version))
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		out      = map[changelogKey][]changelogEntry{}
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, max(r.jobs, 1))
	)
	for _, k := range keys {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			entries, err := r.changelog(ctx, ix, need[k])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				return
			}
			out[k] = entries
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func (r *Repos) changelog(ctx context.Context, ix *distrorepo.Index, p *distrorepo.Package) ([]changelogEntry, error) {
	b, err := r.client.Changelog(ctx, ix, p)
	if errors.Is(err, distrorepo.ErrNoChangelog) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("repos source: reading changelog of %s: %w", p, err)
	}
	entries, err := parseChangelog(b)
	if err != nil {
		return nil, fmt.Errorf("repos source: changelog of %s: %w", p, err)
	}
	return entries, nil
}

// findingsFor turns the candidates of one installed package into findings.
func findingsFor(osr pkgdb.OS, p pkgdb.Package, cands []candidate, logs map[changelogKey][]changelogEntry, cmpr version.Comparer) []Finding {
	if len(cands) == 0 {
		return nil
	}
	installedSource := cmp.Or(p.SourceVersion, p.Version)
	fixedBy := map[ID]candidate{}
	var order []ID
	var secCVE bool
	var secAdvisories []ID
	var lastSec *candidate
	for i, c := range cands {
		entries := newerEntries(logs[changelogKey{c.pkg.Source, c.pkg.SourceVersion}], installedSource, cmpr)
		for _, e := range entries {
			for _, id := range e.CVEs {
				if _, ok := fixedBy[id]; !ok {
					fixedBy[id] = c
					order = append(order, id)
				}
				secCVE = secCVE || c.security
			}
			if c.security {
				for _, id := range e.Advisories {
					if !slices.Contains(secAdvisories, id) {
						secAdvisories = append(secAdvisories, id)
					}
				}
			}
		}
		if c.security {
			lastSec = &cands[i]
		}
	}
	if lastSec != nil && !secCVE {
		ids := secAdvisories
		if len(ids) == 0 {
			ids = []ID{PlaceholderID(lastSec.pkg.Source, lastSec.pkg.SourceVersion)}
		}
		for _, id := range ids {
			if _, ok := fixedBy[id]; !ok {
				fixedBy[id] = *lastSec
				order = append(order, id)
			}
		}
	}
	out := make([]Finding, 0, len(order))
	for _, id := range order {
		c := fixedBy[id]
		out = append(out, Finding{
			VulnerabilityID:  id,
			PkgName:          p.Name,
			SourceName:       cmp.Or(p.SourceName, p.Name),
			Arch:             p.Arch,
			InstalledVersion: p.Version,
			FixedVersion:     c.pkg.Version,
			Status:           StatusFixed,
			Severity:         SeverityUnknown,
			Title:            fmt.Sprintf("fixed in %s %s (%s)", c.pkg.Source, c.pkg.SourceVersion, c.pkg.Suite.Name),
			PrimaryURL:       trackerURL(osr, id),
			DataSource:       c.pkg.Suite.Name,
		})
	}
	return out
}

// PlaceholderID is the id reported for a security-pocket update whose
// changelog names no CVE and no advisory: "SU-<source>-<version>", with
// characters an id cannot hold ("+", "~") turned into "_".
// For example SU-tzdata-2025b-0_deb12u1.
func PlaceholderID(source, ver string) ID {
	clean := func(s string) string {
		s = strings.Map(func(r rune) rune {
			if isIDChar(r) || r == '-' {
				return r
			}
			return '_'
		}, s)
		for strings.Contains(s, "--") {
			s = strings.ReplaceAll(s, "--", "-")
		}
		return strings.Trim(s, "-")
	}
	id, err := ParseID("SU-" + clean(source) + "-" + clean(ver))
	if err != nil {
		return MustParseID("SU-unknown")
	}
	return id
}

// trackerURL links a CVE to the distribution's security tracker.
func trackerURL(osr pkgdb.OS, id ID) string {
	if !id.IsCVE() {
		return ""
	}
	switch osr.ID {
	case "debian":
		return "https://security-tracker.debian.org/tracker/" + id.String()
	case "ubuntu":
		return "https://ubuntu.com/security/" + id.String()
	}
	return ""
}

// mainArch is the architecture most installed packages have, other than
// "all": the image's dpkg architecture.
func mainArch(pkgs []pkgdb.Package) string {
	count := map[string]int{}
	best := ""
	for _, p := range pkgs {
		if p.Arch == "" || p.Arch == "all" {
			continue
		}
		count[p.Arch]++
		if n := count[p.Arch]; n > count[best] || (n == count[best] && p.Arch < best) {
			best = p.Arch
		}
	}
	return best
}
