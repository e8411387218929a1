package distrorepo

import (
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/patchloop/patchloop/pkgdb"
)

// SourceSet is the resolved list of repositories for one image (or one
// distribution release) and architecture, each with the keys that may sign
// it. Build it with Client.Sources.
type SourceSet struct {
	// Arch is the dpkg architecture indexed ("amd64", "arm64").
	Arch string
	// OS is the operating system the set was built for.
	OS pkgdb.OS
	// Warnings are problems skipped past, as apt skips them: unreadable
	// files, bad lines, unsupported URI schemes.
	Warnings []string

	entries []sourceEntry
}

type sourceEntry struct {
	src  Source
	keys openpgp.EntityList
}

// Sources returns the sources of the set in the order they are indexed.
func (s *SourceSet) Sources() []Source {
	out := make([]Source, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.src
	}
	return out
}

// Sources resolves the repositories and keys for an image's root
// filesystem fsys (nil for an image without apt configuration), its
// operating system and its dpkg architecture.
//
// The set holds, in order: the image's own deb sources for arch; then,
// unless NoDefaultSources, each built-in default suite of the detected
// release (release, -updates, -security) whose suite name the image does
// not already list, with the components the image uses for the release
// suite (or the distribution's defaults); then Config.Repositories.
// Sources with URI schemes other than http and https are skipped with a
// warning.
//
// Keys: a source with Signed-By trusts the keyrings it names (read from
// the image; a missing /usr/share/keyrings/<distro>-archive-keyring.gpg
// falls back to the built-in copy), fingerprints it names, or its inline
// key. A source without Signed-By trusts the image's /etc/apt/trusted.gpg
// and trusted.gpg.d, or the built-in keyring when the image has none.
// Default and configured sources trust the image's keys and the built-in
// keyring. Every source also trusts Config.Keyrings.
func (c *Client) Sources(fsys fs.FS, osr pkgdb.OS, arch string) (*SourceSet, error) {
	if arch == "" {
		return nil, fmt.Errorf("resolving sources: no architecture: %w", ErrConfig)
	}
	set := &SourceSet{Arch: arch, OS: osr}
	var image []Source
	var imageKeys openpgp.EntityList
	if fsys != nil {
		var warn []string
		image, warn = ImageSources(fsys)
		set.Warnings = append(set.Warnings, warn...)
		imageKeys, warn = imageTrustedKeys(fsys)
		set.Warnings = append(set.Warnings, warn...)
	}
	archive := ArchiveFor(osr.ID)
	var builtin openpgp.EntityList
	if archive != nil {
		builtin = archive.Keyring()
	}
	globalKeys := imageKeys
	if len(globalKeys) == 0 {
		globalKeys = builtin
	}
	add := func(s Source, keys openpgp.EntityList) {
		if !isHTTPURL(s.URI) {
			set.Warnings = append(set.Warnings, fmt.Sprintf("%s: %s: only http and https repositories are supported: skipped", s.From, s.URI))
			return
		}
		if len(s.Archs) > 0 && !slices.Contains(s.Archs, arch) {
			return
		}
		keys = append(slices.Clip(keys), c.userKeys...)
		set.entries = append(set.entries, sourceEntry{src: s, keys: keys})
	}
	for _, s := range image {
		if s.SignedBy == "" {
			add(s, globalKeys)
			continue
		}
		keys, err := signedByKeys(fsys, s.SignedBy, osr.ID, slices.Concat(imageKeys, builtin, c.userKeys))
		if err != nil {
			set.Warnings = append(set.Warnings, fmt.Sprintf("%s: Signed-By: %v", s.From, err))
		}
		add(s, keys)
	}
	if !c.cfg.NoDefaultSources && archive != nil {
		codename := archive.Codename(osr)
		var comps []string
		listed := map[string]bool{}
		for _, s := range image {
			listed[s.Suite] = true
			if s.Suite == codename {
				for _, comp := range s.Components {
					if !slices.Contains(comps, comp) {
						comps = append(comps, comp)
					}
				}
			}
		}
		if len(comps) == 0 {
			comps = archive.DefaultComponents()
		}
		for _, s := range archive.Defaults(codename, arch, comps) {
			if !listed[s.Suite] {
				add(s, slices.Concat(imageKeys, builtin))
			}
		}
	}
	for _, s := range c.cfg.Repositories {
		s.From = "config"
		add(s, slices.Concat(imageKeys, builtin))
	}
	return set, nil
}

// signedByKeys resolves a Signed-By value: an inline armored key, or a
// list of keyring paths and fingerprints. Fingerprints are looked up in
// known.
func signedByKeys(fsys fs.FS, v, distro string, known openpgp.EntityList) (openpgp.EntityList, error) {
	if strings.Contains(v, "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
		return ParseKeyring([]byte(v))
	}
	var out openpgp.EntityList
	var errs []string
	for _, item := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		if strings.HasPrefix(item, "/") {
			name := strings.TrimPrefix(path.Clean(item), "/")
			var el openpgp.EntityList
			var err error
			if fsys != nil {
				el, err = readKeyringFile(fsys, name)
			} else {
				err = fs.ErrNotExist
			}
			if isNotExist(err) && path.Base(name) == distro+"-archive-keyring.gpg" {
				el, err = EmbeddedKeyring(distro), nil
			}
			if err != nil {
				errs = append(errs, fmt.Sprintf("keyring %s: %v", item, err))
				continue
			}
			out = append(out, el...)
			continue
		}
		fp := strings.ToUpper(strings.TrimSuffix(item, "!"))
		if _, err := hex.DecodeString(fp); err != nil || len(fp) < 16 {
			errs = append(errs, fmt.Sprintf("%q is neither a keyring path nor a fingerprint", item))
			continue
		}
		found := false
		for _, e := range known {
			if matchesFingerprint(e, fp) {
				out = append(out, e)
				found = true
				break
			}
		}
		if !found {
			errs = append(errs, fmt.Sprintf("no known key has fingerprint %s", fp))
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

func matchesFingerprint(e *openpgp.Entity, fp string) bool {
	match := func(b []byte) bool {
		h := strings.ToUpper(hex.EncodeToString(b))
		return h == fp || (len(fp) == 16 && strings.HasSuffix(h, fp))
	}
	if e.PrimaryKey != nil && match(e.PrimaryKey.Fingerprint) {
		return true
	}
	for _, sk := range e.Subkeys {
		if sk.PublicKey != nil && match(sk.PublicKey.Fingerprint) {
			return true
		}
	}
	return false
}
