// Package patch builds the one layer that upgrades an image's OS packages
// from the distribution's own binary packages, without running a container:
// it plans the upgrade, writes the layer (new files, whiteouts, package
// database) and puts it on top of the original image. Each package-manager
// family is one Installer per stage, in its own file.
package patch

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"io/fs"
	"time"

	"github.com/patchloop/patchloop/pkgdb"
)

// Upgrade is one binary package that a patch installs or replaces.
type Upgrade struct {
	Name string `json:"name"`
	// Arch is the package's architecture as the archive names it ("amd64",
	// "all").
	Arch string `json:"arch"`
	// OldVersion is the installed version, "" for a package the patch
	// installs new.
	OldVersion string `json:"old_version,omitempty"`
	NewVersion string `json:"new_version"`
	// Reason says why a plan added the package ("requested", "depends of
	// openssl", "same source as libssl3"); informational.
	Reason string `json:"reason,omitempty"`
}

// DebSource opens verified binary packages. distrorepo implements it with
// its checksum-verified cache; tests use a directory of .debs.
type DebSource interface {
	// OpenDeb returns the package file of name at version for arch. The
	// caller closes it.
	OpenDeb(ctx context.Context, name, version, arch string) (io.ReadCloser, error)
}

// LayerParams are the inputs of Installer.WriteLayer.
type LayerParams struct {
	// Root is the original image's merged filesystem. It holds at least the
	// paths the installer's Paths and ExtraPaths name, and answers
	// fs.ReadLinkFS's Lstat and ReadLink for every directory, so paths can be
	// resolved through the image's symlinks (/lib → usr/lib).
	Root fs.FS
	// RootComplete says Root is the whole filesystem (an unpacked image, a
	// directory), not a selection of files. Only then are directories that
	// the upgrade empties deleted; otherwise they are kept, as their other
	// contents are unknown.
	RootComplete bool
	// Upgrades are the packages to install; each replaces the installed
	// package of the same name and architecture, if any.
	Upgrades []Upgrade
	// Debs opens each upgrade's package file.
	Debs DebSource
	// Time stamps the files the installer generates (database files). Zero
	// means the newest modification time found in the new packages' data, so
	// the same packages always give the same layer.
	Time time.Time
}

// ScriptsNotRun names the maintainer scripts and triggers a package carries
// that the patch did not run.
type ScriptsNotRun struct {
	Package string   `json:"package"`
	Scripts []string `json:"scripts"`
}

// LayerReport says what a layer does.
type LayerReport struct {
	Upgrades []Upgrade `json:"upgrades"`
	// ScriptsNotRun lists, per package, the maintainer scripts that were
	// copied into the database but never run.
	ScriptsNotRun []ScriptsNotRun `json:"scripts_not_run,omitempty"`
	// Whiteouts are the image paths the layer deletes.
	Whiteouts []string `json:"whiteouts,omitempty"`
	// ConffilesKept are configuration files the image had modified: they
	// were kept and the new version was written beside them as
	// <file>.dpkg-dist (dpkg's --force-confold).
	ConffilesKept []string `json:"conffiles_kept,omitempty"`
	// Entries is the number of tar entries and Bytes the bytes of file
	// content written.
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"`
}

// Installer writes the patch layer for one package-manager family.
type Installer interface {
	// Family is the family this installer handles.
	Family() pkgdb.Family
	// Paths are the slash-separated paths (files, or directories whose
	// whole contents are needed) of the package database that WriteLayer
	// reads from the root.
	Paths() []string
	// ExtraPaths are the further paths WriteLayer reads for these upgrades
	// (configuration files to compare), found from a root holding Paths.
	ExtraPaths(db fs.FS, ups []Upgrade) ([]string, error)
	// WriteLayer writes the uncompressed layer to tw, without closing it.
	WriteLayer(ctx context.Context, tw *tar.Writer, p LayerParams) (*LayerReport, error)
}

// ErrUnsupported is returned for a root filesystem or package that the
// installer cannot handle.
var ErrUnsupported = errors.New("unsupported")
