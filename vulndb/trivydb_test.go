package vulndb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/vulndb"
)

var bookworm = pkgdb.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Family: pkgdb.Deb}

// bookwormPkgs are installed packages as the dpkg reader returns them; two
// binaries share the openssl source and libfoo1 is a binNMU.
var bookwormPkgs = []pkgdb.Package{
	{Name: "libc6", Version: "2.36-9+deb12u4", Arch: "amd64", SourceName: "glibc", SourceVersion: "2.36-9+deb12u4"},
	{Name: "libfoo1", Version: "1.0-1+b1", Arch: "amd64", SourceName: "foo", SourceVersion: "1.0-1"},
	{Name: "libssl3", Version: "3.0.11-1~deb12u2", Arch: "amd64", SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u2"},
	{Name: "openssl", Version: "3.0.11-1~deb12u2", Arch: "amd64", SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u2"},
	{Name: "tzdata", Version: "2024a-0+deb12u1", Arch: "all", SourceName: "tzdata", SourceVersion: "2024a-0+deb12u1"},
}

type trivyBundle struct {
	dir string
	db  *vulndb.TrivyDB
}

func setupTrivy(t *testing.T, entries []trivyEntry, vulns map[string]any) trivyBundle {
	t.Helper()
	dir := t.TempDir()
	buildTrivyDB(t, dir, entries, vulns, map[string]any{
		"debian 12": map[string]string{"ID": "debian", "Name": "Debian Security Tracker"},
	})
	db, err := vulndb.OpenTrivyDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return trivyBundle{dir: dir, db: db}
}

func TestTrivyDBMatchesSourcePackagesByFixedVersion(t *testing.T) {
	t.Parallel()
	// Fixed versions around the installed ones; dpkg decides which apply.
	fixed := map[string]map[string]string{
		"openssl": {"CVE-2024-0001": "3.0.13-1~deb12u1", "CVE-2023-0002": "3.0.9-1", "CVE-2024-0003": "3.0.11-1~deb12u2"},
		"glibc":   {"CVE-2024-0010": "2.36-9+deb12u7", "CVE-2024-0011": "2.36-9+deb12u3"},
		"foo":     {"CVE-2024-0020": "1.0-1+deb12u1"},
		"libfoo1": {"CVE-2024-0099": "9.9-1"}, // a binary name: never looked up
		"tzdata":  {"CVE-2024-0030": "2024b-0+deb12u1"},
	}
	var entries []trivyEntry
	for pkg, ids := range fixed {
		for id, v := range ids {
			entries = append(entries, trivyEntry{"debian 12", pkg, id, map[string]any{"FixedVersion": v}})
		}
	}
	b := setupTrivy(t, entries, nil)

	got, err := b.db.Find(context.Background(), bookworm, bookwormPkgs)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range bookwormPkgs {
		for id, v := range fixed[p.SourceName] {
			if dpkgLess(t, p.SourceVersion, v) {
				want = append(want, fmt.Sprintf("%s %s %s<%s", p.Name, id, p.Version, v))
			}
		}
	}
	var have []string
	for _, f := range got {
		if f.Status != vulndb.StatusFixed || !f.Fixable() {
			t.Errorf("%s %s: status %s fixed %q, want a fixable finding", f.PkgName, f.VulnerabilityID, f.Status, f.FixedVersion)
		}
		have = append(have, fmt.Sprintf("%s %s %s<%s", f.PkgName, f.VulnerabilityID, f.InstalledVersion, f.FixedVersion))
	}
	slices.Sort(want)
	slices.Sort(have)
	if !slices.Equal(have, want) || len(want) == 0 {
		t.Errorf("findings:\n%q\nwant (by dpkg):\n%q", have, want)
	}
	if !slices.IsSortedFunc(got, func(a, b vulndb.Finding) int {
		return compareStrings(a.PkgName+" "+a.VulnerabilityID.String(), b.PkgName+" "+b.VulnerabilityID.String())
	}) {
		t.Errorf("findings not sorted by package then id")
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestTrivyDBReportsUnfixedWithStatusAndSkipsNotAffected(t *testing.T) {
	t.Parallel()
	b := setupTrivy(t, []trivyEntry{
		{"debian 12", "glibc", "CVE-2010-4756", map[string]any{"Status": 5}},  // will_not_fix
		{"debian 12", "glibc", "CVE-2019-1010022", map[string]any{}},          // no status: affected
		{"debian 12", "glibc", "CVE-2019-9192", map[string]any{"Status": 1}},  // not_affected
		{"debian 12", "glibc", "CVE-2018-20796", map[string]any{"Status": 6}}, // fix_deferred
	}, nil)
	got, err := b.db.Find(context.Background(), bookworm, bookwormPkgs)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]vulndb.Status{}
	for _, f := range got {
		if f.Fixable() {
			t.Errorf("%s is fixable, the DB knows no fix", f.VulnerabilityID)
		}
		status[f.VulnerabilityID.String()] = f.Status
	}
	want := map[string]vulndb.Status{
		"CVE-2010-4756":    vulndb.StatusWillNotFix,
		"CVE-2019-1010022": vulndb.StatusAffected,
		"CVE-2018-20796":   vulndb.StatusFixDeferred,
	}
	if fmt.Sprint(status) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", status, want)
	}
	if fixable := vulndb.Fixable(got); len(fixable) != 0 {
		t.Errorf("Fixable kept %d unfixed findings", len(fixable))
	}
}

func TestTrivyDBSeverityFollowsTrivy(t *testing.T) {
	t.Parallel()
	b := setupTrivy(t, []trivyEntry{
		{"debian 12", "tzdata", "CVE-2024-0001", map[string]any{"FixedVersion": "2099a-1"}},
		{"debian 12", "tzdata", "CVE-2024-0002", map[string]any{"FixedVersion": "2099a-1"}},
		{"debian 12", "tzdata", "CVE-2024-0003", map[string]any{"FixedVersion": "2099a-1", "Severity": 2}},
		{"debian 12", "tzdata", "CVE-2024-0004", map[string]any{"FixedVersion": "2099a-1"}},
		{"debian 12", "tzdata", "TEMP-0841856-B18BAF", map[string]any{"FixedVersion": "2099a-1"}},
	}, map[string]any{
		"CVE-2024-0001": map[string]any{"Title": "tz: one", "VendorSeverity": map[string]int{"debian": 1, "nvd": 3}},
		"CVE-2024-0002": map[string]any{"Title": "tz: two", "VendorSeverity": map[string]int{"nvd": 4}},
		"CVE-2024-0003": map[string]any{"VendorSeverity": map[string]int{"debian": 1}},
		"CVE-2024-0004": map[string]any{"Severity": "HIGH"},
	})
	got, err := b.db.Find(context.Background(), bookworm, bookwormPkgs)
	if err != nil {
		t.Fatal(err)
	}
	sev := map[string]string{}
	for _, f := range got {
		sev[f.VulnerabilityID.String()] = f.Severity.String() + "/" + f.Title
	}
	want := map[string]string{
		"CVE-2024-0001":       "LOW/tz: one",      // the platform's vendor severity
		"CVE-2024-0002":       "CRITICAL/tz: two", // NVD when the vendor has none
		"CVE-2024-0003":       "MEDIUM/",          // the advisory's own severity wins
		"CVE-2024-0004":       "HIGH/",            // the record's severity last
		"TEMP-0841856-B18BAF": "UNKNOWN/",
	}
	if fmt.Sprint(sev) != fmt.Sprint(want) {
		t.Errorf("severities %v\nwant %v", sev, want)
	}
	for _, f := range got {
		if f.DataSource != "debian" {
			t.Errorf("%s: data source %q, want the data-source bucket's id", f.VulnerabilityID, f.DataSource)
		}
	}
}

func TestTrivyDBPlatformBuckets(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		os       pkgdb.OS
		bucket   string
		pkg      pkgdb.Package
		lookedUp string // package bucket name
		value    any
		fixed    string
	}{
		{"ubuntu by source", pkgdb.OS{ID: "ubuntu", VersionID: "22.04", Family: pkgdb.Deb}, "ubuntu 22.04",
			pkgdb.Package{Name: "libssl3", Version: "3.0.2-0ubuntu1.10", SourceName: "openssl", SourceVersion: "3.0.2-0ubuntu1.10"},
			"openssl", map[string]any{"FixedVersion": "3.0.2-0ubuntu1.15"}, "3.0.2-0ubuntu1.15"},
		{"alpine major.minor by origin", pkgdb.OS{ID: "alpine", VersionID: "3.19.4", Family: pkgdb.APK}, "alpine 3.19",
			pkgdb.Package{Name: "libcrypto3", Version: "3.1.4-r5", SourceName: "openssl", SourceVersion: "3.1.4-r5"},
			"openssl", map[string]any{"FixedVersion": "3.1.6-r0"}, "3.1.6-r0"},
		{"alpine edge", pkgdb.OS{ID: "alpine", VersionID: "3.21_alpha20240807", Family: pkgdb.APK}, "alpine edge",
			pkgdb.Package{Name: "busybox", Version: "1.36.1-r30", SourceName: "busybox"},
			"busybox", map[string]any{"FixedVersion": "1.36.1-r31"}, "1.36.1-r31"},
		{"rocky major by binary name and arch", pkgdb.OS{ID: "rocky", VersionID: "9.3", Family: pkgdb.RPM}, "rocky 9",
			pkgdb.Package{Name: "openssl-libs", Version: "1:3.0.7-24.el9", Arch: "x86_64", SourceName: "openssl", SourceVersion: "1:3.0.7-24.el9"},
			"openssl-libs", map[string]any{"Entries": []map[string]any{
				{"FixedVersion": "1:3.0.7-25.el9_3", "Arches": []string{"aarch64"}},
				{"FixedVersion": "1:3.0.7-27.el9", "Arches": []string{"x86_64"}},
			}}, "1:3.0.7-27.el9"},
		{"alma", pkgdb.OS{ID: "almalinux", VersionID: "8.9", Family: pkgdb.RPM}, "alma 8",
			pkgdb.Package{Name: "curl", Version: "7.61.1-33.el8", Arch: "x86_64"},
			"curl", map[string]any{"FixedVersion": "7.61.1-34.el8"}, "7.61.1-34.el8"},
		{"amazon linux 2023", pkgdb.OS{ID: "amzn", VersionID: "2023", Family: pkgdb.RPM}, "amazon linux 2023",
			pkgdb.Package{Name: "curl-minimal", Version: "8.3.0-1.amzn2023.0.1", Arch: "x86_64"},
			"curl-minimal", map[string]any{"FixedVersion": "8.5.0-1.amzn2023.0.2"}, "8.5.0-1.amzn2023.0.2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setupTrivy(t, []trivyEntry{{c.bucket, c.lookedUp, "CVE-2024-1234", c.value}}, nil)
			got, err := b.db.Find(context.Background(), c.os, []pkgdb.Package{c.pkg})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].FixedVersion != c.fixed || got[0].PkgName != c.pkg.Name {
				t.Fatalf("findings %+v, want one for %s fixed in %s", got, c.pkg.Name, c.fixed)
			}
		})
	}
}

