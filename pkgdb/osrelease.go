package pkgdb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// ErrUnsupportedOS means the root filesystem's operating system is not one
// patchloop can inventory (Windows, or none it recognizes). An image with
// this error must never be reported as clean.
var ErrUnsupportedOS = errors.New("unsupported operating system")

// ErrNoDatabase means a filesystem holds no package database of a family.
var ErrNoDatabase = errors.New("no package database")

// OS-identification paths, relative to the root.
const (
	etcOSRelease    = "etc/os-release"
	usrOSRelease    = "usr/lib/os-release"
	debianVersion   = "etc/debian_version"
	alpineRelease   = "etc/alpine-release"
	windowsMarker   = "Files/Windows"
	maxOSReleaseLen = 64 << 10
)

// osPaths are the files DetectOS reads.
var osPaths = []string{etcOSRelease, usrOSRelease, debianVersion, alpineRelease, windowsMarker}

// familyByID maps os-release IDs (and ID_LIKE words) to families.
var familyByID = map[string]Family{
	"debian": Deb, "ubuntu": Deb,
	"alpine": APK, "wolfi": APK, "chainguard": APK,
	"rhel": RPM, "centos": RPM, "fedora": RPM, "rocky": RPM, "almalinux": RPM,
	"amzn": RPM, "ol": RPM, "opensuse": RPM, "opensuse-leap": RPM, "opensuse-tumbleweed": RPM,
	"sles": RPM, "suse": RPM, "azurelinux": RPM, "mariner": RPM, "photon": RPM,
}

// debianCodenames maps Debian major versions to codenames.
var debianCodenames = map[string]string{
	"7": "wheezy", "8": "jessie", "9": "stretch", "10": "buster", "11": "bullseye",
	"12": "bookworm", "13": "trixie", "14": "forky", "15": "duke",
}

// DetectOS identifies the operating system of a root filesystem from
// /etc/os-release or /usr/lib/os-release, falling back to
// /etc/debian_version and /etc/alpine-release. It returns ErrUnsupportedOS
// for Windows layers and for anything it cannot map to a family.
func DetectOS(fsys fs.FS) (OS, error) {
	if _, err := fs.Stat(fsys, windowsMarker); err == nil {
		return OS{ID: "windows"}, fmt.Errorf("windows root filesystem: %w", ErrUnsupportedOS)
	}
	var o OS
	for _, p := range []string{etcOSRelease, usrOSRelease} {
		data, err := readSmall(fsys, p, maxOSReleaseLen)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return OS{}, fmt.Errorf("reading %s: %w", p, err)
		}
		o = ParseOSRelease(data)
		break
	}
	if o.ID == "" || o.ID == "debian" && o.VersionID == "" {
		if data, err := readSmall(fsys, debianVersion, maxOSReleaseLen); err == nil {
			d := parseDebianVersion(string(data))
			if o.ID == "" {
				o = d
			} else {
				o.VersionID = d.VersionID
				if o.Codename == "" {
					o.Codename = d.Codename
				}
			}
		}
	}
	if o.ID == "" {
		if data, err := readSmall(fsys, alpineRelease, maxOSReleaseLen); err == nil {
			v := strings.TrimSpace(string(data))
			o = OS{ID: "alpine", VersionID: v, PrettyName: "Alpine Linux v" + v, Family: APK}
		}
	}
	if o.ID == "" {
		return OS{}, fmt.Errorf("no os-release, debian_version or alpine-release: %w", ErrUnsupportedOS)
	}
	if o.Family == "" {
		return o, fmt.Errorf("operating system %q: %w", o.ID, ErrUnsupportedOS)
	}
	return o, nil
}

// ParseOSRelease parses an os-release file (freedesktop.org format:
// KEY=value lines, values optionally quoted). Family is set from ID, then
// from ID_LIKE; it is empty when neither is known.
func ParseOSRelease(data []byte) OS {
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxOSReleaseLen)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		kv[strings.TrimSpace(k)] = unquote(strings.TrimSpace(v))
	}
	o := OS{
		ID:         strings.ToLower(kv["ID"]),
		VersionID:  kv["VERSION_ID"],
		Codename:   kv["VERSION_CODENAME"],
		PrettyName: kv["PRETTY_NAME"],
	}
	if o.Codename == "" {
		o.Codename = kv["UBUNTU_CODENAME"]
	}
	if o.Codename == "" { // VERSION="8 (jessie)"
		if v := kv["VERSION"]; strings.Contains(v, "(") && strings.HasSuffix(v, ")") {
			c := v[strings.LastIndexByte(v, '(')+1 : len(v)-1]
			if !strings.ContainsAny(c, " ,") {
				o.Codename = strings.ToLower(c)
			}
		}
	}
	if f, ok := familyByID[o.ID]; ok {
		o.Family = f
	} else {
		for _, like := range strings.Fields(strings.ToLower(kv["ID_LIKE"])) {
			if f, ok := familyByID[like]; ok {
				o.Family = f
				break
			}
		}
	}
	return o
}

// unquote strips one level of shell-style quotes with backslash escapes.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		if v[0] == '"' {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
		}
		return v[1 : len(v)-1]
	}
	return v
}

// parseDebianVersion reads /etc/debian_version: "12.5" is Debian 12
// (bookworm); "trixie/sid" is testing on its way to trixie.
func parseDebianVersion(s string) OS {
	s = strings.TrimSpace(s)
	o := OS{ID: "debian", Family: Deb}
	if name, ok := strings.CutSuffix(s, "/sid"); ok {
		o.VersionID, o.Codename = "testing", name
		o.PrettyName = "Debian GNU/Linux " + s
		return o
	}
	major, _, _ := strings.Cut(s, ".")
	if _, err := strconv.Atoi(major); err != nil {
		o.VersionID = s
		return o
	}
	o.VersionID, o.Codename = major, debianCodenames[major]
	o.PrettyName = "Debian GNU/Linux " + major
	if o.Codename != "" {
		o.PrettyName += " (" + o.Codename + ")"
	}
	return o
}

// readSmall reads a file, refusing one larger than limit.
func readSmall(fsys fs.FS, name string, limit int64) ([]byte, error) {
	st, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory", name)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, over the %d-byte limit", name, st.Size(), limit)
	}
	return fs.ReadFile(fsys, name)
}
