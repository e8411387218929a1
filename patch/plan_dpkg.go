package patch

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/version"
)

// DpkgPlanner plans upgrades of Debian packages the way apt would with
// `apt-get --only-upgrade install`: the highest candidate across all
// suites, versioned dependencies that force other packages up (installing
// new packages only when a dependency needs one), packages built from the
// same source moving together, and Breaks and Conflicts checked. It never
// removes a package: a plan that would need a removal fails.
type DpkgPlanner struct{}

var _ Planner = (*DpkgPlanner)(nil)

// Paths is the dpkg database.
func (*DpkgPlanner) Paths() []string { return []string{dpkgStatus, dpkgStatusD + "/"} }

// planPkg is a package instance of the system after the plan.
type planPkg struct {
	name, arch, multiArch string
	version               string
	source, sourceVersion string
	depends, preDepends   distrorepo.Relations
	breaks, conflicts     distrorepo.Relations
	provides              distrorepo.Relations
	// installed is the version before the plan, "" for a new package.
	installed string
	// cand is the entry the plan installs, nil when unchanged.
	cand   *distrorepo.Package
	reason string
}

func (p *planPkg) key() string { return p.name + ":" + p.arch }

// solver holds the state of one plan.
type solver struct {
	req  PlanRequest
	cmp  version.DebComparer
	pkgs map[string][]*planPkg // by name
	keys []string              // sorted "name:arch" of every instance
	byKy map[string]*planPkg
}

