package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/patch"
	"github.com/patchloop/patchloop/pkgdb"
)

// realDistro is a release patched end to end from the real archive.
type realDistro struct {
	suite testutil.Suite
	// extra are the sources.list lines added to the minbase system, so
	// that apt inside sees the same suites patchloop uses by default.
	extra string
	repo  string // image repository:tag
}

var (
	realBookworm = realDistro{
		suite: testutil.Bookworm,
		extra: "deb http://deb.debian.org/debian bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n",
		repo:  "debian:bookworm",
	}
	realJammy = realDistro{
		suite: testutil.Jammy,
		extra: "deb http://archive.ubuntu.com/ubuntu jammy-updates main\ndeb http://security.ubuntu.com/ubuntu jammy-security main\n",
		repo:  "ubuntu:jammy",
	}
)

// aptInstLine matches apt-get -s: "Inst name [old] (new Suite [arch])".
var aptInstLine = regexp.MustCompile(`^Inst (\S+) (?:\[(\S+)\] )?\((\S+) (.*) \[(\S+)\]\)`)

// aptWould runs apt-get -s in root and returns "name new-version" of each
// package it would install, and the suites they come from.
func aptWould(t testing.TB, root string, args ...string) (pkgs []string, suites []string) {
	t.Helper()
	out := sh(t, "chroot", append([]string{root, "apt-get", "-s", "-o", "Debug::NoLocking=1"}, args...)...)
	for _, l := range strings.Split(out, "\n") {
		if m := aptInstLine.FindStringSubmatch(l); m != nil {
			pkgs = append(pkgs, m[1]+" "+m[3])
			suites = append(suites, m[4])
		}
	}
	slices.Sort(pkgs)
	return pkgs, suites
}

// minbaseWithSuites copies d's debootstrap minbase system, adds the
// update and security suites to its sources and runs apt-get update.
func minbaseWithSuites(t testing.TB, d realDistro) string {
	t.Helper()
	root := testutil.CopyDir(t, testutil.Rootfs(t, d.suite))
	mustNil(t, os.WriteFile(filepath.Join(root, "etc/apt/sources.list.d/patchloop-test.list"), []byte(d.extra), 0o644))
	sh(t, "chroot", root, "apt-get", "update", "-q")
	return root
}

func sharedCache(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(testutil.CacheDir(), "patch-cli")
	mustNil(t, os.MkdirAll(dir, 0o755))
	return dir
}

func upgradeKeys(res *patch.Result) []string {
	var out []string
	for _, p := range res.Platforms {
		if p.Plan == nil {
			continue
		}
		for _, u := range p.Plan.Upgrades {
			out = append(out, u.Name+" "+u.NewVersion)
		}
	}
	slices.Sort(out)
	return out
}

func requestedNames(res *patch.Result) []string {
	var out []string
	for _, p := range res.Platforms {
		if p.Plan == nil {
			continue
		}
		for _, u := range p.Plan.Upgrades {
			if u.Reason == "requested" {
				out = append(out, u.Name)
			}
		}
	}
	return out
}

func TestPatchBookwormEndToEnd(t *testing.T) {
	testutil.RequireSlow(t)
	t.Parallel()
	patchRealEndToEnd(t, realBookworm, false)
}

func TestPatchJammyEndToEnd(t *testing.T) {
	testutil.RequireSlow(t)
	t.Parallel()
	patchRealEndToEnd(t, realJammy, true)
}

