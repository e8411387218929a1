package pkgdb_test

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/pkgdb"
)

// shellOSRelease reads an os-release file the way its specification
// intends, by sourcing it in a real shell: the oracle for the parser.
func shellOSRelease(t testing.TB, path string) pkgdb.OS {
	t.Helper()
	out, err := exec.Command("sh", "-c", `. "$1"; printf '%s\n%s\n%s\n%s\n' "$ID" "$VERSION_ID" "${VERSION_CODENAME:-$UBUNTU_CODENAME}" "$PRETTY_NAME"`, "sh", path).Output()
	if err != nil {
		t.Fatalf("sourcing %s: %v", path, err)
	}
	f := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	return pkgdb.OS{ID: f[0], VersionID: f[1], Codename: f[2], PrettyName: f[3]}
}

// fileFromTarGz returns one file of a gzipped tar.
func fileFromTarGz(t testing.TB, archive, name string) []byte {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in %s: %v", name, archive, err)
		}
		if strings.TrimPrefix(hdr.Name, "./") == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

const alpineFixtures = "/work/shared/fixtures/alpine"

func TestParseOSReleaseAgainstShell(t *testing.T) {
	files := map[string][]byte{
		"alpine-3.19.4": fileFromTarGz(t, filepath.Join(alpineFixtures, "alpine-minirootfs-3.19.4-x86_64.tar.gz"), "etc/os-release"),
		"alpine-3.20.3": fileFromTarGz(t, filepath.Join(alpineFixtures, "alpine-minirootfs-3.20.3-x86_64.tar.gz"), "etc/os-release"),
		"quoted":        []byte("# comment\nNAME=\"Some \\\"Linux\\\"\"\nID='rocky'\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Rocky Linux 9.4 (Blue Onyx)\"\n"),
	}
	if !testing.Short() {
		for _, suite := range []testutil.Suite{testutil.Bookworm, testutil.Jammy} {
			b, err := os.ReadFile(filepath.Join(testutil.Rootfs(t, suite), "usr/lib/os-release"))
			if err != nil {
				t.Fatal(err)
			}
			files[suite.Name] = b
		}
	}
	for name, data := range files {
		p := filepath.Join(t.TempDir(), "os-release")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		want := shellOSRelease(t, p)
		got := pkgdb.ParseOSRelease(data)
		if got.ID != want.ID || got.VersionID != want.VersionID || got.Codename != want.Codename || got.PrettyName != want.PrettyName {
			t.Errorf("%s: parsed %+v, the shell reads %+v", name, got, want)
		}
		if got.Family == "" {
			t.Errorf("%s: no family for %+v", name, got)
		}
	}
}

func TestDetectOS(t *testing.T) {
	for name, tc := range map[string]struct {
		fs   fstest.MapFS
		want pkgdb.OS
	}{
		"debian_version fallback": {
			fs:   fstest.MapFS{"etc/debian_version": {Data: []byte("12.5\n")}},
			want: pkgdb.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Family: pkgdb.Deb},
		},
		"debian testing": {
			fs:   fstest.MapFS{"etc/debian_version": {Data: []byte("bookworm/sid\n")}},
			want: pkgdb.OS{ID: "debian", VersionID: "testing", Codename: "bookworm", Family: pkgdb.Deb},
		},
		"os-release without VERSION_ID completed from debian_version": {
			fs: fstest.MapFS{
				"usr/lib/os-release": {Data: []byte("ID=debian\nVERSION_CODENAME=trixie\nPRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\n")},
				"etc/debian_version": {Data: []byte("trixie/sid\n")},
			},
			want: pkgdb.OS{ID: "debian", VersionID: "testing", Codename: "trixie", Family: pkgdb.Deb},
		},
		"alpine-release fallback": {
			fs:   fstest.MapFS{"etc/alpine-release": {Data: []byte("3.19.4\n")}},
			want: pkgdb.OS{ID: "alpine", VersionID: "3.19.4", Family: pkgdb.APK},
		},
		"ID_LIKE maps derivatives": {
			fs:   fstest.MapFS{"etc/os-release": {Data: []byte("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\nVERSION_ID=21.3\n")}},
			want: pkgdb.OS{ID: "linuxmint", VersionID: "21.3", Family: pkgdb.Deb},
		},
		"VERSION codename of old releases": {
			fs:   fstest.MapFS{"etc/os-release": {Data: []byte("ID=debian\nVERSION_ID=\"8\"\nVERSION=\"8 (jessie)\"\n")}},
			want: pkgdb.OS{ID: "debian", VersionID: "8", Codename: "jessie", Family: pkgdb.Deb},
		},
	} {
		got, err := pkgdb.DetectOS(tc.fs)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got.PrettyName = ""
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", name, got, tc.want)
		}
	}
}

func TestDetectOSUnsupported(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"windows":  {"Files/Windows/System32/ntdll.dll": {Data: []byte("MZ")}},
		"unknown":  {"etc/os-release": {Data: []byte("ID=plan9\n")}},
		"nothing":  {"bin/sh": {Data: []byte("x")}},
		"scratch":  {},
		"empty id": {"etc/os-release": {Data: []byte("NAME=x\n")}},
	} {
		_, _, err := pkgdb.Inventory(fsys)
		if !errors.Is(err, pkgdb.ErrUnsupportedOS) {
			t.Errorf("%s: %v, want ErrUnsupportedOS", name, err)
		}
	}
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte("ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"))
	f.Add([]byte("ID='x'\nVERSION=\"8 (jessie)\"\nID_LIKE=\"rhel fedora\""))
	f.Fuzz(func(t *testing.T, data []byte) {
		o := pkgdb.ParseOSRelease(data)
		if o.Family != "" && o.ID == "" && !strings.Contains(string(data), "ID_LIKE") {
			t.Fatalf("family %q without an ID", o.Family)
		}
	})
}
