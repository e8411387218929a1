package distrorepo

import (
	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/patchloop/patchloop/pkgdb"
)

// Archive is what the client knows about one distribution's official
// archive: its default sources and its keys. Each distribution is one file
// (debian.go, ubuntu.go); archives is the only table of them.
type Archive interface {
	// Codename returns the release codename of osr ("bookworm"), from
	// os-release or from its version number, or "" when unknown.
	Codename(osr pkgdb.OS) string
	// Defaults returns the release, updates and security sources of a
	// release for one architecture, with components.
	Defaults(codename, arch string, components []string) []Source
	// DefaultComponents are used when an image names none ("main").
	DefaultComponents() []string
	// Keyring is the built-in archive keyring.
	Keyring() openpgp.EntityList
}

// archives maps an os-release ID to its archive.
var archives = map[string]Archive{
	"debian": debianArchive{},
	"ubuntu": ubuntuArchive{},
}

// ArchiveFor returns the archive of an os-release ID, or nil.
func ArchiveFor(id string) Archive { return archives[id] }
