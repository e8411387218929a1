package distrorepo

import (
	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/patchloop/patchloop/pkgdb"
)

// debianArchive is deb.debian.org and its security archive.
type debianArchive struct{}

var _ Archive = debianArchive{}

// Debian mirrors used by default.
const (
	DebianMirror   = "http://deb.debian.org/debian"
	DebianSecurity = "http://deb.debian.org/debian-security"
)

var debianCodenames = map[string]string{
	"9": "stretch", "10": "buster", "11": "bullseye", "12": "bookworm",
	"13": "trixie", "14": "forky", "15": "duke",
}

func (debianArchive) Codename(osr pkgdb.OS) string {
	if osr.Codename != "" {
		return osr.Codename
	}
	v := osr.VersionID
	for i := 0; i < len(v); i++ {
		if v[i] == '.' {
			v = v[:i]
			break
		}
	}
	return debianCodenames[v]
}

func (debianArchive) Defaults(codename, arch string, components []string) []Source {
	if codename == "" {
		return nil
	}
	out := []Source{{URI: DebianMirror, Suite: codename, Components: components, From: "default"}}
	if codename == "sid" || codename == "unstable" {
		return out
	}
	security := codename + "-security"
	switch codename {
	case "stretch", "buster":
		security = codename + "/updates"
	}
	return append(out,
		Source{URI: DebianMirror, Suite: codename + "-updates", Components: components, From: "default"},
		Source{URI: DebianSecurity, Suite: security, Components: components, From: "default"},
	)
}

func (debianArchive) DefaultComponents() []string { return []string{"main"} }

func (debianArchive) Keyring() openpgp.EntityList { return EmbeddedKeyring("debian") }
