package pkgdb

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
)

// apkInstalled is apk-tools' database of installed packages.
const apkInstalled = "lib/apk/db/installed"

// APKReader reads apk-tools' /lib/apk/db/installed.
type APKReader struct{}

var _ Reader = APKReader{}

// Family is APK.
func (APKReader) Family() Family { return APK }

// Paths is the installed database.
func (APKReader) Paths() []string { return []string{apkInstalled} }

func (APKReader) complete(fsys fs.FS) bool { return isNonEmptyFile(fsys, apkInstalled) }

// Read returns the installed packages.
func (APKReader) Read(fsys fs.FS) ([]Package, error) {
	data, err := readSmall(fsys, apkInstalled, maxDBSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoDatabase
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", apkInstalled, err)
	}
	pkgs, err := ParseAPKInstalled(data)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", apkInstalled, err)
	}
	return sortUnique(pkgs), nil
}

// ParseAPKInstalled parses apk's installed database: one "X:value" line
// per field, a blank line between packages. It keeps P (name), V
// (version), A (arch) and o (origin, the source package); the source
// version is the package version, as aports builds every subpackage of an
// origin at the origin's version.
func ParseAPKInstalled(data []byte) ([]Package, error) {
	var out []Package
	var cur Package
	inPkg := false
	flush := func(line int) error {
		if !inPkg {
			return nil
		}
		inPkg = false
		p := cur
		cur = Package{}
		if p.Name == "" || p.Version == "" {
			return fmt.Errorf("package ending at line %d has no P: or V: field", line)
		}
		if p.SourceName == "" {
			p.SourceName = p.Name
		}
		p.SourceVersion = p.Version
		if len(out) >= maxStanzas {
			return fmt.Errorf("more than %d packages", maxStanzas)
		}
		out = append(out, p)
		return nil
	}
	start := 0
	for line := 1; start < len(data); line++ {
		end := bytes.IndexByte(data[start:], '\n')
		var l []byte
		if end < 0 {
			l, start = data[start:], len(data)
		} else {
			l, start = data[start:start+end], start+end+1
		}
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(l) == 0 {
			if err := flush(line); err != nil {
				return nil, err
			}
			continue
		}
		if len(l) < 2 || l[1] != ':' {
			return nil, fmt.Errorf("line %d: %q is not an X:value field", line, truncate(l, 60))
		}
		inPkg = true
		val := string(l[2:])
		switch l[0] {
		case 'P':
			cur.Name = val
		case 'V':
			cur.Version = val
		case 'A':
			cur.Arch = val
		case 'o':
			cur.SourceName = val
		}
	}
	if err := flush(bytes.Count(data, []byte("\n")) + 1); err != nil {
		return nil, err
	}
	return out, nil
}
