package patch

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchloop/patchloop/image"
)

// dpkgBundle is a small dpkg system built with the real dpkg, and the
// packages that upgrade it.
type dpkgBundle struct {
	debs     string // directory of .debs
	orig     string // the system before the upgrade
	upgrades []Upgrade
	oldDebs  []string
	newDebs  []string
}

func requireDpkg(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"dpkg", "dpkg-deb", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to install packages with dpkg --root")
	}
}

// newSkeleton makes an empty merged-/usr system with an empty dpkg
// database.
func newSkeleton(t testing.TB, usrMerged bool) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "usr/lib", "usr/bin", "etc"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	if usrMerged {
		must(t, os.Symlink("usr/lib", filepath.Join(root, "lib")))
		must(t, os.Symlink("usr/bin", filepath.Join(root, "bin")))
	}
	must(t, os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\n"), 0o644))
	return root
}

func dpkgInstall(t testing.TB, root string, debs ...string) {
	t.Helper()
	args := append([]string{"--root=" + root, "--force-confold", "--force-script-chrootless", "--force-not-root", "-i"}, debs...)
	run(t, "", "dpkg", args...)
}

func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	run(t, "", "cp", "-a", src, dst)
	return dst
}

// setupDemo builds version 1 of three packages, installs them with dpkg,
// changes two configuration files as a user would, and builds version 2 of
// two of them.
func setupDemo(t testing.TB) *dpkgBundle {
	t.Helper()
	requireDpkg(t)
	b := &dpkgBundle{debs: t.TempDir()}
	t1 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	t2 := time.Date(2025, 7, 9, 8, 30, 0, 0, time.UTC)
	oldDemo := debSpec{
		name: "demo", version: "1.0-1", arch: "amd64",
		fields: []string{"Section: utils", "Priority: optional", "Homepage: https://example.org/demo", "Depends: other (>= 1.0)"},
		files: []debFile{
			{path: "/usr/bin/demo", content: "demo v1\n", mode: 0o755, mtime: t1},
			{path: "/usr/bin/demo-hl", hardlink: "/usr/bin/demo"},
			{path: "/usr/share/demo/a", content: "a v1\n", mtime: t1},
			{path: "/usr/share/demo/gone", content: "dropped in v2\n", mtime: t1},
			{path: "/usr/share/demo/olddir/x", content: "dropped dir in v2\n", mtime: t1},
			{path: "/usr/share/demo/link", symlink: "a"},
			{path: "/usr/share/shared/d", content: "demo's file in a shared dir\n", mtime: t1},
			{path: "/etc/demo.conf", content: "conf v1\n", mtime: t1},
			{path: "/etc/demo-mod.conf", content: "mod v1\n", mtime: t1},
			{path: "/etc/demo-del.conf", content: "del v1\n", mtime: t1},
			{path: "/etc/demo-obs.conf", content: "obsolete in v2\n", mtime: t1},
			{path: "/etc/demo-same.conf", content: "unchanged\n", mtime: t1},
		},
		conffiles: []string{"/etc/demo.conf", "/etc/demo-mod.conf", "/etc/demo-del.conf", "/etc/demo-obs.conf", "/etc/demo-same.conf"},
		scripts:   map[string]string{"postrm": "#!/bin/sh\nexit 0\n"},
	}
	newDemo := oldDemo
	newDemo.version = "1:2.0-1"
	newDemo.fields = []string{"Section: utils", "Priority: optional", "Homepage: https://example.org/demo", "Built-Using: gcc-12 (= 12.2.0-14)", "Protected: yes", "Depends: other (>= 1.0), libdemo1 (>= 2.0)", "Replaces: other (<< 2)"}
	newDemo.files = []debFile{
		{path: "/usr/bin/demo", content: "demo v2, longer\n", mode: 0o755, mtime: t2},
		{path: "/usr/bin/demo-hl", hardlink: "/usr/bin/demo"},
		{path: "/usr/share/demo/a", content: "a v2\n", mtime: t2},
		{path: "/usr/share/demo/new", content: "new in v2\n", mode: 0o600, mtime: t2},
		{path: "/usr/share/demo/newdir", dir: true, mode: 0o750, mtime: t2},
		{path: "/usr/share/demo/link", symlink: "new"},
		{path: "/etc/demo.conf", content: "conf v2\n", mtime: t2},
		{path: "/etc/demo-mod.conf", content: "mod v2\n", mtime: t2},
		{path: "/etc/demo-del.conf", content: "del v2\n", mtime: t2},
		{path: "/etc/demo-new.conf", content: "new conffile\n", mtime: t2},
		{path: "/etc/demo-same.conf", content: "unchanged\n", mtime: t2},
		// Taken over from other, which demo Replaces.
		{path: "/usr/share/shared/o", content: "now demo's\n", mtime: t2},
	}
	newDemo.conffiles = []string{"/etc/demo.conf", "/etc/demo-mod.conf", "/etc/demo-del.conf", "/etc/demo-new.conf", "/etc/demo-same.conf"}
	newDemo.scripts = map[string]string{"postinst": "#!/bin/sh\nexit 0\n", "prerm": "#!/bin/sh\nexit 0\n"}

	other := debSpec{
		name: "other", version: "1.0", arch: "all",
		files: []debFile{{path: "/usr/share/shared/o", content: "other's file\n", mtime: t1}},
	}
	oldLib := debSpec{
		name: "libdemo1", version: "1.0", arch: "amd64",
		fields: []string{"Multi-Arch: same", "Source: demo (1.0-1)"},
		files: []debFile{
			{path: "/lib/x86_64-linux-gnu/libdemo.so.1.0", content: "lib v1\n", mtime: t1},
			{path: "/lib/x86_64-linux-gnu/libdemo.so.1", symlink: "libdemo.so.1.0"},
		},
		scripts: map[string]string{"triggers": "activate-noawait ldconfig\n"},
	}
	newLib := oldLib
	newLib.version = "2.0"
	newLib.fields = []string{"Multi-Arch: same", "Source: demo (1:2.0-1)"}
	newLib.files = []debFile{
		{path: "/lib/x86_64-linux-gnu/libdemo.so.1.1", content: "lib v2\n", mtime: t2},
		{path: "/lib/x86_64-linux-gnu/libdemo.so.1", symlink: "libdemo.so.1.1"},
	}

	for _, s := range []debSpec{other, oldLib, oldDemo} {
		b.oldDebs = append(b.oldDebs, buildDeb(t, b.debs, s))
	}
	for _, s := range []debSpec{newLib, newDemo} {
		b.newDebs = append(b.newDebs, buildDeb(t, b.debs, s))
	}
	b.orig = newSkeleton(t, true)
	dpkgInstall(t, b.orig, b.oldDebs...)
	must(t, os.WriteFile(filepath.Join(b.orig, "etc/demo-mod.conf"), []byte("changed by the user\n"), 0o644))
	must(t, os.Remove(filepath.Join(b.orig, "etc/demo-del.conf")))
	b.upgrades = []Upgrade{
		{Name: "demo", Arch: "amd64", OldVersion: "1.0-1", NewVersion: "1:2.0-1"},
		{Name: "libdemo1", Arch: "amd64", OldVersion: "1.0", NewVersion: "2.0"},
	}
	return b
}

