package distrorepo

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// embeddedKeys holds the archive keyrings used when an image carries none:
// keys/debian-archive-keyring.gpg from Debian's debian-archive-keyring
// package (2023.3+deb12u2: bullseye, bookworm and trixie keys) and
// keys/ubuntu-archive-keyring.gpg from Ubuntu jammy's ubuntu-keyring.
//
//go:embed keys/*.gpg
var embeddedKeys embed.FS

// maxKeyringSize bounds one keyring file.
const maxKeyringSize = 4 << 20

// EmbeddedKeyring returns the built-in archive keyring of a distribution
// ("debian" or "ubuntu"), or nil for one we carry no keys for.
func EmbeddedKeyring(distro string) openpgp.EntityList {
	var file string
	switch distro {
	case "debian":
		file = "keys/debian-archive-keyring.gpg"
	case "ubuntu":
		file = "keys/ubuntu-archive-keyring.gpg"
	default:
		return nil
	}
	b, err := embeddedKeys.ReadFile(file)
	if err != nil {
		return nil
	}
	el, err := ParseKeyring(b)
	if err != nil {
		return nil
	}
	return el
}

// ParseKeyring reads OpenPGP public keys from a binary keyring or from one
// or more ASCII-armored key blocks.
func ParseKeyring(b []byte) (openpgp.EntityList, error) {
	if len(b) > maxKeyringSize {
		return nil, fmt.Errorf("keyring of %d bytes is over %d", len(b), maxKeyringSize)
	}
	const begin = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
	if !bytes.Contains(b, []byte(begin)) {
		el, err := openpgp.ReadKeyRing(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("reading binary keyring: %w", err)
		}
		return el, nil
	}
	var out openpgp.EntityList
	for {
		i := bytes.Index(b, []byte(begin))
		if i < 0 {
			break
		}
		b = b[i:]
		end := bytes.Index(b, []byte("-----END PGP PUBLIC KEY BLOCK-----"))
		if end < 0 {
			return nil, fmt.Errorf("armored key block without end line")
		}
		end += len("-----END PGP PUBLIC KEY BLOCK-----")
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(b[:end]))
		if err != nil {
			return nil, fmt.Errorf("reading armored keyring: %w", err)
		}
		out = append(out, el...)
		b = b[end:]
	}
	return out, nil
}

// readKeyringFile reads one keyring from fsys (a path without leading "/").
func readKeyringFile(fsys fs.FS, name string) (openpgp.EntityList, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyringSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading keyring /%s: %w", name, err)
	}
	el, err := ParseKeyring(b)
	if err != nil {
		return nil, fmt.Errorf("keyring /%s: %w", name, err)
	}
	return el, nil
}

// imageTrustedKeys reads the keys apt trusts for sources without
// Signed-By: /etc/apt/trusted.gpg and /etc/apt/trusted.gpg.d/*.{gpg,asc}.
// Unreadable keyrings are skipped and reported in warnings, as apt does.
func imageTrustedKeys(fsys fs.FS) (openpgp.EntityList, []string) {
	var keys openpgp.EntityList
	var warnings []string
	add := func(name string) {
		el, err := readKeyringFile(fsys, name)
		if err != nil {
			if !isNotExist(err) {
				warnings = append(warnings, err.Error())
			}
			return
		}
		keys = append(keys, el...)
	}
	add("etc/apt/trusted.gpg")
	entries, _ := fs.ReadDir(fsys, "etc/apt/trusted.gpg.d")
	for _, e := range entries {
		n := e.Name()
		if strings.HasSuffix(n, ".gpg") || strings.HasSuffix(n, ".asc") {
			add(path.Join("etc/apt/trusted.gpg.d", n))
		}
	}
	return keys, warnings
}

// keyIDs lists the primary key ids of a keyring, for error messages.
func keyIDs(el openpgp.EntityList) string {
	ids := make([]string, 0, len(el))
	for _, e := range el {
		if e.PrimaryKey != nil {
			ids = append(ids, e.PrimaryKey.KeyIdString())
		}
	}
	if len(ids) == 0 {
		return "no keys"
	}
	if len(ids) > 6 {
		return strings.Join(ids[:6], ", ") + fmt.Sprintf(" and %d more", len(ids)-6)
	}
	return strings.Join(ids, ", ")
}