func TestTrivyDBUnsupportedAndCorrupt(t *testing.T) {
	t.Parallel()
	b := setupTrivy(t, []trivyEntry{
		{"debian 12", "glibc", "CVE-2024-0001", []byte(`{"FixedVersion": 7}`)},
		{"debian 12", "openssl", "not an id", map[string]any{"FixedVersion": "9"}},
		{"debian 12", "tzdata", "CVE-2024-0002", map[string]any{"Status": 42}},
	}, nil)
	ctx := context.Background()
	for _, os := range []pkgdb.OS{
		{ID: "fedora", VersionID: "40", Family: pkgdb.RPM},
		{ID: "rhel", VersionID: "9.4", Family: pkgdb.RPM},
		{ID: "debian", VersionID: "", Family: pkgdb.Deb},
		{ID: "debian", VersionID: "11", Family: pkgdb.Deb}, // no bucket
	} {
		if _, err := b.db.Find(ctx, os, bookwormPkgs); !errors.Is(err, vulndb.ErrUnsupportedOS) {
			t.Errorf("Find on %s %q: %v, want ErrUnsupportedOS", os.ID, os.VersionID, err)
		}
	}
	for _, p := range bookwormPkgs[:1] {
		_, err := b.db.Find(ctx, bookworm, []pkgdb.Package{p})
		if err == nil || !strings.Contains(err.Error(), "debian 12/glibc/CVE-2024-0001") {
			t.Errorf("corrupt advisory: %v, want an error naming bucket, package and id", err)
		}
	}
	_, err := b.db.Find(ctx, bookworm, bookwormPkgs[2:3])
	if err == nil || !strings.Contains(err.Error(), "debian 12/openssl") {
		t.Errorf("bad id key: %v, want an error naming the bucket", err)
	}
	_, err = b.db.Find(ctx, bookworm, bookwormPkgs[4:])
	if err == nil || !strings.Contains(err.Error(), "status 42") {
		t.Errorf("bad status: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.db.Find(cancelled, bookworm, bookwormPkgs); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Find: %v", err)
	}
}

