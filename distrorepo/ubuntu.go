package distrorepo

import (
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/patchloop/patchloop/pkgdb"
)

// ubuntuArchive is archive.ubuntu.com and security.ubuntu.com for amd64
// and i386, ports.ubuntu.com for the other architectures.
type ubuntuArchive struct{}

var _ Archive = ubuntuArchive{}

// Ubuntu mirrors used by default.
const (
	UbuntuArchive  = "http://archive.ubuntu.com/ubuntu"
	UbuntuSecurity = "http://security.ubuntu.com/ubuntu"
	UbuntuPorts    = "http://ports.ubuntu.com/ubuntu-ports"
)

var ubuntuCodenames = map[string]string{
	"16.04": "xenial", "18.04": "bionic", "20.04": "focal", "22.04": "jammy",
	"23.04": "lunar", "23.10": "mantic", "24.04": "noble", "24.10": "oracular",
	"25.04": "plucky", "25.10": "questing", "26.04": "resolute",
}

func (ubuntuArchive) Codename(osr pkgdb.OS) string {
	if osr.Codename != "" {
		return osr.Codename
	}
	return ubuntuCodenames[strings.TrimSuffix(osr.VersionID, " LTS")]
}

func (ubuntuArchive) Defaults(codename, arch string, components []string) []Source {
	if codename == "" {
		return nil
	}
	main, security := UbuntuArchive, UbuntuSecurity
	if arch != "amd64" && arch != "i386" {
		main, security = UbuntuPorts, UbuntuPorts
	}
	return []Source{
		{URI: main, Suite: codename, Components: components, From: "default"},
		{URI: main, Suite: codename + "-updates", Components: components, From: "default"},
		{URI: security, Suite: codename + "-security", Components: components, From: "default"},
	}
}

func (ubuntuArchive) DefaultComponents() []string { return []string{"main", "universe"} }

func (ubuntuArchive) Keyring() openpgp.EntityList { return EmbeddedKeyring("ubuntu") }
