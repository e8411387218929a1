package vulndb_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/vulndb"
)

var jammy = pkgdb.OS{ID: "ubuntu", VersionID: "22.04", Codename: "jammy", Family: pkgdb.Deb}

var jammyPkgs = []pkgdb.Package{
	{Name: "curl", Version: "7.81.0-1ubuntu1.15", Arch: "amd64", SourceName: "curl", SourceVersion: "7.81.0-1ubuntu1.15"},
	{Name: "libssl3", Version: "3.0.2-0ubuntu1.10", Arch: "amd64", SourceName: "openssl", SourceVersion: "3.0.2-0ubuntu1.10"},
}

// zipDir writes every file under dir into a zip and returns its path.
func zipDir(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "all.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(w, src)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func summarize(fs []vulndb.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s fixed=%q", f.PkgName, f.VulnerabilityID, f.Status, f.FixedVersion))
	}
	return out
}

func TestOSVMatchesDirectoryAndZipAlike(t *testing.T) {
	t.Parallel()
	for _, layout := range []string{"dir", "zip"} {
		t.Run(layout, func(t *testing.T) {
			t.Parallel()
			path := "testdata/osv"
			if layout == "zip" {
				path = zipDir(t, path)
			}
			src, err := vulndb.OpenOSV(path)
			if err != nil {
				t.Fatal(err)
			}
			if src.Files() != 7 {
				t.Errorf("read %d files, want the 7 fixtures", src.Files())
			}
			got, err := src.Find(context.Background(), bookworm, bookwormPkgs)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				// introduced 1.0-1, fixed 1.0-1+deb12u1 in the second range of events
				`libfoo1 DEBIAN-CVE-2024-9000 fixed fixed="1.0-1+deb12u1"`,
				// no fixed event: affected, unfixed
				`libssl3 DEBIAN-CVE-2024-2511 affected fixed=""`,
				`libssl3 DSA-5621-1 fixed fixed="3.0.13-1~deb12u1"`,
				`openssl DEBIAN-CVE-2024-2511 affected fixed=""`,
				`openssl DSA-5621-1 fixed fixed="3.0.13-1~deb12u1"`,
				// last_affected equals the installed version
				`tzdata DEBIAN-CVE-2024-9000 affected fixed=""`,
				// glibc: fixed in the installed version; DSA-9999-1 is withdrawn; the GIT range is ignored
			}
			if have := summarize(got); !slices.Equal(have, want) {
				t.Errorf("findings\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
			}
			for _, f := range got {
				if f.VulnerabilityID.String() == "DSA-5621-1" {
					cves := fmt.Sprint(f.CVEs())
					if cves != "[CVE-2023-5678 CVE-2023-6129 CVE-2023-6237 CVE-2024-0727]" || f.SourceName != "openssl" || f.DataSource != "osv:Debian:12" {
						t.Errorf("DSA-5621-1: CVEs %s, source %q, data source %q", cves, f.SourceName, f.DataSource)
					}
				}
			}
		})
	}
}

