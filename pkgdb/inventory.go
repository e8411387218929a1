package pkgdb

import (
	"errors"
	"fmt"
	"io/fs"
)

// Readers is the table of package-database readers, one per family. It is
// the only place that switches on family.
var Readers = map[Family]Reader{
	Deb: Dpkg{},
	APK: APKReader{},
	RPM: RPMReader{},
}

// Paths lists every path that DetectOS and the Readers need, for building
// an image selector. A trailing "/" marks a directory whose whole contents
// are needed; other entries are exact paths.
func Paths() []string {
	out := append([]string(nil), osPaths...)
	for _, f := range []Family{Deb, APK, RPM} {
		out = append(out, Readers[f].Paths()...)
	}
	return out
}

// Inventory detects the operating system of a root filesystem and reads
// its installed packages with the reader of its family. It returns
// ErrUnsupportedOS for Windows and unknown systems, and ErrNoDatabase when
// the system is known but has no package database.
func Inventory(fsys fs.FS) (OS, []Package, error) {
	o, err := DetectOS(fsys)
	if err != nil {
		return o, nil, err
	}
	r, ok := Readers[o.Family]
	if !ok {
		return o, nil, fmt.Errorf("no reader for family %q of %s: %w", o.Family, o.ID, ErrUnsupportedOS)
	}
	pkgs, err := r.Read(fsys)
	if err != nil {
		return o, nil, fmt.Errorf("reading %s packages of %s %s: %w", o.Family, o.ID, o.VersionID, err)
	}
	return o, pkgs, nil
}

// Complete reports whether a partial root filesystem, holding only what
// the top layers of an image provide, already decides the inventory: the
// OS is identified and its family's main database file is present. An
// extractor can stop reading lower layers then. Databases split over
// directories (dpkg's status.d) are never complete, as lower layers may
// add to them.
func Complete(fsys fs.FS) bool {
	o, err := DetectOS(fsys)
	if err != nil {
		return errors.Is(err, ErrUnsupportedOS) && o.ID == "windows"
	}
	r, ok := Readers[o.Family].(completer)
	return ok && r.complete(fsys)
}

// completer is implemented by readers that can tell when a partial
// filesystem already holds their whole database.
type completer interface {
	complete(fsys fs.FS) bool
}

var (
	_ completer = Dpkg{}
	_ completer = APKReader{}
	_ completer = RPMReader{}
)

// isNonEmptyFile reports whether name is a regular file with contents.
func isNonEmptyFile(fsys fs.FS, name string) bool {
	st, err := fs.Stat(fsys, name)
	return err == nil && st.Mode().IsRegular() && st.Size() > 0
}
