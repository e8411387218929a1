package distrorepo

import (
	"fmt"

	"github.com/patchloop/patchloop/version"
)

// Index is the merged package index of a source set for one architecture:
// every version of every binary package that its suites offer, each
// tagged with its suite. It is read-only once built.
type Index struct {
	arch      string
	suites    []*Suite
	all       []*Package
	byName    map[string][]*Package
	providers map[string][]*Package
}

func newIndex(arch string) *Index {
	return &Index{arch: arch, byName: map[string][]*Package{}, providers: map[string][]*Package{}}
}

func (ix *Index) add(s *Suite, pkgs []*Package) {
	ix.suites = append(ix.suites, s)
	ix.all = append(ix.all, pkgs...)
	for _, p := range pkgs {
		ix.byName[p.Name] = append(ix.byName[p.Name], p)
		for _, g := range p.Provides {
			for _, r := range g {
				ix.providers[r.Name] = append(ix.providers[r.Name], p)
			}
		}
	}
}

// Arch is the architecture indexed.
func (ix *Index) Arch() string { return ix.arch }

// Suites are the suites merged, in source order.
func (ix *Index) Suites() []*Suite { return ix.suites }

// Packages returns every entry named name, in suite order then index
// order: all versions and architectures (the native one and "all").
// Order them with a version.Comparer to pick a candidate.
func (ix *Index) Packages(name string) []*Package { return ix.byName[name] }

// Providers returns the entries whose Provides names name.
func (ix *Index) Providers(name string) []*Package { return ix.providers[name] }

// All returns every entry, in suite order. The slice must not be modified.
func (ix *Index) All() []*Package { return ix.all }

// Len is the number of entries.
func (ix *Index) Len() int { return len(ix.all) }

// Newest returns the entry named name with the highest version as cmp
// orders them, among those keep accepts (nil keeps all): apt's candidate
// when all suites have the same pin priority. It returns nil when no entry
// qualifies, and an error naming a version cmp cannot parse.
func (ix *Index) Newest(name string, cmp version.Comparer, keep func(*Package) bool) (*Package, error) {
	var best *Package
	for _, p := range ix.byName[name] {
		if keep != nil && !keep(p) {
			continue
		}
		if best == nil {
			best = p
			continue
		}
		c, err := cmp.Compare(p.Version, best.Version)
		if err != nil {
			return nil, fmt.Errorf("comparing versions of %s: %w", name, err)
		}
		if c > 0 {
			best = p
		}
	}
	return best, nil
}
