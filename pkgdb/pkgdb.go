// Package pkgdb reads the installed-package databases of an image's root
// filesystem (dpkg, apk, rpm) and detects its operating system. Each family
// is one Reader in its own file; the only switch on family is the Readers
// table.
package pkgdb

import "io/fs"

// Family is a package-manager family. It decides which database is read,
// which version ordering applies and which repositories serve fixes.
type Family string

// The supported families.
const (
	Deb Family = "deb" // dpkg: Debian, Ubuntu
	APK Family = "apk" // apk-tools: Alpine, Wolfi
	RPM Family = "rpm" // rpm: RHEL, Rocky, Alma, Fedora, Amazon Linux, openSUSE, Azure Linux
)

// OS is the operating system found in a root filesystem.
type OS struct {
	// ID is the os-release ID, lower case: "debian", "ubuntu", "alpine", "rhel"…
	ID string `json:"id"`
	// VersionID is the os-release VERSION_ID ("12", "22.04", "3.19.4"),
	// or the version from a fallback file.
	VersionID string `json:"version_id"`
	// Codename is VERSION_CODENAME where known ("bookworm", "jammy").
	Codename string `json:"codename,omitempty"`
	// PrettyName is PRETTY_NAME, for display.
	PrettyName string `json:"pretty_name,omitempty"`
	// Family is the package-manager family of this OS.
	Family Family `json:"family"`
}

// Package is one installed package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"` // full version, with epoch where the family has one
	Arch    string `json:"arch,omitempty"`
	// SourceName and SourceVersion name the source package the binary was
	// built from; they equal Name and Version when the database says nothing.
	SourceName    string `json:"source_name,omitempty"`
	SourceVersion string `json:"source_version,omitempty"`
	// Status is the database's state for the package where it has one
	// (dpkg: "install ok installed"). Readers return installed packages only.
	Status string `json:"status,omitempty"`
}

// Reader reads one family's installed-package database from a root
// filesystem. The filesystem is the merged view of an image's layers, holding
// at least the paths that Paths names.
type Reader interface {
	// Family is the family this reader handles.
	Family() Family
	// Paths are the slash-separated paths, relative to the root, that Read
	// needs: files, or directories whose whole contents are needed. A
	// directory ends in "/" (image.SelectPaths reads this convention).
	Paths() []string
	// Read returns the installed packages, sorted by name then arch, or an
	// error naming the file that could not be parsed. It returns
	// ErrNoDatabase when the filesystem has no database of this family.
	Read(fsys fs.FS) ([]Package, error)
}
