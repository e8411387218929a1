package pkgdb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
	_ "modernc.org/sqlite" // registers the "sqlite" driver that go-rpmdb opens
)

// rpmPaths are the rpm databases, most preferred first: sqlite (RHEL 9,
// Fedora 33+), ndb (openSUSE), Berkeley DB (RHEL 7/8, Amazon Linux 2), under
// both the classic and the /usr/lib/sysimage locations.
var rpmPaths = []string{
	"var/lib/rpm/rpmdb.sqlite",
	"usr/lib/sysimage/rpm/rpmdb.sqlite",
	"var/lib/rpm/Packages.db",
	"usr/lib/sysimage/rpm/Packages.db",
	"var/lib/rpm/Packages",
	"usr/lib/sysimage/rpm/Packages",
}

// RPMReader reads rpm's package database with go-rpmdb, which needs a real
// file: the database is copied to a temporary file in TempDir (default: the
// system temporary directory) and removed after reading.
type RPMReader struct {
	// TempDir is the scratch directory for the database copy.
	TempDir string
}

var _ Reader = RPMReader{}

// Family is RPM.
func (RPMReader) Family() Family { return RPM }

// Paths are the database files in every supported format and location.
func (RPMReader) Paths() []string { return append([]string(nil), rpmPaths...) }

func (RPMReader) complete(fsys fs.FS) bool {
	for _, p := range rpmPaths {
		if isNonEmptyFile(fsys, p) {
			return true
		}
	}
	return false
}

// Read returns the installed packages from the first database found.
func (r RPMReader) Read(fsys fs.FS) ([]Package, error) {
	for _, p := range rpmPaths {
		data, err := readSmall(fsys, p, maxDBSize)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		pkgs, err := r.parse(data)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", p, err)
		}
		return sortUnique(pkgs), nil
	}
	return nil, ErrNoDatabase
}

func (r RPMReader) parse(data []byte) (pkgs []Package, err error) {
	f, err := os.CreateTemp(r.TempDir, "patchloop-rpmdb-*")
	if err != nil {
		return nil, fmt.Errorf("creating scratch copy: %w", err)
	}
	name := f.Name()
	defer os.Remove(name)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("writing scratch copy: %w", err)
	}
	defer func() { // go-rpmdb indexes hostile input without bounds checks everywhere
		if p := recover(); p != nil {
			pkgs, err = nil, fmt.Errorf("corrupt rpm database: %v", p)
		}
	}()
	db, err := rpmdb.Open(name)
	if err != nil {
		return nil, fmt.Errorf("opening rpm database: %w", err)
	}
	defer db.Close()
	list, err := db.ListPackages()
	if err != nil {
		return nil, fmt.Errorf("listing rpm packages: %w", err)
	}
	for _, p := range list {
		pkg := Package{Name: p.Name, Version: rpmEVR(p.Epoch, p.Version, p.Release), Arch: p.Arch}
		if p.SourceRpm != "" {
			name, ver, ok := parseSourceRPM(p.SourceRpm)
			if !ok {
				return nil, fmt.Errorf("package %s: source rpm %q is not name-version-release.src.rpm", p.Name, p.SourceRpm)
			}
			pkg.SourceName, pkg.SourceVersion = name, rpmEVR(p.Epoch, ver, "")
		} else {
			pkg.SourceName, pkg.SourceVersion = pkg.Name, pkg.Version
		}
		pkgs = append(pkgs, pkg)
	}
	return pkgs, nil
}

// rpmEVR joins epoch, version and release as rpm prints them; an epoch of
// zero is left out, as rpm treats a missing epoch as zero.
func rpmEVR(epoch *int, version, release string) string {
	s := version
	if release != "" {
		s += "-" + release
	}
	if epoch != nil && *epoch != 0 {
		s = strconv.Itoa(*epoch) + ":" + s
	}
	return s
}

// parseSourceRPM splits "openssl-3.0.7-27.el9.src.rpm" into "openssl" and
// "3.0.7-27.el9".
func parseSourceRPM(s string) (name, version string, ok bool) {
	s, ok = strings.CutSuffix(s, ".rpm")
	if !ok {
		return "", "", false
	}
	if i := strings.LastIndexByte(s, '.'); i > 0 {
		s = s[:i] // .src or .nosrc
	}
	rel := strings.LastIndexByte(s, '-')
	if rel <= 0 {
		return "", "", false
	}
	ver := strings.LastIndexByte(s[:rel], '-')
	if ver <= 0 {
		return "", "", false
	}
	return s[:ver], s[ver+1:], true
}
