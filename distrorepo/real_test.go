package distrorepo_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/distrorepo/deb"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/version"
)

// realClient is a client on the shared test cache, so repeated runs reuse
// downloads exactly as production runs do.
func realClient(t *testing.T) *distrorepo.Client {
	t.Helper()
	c, err := distrorepo.New(distrorepo.Config{CacheDir: filepath.Join(testutil.CacheDir(), "distrorepo")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dpkgCompare is the oracle for version order: the real dpkg.
func dpkgNewer(t *testing.T, a, b string) bool {
	t.Helper()
	return exec.Command("dpkg", "--compare-versions", a, "gt", b).Run() == nil
}

func newestOf(t *testing.T, ps []*distrorepo.Package) *distrorepo.Package {
	t.Helper()
	var best *distrorepo.Package
	for _, p := range ps {
		if best == nil || dpkgNewer(t, p.Version, best.Version) {
			best = p
		}
	}
	return best
}

func TestRealDebianBookworm(t *testing.T) {
	testutil.RequireSlow(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root := testutil.Rootfs(t, testutil.Bookworm)
	c := realClient(t)
	osr := pkgdb.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Family: pkgdb.Deb}
	set, err := c.Sources(os.DirFS(root), osr, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	var suites []string
	for _, s := range set.Sources() {
		suites = append(suites, s.URI+" "+s.Suite+" "+strings.Join(s.Components, ","))
	}
	want := []string{
		"http://deb.debian.org/debian bookworm main",
		"http://deb.debian.org/debian bookworm-updates main",
		"http://deb.debian.org/debian-security bookworm-security main",
	}
	if strings.Join(suites, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sources = %q, want %q (warnings %q)", suites, want, set.Warnings)
	}
	start := time.Now()
	ix, err := c.Index(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("indexed %d entries from %d suites in %v", ix.Len(), len(ix.Suites()), time.Since(start))
	for _, s := range ix.Suites() {
		if !s.Signed || s.Signer == "" {
			t.Errorf("suite %s not signed", s)
		}
	}
	start = time.Now()
	fix, err := c.Index(ctx, set, distrorepo.WithPackages("libssl3", "libgcc-s1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("filtered index of 2 names: %d entries in %v", fix.Len(), time.Since(start))
	if len(fix.Packages("libssl3")) != len(ix.Packages("libssl3")) || fix.Len() != len(ix.Packages("libssl3"))+len(ix.Packages("libgcc-s1")) {
		t.Fatalf("filtered index has %d entries, full index %d+%d", fix.Len(), len(ix.Packages("libssl3")), len(ix.Packages("libgcc-s1")))
	}
	versions := ix.Packages("libssl3")
	pockets := map[distrorepo.Pocket]bool{}
	for _, p := range versions {
		pockets[p.Suite.Pocket] = true
		if p.Source != "openssl" {
			t.Errorf("libssl3 %s: source %q, want openssl", p.Version, p.Source)
		}
	}
	if !pockets[distrorepo.PocketRelease] || !pockets[distrorepo.PocketSecurity] {
		t.Fatalf("libssl3 versions %v: want release and security pockets", versions)
	}
	cand := newestOf(t, versions)
	if n, err := ix.Newest("libssl3", version.DebComparer{}, nil); err != nil || n != cand {
		t.Fatalf("Newest = %v, %v; dpkg says %v", n, err, cand)
	}
	t.Logf("libssl3 candidate %s from %s", cand.Version, cand.Suite)

	f, err := c.Fetch(ctx, cand)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctl, err := deb.ReadControl(f)
	if err != nil {
		t.Fatal(err)
	}
	// Oracle: dpkg-deb reads the same fields from the cached file.
	out, err := exec.Command("dpkg-deb", "--field", f.Name(), "Package", "Version").CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --field: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "Version: "+cand.Version) || !bytes.Contains(ctl, []byte("Version: "+cand.Version+"\n")) {
		t.Fatalf("control %q / dpkg-deb %q do not name version %s", ctl, out, cand.Version)
	}

	cl, err := c.Changelog(ctx, ix, cand)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(cl), "openssl ("+cand.SourceVersion+")") {
		t.Fatalf("changelog starts %q, want openssl (%s)", firstLine(cl), cand.SourceVersion)
	}

	// libgcc-s1's doc directory links to gcc-12-base: the changelog comes
	// from that sibling package.
	gcc := newestOf(t, ix.Packages("libgcc-s1"))
	cl, err = c.Changelog(ctx, ix, gcc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(cl), "gcc-12 (") {
		t.Fatalf("libgcc-s1 changelog starts %q, want gcc-12", firstLine(cl))
	}
}

func TestRealDebianSecurityArm64(t *testing.T) {
	testutil.RequireSlow(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := distrorepo.New(distrorepo.Config{
		CacheDir:         filepath.Join(testutil.CacheDir(), "distrorepo"),
		NoDefaultSources: true,
		Repositories:     []distrorepo.Source{{URI: distrorepo.DebianSecurity, Suite: "bookworm-security", Components: []string{"main"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A distroless image: no apt configuration, so the built-in keys apply.
	set, err := c.Sources(nil, pkgdb.OS{ID: "debian", VersionID: "12"}, "arm64")
	if err != nil {
		t.Fatal(err)
	}
	ix, err := c.Index(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	ps := ix.Packages("libssl3")
	if len(ps) == 0 {
		t.Fatal("no libssl3 in bookworm-security arm64")
	}
	p := newestOf(t, ps)
	if p.Architecture != "arm64" {
		t.Fatalf("libssl3 arch %s", p.Architecture)
	}
	f, err := c.Fetch(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := exec.Command("dpkg-deb", "--field", f.Name(), "Architecture").Output()
	if err != nil || strings.TrimSpace(string(out)) != "arm64" {
		t.Fatalf("dpkg-deb says architecture %q, %v", out, err)
	}
}

func TestRealUbuntuJammy(t *testing.T) {
	testutil.RequireSlow(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root := testutil.Rootfs(t, testutil.Jammy)
	c := realClient(t)
	osr := pkgdb.OS{ID: "ubuntu", VersionID: "22.04", Codename: "jammy", Family: pkgdb.Deb}
	// With the image's own sources and keys.
	set, err := c.Sources(os.DirFS(root), osr, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(set.Sources()); n != 3 {
		t.Fatalf("sources = %v, want jammy, jammy-updates, jammy-security", set.Sources())
	}
	ix, err := c.Index(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("indexed %d entries", ix.Len())
	pockets := map[distrorepo.Pocket]bool{}
	for _, p := range ix.Packages("libssl3") {
		pockets[p.Suite.Pocket] = true
	}
	if !pockets[distrorepo.PocketRelease] || !pockets[distrorepo.PocketSecurity] {
		t.Fatalf("libssl3 pockets %v", pockets)
	}
	cand := newestOf(t, ix.Packages("libssl3"))
	cl, err := c.Changelog(ctx, ix, cand)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(cl), "openssl ("+cand.SourceVersion+")") {
		t.Fatalf("changelog starts %q", firstLine(cl))
	}
	// A distroless-style image: no files at all, built-in Ubuntu keyring.
	set, err = c.Sources(nil, osr, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Index(ctx, set); err != nil {
		t.Fatalf("index with built-in keys: %v", err)
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}