// dpkgNoise are database files dpkg keeps for itself, which the layer does
// not maintain.
func dpkgNoise(rel string) bool {
	switch rel {
	case "var/lib/dpkg/status-old", "var/lib/dpkg/available", "var/lib/dpkg/available-old",
		"var/lib/dpkg/lock", "var/lib/dpkg/lock-frontend", "var/lib/dpkg/triggers", "var/lib/dpkg/updates":
		return true
	}
	return false
}

func TestDpkgLayerMatchesRealDpkg(t *testing.T) {
	t.Parallel()
	b := setupDemo(t)
	ctx := context.Background()

	want := copyTree(t, b.orig)
	dpkgInstall(t, want, b.newDebs...)

	lf, report, err := BuildLayer(ctx, &Dpkg{}, LayerParams{
		Root: os.DirFS(b.orig), RootComplete: true, Upgrades: b.upgrades, Debs: DirDebs{Dir: b.debs},
	}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got := copyTree(t, b.orig)
	applyLayerWithTar(t, lf.Path, got)

	// Database files that dpkg stamps with the time of the install.
	stampedNow := func(rel string) bool {
		return strings.HasPrefix(rel, "var/lib/dpkg/info/") || rel == "var/lib/dpkg/status"
	}
	if d := diffTrees(snapshot(t, want, dpkgNoise), snapshot(t, got, dpkgNoise), stampedNow); len(d) > 0 {
		t.Errorf("layer applied to the system differs from what dpkg installed:\n%s", strings.Join(d, "\n"))
	}

	t.Run("report", func(t *testing.T) {
		if !slices.Equal(report.ConffilesKept, []string{"/etc/demo-del.conf", "/etc/demo-mod.conf"}) {
			t.Errorf("ConffilesKept = %v, want /etc/demo-del.conf and /etc/demo-mod.conf", report.ConffilesKept)
		}
		if !slices.Contains(report.Whiteouts, "/usr/share/demo/gone") {
			t.Errorf("Whiteouts %v lack /usr/share/demo/gone", report.Whiteouts)
		}
		if !slices.Contains(report.Whiteouts, "/usr/lib/x86_64-linux-gnu/libdemo.so.1.0") {
			t.Errorf("Whiteouts %v lack the old library, resolved through the /lib symlink", report.Whiteouts)
		}
		for _, w := range report.Whiteouts {
			if w == "/usr/share/shared" || w == "/etc/demo-obs.conf" {
				t.Errorf("whiteout %s deletes what dpkg keeps", w)
			}
		}
		scripts := map[string]string{}
		for _, s := range report.ScriptsNotRun {
			scripts[s.Package] = strings.Join(s.Scripts, ",")
		}
		if scripts["demo"] != "postinst,prerm" || scripts["libdemo1"] != "triggers" {
			t.Errorf("ScriptsNotRun = %+v", report.ScriptsNotRun)
		}
	})

	t.Run("dpkg audits and verifies the result", func(t *testing.T) {
		if out := run(t, "", "dpkg", "--root="+got, "--audit"); strings.TrimSpace(out) != "" {
			t.Errorf("dpkg --audit:\n%s", out)
		}
		// The user changed demo-mod.conf and deleted demo-del.conf; they
		// stay so, and dpkg --verify reports those two and nothing else.
		cmd := exec.Command("dpkg", "--root="+got, "--verify", "demo", "libdemo1", "other")
		out, _ := cmd.CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 || !strings.HasSuffix(lines[0], " c /etc/demo-del.conf") || !strings.HasSuffix(lines[1], " c /etc/demo-mod.conf") {
			t.Errorf("dpkg --verify:\n%s", out)
		}
	})

	t.Run("umoci unpacks the patched image to what dpkg installed", func(t *testing.T) {
		img, err := Image(ImageParams{Base: ociImageFromDir(t, b.orig), BaseName: "example.org/demo:1", Layer: lf, Report: report})
		if err != nil {
			t.Fatal(err)
		}
		root := unpackWithUmoci(t, img)
		if d := diffTrees(snapshot(t, want, dpkgNoise), snapshot(t, root, dpkgNoise), stampedNow); len(d) > 0 {
			t.Errorf("umoci's rootfs differs from what dpkg installed:\n%s", strings.Join(d, "\n"))
		}
	})

	t.Run("reproducible", func(t *testing.T) {
		lf2, _, err := BuildLayer(ctx, &Dpkg{}, LayerParams{
			Root: os.DirFS(b.orig), RootComplete: true, Upgrades: b.upgrades, Debs: DirDebs{Dir: b.debs},
		}, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if lf2.Digest != lf.Digest || lf2.DiffID != lf.DiffID {
			t.Errorf("same inputs gave %s then %s", lf.Digest, lf2.Digest)
		}
	})
}

func TestDpkgLayerRefusesToOverwriteAnotherPackage(t *testing.T) {
	t.Parallel()
	b := setupDemo(t)
	spec := debSpec{
		name: "libdemo1", version: "3.0", arch: "amd64", fields: []string{"Multi-Arch: same"},
		files: []debFile{{path: "/usr/share/shared/o", content: "stolen\n"}},
	}
	deb := buildDeb(t, b.debs, spec)
	// The oracle: dpkg refuses too.
	if out, err := exec.Command("dpkg", "--root="+copyTree(t, b.orig), "--force-script-chrootless", "-i", deb).CombinedOutput(); err == nil {
		t.Fatalf("dpkg installed a package overwriting another's file:\n%s", out)
	}
	_, _, err := BuildLayer(context.Background(), &Dpkg{}, LayerParams{
		Root: os.DirFS(b.orig), RootComplete: true, Debs: DirDebs{Dir: b.debs},
		Upgrades: []Upgrade{{Name: "libdemo1", Arch: "amd64", OldVersion: "1.0", NewVersion: "3.0"}},
	}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "/usr/share/shared/o is also in installed package other") {
		t.Errorf("err = %v", err)
	}
}

// TestDpkgLayerFromImageSelection builds the layer from what the image
// package extracts for it (the database, the paths ExtraPaths names), not
// from a whole directory, as the product does.
func TestDpkgLayerFromImageSelection(t *testing.T) {
	t.Parallel()
	b := setupDemo(t)
	ctx := context.Background()
	want := copyTree(t, b.orig)
	dpkgInstall(t, want, b.newDebs...)

	img := ociImageFromDir(t, b.orig)
	inst := &Dpkg{}
	db, err := image.Extract(ctx, img, image.SelectPaths(inst.Paths()...))
	if err != nil {
		t.Fatal(err)
	}
	extra, err := inst.ExtraPaths(db, b.upgrades)
	if err != nil {
		t.Fatal(err)
	}
	root, err := image.Extract(ctx, img, image.SelectPaths(append(inst.Paths(), extra...)...))
	if err != nil {
		t.Fatal(err)
	}
	lf, _, err := BuildLayer(ctx, inst, LayerParams{Root: root, Upgrades: b.upgrades, Debs: DirDebs{Dir: b.debs}}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got := copyTree(t, b.orig)
	applyLayerWithTar(t, lf.Path, got)
	stampedNow := func(rel string) bool {
		return strings.HasPrefix(rel, "var/lib/dpkg/info/") || rel == "var/lib/dpkg/status"
	}
	var unexpected []string
	for _, l := range diffTrees(snapshot(t, want, dpkgNoise), snapshot(t, got, dpkgNoise), stampedNow) {
		// A selection cannot show what else a directory holds, so the
		// directory the upgrade emptied stays.
		if l != "only in second: usr/share/demo/olddir" {
			unexpected = append(unexpected, l)
		}
	}
	if len(unexpected) > 0 {
		t.Errorf("layer from an image selection differs from what dpkg installed:\n%s", strings.Join(unexpected, "\n"))
	}
}
