package vulndb

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/patchloop/patchloop/pkgdb"
)

// maxOSVFiles bounds the JSON files read from one directory or zip.
const maxOSVFiles = 2_000_000

// maxOSVDetails bounds the details kept per record in the index.
const maxOSVDetails = 1024

// OSV is a Source over OSV records (schema 1.x) read from a directory tree
// or a zip of JSON files, such as the per-ecosystem all.zip exports. Only
// Debian, Ubuntu and Alpine ecosystems are kept; their advisories name
// source packages. It is safe for concurrent use once opened.
type OSV struct {
	pro bool
	// index maps ecosystem, then package name, to its affected entries.
	index map[string]map[string][]osvEntry
	files int
}

var _ Source = (*OSV)(nil)

type osvEntry struct {
	rec *OSVRecord
	aff OSVAffected
}

// OSVOption changes how OpenOSV reads and matches.
type OSVOption func(*OSV)

// WithUbuntuPro also matches Ubuntu Pro ecosystems ("Ubuntu:Pro:22.04:LTS"),
// whose fixes need a Pro subscription to install.
func WithUbuntuPro() OSVOption { return func(o *OSV) { o.pro = true } }

// OpenOSV reads every *.json file under path, a directory or a zip file. A
// file that is not a valid OSV record is an error naming the file.
func OpenOSV(path string, opts ...OSVOption) (*OSV, error) {
	o := &OSV{index: map[string]map[string][]osvEntry{}}
	for _, opt := range opts {
		opt(o)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening osv: %w", err)
	}
	if st.IsDir() {
		err = o.readDir(path)
	} else {
		err = o.readZip(path)
	}
	if err != nil {
		return nil, err
	}
	return o, nil
}

// Name returns "osv".
func (o *OSV) Name() string { return "osv" }

// Files returns how many JSON files were read.
func (o *OSV) Files() int { return o.files }

func (o *OSV) readDir(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading osv directory: %w", err)
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".json") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("reading osv file: %w", err)
		}
		defer f.Close()
		return o.add(p, f)
	})
}

func (o *OSV) readZip(path string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("opening osv zip %s: %w", path, err)
	}
	defer zr.Close()
	for _, zf := range zr.File {
		if zf.FileInfo().IsDir() || !strings.HasSuffix(zf.Name, ".json") {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("reading %s in osv zip %s: %w", zf.Name, path, err)
		}
		err = o.add(path+":"+zf.Name, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// add parses one file and indexes its supported ecosystems.
func (o *OSV) add(name string, r io.Reader) error {
	o.files++
	if o.files > maxOSVFiles {
		return fmt.Errorf("reading osv: more than %d files", maxOSVFiles)
	}
	b, err := readLimited(r, maxOSVFileLen)
	if err != nil {
		return fmt.Errorf("reading osv file %s: %w", name, err)
	}
	rec, err := ParseOSV(b)
	if err != nil {
		return fmt.Errorf("parsing osv file %s: %w", name, err)
	}
	if rec.Withdrawn {
		return nil
	}
	kept := &rec
	if len(kept.Details) > maxOSVDetails {
		cut := maxOSVDetails
		for cut > 0 && !utf8.RuneStart(kept.Details[cut]) {
			cut--
		}
		kept.Details = kept.Details[:cut] + "…"
	}
	for _, a := range rec.Affected {
		if !supportedOSVEcosystem(a.Ecosystem) {
			continue
		}
		byName := o.index[a.Ecosystem]
		if byName == nil {
			byName = map[string][]osvEntry{}
			o.index[a.Ecosystem] = byName
		}
		byName[a.Name] = append(byName[a.Name], osvEntry{rec: kept, aff: a})
	}
	kept.Affected = nil // entries hold their own affected; drop the rest
	return nil
}

func supportedOSVEcosystem(e string) bool {
	for _, p := range []string{"Debian:", "Ubuntu:", "Alpine:"} {
		if strings.HasPrefix(e, p) {
			return true
		}
	}
	return false
}

// Find matches pkgs against the ecosystems of os.
func (o *OSV) Find(ctx context.Context, os pkgdb.OS, pkgs []pkgdb.Package) ([]Finding, error) {
	plat, err := platformFor(os)
	if err != nil {
		return nil, fmt.Errorf("matching osv: %w", err)
	}
	if plat.osvEcosystems == nil {
		return nil, fmt.Errorf("matching osv: distro %q: %w", os.ID, ErrUnsupportedOS)
	}
	ecos, err := plat.osvEcosystems(os.VersionID, o.pro)
	if err != nil {
		return nil, fmt.Errorf("matching osv: %w", err)
	}
	cmp, err := comparerFor(os.Family)
	if err != nil {
		return nil, fmt.Errorf("matching osv: %w", err)
	}
	var out []Finding
	for i, pkg := range pkgs {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("matching osv: %w", err)
			}
		}
		name, installed := plat.advisoryName(pkg)
		seen := map[ID]bool{}
		for _, eco := range ecos {
			for _, e := range o.index[eco][name] {
				if seen[e.rec.ID] {
					continue
				}
				fixed, err := e.aff.affects(installed, cmp)
				if errors.Is(err, errNotAffected) {
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("matching osv record %s for %s %s: %w", e.rec.ID, name, installed, err)
				}
				seen[e.rec.ID] = true
				status := StatusAffected
				if fixed != "" {
					status = StatusFixed
				}
				sev := e.aff.Severity
				if sev == SeverityUnknown {
					sev = e.rec.Severity
				}
				out = append(out, Finding{
					VulnerabilityID:  e.rec.ID,
					Aliases:          e.rec.Aliases,
					PkgName:          pkg.Name,
					SourceName:       name,
					Arch:             pkg.Arch,
					InstalledVersion: pkg.Version,
					FixedVersion:     fixed,
					Status:           status,
					Severity:         sev,
					Title:            e.rec.Summary,
					Description:      e.rec.Details,
					PrimaryURL:       "https://osv.dev/vulnerability/" + e.rec.ID.String(),
					DataSource:       "osv:" + eco,
				})
			}
		}
	}
	SortFindings(out)
	return out, nil
}