// patchRealEndToEnd pushes d's minbase image, patches it with `patchloop
// patch` (scanning the archive, or through a Trivy report written by
// `patchloop scan -o json` when viaReport), pulls and unpacks the result
// with skopeo and umoci, and checks it with dpkg and apt inside.
func patchRealEndToEnd(t *testing.T, d realDistro, viaReport bool) {
	requireTools(t, "dpkg", "chroot", "umoci", "skopeo")
	orig := minbaseWithSuites(t, d)
	reg := testutil.StartRegistry(t)
	reg.Push(t, d.repo, imageOf(t, orig, "amd64", types.OCIManifestSchema1))
	ref := reg.Addr + "/" + d.repo
	cache := sharedCache(t)
	h := newHarness(t)

	args := []string{"patch", ref, "--cache-dir", cache, "-o", "json"}
	if viaReport {
		rep := h.ok("", "scan", ref, "--cache-dir", cache, "-o", "json")
		p := filepath.Join(t.TempDir(), "trivy.json")
		mustNil(t, os.WriteFile(p, []byte(rep.stdout), 0o644))
		args = append(args, "--report", p)
	}
	r := h.ok("", args...)
	res := decodeResult(t, r.stdout)
	if res.UpToDate {
		t.Fatalf("%s minbase has nothing to fix today; nothing to test", d.suite.Name)
	}
	if want := ref + "-1"; res.Tag != want {
		t.Fatalf("pushed %s, want %s", res.Tag, want)
	}
	got := upgradeKeys(res)
	t.Logf("patched %d packages, fixing %d vulnerabilities; scripts not run: %+v", len(got), len(res.FixedCVEs), res.ScriptsNotRun)
	root := unpackRef(t, res.Tag)

	t.Run("the upgraded set is what apt-get --only-upgrade install would upgrade", func(t *testing.T) {
		want, _ := aptWould(t, orig, append([]string{"--only-upgrade", "install"}, requestedNames(res)...)...)
		if !slices.Equal(got, want) {
			t.Errorf("patchloop upgraded\n%v\napt would upgrade\n%v", got, want)
		}
	})
	t.Run("dpkg --audit is clean", func(t *testing.T) {
		if out := sh(t, "chroot", root, "dpkg", "--audit"); strings.TrimSpace(out) != "" {
			t.Errorf("dpkg --audit:\n%s", out)
		}
	})
	t.Run("dpkg --verify is clean for every upgraded package", func(t *testing.T) {
		for _, k := range got {
			name, _, _ := strings.Cut(k, " ")
			if out := sh(t, "chroot", root, "dpkg", "--verify", name); strings.TrimSpace(out) != "" {
				t.Errorf("dpkg --verify %s:\n%s", name, out)
			}
		}
	})
	t.Run("apt has nothing left to upgrade from the security suite", func(t *testing.T) {
		left, suites := aptWould(t, root, "upgrade")
		for i, s := range suites {
			if strings.Contains(strings.ToLower(s), "security") {
				t.Errorf("apt-get -s upgrade still takes %s from %s", left[i], s)
			}
		}
	})
	t.Run("an upgraded binary runs", func(t *testing.T) {
		if out := sh(t, "chroot", root, "perl", "-v"); !strings.Contains(out, "This is perl 5") {
			t.Errorf("perl -v: %s", out)
		}
	})
	t.Run("the VEX referrer is attached", func(t *testing.T) {
		if len(res.FixedCVEs) == 0 {
			t.Skip("no CVE fixed")
		}
		repoName, _, _ := strings.Cut(d.repo, ":")
		idx, err := remote.Referrers(reg.Ref(t, repoName+"@"+res.Digest.String()).(name.Digest))
		mustNil(t, err)
		im, err := idx.IndexManifest()
		mustNil(t, err)
		if len(im.Manifests) != 1 || im.Manifests[0].ArtifactType != patch.VEXMediaType {
			t.Errorf("referrers %+v", im.Manifests)
		}
	})
}