func TestOSVUbuntuAndAlpineEcosystems(t *testing.T) {
	t.Parallel()
	src, err := vulndb.OpenOSV("testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	pro, err := vulndb.OpenOSV("testdata/osv", vulndb.WithUbuntuPro())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	alpine := pkgdb.OS{ID: "alpine", VersionID: "3.19.1", Family: pkgdb.APK}
	alpinePkgs := []pkgdb.Package{{Name: "libcrypto3", Version: "3.1.4-r4", Arch: "x86_64", SourceName: "openssl", SourceVersion: "3.1.4-r4"}}
	cases := []struct {
		name string
		src  *vulndb.OSV
		os   pkgdb.OS
		pkgs []pkgdb.Package
		want []string
	}{
		{"ubuntu LTS", src, jammy, jammyPkgs, []string{`libssl3 USN-6663-1 fixed fixed="3.0.2-0ubuntu1.14"`}},
		{"ubuntu pro", pro, jammy, jammyPkgs, []string{
			`curl USN-6663-1 fixed fixed="7.81.0-1ubuntu1.16+esm1"`,
			`libssl3 USN-6663-1 fixed fixed="3.0.2-0ubuntu1.14"`,
		}},
		{"other ubuntu release", src, pkgdb.OS{ID: "ubuntu", VersionID: "24.04", Family: pkgdb.Deb}, jammyPkgs, nil},
		{"alpine by origin", src, alpine, alpinePkgs, []string{`libcrypto3 ALPINE-CVE-2024-0727 fixed fixed="3.1.4-r5"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.src.Find(ctx, c.os, c.pkgs)
			if err != nil {
				t.Fatal(err)
			}
			if have := summarize(got); !slices.Equal(have, c.want) {
				t.Errorf("findings %q, want %q", have, c.want)
			}
			for _, f := range got {
				if f.VulnerabilityID.String() == "USN-6663-1" && f.Severity != vulndb.SeverityMedium {
					t.Errorf("USN severity %s, want the Ubuntu priority MEDIUM", f.Severity)
				}
			}
		})
	}
	if _, err := src.Find(ctx, pkgdb.OS{ID: "rocky", VersionID: "9", Family: pkgdb.RPM}, nil); !errors.Is(err, vulndb.ErrUnsupportedOS) {
		t.Errorf("rocky: %v, want ErrUnsupportedOS", err)
	}
}

func TestOSVMalformedFilesNameTheFile(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir("testdata/osv-bad")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, e.Name()), string(mustRead(t, filepath.Join("testdata/osv-bad", e.Name()))))
			_, err := vulndb.OpenOSV(dir)
			if err == nil || !strings.Contains(err.Error(), e.Name()) {
				t.Fatalf("dir: %v, want an error naming %s", err, e.Name())
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("error spans lines: %q", err)
			}
			z := zipDir(t, dir)
			_, err = vulndb.OpenOSV(z)
			if err == nil || !strings.Contains(err.Error(), z+":"+e.Name()) {
				t.Fatalf("zip: %v, want an error naming %s:%s", err, z, e.Name())
			}
		})
	}
	if _, err := vulndb.OpenOSV(filepath.Join("testdata", "osv", "README.md")); err == nil {
		t.Error("a file that is not a zip opened")
	}
}

// TestOSVOnBookwormRootfs matches the real bookworm packages against
// generated Debian:12 records and checks the result with dpkg.
func TestOSVOnBookwormRootfs(t *testing.T) {
	testutil.RequireSlow(t)
	t.Parallel()
	root := testutil.Rootfs(t, testutil.Bookworm)
	fsys := os.DirFS(root)
	osys, err := pkgdb.DetectOS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := pkgdb.Dpkg{}.Read(fsys)
	if err != nil {
		t.Fatal(err)
	}
	entries, fixedBySource := advisoriesAround(pkgs)
	dir := t.TempDir()
	for _, e := range entries {
		rec := map[string]any{
			"schema_version": "1.6.0",
			"id":             "DEBIAN-" + e.ID,
			"upstream":       []string{e.ID},
			"affected": []any{map[string]any{
				"package": map[string]string{"ecosystem": "Debian:12", "name": e.Package},
				"ranges": []any{map[string]any{"type": "ECOSYSTEM", "events": []any{
					map[string]string{"introduced": "0"},
					map[string]string{"fixed": e.Value.(map[string]any)["FixedVersion"].(string)},
				}}},
			}},
		}
		b, _ := json.Marshal(rec)
		writeFile(t, filepath.Join(dir, "DEBIAN-"+e.ID+".json"), string(b))
	}
	src, err := vulndb.OpenOSV(zipDir(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	got, err := src.Find(context.Background(), osys, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, f := range got {
		have = append(have, f.PkgName+" "+f.CVEs()[0].String()+" "+f.FixedVersion)
	}
	slices.Sort(have)
	if want := expectByDpkg(t, pkgs, fixedBySource); !slices.Equal(have, want) {
		t.Errorf("%d findings, dpkg expects %d\nhave %q\nwant %q", len(have), len(want), have, want)
	}
}