func TestOpenTrivyDBChecksMetadata(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	buildTrivyDB(t, dir, nil, nil, nil)
	db, err := vulndb.OpenTrivyDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	if db.Metadata().Version != 2 || db.Metadata().UpdatedAt.IsZero() {
		t.Errorf("metadata %+v", db.Metadata())
	}
	db.Close()

	// The file alone opens without metadata.json.
	if err := os.Remove(filepath.Join(dir, vulndb.TrivyMetadataFile)); err != nil {
		t.Fatal(err)
	}
	db, err = vulndb.OpenTrivyDB(filepath.Join(dir, vulndb.TrivyDBFile))
	if err != nil {
		t.Fatalf("opening the bare file: %v", err)
	}
	db.Close()
	// A directory needs it.
	if _, err := vulndb.OpenTrivyDB(dir); err == nil {
		t.Error("directory without metadata.json opened")
	}
	if err := os.WriteFile(filepath.Join(dir, vulndb.TrivyMetadataFile), []byte(`{"Version":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := vulndb.OpenTrivyDB(dir); err == nil || !strings.Contains(err.Error(), "schema version 1") {
		t.Errorf("schema 1: %v", err)
	}
	garbage := filepath.Join(t.TempDir(), "trivy.db")
	if err := os.WriteFile(garbage, []byte("not a bolt file, just text of some length........"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := vulndb.OpenTrivyDB(garbage); err == nil {
		t.Error("garbage db opened")
	}
}

// TestTrivyDBOnBookwormRootfs reads the real installed packages of a
// debootstrap bookworm and checks the matcher against dpkg on advisories
// around each source version.
func TestTrivyDBOnBookwormRootfs(t *testing.T) {
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
	b := setupTrivy(t, entries, nil)
	got, err := b.db.Find(context.Background(), osys, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	want := expectByDpkg(t, pkgs, fixedBySource)
	have := findingKeys(got)
	if !slices.Equal(have, want) {
		t.Errorf("%d findings, dpkg expects %d\nhave %q\nwant %q", len(have), len(want), have, want)
	}
	t.Logf("%d packages, %d advisories, %d findings", len(pkgs), len(entries), len(got))
}

// advisoriesAround makes, for each source package, advisories fixed in
// versions around the installed one: a later security update, the same
// version, a tilde pre-release, the next epoch and the upstream part alone.
func advisoriesAround(pkgs []pkgdb.Package) ([]trivyEntry, map[string]map[string]string) {
	fixed := map[string]map[string]string{}
	var entries []trivyEntry
	n := 0
	for _, p := range pkgs {
		if fixed[p.SourceName] != nil {
			continue
		}
		fixed[p.SourceName] = map[string]string{}
		for _, v := range []string{p.SourceVersion + "+deb12u99", p.SourceVersion, p.SourceVersion + "~1", bumpEpoch(p.SourceVersion), upstreamOnly(p.SourceVersion)} {
			n++
			id := fmt.Sprintf("CVE-2024-%05d", n)
			fixed[p.SourceName][id] = v
			entries = append(entries, trivyEntry{"debian 12", p.SourceName, id, map[string]any{"FixedVersion": v}})
		}
	}
	return entries, fixed
}

func expectByDpkg(t testing.TB, pkgs []pkgdb.Package, fixed map[string]map[string]string) []string {
	var want []string
	for _, p := range pkgs {
		for id, v := range fixed[p.SourceName] {
			if dpkgLess(t, p.SourceVersion, v) {
				want = append(want, p.Name+" "+id+" "+v)
			}
		}
	}
	slices.Sort(want)
	return want
}

func findingKeys(fs []vulndb.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.PkgName+" "+f.VulnerabilityID.String()+" "+f.FixedVersion)
	}
	slices.Sort(out)
	return out
}

func bumpEpoch(v string) string {
	if e, rest, ok := strings.Cut(v, ":"); ok {
		n := 0
		fmt.Sscanf(e, "%d", &n)
		return fmt.Sprintf("%d:%s", n+1, rest)
	}
	return "1:" + v
}

func upstreamOnly(v string) string {
	if i := strings.LastIndex(v, "-"); i > 0 {
		return v[:i]
	}
	return v + "~"
}

// TestTrivyDBCorruptPagesGiveErrors damages each page of a real DB in turn;
// opening and matching must fail cleanly or succeed, never crash.
func TestTrivyDBCorruptPagesGiveErrors(t *testing.T) {
	t.Parallel()
	entries, _ := advisoriesAround(bookwormPkgs)
	src := t.TempDir()
	buildTrivyDB(t, src, entries, map[string]any{"CVE-2024-00001": map[string]any{"Title": "x"}}, nil)
	orig := mustRead(t, filepath.Join(src, vulndb.TrivyDBFile))
	const page = 4096
	failures := 0
	for off := 0; off < len(orig); off += page / 4 {
		b := slices.Clone(orig)
		for i := off; i < off+64 && i < len(b); i++ {
			b[i] ^= 0xA5
		}
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, vulndb.TrivyDBFile), string(b))
		db, err := vulndb.OpenTrivyDB(filepath.Join(dir, vulndb.TrivyDBFile))
		if err != nil {
			failures++
			continue
		}
		if _, err := db.Find(context.Background(), bookworm, bookwormPkgs); err != nil {
			failures++
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("offset %d: multi-line error %q", off, err)
			}
		}
		db.Close()
	}
	if failures == 0 {
		t.Error("no corruption was noticed")
	}
	t.Logf("%d of %d corruptions gave errors", failures, len(orig)/(page/4))
}