// Plan computes the upgrade for the image whose database is in db.
func (d *DpkgPlanner) Plan(ctx context.Context, db fs.FS, req PlanRequest) (*Plan, error) {
	if req.Index == nil || req.Arch == "" {
		return nil, fmt.Errorf("planning upgrade: index and architecture are required")
	}
	if req.All && len(req.Fixes) > 0 {
		return nil, fmt.Errorf("planning upgrade: all and a list of fixes are exclusive")
	}
	st, err := readDpkgDB(db)
	if err != nil {
		return nil, err
	}
	s := &solver{req: req, pkgs: map[string][]*planPkg{}, byKy: map[string]*planPkg{}}
	for _, e := range st.entries {
		if !e.installed() {
			continue
		}
		p, err := installedPlanPkg(e.stanza)
		if err != nil {
			return nil, err
		}
		s.add(p)
	}
	plan := &Plan{}
	if req.All {
		for _, k := range s.sortedKeys() {
			p := s.byKy[k]
			if c := s.best(p.name, p.arch, p.multiArch); c != nil && s.newer(c.Version, p.version) {
				s.upgrade(p, c, "newer version")
			}
		}
	}
	for _, f := range req.Fixes {
		insts := s.pkgs[f.Name]
		if len(insts) == 0 {
			return nil, fmt.Errorf("package %s is not installed: %w", f.Name, ErrUnsatisfiable)
		}
		for _, p := range insts {
			c := s.best(p.name, p.arch, p.multiArch)
			if c == nil || !s.newer(c.Version, p.version) {
				if f.MinVersion != "" && !s.atLeast(p.version, f.MinVersion) {
					return nil, fmt.Errorf("%s: no candidate at or above the fixed version %s (installed %s): %w", f.Name, f.MinVersion, p.version, ErrUnsatisfiable)
				}
				plan.UpToDate = append(plan.UpToDate, f.Name)
				continue
			}
			if f.MinVersion != "" && !s.atLeast(c.Version, f.MinVersion) {
				return nil, fmt.Errorf("%s: best candidate %s is older than the fixed version %s: %w", f.Name, c.Version, f.MinVersion, ErrUnsatisfiable)
			}
			s.upgrade(p, c, "requested")
		}
	}
	if err := s.close(ctx); err != nil {
		return nil, err
	}
	for _, k := range s.sortedKeys() {
		p := s.byKy[k]
		if p.cand == nil {
			continue
		}
		plan.Upgrades = append(plan.Upgrades, Upgrade{
			Name: p.name, Arch: p.cand.Architecture, OldVersion: p.installed,
			NewVersion: p.cand.Version, Reason: p.reason,
		})
	}
	sort.Slice(plan.Upgrades, func(i, j int) bool {
		a, b := plan.Upgrades[i], plan.Upgrades[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Arch < b.Arch
	})
	sort.Strings(plan.UpToDate)
	return plan, nil
}

func installedPlanPkg(s stanza) (*planPkg, error) {
	p := &planPkg{
		name: s.get("Package"), arch: s.get("Architecture"), multiArch: s.get("Multi-Arch"),
		version: s.get("Version"),
	}
	p.installed = p.version
	p.source, p.sourceVersion = p.name, p.version
	if src := s.get("Source"); src != "" {
		name, ver, _ := strings.Cut(src, " ")
		p.source = name
		if ver = strings.Trim(strings.TrimSpace(ver), "()"); ver != "" {
			p.sourceVersion = ver
		}
	}
	for _, f := range []struct {
		name string
		dst  *distrorepo.Relations
	}{
		{"Depends", &p.depends}, {"Pre-Depends", &p.preDepends}, {"Breaks", &p.breaks},
		{"Conflicts", &p.conflicts}, {"Provides", &p.provides},
	} {
		r, err := distrorepo.ParseRelations(s.get(f.name))
		if err != nil {
			return nil, fmt.Errorf("parsing %s of installed %s: %w", f.name, p.name, err)
		}
		*f.dst = r
	}
	return p, nil
}

func (s *solver) add(p *planPkg) {
	s.pkgs[p.name] = append(s.pkgs[p.name], p)
	s.byKy[p.key()] = p
	s.keys = nil
}

func (s *solver) sortedKeys() []string {
	if s.keys == nil {
		for k := range s.byKy {
			s.keys = append(s.keys, k)
		}
		sort.Strings(s.keys)
	}
	return s.keys
}

// upgrade makes p the candidate c.
func (s *solver) upgrade(p *planPkg, c *distrorepo.Package, reason string) {
	p.cand, p.reason = c, reason
	p.version = c.Version
	p.source, p.sourceVersion = c.Source, c.SourceVersion
	p.depends, p.preDepends, p.breaks, p.conflicts, p.provides = c.Depends, c.PreDepends, c.Breaks, c.Conflicts, c.Provides
	p.multiArch = c.MultiArch
}

func (s *solver) compare(a, b string) int {
	n, err := s.cmp.Compare(a, b)
	if err != nil {
		return strings.Compare(a, b) // unparsable versions never reach here from dpkg or apt
	}
	return n
}

func (s *solver) newer(a, b string) bool   { return s.compare(a, b) > 0 }
func (s *solver) atLeast(a, b string) bool { return s.compare(a, b) >= 0 }

// archFits says whether an index entry can replace or satisfy an instance
// of architecture arch: the same architecture, or "all" and native
// interchangeably unless the package is Multi-Arch: same.
func (s *solver) archFits(entryArch, arch, multiArch string) bool {
	if entryArch == arch {
		return true
	}
	if multiArch == "same" {
		return false
	}
	native := map[string]bool{"all": true, s.req.Arch: true}
	return native[entryArch] && native[arch]
}

// best is the highest version of name for arch across every suite, as apt
// picks a candidate when all suites have the same priority.
func (s *solver) best(name, arch, multiArch string) *distrorepo.Package {
	var best *distrorepo.Package
	for _, c := range s.req.Index.Packages(name) {
		if !s.archFits(c.Architecture, arch, multiArch) {
			continue
		}
		if best == nil || s.newer(c.Version, best.Version) {
			best = c
		}
	}
	return best
}

// versionMatches says whether version v meets r's constraint.
func (s *solver) versionMatches(r distrorepo.Relation, v string) bool {
	if r.Op == "" {
		return true
	}
	c := s.compare(v, r.Version)
	switch r.Op {
	case "<<":
		return c < 0
	case "<=":
		return c <= 0
	case "=":
		return c == 0
	case ">=":
		return c >= 0
	case ">>":
		return c > 0
	}
	return false
}

// satisfiedBy says whether package p (after the plan) satisfies r, by its
// own name or a Provides.
func (s *solver) satisfiedBy(r distrorepo.Relation, p *planPkg) bool {
	if p.name == r.Name {
		return s.versionMatches(r, p.version)
	}
	for _, g := range p.provides {
		for _, pr := range g {
			if pr.Name != r.Name {
				continue
			}
			if r.Op == "" {
				return true
			}
			if pr.Op == "=" && s.versionMatches(r, pr.Version) {
				return true
			}
		}
	}
	return false
}

// satisfied says whether some package after the plan satisfies one of the
// alternatives.
func (s *solver) satisfied(g distrorepo.Alternatives) bool {
	for _, r := range g {
		for _, k := range s.sortedKeys() {
			if s.satisfiedBy(r, s.byKy[k]) {
				return true
			}
		}
	}
	return false
}

// close adds what the packages being upgraded need until nothing changes.
func (s *solver) close(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		changed, err := s.pass()
		if err != nil {
			return err
		}
		if !changed {
			return nil
		}
	}
}

// pass checks every constraint once and makes the first change needed.
func (s *solver) pass() (bool, error) {
	for _, k := range s.sortedKeys() {
		p := s.byKy[k]
		if p.cand != nil {
			if ch, err := s.needsOf(p); ch || err != nil {
				return ch, err
			}
			if ch := s.sameSource(p); ch {
				return true, nil
			}
		}
		if ch, err := s.checkDepends(p); ch || err != nil {
			return ch, err
		}
		if ch, err := s.checkBreaks(p); ch || err != nil {
			return ch, err
		}
	}
	return false, nil
}

