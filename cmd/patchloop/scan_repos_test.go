package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/vulndb"
)

// changelogGz is a gzipped Debian changelog of pkg with one entry per
// (version, text), newest first.
func changelogGz(t *testing.T, pkg string, entries ...[2]string) string {
	t.Helper()
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "%s (%s) bookworm; urgency=medium\n\n  * %s\n\n -- Test <test@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n\n", pkg, e[0], e[1])
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(b.String()))
	_ = zw.Close()
	return gz.String()
}

// TestScanReposRules checks the repos source's rules on a local signed
// archive (real dpkg-deb, dpkg-scanpackages and gpg) with the suites of
// bookworm, and an image whose packages the real dpkg installed:
//
//   - alpha: a security update naming CVE-2099-1111, then an -updates
//     version naming it again and CVE-2099-5555: each CVE gets the lowest
//     version naming it; the entry of the installed version (naming
//     CVE-2099-0000) does not count;
//   - bravo: a security update naming nothing: a placeholder id;
//   - charlie: a security update naming only DSA-9999-1: that id;
//   - delta: an -updates version naming CVE-2099-4444: a finding;
//   - echo: an -updates version naming no CVE, and a backports version
//     naming CVE-2099-6666: nothing.
func TestScanReposRules(t *testing.T) {
	requireTools(t, "dpkg-deb", "dpkg-scanpackages", "gpg", "dpkg")
	const base = "1.0-1"
	doc := func(name string, entries ...[2]string) map[string]string {
		return map[string]string{"/usr/share/doc/" + name + "/changelog.Debian.gz": changelogGz(t, name, entries...)}
	}
	installedEntry := [2]string{base, "Initial release, closes CVE-2099-0000."}
	deb := func(name, version string, entries ...[2]string) testDeb {
		return testDeb{name: name, version: version, arch: "amd64", files: doc(name, append(entries, installedEntry)...)}
	}
	names := []string{"alpha", "bravo", "charlie", "delta", "echo"}
	var release []testDeb
	for _, n := range names {
		release = append(release, deb(n, base))
	}
	debDir := t.TempDir()
	var paths []string // installed: the release versions
	for _, d := range release {
		paths = append(paths, d.build(t, debDir))
	}
	repo := newAptRepo(t)
	amd64 := []string{"amd64"}
	repo.publish("debian", "bookworm", amd64, release)
	repo.publish("debian-security", "bookworm-security", amd64, []testDeb{
		deb("alpha", "1.0-1+deb12u1", [2]string{"1.0-1+deb12u1", "Fix CVE-2099-1111."}),
		deb("bravo", "1.0-1+deb12u1", [2]string{"1.0-1+deb12u1", "Rebuild for the new toolchain."}),
		deb("charlie", "1.0-1+deb12u1", [2]string{"1.0-1+deb12u1", "Security update (DSA-9999-1)."}),
	})
	repo.publish("debian", "bookworm-updates", amd64, []testDeb{
		deb("alpha", "1.0-1+deb12u2", [2]string{"1.0-1+deb12u2", "Fix CVE-2099-5555."}, [2]string{"1.0-1+deb12u1", "Fix CVE-2099-1111."}),
		deb("delta", "1.0-2", [2]string{"1.0-2", "Stable update, fixes CVE-2099-4444."}),
		deb("echo", "1.0-2", [2]string{"1.0-2", "Timezone data update."}),
	})
	repo.publish("debian", "bookworm-backports", amd64, []testDeb{
		deb("echo", "2.0-1~bpo12+1", [2]string{"2.0-1~bpo12+1", "Backport, fixes CVE-2099-6666."}),
	})

	root := demoSystem(t, "amd64", paths...)
	f, err := os.OpenFile(filepath.Join(root, "etc/apt/sources.list"), os.O_APPEND|os.O_WRONLY, 0)
	mustNil(t, err)
	_, err = f.WriteString("deb http://deb.debian.org/debian bookworm-backports main\n")
	mustNil(t, err)
	mustNil(t, f.Close())
	reg := testutil.StartRegistry(t)
	reg.Push(t, "rules:1", imageOf(t, root, "amd64", types.OCIManifestSchema1))

	h := newHarness(t)
	args := append([]string{"scan", reg.Addr + "/rules:1", "-o", "json", "--cache-dir", t.TempDir(), "--exit-code", "2"}, repo.mirrorFlags()...)
	r := h.run("", args...)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2 (fixable)\n%s", r.code, r.stderr)
	}
	rep, err := vulndb.ParseReport([]byte(r.stdout))
	mustNil(t, err)
	var got []string
	for _, v := range rep.Results[0].Vulnerabilities {
		got = append(got, strings.Join([]string{v.PkgName, v.VulnerabilityID, v.FixedVersion, v.SeveritySource, v.Status}, " "))
	}
	slices.Sort(got)
	want := []string{
		"alpha CVE-2099-1111 1.0-1+deb12u1 bookworm-security fixed",
		"alpha CVE-2099-5555 1.0-1+deb12u2 bookworm-updates fixed",
		"bravo SU-bravo-1.0-1_deb12u1 1.0-1+deb12u1 bookworm-security fixed",
		"charlie DSA-9999-1 1.0-1+deb12u1 bookworm-security fixed",
		"delta CVE-2099-4444 1.0-2 bookworm-updates fixed",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}

	t.Run("a tampered changelog package is an error, not clean", func(t *testing.T) {
		// Replace the security .deb of bravo with other bytes: its
		// checksum no longer matches the signed index.
		p := filepath.Join(repo.dir, "debian-security", "pool", "bookworm-security", "bravo_1.0-1+deb12u1_amd64.deb")
		mustNil(t, os.WriteFile(p, []byte("not the package"), 0o644))
		args := append([]string{"scan", reg.Addr + "/rules:1", "--cache-dir", t.TempDir()}, repo.mirrorFlags()...)
		r := h.run("", args...)
		if r.code != 1 || !strings.Contains(r.stderr, "checksum") {
			t.Errorf("exit %d, stderr %q; want 1 and a checksum error", r.code, r.stderr)
		}
	})
}
