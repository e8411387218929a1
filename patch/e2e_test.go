package patch

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/pkgdb"
)

// securityFixture is a bookworm minbase system with the security suite in
// its apt sources and fresh package lists, the upgrades apt itself would
// make, and their verified package files.
type securityFixture struct {
	orig     string
	upgrades []Upgrade
	debs     string
	// debBytes is the size of the package files.
	debBytes int64
}

// distro is a release the end-to-end tests patch: its debootstrap root
// filesystem, the security suite added to its sources, and its os-release.
type distro struct {
	suite    testutil.Suite
	security string // sources.list line of the security suite
	os       pkgdb.OS
	// suites are those the plan may pick from, as the sources list has them.
	suites []string
}

var (
	bookworm = distro{
		suite:    testutil.Bookworm,
		security: "deb http://deb.debian.org/debian-security bookworm-security main\n",
		os:       pkgdb.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Family: pkgdb.Deb},
		suites:   []string{"bookworm", "bookworm-security"},
	}
	jammy = distro{
		suite:    testutil.Jammy,
		security: "deb http://security.ubuntu.com/ubuntu jammy-security main\n",
		os:       pkgdb.OS{ID: "ubuntu", VersionID: "22.04", Codename: "jammy", Family: pkgdb.Deb},
		suites:   []string{"jammy", "jammy-security"},
	}
)

// aptInst matches apt-get -s lines: "Inst name [old] (new Suite [arch])".
var aptInst = regexp.MustCompile(`^Inst (\S+) (?:\[(\S+)\] )?\((\S+) .*\[(\S+)\]\)`)

// aptSimulate runs `apt-get -s args...` chrooted in root and returns the
// packages it would install.
func aptSimulate(t testing.TB, root string, args ...string) []Upgrade {
	t.Helper()
	out := run(t, "", "chroot", append([]string{root, "apt-get", "-s", "-o", "Debug::NoLocking=1"}, args...)...)
	var ups []Upgrade
	for _, l := range strings.Split(out, "\n") {
		if m := aptInst.FindStringSubmatch(l); m != nil {
			ups = append(ups, Upgrade{Name: m[1], OldVersion: m[2], NewVersion: m[3], Arch: m[4]})
		}
	}
	sort.Slice(ups, func(i, j int) bool { return ups[i].Name < ups[j].Name })
	return ups
}

// withSecuritySuite copies the minbase rootfs of d, adds the security
// suite to its sources and runs apt-get update in it.
func withSecuritySuite(t testing.TB, d distro) string {
	t.Helper()
	orig := testutil.CopyDir(t, testutil.Rootfs(t, d.suite))
	must(t, os.WriteFile(filepath.Join(orig, "etc/apt/sources.list.d/security.list"), []byte(d.security), 0o644))
	run(t, "", "chroot", orig, "apt-get", "update", "-q")
	return orig
}

func newSecurityFixture(t testing.TB, d distro) *securityFixture {
	t.Helper()
	testutil.RequireSlow(t)
	f := &securityFixture{orig: withSecuritySuite(t, d)}
	f.upgrades = aptSimulate(t, f.orig, "upgrade")
	if len(f.upgrades) == 0 {
		t.Fatalf("the security suite has no upgrades for %s minbase today; nothing to test", d.suite.Name)
	}
	f.debs = filepath.Join(testutil.CacheDir(), "debs")
	must(t, os.MkdirAll(f.debs, 0o755))
	var specs []string
	for _, u := range f.upgrades {
		specs = append(specs, u.Name+"="+u.NewVersion)
	}
	out := run(t, "", "chroot", append([]string{f.orig, "apt-get", "download", "--print-uris"}, specs...)...)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		parts := strings.Fields(l)
		algo, sum, ok := strings.Cut(parts[len(parts)-1], ":")
		if len(parts) != 4 || !ok || (algo != "SHA256" && algo != "SHA512") {
			t.Fatalf("apt-get --print-uris line %q", l)
		}
		n := fetchDeb(t, strings.Trim(parts[0], "'"), filepath.Join(f.debs, parts[1]), algo, sum)
		f.debBytes += n
	}
	return f
}