// needsOf satisfies the dependencies of an upgraded or new package: by
// upgrading an installed package named in the group, else by installing
// the first alternative that has a fitting candidate.
func (s *solver) needsOf(p *planPkg) (bool, error) {
	for _, g := range append(append(distrorepo.Relations{}, p.preDepends...), p.depends...) {
		if s.satisfied(g) {
			continue
		}
		for _, r := range g {
			for _, q := range s.pkgs[r.Name] {
				if c := s.best(q.name, q.arch, q.multiArch); c != nil && s.newer(c.Version, q.version) && s.versionMatches(r, c.Version) {
					s.upgrade(q, c, "needed by "+p.name)
					return true, nil
				}
			}
		}
		for _, r := range g {
			if len(s.pkgs[r.Name]) > 0 {
				continue
			}
			if c := s.best(r.Name, s.req.Arch, ""); c != nil && s.versionMatches(r, c.Version) {
				q := &planPkg{name: c.Name, arch: c.Architecture}
				s.upgrade(q, c, "new, needed by "+p.name)
				s.add(q)
				return true, nil
			}
		}
		return false, fmt.Errorf("%s %s depends on %s, which no installed package or candidate satisfies: %w", p.name, p.version, altString(g), ErrUnsatisfiable)
	}
	return false, nil
}

// sameSource moves the installed binaries built from p's source to the
// version built from the same source version, as they ship together.
func (s *solver) sameSource(p *planPkg) bool {
	for _, k := range s.sortedKeys() {
		q := s.byKy[k]
		if q.cand != nil || q.source != p.source || q.installed == "" {
			continue
		}
		c := s.best(q.name, q.arch, q.multiArch)
		if c != nil && c.Source == p.source && c.SourceVersion == p.sourceVersion && s.newer(c.Version, q.version) {
			s.upgrade(q, c, "same source as "+p.name)
			return true
		}
	}
	return false
}

// checkDepends checks an unchanged package's dependencies still hold now
// that others moved; one that broke is upgraded if a candidate helps.
func (s *solver) checkDepends(p *planPkg) (bool, error) {
	if p.cand != nil {
		return false, nil
	}
	for _, g := range append(append(distrorepo.Relations{}, p.preDepends...), p.depends...) {
		if !s.mentionsChanged(g) || s.satisfied(g) {
			continue
		}
		if c := s.best(p.name, p.arch, p.multiArch); c != nil && s.newer(c.Version, p.version) {
			s.upgrade(p, c, "its dependency "+altString(g)+" moved")
			return true, nil
		}
		return false, fmt.Errorf("%s %s depends on %s, which the upgrade breaks, and has no newer candidate: %w", p.name, p.version, altString(g), ErrUnsatisfiable)
	}
	return false, nil
}

func (s *solver) mentionsChanged(g distrorepo.Alternatives) bool {
	for _, r := range g {
		for _, q := range s.pkgs[r.Name] {
			if q.cand != nil {
				return true
			}
		}
	}
	return false
}

// checkBreaks checks p's Breaks and Conflicts against the packages after
// the plan, where either side moved. A broken package is upgraded to a
// candidate that is not broken; the plan fails when none is.
func (s *solver) checkBreaks(p *planPkg) (bool, error) {
	for _, g := range append(append(distrorepo.Relations{}, p.breaks...), p.conflicts...) {
		for _, r := range g {
			for _, k := range s.sortedKeys() {
				q := s.byKy[k]
				if q.name == p.name || (p.cand == nil && q.cand == nil) || !s.satisfiedBy(r, q) {
					continue
				}
				// Upgrade whichever side can leave the conflict.
				if q.installed != "" && q.name == r.Name {
					if c := s.best(q.name, q.arch, q.multiArch); c != nil && s.newer(c.Version, q.version) && !s.versionMatches(r, c.Version) {
						s.upgrade(q, c, "broken by "+p.name)
						return true, nil
					}
				}
				if p.cand == nil {
					if c := s.best(p.name, p.arch, p.multiArch); c != nil && s.newer(c.Version, p.version) {
						s.upgrade(p, c, "breaks "+q.name+" "+q.version)
						return true, nil
					}
				}
				return false, fmt.Errorf("%s %s breaks or conflicts with %s %s (%s), and no candidate resolves it: %w", p.name, p.version, q.name, q.version, r, ErrUnsatisfiable)
			}
		}
	}
	return false, nil
}

// altString formats an OR-group as in a control file.
func altString(g distrorepo.Alternatives) string {
	parts := make([]string, len(g))
	for i, r := range g {
		parts[i] = r.String()
	}
	return strings.Join(parts, " | ")
}
