package pkgdb_test

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/pkgdb/pkgdbtest"
)

var debSamples = []pkgdb.Package{
	{Name: "libc6", Version: "2.36-9+deb12u9", Arch: "amd64", SourceName: "glibc", SourceVersion: "2.36-9+deb12u9"},
	{Name: "libc6", Version: "2.36-9+deb12u9", Arch: "i386", SourceName: "glibc", SourceVersion: "2.36-9+deb12u9"},
	{Name: "libpcre2-8-0", Version: "10.42-1", Arch: "amd64", SourceName: "pcre2", SourceVersion: "10.42-1"},
	{Name: "perl-base", Version: "5.36.0-7+deb12u1", Arch: "amd64", SourceName: "perl", SourceVersion: "5.36.0-7+deb12u1"},
	{Name: "libgcc-s1", Version: "12.2.0-14", Arch: "amd64", SourceName: "gcc-12", SourceVersion: "12.2.0-14"},
	{Name: "base-files", Version: "12.4+deb12u8", Arch: "amd64", SourceName: "base-files", SourceVersion: "12.4+deb12u8"},
	{Name: "libssl3", Version: "1:3.0.15-1~deb12u1", Arch: "amd64", SourceName: "openssl", SourceVersion: "1:3.0.15-1~deb12u1"},
	{Name: "tzdata", Version: "2024a-0+deb12u1", Arch: "all", SourceName: "tzdata", SourceVersion: "2024a-0+deb12u1"},
	{Name: "libsystemd0", Version: "252.31-1~deb12u1", Arch: "amd64", SourceName: "systemd", SourceVersion: "252.31-1~deb12u1"},
	{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Arch: "amd64", SourceName: "zlib", SourceVersion: "1:1.2.13.dfsg-1"},
	{Name: "gcc-12-base", Version: "12.2.0-14", Arch: "amd64", SourceName: "gcc-12", SourceVersion: "12.2.0-14"},
	{Name: "libgnutls30", Version: "3.7.9-2+deb12u3", Arch: "amd64", SourceName: "gnutls28", SourceVersion: "3.7.9-2+deb12u3"},
	{Name: "libsepol2", Version: "3.4-2.1", Arch: "amd64", SourceName: "libsepol", SourceVersion: "3.4-2.1"},
	// binNMU: the source version differs from the binary version.
	{Name: "libbinnmu1", Version: "1.0-1+b2", Arch: "amd64", SourceName: "binnmu", SourceVersion: "1.0-1"},
}

var debNotInstalled = []pkgdb.Package{
	{Name: "removed-conf", Version: "1.0-1", Arch: "amd64", Status: "deinstall ok config-files"},
	{Name: "half", Version: "2.0-1", Arch: "amd64", Status: "install ok half-installed"},
	{Name: "purged", Version: "3.0-1", Arch: "amd64", Status: "purge ok not-installed"},
}

// stanza writes p the way dpkg does, with fields the reader must skip.
func stanza(p pkgdb.Package, status string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Package: %s\n", p.Name)
	if status != "" {
		fmt.Fprintf(&b, "Status: %s\n", status)
	}
	fmt.Fprintf(&b, "Priority: optional\nSection: libs\nInstalled-Size: 123\nMaintainer: Debian <debian@example.org>\nArchitecture: %s\nMulti-Arch: same\n", p.Arch)
	switch {
	case p.SourceName == p.Name && p.SourceVersion == p.Version:
	case p.SourceVersion == p.Version:
		fmt.Fprintf(&b, "Source: %s\n", p.SourceName)
	default:
		fmt.Fprintf(&b, "Source: %s (%s)\n", p.SourceName, p.SourceVersion)
	}
	fmt.Fprintf(&b, "Version: %s\nDepends: libc6 (>= 2.34)\nDescription: sample %s\n a long description\n .\n with a paragraph: and a colon\n", p.Version, p.Name)
	return b.String()
}

func writeStatus(t testing.TB, installed, notInstalled []pkgdb.Package) fs.FS {
	var stanzas []string
	for _, p := range installed {
		stanzas = append(stanzas, stanza(p, "install ok installed"))
	}
	for _, p := range notInstalled {
		stanzas = append(stanzas, stanza(p, p.Status))
	}
	return fstest.MapFS{"var/lib/dpkg/status": {Data: []byte(strings.Join(stanzas, "\n"))}}
}

// writeStatusD writes one distroless status.d file per package, without
// Status, and an md5sums file that must be skipped.
func writeStatusD(t testing.TB, installed, notInstalled []pkgdb.Package) fs.FS {
	m := fstest.MapFS{"var/lib/dpkg/status.d": {Mode: fs.ModeDir | 0o755}}
	for _, p := range installed {
		m["var/lib/dpkg/status.d/"+p.Name+"-"+p.Arch] = &fstest.MapFile{Data: []byte(stanza(p, ""))}
		m["var/lib/dpkg/status.d/"+p.Name+"-"+p.Arch+".md5sums"] = &fstest.MapFile{Data: []byte("d41d8cd98f00b204e9800998ecf8427e  usr/share/doc/x\n")}
	}
	for _, p := range notInstalled {
		m["var/lib/dpkg/status.d/"+p.Name] = &fstest.MapFile{Data: []byte(stanza(p, p.Status))}
	}
	return m
}

func TestDpkgConformance(t *testing.T) {
	pkgdbtest.Run(t, pkgdbtest.Harness{Reader: pkgdb.Dpkg{}, Installed: debSamples, NotInstalled: debNotInstalled, Write: writeStatus})
}

func TestDpkgStatusDConformance(t *testing.T) {
	pkgdbtest.Run(t, pkgdbtest.Harness{Reader: pkgdb.Dpkg{}, Installed: debSamples, NotInstalled: debNotInstalled, Write: writeStatusD})
}

func TestDpkgStatusErrorsNameTheLine(t *testing.T) {
	for name, data := range map[string]string{
		"no colon":            "Package: a\nVersion: 1\nStatus: install ok installed\nnot a field\n",
		"orphan continuation": " continuation\n",
		"bad source":          "Package: a\nStatus: install ok installed\nVersion: 1\nSource: b 1.0\n",
		"no version":          "Package: a\nStatus: install ok installed\n",
	} {
		_, err := pkgdb.ParseDpkgStatus([]byte(data), false)
		if err == nil || !strings.Contains(err.Error(), "line") {
			t.Errorf("%s: %v, want an error naming the line", name, err)
		}
	}
}

func FuzzParseDpkgStatus(f *testing.F) {
	f.Add([]byte(stanza(debSamples[0], "install ok installed")), false)
	f.Add([]byte(stanza(debSamples[len(debSamples)-1], "")), true)
	f.Fuzz(func(t *testing.T, data []byte, optional bool) {
		pkgs, err := pkgdb.ParseDpkgStatus(data, optional)
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || p.SourceName == "" || p.SourceVersion == "" {
				t.Fatalf("incomplete package %+v", p)
			}
		}
	})
}
