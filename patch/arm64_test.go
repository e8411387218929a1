package patch

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/pkgdb"
)

// TestArm64LayerOnAmd64Host builds an arm64 system from real bookworm
// arm64 packages (installed by the real dpkg with --force-architecture,
// nothing executed), patches it to the bookworm-security versions with
// packages fetched and verified by distrorepo, and compares the result with
// what dpkg itself installs, by reading files only.
func TestArm64LayerOnAmd64Host(t *testing.T) {
	testutil.RequireSlow(t)
	requireDpkg(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := distrorepo.New(distrorepo.Config{CacheDir: testutil.CacheDir() + "/distrorepo"})
	must(t, err)
	set, err := c.Sources(nil, pkgdb.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Family: pkgdb.Deb}, "arm64")
	must(t, err)
	ix, err := c.Index(ctx, set)
	must(t, err)

	// Packages whose only maintainer script is a trigger, so dpkg can
	// install them for a foreign architecture without running anything.
	var oldFiles, newFiles []string
	var ups []Upgrade
	for _, name := range []string{"liblzma5", "libpcre2-8-0"} {
		var release, security *distrorepo.Package
		for _, p := range ix.Packages(name) {
			switch p.Suite.Pocket {
			case distrorepo.PocketRelease:
				release = p
			case distrorepo.PocketSecurity:
				security = p
			}
		}
		if release == nil || security == nil {
			t.Skipf("%s has no arm64 security update today", name)
		}
		for _, p := range []*distrorepo.Package{release, security} {
			f, err := c.Fetch(ctx, p)
			must(t, err)
			f.Close()
			if p == release {
				oldFiles = append(oldFiles, f.Name())
			} else {
				newFiles = append(newFiles, f.Name())
			}
		}
		ups = append(ups, Upgrade{Name: name, Arch: "arm64", OldVersion: release.Version, NewVersion: security.Version})
	}
	orig := newSkeleton(t, true)
	dpkgForeign := func(root string, debs []string) {
		args := append([]string{"--root=" + root, "--force-architecture", "--force-depends", "--force-script-chrootless", "--no-triggers", "--unpack"}, debs...)
		run(t, "", "dpkg", args...)
		run(t, "", "dpkg", "--root="+root, "--force-depends", "--force-script-chrootless", "--no-triggers", "--configure", "--pending")
	}
	dpkgForeign(orig, oldFiles)
	want := copyTree(t, orig)
	dpkgForeign(want, newFiles)

	lf, report, err := BuildLayer(ctx, &Dpkg{}, LayerParams{Root: os.DirFS(orig), RootComplete: true, Upgrades: ups, Debs: RepoDebs{Repo: c, Index: ix}}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got := copyTree(t, orig)
	applyLayerWithTar(t, lf.Path, got)
	stampedNow := func(rel string) bool {
		return strings.HasPrefix(rel, "var/lib/dpkg/info/") || rel == "var/lib/dpkg/status"
	}
	if d := diffTrees(snapshot(t, want, dpkgNoise), snapshot(t, got, dpkgNoise), stampedNow); len(d) > 0 {
		t.Errorf("arm64 layer differs from what dpkg installed:\n%s", strings.Join(d, "\n"))
	}
	for _, u := range ups {
		if _, err := os.Stat(got + "/var/lib/dpkg/info/" + u.Name + ":arm64.list"); err != nil {
			t.Errorf("no arch-qualified list for %s: %v", u.Name, err)
		}
	}
	t.Logf("arm64: %+v, whiteouts %v", ups, report.Whiteouts)
}
