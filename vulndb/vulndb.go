// Package vulndb finds the known vulnerabilities of an image's installed OS
// packages. Each vulnerability source (a Trivy DB, an OSV dump, an existing
// Trivy report, the distro archive) is one Source; the package also holds the
// Trivy-compatible report format, severities and the end-of-support table.
package vulndb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/version"
)

// ErrUnsupportedOS is returned by a Source that has no data for an OS.
var ErrUnsupportedOS = errors.New("operating system not supported by this vulnerability source")

// Source finds the vulnerabilities of installed packages.
type Source interface {
	// Name names the source for reports and flags ("trivy-db", "osv"…).
	Name() string
	// Find returns the findings for pkgs, installed on os, sorted by
	// package name then vulnerability id. A finding with a FixedVersion is
	// fixable; sources that know unfixed vulnerabilities return them too,
	// with an empty FixedVersion and their Status. Find returns an error
	// wrapping ErrUnsupportedOS when the source has no data for os.
	Find(ctx context.Context, os pkgdb.OS, pkgs []pkgdb.Package) ([]Finding, error)
}

// comparerFor returns the version ordering of family.
func comparerFor(family pkgdb.Family) (version.Comparer, error) {
	c := version.For(family)
	if c == nil {
		return nil, fmt.Errorf("ordering versions of family %q: %w", family, ErrUnsupportedOS)
	}
	return c, nil
}

// Finding is one vulnerability of one installed binary package.
type Finding struct {
	VulnerabilityID ID   `json:"vulnerability_id"`
	Aliases         []ID `json:"aliases,omitempty"` // other ids of the same flaw (CVEs behind a DSA or USN)
	// PkgName is the installed binary package; SourceName the source
	// package the advisory names (equal to PkgName where the family has no
	// source packages).
	PkgName          string `json:"pkg_name"`
	SourceName       string `json:"source_name,omitempty"`
	Arch             string `json:"arch,omitempty"`
	InstalledVersion string `json:"installed_version"`
	// FixedVersion is the first version with the fix, empty when none is
	// known.
	FixedVersion string   `json:"fixed_version,omitempty"`
	Status       Status   `json:"status"`
	Severity     Severity `json:"severity"`
	Title        string   `json:"title,omitempty"`
	Description  string   `json:"description,omitempty"`
	PrimaryURL   string   `json:"primary_url,omitempty"`
	// DataSource names where the advisory came from ("debian", "osv:Debian:12").
	DataSource string `json:"data_source,omitempty"`
}

// Fixable reports whether a fixed version is known.
func (f Finding) Fixable() bool { return f.FixedVersion != "" }

// CVEs returns the CVE ids among the finding's id and aliases, without
// duplicates.
func (f Finding) CVEs() []ID {
	var out []ID
	for _, id := range append([]ID{f.VulnerabilityID}, f.Aliases...) {
		if id.IsCVE() && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// Fixable returns the fixable findings, in order.
func Fixable(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Fixable() {
			out = append(out, f)
		}
	}
	return out
}

// SortFindings orders findings by package name, arch, then vulnerability id.
func SortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.PkgName, b.PkgName),
			cmp.Compare(a.Arch, b.Arch),
			cmp.Compare(a.VulnerabilityID.String(), b.VulnerabilityID.String()),
		)
	})
}
