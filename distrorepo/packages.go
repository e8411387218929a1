package distrorepo

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

// Package is one binary package version offered by a repository, as its
// Packages index describes it.
type Package struct {
	Name         string
	Version      string
	Architecture string
	// Source and SourceVersion name the source package; they equal Name
	// and Version when the index gives no Source field, and SourceVersion
	// equals Version when Source carries no "(version)".
	Source        string
	SourceVersion string
	MultiArch     string // "same", "foreign", "allowed" or ""
	Essential     bool
	Priority      string
	Section       string

	Depends    Relations
	PreDepends Relations
	Breaks     Relations
	Conflicts  Relations
	Provides   Relations
	Replaces   Relations

	// Filename is the path of the .deb relative to the repository URI.
	Filename string
	Size     int64
	// SHA256 is the hex SHA-256 of the .deb; every download is checked
	// against it.
	SHA256 string

	// Suite is the repository suite (pocket) the entry came from.
	Suite *Suite `json:"-"`
}

// URL is where the .deb is downloaded from.
func (p *Package) URL() string {
	return strings.TrimSuffix(p.Suite.URI, "/") + "/" + p.Filename
}

// String names the package as "name_version_arch".
func (p *Package) String() string {
	return p.Name + "_" + p.Version + "_" + p.Architecture
}

// lowerKey lower-cases a field name into buf, for allocation-free
// switches; names longer than buf are returned as "".
func lowerKey(buf *[16]byte, name []byte) []byte {
	if len(name) > len(buf) {
		return nil
	}
	for i, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(name)]
}

// wantPackageField reports whether a Packages field is kept.
func wantPackageField(name []byte) bool {
	var buf [16]byte
	switch string(lowerKey(&buf, name)) {
	case "package", "version", "architecture", "source", "multi-arch", "essential",
		"priority", "section", "depends", "pre-depends", "breaks", "conflicts",
		"provides", "replaces", "filename", "size", "sha256":
		return true
	}
	return false
}

// ParsePackages reads a Packages index. When keep is not nil only
// paragraphs whose package name it accepts are fully parsed; the others
// are skipped early. suite is attached to every package.
func ParsePackages(r io.Reader, suite *Suite, keep func(name string) bool) ([]*Package, error) {
	s := newStanzaScanner(r)
	var out []*Package
	// Interned strings for values that repeat across the index.
	intern := map[string]string{}
	in := func(b []byte) string {
		if v, ok := intern[string(b)]; ok {
			return v
		}
		v := string(b)
		if len(intern) < 4096 {
			intern[v] = v
		}
		return v
	}
	for {
		var cur Package
		p := &cur
		var skip bool
		var buf [16]byte
		ok, err := s.next(wantPackageField, func(name, value []byte) error {
			var err error
			switch string(lowerKey(&buf, name)) {
			case "package":
				if keep != nil && !keep(string(value)) {
					skip = true
					return errSkipStanza
				}
				p.Name = string(value)
			case "version":
				p.Version = string(value)
			case "architecture":
				p.Architecture = in(value)
			case "source":
				p.Source, p.SourceVersion, err = parseSourceField(string(value))
			case "multi-arch":
				p.MultiArch = in(value)
			case "essential":
				p.Essential = bytes.EqualFold(value, []byte("yes"))
			case "priority":
				p.Priority = in(value)
			case "section":
				p.Section = in(value)
			case "depends":
				p.Depends, err = ParseRelations(string(value))
			case "pre-depends":
				p.PreDepends, err = ParseRelations(string(value))
			case "breaks":
				p.Breaks, err = ParseRelations(string(value))
			case "conflicts":
				p.Conflicts, err = ParseRelations(string(value))
			case "provides":
				p.Provides, err = ParseRelations(string(value))
			case "replaces":
				p.Replaces, err = ParseRelations(string(value))
			case "filename":
				p.Filename = string(value)
			case "size":
				p.Size, err = strconv.ParseInt(string(value), 10, 64)
			case "sha256":
				p.SHA256 = string(value)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("parsing Packages: %w", err)
		}
		if !ok {
			return out, nil
		}
		if skip {
			continue
		}
		if err := cur.complete(); err != nil {
			return nil, fmt.Errorf("parsing Packages near line %d: %w", s.line, err)
		}
		cur.Suite = suite
		np := new(Package)
		*np = cur
		out = append(out, np)
	}
}

// parseSourceField splits "src (1.2-3)" into its name and version.
func parseSourceField(v string) (string, string, error) {
	name, ver, found := strings.Cut(v, "(")
	name = strings.TrimSpace(name)
	if !found {
		return name, "", nil
	}
	ver, rest, ok := strings.Cut(ver, ")")
	if !ok || strings.TrimSpace(rest) != "" {
		return "", "", fmt.Errorf("source %q: %w", v, ErrMalformed)
	}
	return name, strings.TrimSpace(ver), nil
}

// complete fills defaulted fields and checks the ones a download needs.
func (p *Package) complete() error {
	if p.Name == "" || p.Version == "" || p.Architecture == "" {
		return fmt.Errorf("paragraph without Package, Version or Architecture (%q %q): %w", p.Name, p.Version, ErrMalformed)
	}
	if p.Source == "" {
		p.Source = p.Name
	}
	if p.SourceVersion == "" {
		p.SourceVersion = p.Version
	}
	if p.Filename == "" {
		return fmt.Errorf("package %s: no Filename: %w", p, ErrMalformed)
	}
	clean := path.Clean(p.Filename)
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("package %s: Filename %q leaves the repository: %w", p, p.Filename, ErrMalformed)
	}
	if len(p.SHA256) != 64 {
		return fmt.Errorf("package %s: no valid SHA256: %w", p, ErrMalformed)
	}
	if _, err := hex.DecodeString(p.SHA256); err != nil {
		return fmt.Errorf("package %s: SHA256 %q: %w", p, p.SHA256, ErrMalformed)
	}
	p.SHA256 = strings.ToLower(p.SHA256)
	if p.Size < 0 {
		return fmt.Errorf("package %s: negative Size: %w", p, ErrMalformed)
	}
	return nil
}