// fetchDeb downloads url to dest unless a file with the right checksum
// (apt's SHA256 or SHA512) is already there, and returns its size.
func fetchDeb(t testing.TB, url, dest, algo, sum string) int64 {
	t.Helper()
	newHash := sha256.New
	if algo == "SHA512" {
		newHash = sha512.New
	}
	if b, err := os.ReadFile(dest); err == nil {
		h := newHash()
		h.Write(b)
		if hex.EncodeToString(h.Sum(nil)) == sum {
			return int64(len(b))
		}
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	tmp := dest + ".part"
	out, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	h := newHash()
	n, err := io.Copy(io.MultiWriter(out, h), resp.Body)
	out.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		t.Fatalf("%s: %s %s, want %s", url, algo, got, sum)
	}
	must(t, os.Rename(tmp, dest))
	return n
}

// ociImageFromDir is a single-layer OCI image of the tree at dir.
func ociImageFromDir(t testing.TB, dir string) v1.Image {
	t.Helper()
	p := filepath.Join(t.TempDir(), "base.tar.gz")
	f, err := os.Create(p)
	must(t, err)
	gz := newGzipWriter(f)
	must(t, testutil.WriteTree(gz, dir))
	must(t, gz.Close())
	must(t, f.Close())
	layer, err := tarball.LayerFromFile(p, tarball.WithMediaType(types.OCILayer))
	must(t, err)
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "debootstrap --variant=minbase bookworm"}})
	must(t, err)
	cf, err := img.ConfigFile()
	must(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"/bin/bash"}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Labels = map[string]string{"org.example.kept": "yes"}
	img, err = mutate.ConfigFile(img, cf)
	must(t, err)
	return img
}

// unpackWithUmoci writes img to an OCI layout and unpacks it with umoci,
// an unpacker independent of ours, returning the root filesystem.
func unpackWithUmoci(t testing.TB, img v1.Image) string {
	t.Helper()
	if _, err := exec.LookPath("umoci"); err != nil {
		t.Fatalf("umoci is not installed (apt-get install umoci): %v", err)
	}
	dir := t.TempDir()
	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	must(t, err)
	must(t, lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "patched"})))
	bundle := filepath.Join(dir, "bundle")
	run(t, "", "umoci", "unpack", "--image", filepath.Join(dir, "oci")+":patched", bundle)
	return filepath.Join(bundle, "rootfs")
}

func TestBookwormSecurityPatchEndToEnd(t *testing.T) {
	testutil.RequireSlow(t)
	t.Parallel()
	securityPatchEndToEnd(t, bookworm)
}

func TestJammySecurityPatchEndToEnd(t *testing.T) {
	testutil.RequireSlow(t)
	t.Parallel()
	securityPatchEndToEnd(t, jammy)
}