// TestPatchDistrolessEndToEnd patches a distroless-style image (dpkg's
// status.d, md5sums beside it, no apt, no sources) built from the bookworm
// minbase system, with the archive's default suites.
func TestPatchDistrolessEndToEnd(t *testing.T) {
	testutil.RequireSlow(t)
	t.Parallel()
	requireTools(t, "chroot", "umoci", "skopeo", "md5sum")
	oracle := minbaseWithSuites(t, realBookworm)
	root := testutil.CopyDir(t, testutil.Rootfs(t, testutil.Bookworm))
	status, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	mustNil(t, err)
	sd := filepath.Join(root, "var/lib/dpkg/status.d")
	mustNil(t, os.MkdirAll(sd, 0o755))
	for _, st := range strings.Split(strings.TrimSpace(string(status)), "\n\n") {
		var name, arch string
		for _, l := range strings.Split(st, "\n") {
			if v, ok := strings.CutPrefix(l, "Package: "); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(l, "Architecture: "); ok {
				arch = v
			}
		}
		mustNil(t, os.WriteFile(filepath.Join(sd, name), []byte(st+"\n"), 0o644))
		for _, md := range []string{name + ".md5sums", name + ":" + arch + ".md5sums"} {
			if b, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/info", md)); err == nil {
				mustNil(t, os.WriteFile(filepath.Join(sd, name+".md5sums"), b, 0o644))
			}
		}
	}
	for _, p := range []string{"var/lib/dpkg/status", "var/lib/dpkg/status-old", "var/lib/dpkg/info", "etc/apt", "var/lib/apt"} {
		mustNil(t, os.RemoveAll(filepath.Join(root, p)))
	}
	reg := testutil.StartRegistry(t)
	reg.Push(t, "distroless:12", imageOf(t, root, "amd64", types.DockerManifestSchema2))
	r := newHarness(t).ok("", "patch", reg.Addr+"/distroless:12", "--cache-dir", sharedCache(t), "-o", "json")
	res := decodeResult(t, r.stdout)
	if res.UpToDate {
		t.Fatal("nothing to fix in bookworm minbase today; nothing to test")
	}
	got := upgradeKeys(res)
	want, _ := aptWould(t, oracle, append([]string{"--only-upgrade", "install"}, requestedNames(res)...)...)
	if !slices.Equal(got, want) {
		t.Errorf("patchloop upgraded\n%v\napt would upgrade\n%v", got, want)
	}
	out := unpackRef(t, res.Tag)
	for _, k := range got {
		name, ver, _ := strings.Cut(k, " ")
		b, err := os.ReadFile(filepath.Join(out, "var/lib/dpkg/status.d", name))
		mustNil(t, err)
		if !strings.Contains(string(b), "\nVersion: "+ver+"\n") {
			t.Errorf("status.d/%s:\n%s\nwant Version %s", name, b, ver)
		}
		if _, err := os.Stat(filepath.Join(out, "var/lib/dpkg/status.d", name+".md5sums")); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		// The files on disk are the new version's, by its own checksums.
		if res := sh(t, "chroot", out, "md5sum", "--quiet", "-c", "/var/lib/dpkg/status.d/"+name+".md5sums"); strings.TrimSpace(res) != "" {
			t.Errorf("md5sum -c %s: %s", name, res)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "var/lib/dpkg/status")); !os.IsNotExist(err) {
		t.Errorf("patch created var/lib/dpkg/status on a distroless image: %v", err)
	}
	if v := sh(t, "chroot", out, "perl", "-v"); !strings.Contains(v, "This is perl 5") {
		t.Errorf("perl -v: %s", v)
	}
}

