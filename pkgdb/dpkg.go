package pkgdb

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// dpkg database paths, relative to the root.
const (
	dpkgStatus   = "var/lib/dpkg/status"
	dpkgStatusD  = "var/lib/dpkg/status.d"
	maxDBSize    = 512 << 20 // the largest package database any reader accepts
	maxStanzas   = 1 << 20
	maxFieldLine = 1 << 20
)

// Dpkg reads dpkg's status database: /var/lib/dpkg/status, and the
// distroless /var/lib/dpkg/status.d/<pkg> files. Both are read when both
// exist; a package listed in both is taken from status.
type Dpkg struct{}

var _ Reader = Dpkg{}

// Family is Deb.
func (Dpkg) Family() Family { return Deb }

// Paths are the status file and the status.d directory.
func (Dpkg) Paths() []string { return []string{dpkgStatus, dpkgStatusD + "/"} }

// complete: a non-empty status file decides; status.d alone never does.
func (Dpkg) complete(fsys fs.FS) bool { return isNonEmptyFile(fsys, dpkgStatus) }

// Read returns the installed packages.
func (Dpkg) Read(fsys fs.FS) ([]Package, error) {
	var all []Package
	found := false
	data, err := readSmall(fsys, dpkgStatus, maxDBSize)
	switch {
	case err == nil:
		found = true
		pkgs, err := ParseDpkgStatus(data, false)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", dpkgStatus, err)
		}
		all = append(all, pkgs...)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading %s: %w", dpkgStatus, err)
	}
	ents, err := fs.ReadDir(fsys, dpkgStatusD)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("listing %s: %w", dpkgStatusD, err)
	}
	if err == nil {
		found = true // an empty status.d is an empty database
	}
	var total int64
	for _, e := range ents {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".md5sums") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := path.Join(dpkgStatusD, e.Name())
		data, err := readSmall(fsys, p, maxDBSize-total)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		total += int64(len(data))
		found = true
		pkgs, err := ParseDpkgStatus(data, true)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", p, err)
		}
		all = append(all, pkgs...)
	}
	if !found {
		return nil, ErrNoDatabase
	}
	return sortUnique(all), nil
}

// ParseDpkgStatus parses dpkg status stanzas and returns the installed
// packages, in file order. A package counts as installed when its Status is
// "install ok installed" or "hold ok installed"; with statusOptional (the
// distroless status.d files) a stanza without Status also counts.
func ParseDpkgStatus(data []byte, statusOptional bool) ([]Package, error) {
	var out []Package
	var cur Package
	var inStanza bool
	start := 0
	flush := func(line int) error {
		if !inStanza {
			return nil
		}
		inStanza = false
		p := cur
		cur = Package{}
		if p.Status == "" && !statusOptional {
			return nil // not-installed leftovers carry a Status; a stanza without one is not installed
		}
		if p.Status != "" && !installedStatus(p.Status) {
			return nil
		}
		if p.Name == "" || p.Version == "" {
			return fmt.Errorf("stanza ending at line %d has no Package or Version", line)
		}
		if p.SourceName == "" {
			p.SourceName = p.Name
		}
		if p.SourceVersion == "" {
			p.SourceVersion = p.Version
		}
		if len(out) >= maxStanzas {
			return fmt.Errorf("more than %d packages", maxStanzas)
		}
		out = append(out, p)
		return nil
	}
	for line := 1; start < len(data); line++ {
		end := bytes.IndexByte(data[start:], '\n')
		var l []byte
		if end < 0 {
			l, start = data[start:], len(data)
		} else {
			l, start = data[start:start+end], start+end+1
		}
		if len(l) > maxFieldLine {
			return nil, fmt.Errorf("line %d is longer than %d bytes", line, maxFieldLine)
		}
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(bytes.TrimSpace(l)) == 0 {
			if err := flush(line); err != nil {
				return nil, err
			}
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			if !inStanza {
				return nil, fmt.Errorf("line %d: continuation line outside a stanza", line)
			}
			continue // continuation of a multi-line field none of which we keep
		}
		if l[0] == '#' && !inStanza {
			continue
		}
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 {
			return nil, fmt.Errorf("line %d: %q is not a field", line, truncate(l, 60))
		}
		inStanza = true
		key, val := l[:colon], string(bytes.TrimSpace(l[colon+1:]))
		switch {
		case asciiEqualFold(key, "Package"):
			cur.Name = val
		case asciiEqualFold(key, "Version"):
			cur.Version = val
		case asciiEqualFold(key, "Architecture"):
			cur.Arch = val
		case asciiEqualFold(key, "Status"):
			cur.Status = val
		case asciiEqualFold(key, "Source"):
			name, ver, ok := strings.Cut(val, " ")
			cur.SourceName = name
			if ok {
				ver = strings.TrimSpace(ver)
				if !strings.HasPrefix(ver, "(") || !strings.HasSuffix(ver, ")") {
					return nil, fmt.Errorf("line %d: Source %q is not \"name (version)\"", line, val)
				}
				cur.SourceVersion = strings.TrimSpace(ver[1 : len(ver)-1])
			}
		}
	}
	if err := flush(bytes.Count(data, []byte("\n")) + 1); err != nil {
		return nil, err
	}
	return out, nil
}

// installedStatus reports whether a dpkg Status ("want flag state") means
// the package is installed and wanted.
func installedStatus(s string) bool {
	f := strings.Fields(s)
	return len(f) == 3 && (f[0] == "install" || f[0] == "hold") && f[1] == "ok" && f[2] == "installed"
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c, d := b[i], s[i]
		if c|0x20 != d|0x20 {
			return false
		}
	}
	return true
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// sortUnique sorts packages by name then arch and drops later duplicates
// of the same name and arch.
func sortUnique(pkgs []Package) []Package {
	sort.SliceStable(pkgs, func(i, j int) bool {
		if pkgs[i].Name != pkgs[j].Name {
			return pkgs[i].Name < pkgs[j].Name
		}
		return pkgs[i].Arch < pkgs[j].Arch
	})
	out := make([]Package, 0, len(pkgs))
	for _, p := range pkgs {
		if n := len(out); n > 0 && p.Name == out[n-1].Name && p.Arch == out[n-1].Arch {
			continue
		}
		out = append(out, p)
	}
	return out
}
