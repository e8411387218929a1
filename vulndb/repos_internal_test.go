package vulndb

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/version"
)

// hostChangelogs returns up to n changelog.Debian.gz files of the host's
// installed packages: real changelogs, as the repos source reads them.
func hostChangelogs(t *testing.T, n int) []string {
	t.Helper()
	files, _ := filepath.Glob("/usr/share/doc/*/changelog.Debian.gz")
	if len(files) == 0 {
		t.Skip("no changelog.Debian.gz on this host")
	}
	if len(files) > n {
		files = files[:n]
	}
	return files
}

func gunzipFile(t *testing.T, p string) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestChangelogEntriesAgreeWithDpkgParsechangelog compares the entry
// versions and the CVE ids of each entry with dpkg-parsechangelog's, on
// the host's real changelogs.
func TestChangelogEntriesAgreeWithDpkgParsechangelog(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("dpkg-parsechangelog"); err != nil {
		t.Skip("dpkg-parsechangelog (dpkg-dev) is not installed")
	}
	cve := regexp.MustCompile(`CVE-[0-9]{4}-[0-9]{4,7}`)
	checked := 0
	for _, p := range hostChangelogs(t, 25) {
		text := gunzipFile(t, p)
		plain := filepath.Join(t.TempDir(), "changelog")
		if err := os.WriteFile(plain, text, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("dpkg-parsechangelog", "-l", plain, "--all", "--format", "rfc822").Output()
		if err != nil {
			continue // dpkg refuses some old changelogs; nothing to compare
		}
		var wantVersions []string
		var wantCVEs [][]string
		for _, para := range strings.Split(string(out), "\n\n") {
			var v string
			var ids []string
			for _, l := range strings.Split(para, "\n") {
				if s, ok := strings.CutPrefix(l, "Version: "); ok {
					v = s
				}
			}
			if v == "" {
				continue
			}
			for _, m := range cve.FindAllString(para, -1) {
				if !slices.Contains(ids, m) {
					ids = append(ids, m)
				}
			}
			wantVersions = append(wantVersions, v)
			wantCVEs = append(wantCVEs, ids)
		}
		entries, err := parseChangelog(text)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		var gotVersions []string
		for _, e := range entries {
			gotVersions = append(gotVersions, e.Version)
		}
		if !slices.Equal(gotVersions, wantVersions) {
			t.Errorf("%s: versions\n got %v\nwant %v", p, gotVersions, wantVersions)
			continue
		}
		for i, e := range entries {
			var got []string
			for _, id := range e.CVEs {
				got = append(got, id.String())
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(wantCVEs[i]))
			if !slices.Equal(got, want) {
				t.Errorf("%s %s: CVEs %v, want %v", p, e.Version, got, want)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no changelog could be compared")
	}
}

// TestNewerEntriesStopsAtInstalled checks the cut against dpkg's own
// ordering of each entry's version with the installed one.
func TestNewerEntriesStopsAtInstalled(t *testing.T) {
	t.Parallel()
	cmpr := version.For(pkgdb.Deb)
	for _, p := range hostChangelogs(t, 20) {
		entries, err := parseChangelog(gunzipFile(t, p))
		if err != nil || len(entries) < 3 {
			continue
		}
		installed := entries[2].Version
		got := newerEntries(entries, installed, cmpr)
		// dpkg: the leading entries strictly newer than installed.
		n := 0
		for _, e := range entries {
			if exec.Command("dpkg", "--compare-versions", e.Version, "gt", installed).Run() != nil {
				break
			}
			n++
		}
		if len(got) != n {
			t.Errorf("%s: %d entries newer than %s, dpkg says %d", p, len(got), installed, n)
		}
	}
}

func TestPlaceholderIDAlwaysParses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ src, ver string }{
		{"tzdata", "2025b-0+deb12u1"}, {"libstdc++", "1:2.3~rc1"}, {"--", "+"}, {"", ""},
	} {
		id := PlaceholderID(c.src, c.ver)
		if _, err := ParseID(id.String()); err != nil || !strings.HasPrefix(id.String(), "SU-") {
			t.Errorf("PlaceholderID(%q, %q) = %q: %v", c.src, c.ver, id, err)
		}
	}
	if got := PlaceholderID("tzdata", "2025b-0+deb12u1").String(); got != "SU-tzdata-2025b-0_deb12u1" {
		t.Errorf("placeholder %q", got)
	}
}

func FuzzParseChangelog(f *testing.F) {
	f.Add([]byte("pkg (1.0-1) unstable; urgency=high\n\n  * Fix CVE-2024-1234 and DSA-5000-1.\n\n -- A <a@b>  Mon, 01 Jan 2024 00:00:00 +0000\n"))
	f.Add([]byte("x (a) b;\n CVE-1-1 CVE-2024-99999999\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseChangelog(b)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Version == "" {
				t.Fatal("entry without version")
			}
			for _, id := range append(e.CVEs, e.Advisories...) {
				if _, err := ParseID(id.String()); err != nil || !bytes.Contains(b, []byte(id.String())) {
					t.Fatalf("id %q not parsed from input", id)
				}
			}
		}
		_ = newerEntries(entries, "1.0", version.For(pkgdb.Deb))
	})
}

func FuzzPlaceholderID(f *testing.F) {
	f.Add("tzdata", "2025b-0+deb12u1")
	f.Fuzz(func(t *testing.T, src, ver string) {
		id := PlaceholderID(src, ver)
		if _, err := ParseID(id.String()); err != nil {
			t.Fatalf("PlaceholderID(%q, %q) = %q does not parse: %v", src, ver, id, err)
		}
	})
}