// TestPatchTwoPlatformsEndToEnd patches an index of the amd64 bookworm
// minbase system and an arm64 system built from real bookworm arm64
// packages (installed by dpkg with --force-architecture, nothing run) on
// this amd64 host. The arm64 result is checked by reading only: dpkg's
// database, dpkg --verify's checksums and the ELF machine of the library.
func TestPatchTwoPlatformsEndToEnd(t *testing.T) {
	testutil.RequireSlow(t)
	t.Parallel()
	requireTools(t, "dpkg", "chroot", "umoci", "skopeo")
	ctx := context.Background()
	c, err := distrorepo.New(distrorepo.Config{CacheDir: filepath.Join(sharedCache(t), "fixture-repo")})
	mustNil(t, err)
	set, err := c.Sources(nil, pkgdb.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Family: pkgdb.Deb}, "arm64")
	mustNil(t, err)
	ix, err := c.Index(ctx, set)
	mustNil(t, err)
	// Packages whose only maintainer script is a trigger.
	names := []string{"liblzma5", "libpcre2-8-0"}
	var debs []string
	newest := map[string]string{}
	for _, n := range names {
		var release *distrorepo.Package
		for _, p := range ix.Packages(n) {
			if p.Suite.Pocket == distrorepo.PocketRelease {
				release = p
			}
		}
		if release == nil {
			t.Fatalf("no arm64 %s in bookworm", n)
		}
		f, err := c.Fetch(ctx, release)
		mustNil(t, err)
		f.Close()
		debs = append(debs, f.Name())
		// The newest across suites, ordered by the real dpkg.
		for _, p := range ix.Packages(n) {
			if cur := newest[n]; cur == "" || exec.Command("dpkg", "--compare-versions", p.Version, "gt", cur).Run() == nil {
				newest[n] = p.Version
			}
		}
	}
	armRoot := demoSystem(t, "arm64", debs...)
	amdRoot := minbaseWithSuites(t, realBookworm)

	reg := testutil.StartRegistry(t)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx,
		mutate.IndexAddendum{Add: imageOf(t, amdRoot, "amd64", types.OCIManifestSchema1), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: imageOf(t, armRoot, "arm64", types.OCIManifestSchema1), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	mustNil(t, remote.WriteIndex(reg.Ref(t, "two:12"), idx))

	r := newHarness(t).ok("", "patch", reg.Addr+"/two:12", "--all", "--cache-dir", sharedCache(t), "-o", "json")
	res := decodeResult(t, r.stdout)
	if len(res.Platforms) != 2 || res.Platforms[1].Plan == nil {
		t.Fatalf("platforms %+v", res.Platforms)
	}
	t.Logf("amd64: %d upgrades; arm64: %+v", len(res.Platforms[0].Plan.Upgrades), res.Platforms[1].Plan.Upgrades)

	unpack := func(arch string) string {
		dir := t.TempDir()
		sh(t, "skopeo", "copy", "--quiet", "--src-tls-verify=false", "--override-arch", arch, "docker://"+res.Tag, "oci:"+filepath.Join(dir, "oci")+":x")
		sh(t, "umoci", "unpack", "--image", filepath.Join(dir, "oci")+":x", filepath.Join(dir, "bundle"))
		return filepath.Join(dir, "bundle", "rootfs")
	}
	t.Run("amd64 is fully upgraded and dpkg is happy", func(t *testing.T) {
		root := unpack("amd64")
		if out := sh(t, "chroot", root, "dpkg", "--audit"); strings.TrimSpace(out) != "" {
			t.Errorf("dpkg --audit:\n%s", out)
		}
		if left, _ := aptWould(t, root, "upgrade"); len(left) > 0 {
			t.Errorf("apt-get -s upgrade still upgrades %v", left)
		}
	})
	t.Run("arm64 has the newest versions, its own architecture's files, and verifies", func(t *testing.T) {
		root := unpack("arm64")
		for _, n := range names {
			got := sh(t, "dpkg-query", "--root="+root, "-W", "-f=${Architecture} ${Version} ${db:Status-Abbrev}", n)
			if want := "arm64 " + newest[n] + " ii "; got != want {
				t.Errorf("%s: %q, want %q", n, got, want)
			}
			if out := sh(t, "dpkg", "--root="+root, "--verify", n); strings.TrimSpace(out) != "" {
				t.Errorf("dpkg --verify %s: %s", n, out)
			}
		}
		libs, err := filepath.Glob(filepath.Join(root, "*lib/aarch64-linux-gnu/liblzma.so.5.*"))
		mustNil(t, err)
		more, err := filepath.Glob(filepath.Join(root, "usr/lib/aarch64-linux-gnu/liblzma.so.5.*"))
		mustNil(t, err)
		libs = append(libs, more...)
		if len(libs) != 1 {
			t.Fatalf("liblzma in arm64 root: %v", libs)
		}
		b, err := os.ReadFile(libs[0])
		mustNil(t, err)
		if len(b) < 20 || string(b[:4]) != "\x7fELF" || b[18] != 0xb7 || b[19] != 0 {
			t.Errorf("%s is not an AArch64 ELF file", libs[0])
		}
	})
}