// securityPatchEndToEnd patches d's minbase image with every security
// upgrade apt would make, unpacks the result with umoci and checks it with
// dpkg and apt inside, and against a real apt-get upgrade.
func securityPatchEndToEnd(t *testing.T, d distro) {
	ctx := context.Background()
	f := newSecurityFixture(t, d)
	t.Logf("apt would upgrade %d packages: %v", len(f.upgrades), f.upgrades)

	// As the product does: the root is what the image package extracts for
	// the installer, not a whole directory.
	base := ociImageFromDir(t, f.orig)
	start := time.Now()
	sel, err := selectForInstaller(ctx, base, &Dpkg{}, f.upgrades)
	if err != nil {
		t.Fatal(err)
	}
	lf, report, err := BuildLayer(ctx, &Dpkg{}, LayerParams{
		Root: sel, Upgrades: f.upgrades, Debs: DirDebs{Dir: f.debs},
	}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("patch layer: %d packages, %d .deb bytes in, %d entries, %d file bytes, %d gzip bytes out, built in %v (%.0f MB/s of .debs)",
		len(f.upgrades), f.debBytes, report.Entries, report.Bytes, lf.Size, took, float64(f.debBytes)/took.Seconds()/1e6)
	t.Logf("whiteouts: %v; scripts not run: %+v", report.Whiteouts, report.ScriptsNotRun)

	baseName := "example.org/" + d.os.ID + ":" + d.suite.Name
	patched, err := Image(ImageParams{Base: base, BaseName: baseName, Layer: lf, Report: report, CVEs: []string{"CVE-2024-0001"}})
	if err != nil {
		t.Fatal(err)
	}
	// Through a real registry and back, as the product ships it.
	reg := testutil.StartRegistry(t)
	reg.Push(t, d.os.ID+":"+d.suite.Name+"-1", patched)
	pulled, err := remote.Image(reg.Ref(t, d.os.ID+":"+d.suite.Name+"-1"))
	if err != nil {
		t.Fatal(err)
	}
	root := unpackWithUmoci(t, pulled)

	t.Run("dpkg --audit is clean", func(t *testing.T) {
		if out := run(t, "", "chroot", root, "dpkg", "--audit"); strings.TrimSpace(out) != "" {
			t.Errorf("dpkg --audit:\n%s", out)
		}
	})
	t.Run("dpkg --verify is clean for every upgraded package", func(t *testing.T) {
		for _, u := range f.upgrades {
			if out := run(t, "", "chroot", root, "dpkg", "--verify", u.Name); strings.TrimSpace(out) != "" {
				t.Errorf("dpkg --verify %s:\n%s", u.Name, out)
			}
		}
	})
	t.Run("dpkg reports the new versions", func(t *testing.T) {
		for _, u := range f.upgrades {
			got := strings.TrimSpace(run(t, "", "chroot", root, "dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}", u.Name))
			if want := u.NewVersion + " ii"; got != want {
				t.Errorf("%s: dpkg-query says %q, want %q", u.Name, got, want)
			}
		}
	})
	t.Run("apt has nothing left to upgrade from the security suite", func(t *testing.T) {
		if left := aptSimulate(t, root, "upgrade"); len(left) > 0 {
			t.Errorf("apt-get -s upgrade still upgrades %v", left)
		}
	})
	t.Run("an upgraded binary runs", func(t *testing.T) {
		out := run(t, "", "chroot", root, "perl", "-v")
		if !strings.Contains(out, "This is perl 5") {
			t.Errorf("perl -v: %s", out)
		}
	})
	t.Run("image keeps config and records the patch", func(t *testing.T) {
		cf, err := pulled.ConfigFile()
		must(t, err)
		if cf.Config.Labels["org.example.kept"] != "yes" || cf.Config.Cmd[0] != "/bin/bash" {
			t.Errorf("config lost: %+v", cf.Config)
		}
		if !strings.Contains(cf.Config.Labels[LabelPatchedPackages], "perl-base ") {
			t.Errorf("label %s = %q", LabelPatchedPackages, cf.Config.Labels[LabelPatchedPackages])
		}
		if n := len(cf.History); n != 2 || !strings.HasPrefix(cf.History[1].CreatedBy, "patchloop patch: upgraded ") {
			t.Errorf("history %+v", cf.History)
		}
		name, dg, ok, err := OriginalOf(pulled)
		must(t, err)
		bd, _ := base.Digest()
		if !ok || name != baseName || dg != bd {
			t.Errorf("OriginalOf = %q %v %v, want base %v", name, dg, ok, bd)
		}
	})
	t.Run("files match what apt-get upgrade installs", func(t *testing.T) {
		compareWithRealUpgrade(t, f, root)
	})
}

// selectForInstaller extracts from img what inst reads: its Paths, then
// the ExtraPaths they lead to.
func selectForInstaller(ctx context.Context, img v1.Image, inst Installer, ups []Upgrade) (fs.FS, error) {
	db, err := image.Extract(ctx, img, image.SelectPaths(inst.Paths()...))
	if err != nil {
		return nil, err
	}
	extra, err := inst.ExtraPaths(db, ups)
	if err != nil {
		return nil, err
	}
	return image.Extract(ctx, img, image.SelectPaths(append(inst.Paths(), extra...)...))
}
