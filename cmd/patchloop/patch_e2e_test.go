package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/patch"
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
