package scan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/scan"
	"github.com/patchloop/patchloop/vulndb"
)

// blobCounter counts layer blob downloads served by the registry.
type blobCounter struct{ n atomic.Int64 }

func (c *blobCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			c.n.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}

// withOtherConfig is img with one more environment variable: the same
// layers under a new image digest.
func withOtherConfig(t testing.TB, img v1.Image, env string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Env = append(cf.Config.Env, env)
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBookworm scans the debootstrap bookworm minbase image and variants
// of it from the real registry, with the repos source against the real
// Debian archive, and checks the results against apt and dpkg-query.
func TestBookworm(t *testing.T) {
	testutil.RequireSlow(t)
	rootfs := testutil.Rootfs(t, testutil.Bookworm)
	var blobs blobCounter
	b := setupWith(t, testutil.WithHandlerWrap(blobs.wrap))
	img := testutil.ImageFromDir(t, rootfs)
	b.reg.Push(t, "deb:bookworm", img)
	b.reg.Push(t, "deb:alias", img)
	b.reg.Push(t, "deb:other", withOtherConfig(t, img, "OTHER=1"))

	res := b.scan(t, "deb:bookworm", b.repos)
	if len(res.Images) != 1 {
		t.Fatalf("%d images scanned, want 1", len(res.Images))
	}
	got := res.Images[0]

	t.Run("repos reports exactly what bookworm-security updates", func(t *testing.T) {
		want := aptUpgrades(t, rootfs, "deb http://deb.debian.org/debian-security bookworm-security main")
		if len(want) == 0 {
			t.Fatal("apt finds no security update; the test would prove nothing")
		}
		fixed := fixedPackages(got.Findings)
		if !slices.Equal(slices.Sorted(maps.Keys(fixed)), slices.Sorted(maps.Keys(want))) {
			t.Errorf("packages with fixes:\n got %v\napt  %v", slices.Sorted(maps.Keys(fixed)), slices.Sorted(maps.Keys(want)))
		}
		for pkg, v := range want {
			if v != "" && !slices.Contains(fixed[pkg], v) {
				t.Errorf("%s: fixed versions %v, apt upgrades to %s", pkg, fixed[pkg], v)
			}
		}
		if !res.Fixable || !got.Fixable || got.EOSL {
			t.Errorf("fixable %v/%v eosl %v, want fixable and not EOSL", res.Fixable, got.Fixable, got.EOSL)
		}
		for _, f := range got.Findings {
			if f.DataSource != "bookworm-security" {
				t.Errorf("%s %s: data source %q, want bookworm-security", f.PkgName, f.VulnerabilityID, f.DataSource)
			}
		}
	})

	t.Run("report is the Trivy format", func(t *testing.T) {
		var buf bytes.Buffer
		if err := vulndb.WriteReport(&buf, got.Report); err != nil {
			t.Fatal(err)
		}
		rep, err := vulndb.ReadReport(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Metadata.OS == nil || rep.Metadata.OS.Family != "debian" || rep.Metadata.OS.Name != got.OS.VersionID || rep.Metadata.OS.EOSL {
			t.Errorf("Metadata.OS = %+v", rep.Metadata.OS)
		}
		if rep.Metadata.ImageConfig == nil || rep.Metadata.ImageConfig.Architecture != "amd64" {
			t.Errorf("Metadata.ImageConfig = %+v", rep.Metadata.ImageConfig)
		}
		fs, err := rep.Findings()
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != len(got.Findings) {
			t.Errorf("report holds %d vulnerabilities, scan found %d", len(fs), len(got.Findings))
		}
		cfgName, _ := img.ConfigName()
		if rep.Metadata.ImageID != cfgName.String() {
			t.Errorf("ImageID %s, want the config digest %s", rep.Metadata.ImageID, cfgName)
		}
	})

	t.Run("inventory equals dpkg-query", func(t *testing.T) {
		if d := diffLines(inventoryLines(got.Packages), dpkgQuery(t, rootfs)); d != "" {
			t.Error(d)
		}
	})

	t.Run("inventory equals syft", func(t *testing.T) {
		syftAgrees(t, b.reg.Addr+"/deb:bookworm", got.Packages)
	})

	t.Run("tags of one digest are scanned once", func(t *testing.T) {
		s, err := scan.New(scan.Options{Registry: b.client})
		if err != nil {
			t.Fatal(err)
		}
		refs := []name.Reference{b.reg.Ref(t, "deb:bookworm"), b.reg.Ref(t, "deb:alias"), b.reg.Ref(t, "deb:bookworm")}
		before := blobs.n.Load()
		results, errs := s.ScanAll(context.Background(), refs, 3)
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		// One config and one layer: read once for three references.
		if n := blobs.n.Load() - before; n != 2 {
			t.Errorf("%d blob downloads for three references to one digest, want 2 (config and layer)", n)
		}
		for i, r := range results {
			if r.Images[0].Report.ArtifactName != refs[i].String() {
				t.Errorf("result %d names %s, want %s", i, r.Images[0].Report.ArtifactName, refs[i])
			}
			if d := diffLines(inventoryLines(r.Images[0].Packages), inventoryLines(got.Packages)); d != "" {
				t.Errorf("result %d: %s", i, d)
			}
		}
	})

	t.Run("a second tag sharing the layers reads no layer", func(t *testing.T) {
		before := blobs.n.Load()
		other := b.scan(t, "deb:other", nil)
		// Only the new config is downloaded.
		if n := blobs.n.Load() - before; n != 1 {
			t.Errorf("%d blob downloads, want 1 (the config)", n)
		}
		if d := diffLines(inventoryLines(other.Images[0].Packages), inventoryLines(got.Packages)); d != "" {
			t.Error(d)
		}
	})

	t.Run("a removed package is gone", func(t *testing.T) {
		top := testutil.CopyDir(t, rootfs)
		if out, err := exec.Command("chroot", top, "dpkg", "--purge", "tzdata").CombinedOutput(); err != nil {
			t.Fatalf("dpkg --purge tzdata: %v\n%s", err, out)
		}
		two := testutil.ImageFromLayers(t, "amd64", testutil.LayerFromDir(t, rootfs), diffLayer(t, rootfs, top))
		b.reg.Push(t, "deb:removed", two)
		r := b.scan(t, "deb:removed", b.repos)
		if d := diffLines(inventoryLines(r.Images[0].Packages), dpkgQuery(t, top)); d != "" {
			t.Error(d)
		}
		want := fixedPackages(got.Findings)
		delete(want, "tzdata")
		if g := fixedPackages(r.Images[0].Findings); !maps.EqualFunc(g, want, slices.Equal) {
			t.Errorf("fixes after removing tzdata: %v, want %v", g, want)
		}
	})

	t.Run("distroless status.d without apt configuration", func(t *testing.T) {
		dir := distroless(t, rootfs)
		b.reg.Push(t, "distroless:12", testutil.ImageFromDir(t, dir))
		r := b.scan(t, "distroless:12", b.repos)
		if len(r.Images[0].Warnings) != 1 || !strings.Contains(r.Images[0].Warnings[0], "no apt sources") {
			t.Errorf("warnings %q, want one about the missing apt sources", r.Images[0].Warnings)
		}
		if d := diffLines(inventoryLines(r.Images[0].Packages), dpkgQuery(t, rootfs)); d != "" {
			t.Error(d)
		}
		if g, want := fixedPackages(r.Images[0].Findings), fixedPackages(got.Findings); !maps.EqualFunc(g, want, slices.Equal) {
			t.Errorf("distroless fixes %v, want those of the full image %v", g, want)
		}
	})

	t.Run("an end-of-support release is EOSL and not matched", func(t *testing.T) {
		top := testutil.CopyDir(t, rootfs)
		osr := "PRETTY_NAME=\"Debian GNU/Linux 9 (stretch)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"9\"\nVERSION=\"9 (stretch)\"\nVERSION_CODENAME=stretch\nID=debian\n"
		if err := os.WriteFile(filepath.Join(top, "usr/lib/os-release"), []byte(osr), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(top, "etc/debian_version"), []byte("9.13\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		two := testutil.ImageFromLayers(t, "amd64", testutil.LayerFromDir(t, rootfs), diffLayer(t, rootfs, top))
		b.reg.Push(t, "deb:stretch", two)
		r := b.scan(t, "deb:stretch", b.repos)
		img := r.Images[0]
		if !r.EOSL || !img.EOSL || img.OS.VersionID != "9" || img.EOSLDate.IsZero() {
			t.Errorf("EOSL %v/%v (until %s) for %s %s, want true", r.EOSL, img.EOSL, img.EOSLDate, img.OS.ID, img.OS.VersionID)
		}
		if r.Fixable || len(img.Findings) > 0 {
			t.Errorf("EOSL image has %d findings, fixable %v", len(img.Findings), r.Fixable)
		}
		if !img.Report.Metadata.OS.EOSL {
			t.Error("report Metadata.OS.EOSL is false")
		}
	})

	t.Run("index: linux platforms only, never clean for windows", func(t *testing.T) {
		win := windowsImage(t)
		idx := mutate.AppendManifests(empty.Index,
			mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
			mutate.IndexAddendum{Add: win, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "windows", Architecture: "amd64"}}},
		)
		pushIndex(t, b.client, b.reg.Ref(t, "multi:1"), idx)
		r := b.scan(t, "multi:1", nil)
		if len(r.Images) != 1 || r.Images[0].Platform.OS != "linux" {
			t.Fatalf("scanned %d images, want the linux one", len(r.Images))
		}
		if _, err := b.scanErr(t, "multi:1", nil, func(o *scan.Options) { o.Platform = &v1.Platform{OS: "linux", Architecture: "arm64"} }); !errors.Is(err, scan.ErrUnsupported) {
			t.Errorf("linux/arm64 of an amd64-only index: %v, want ErrUnsupported", err)
		}
		winOnly := mutate.AppendManifests(empty.Index,
			mutate.IndexAddendum{Add: win, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "windows", Architecture: "amd64"}}})
		pushIndex(t, b.client, b.reg.Ref(t, "multi:windows"), winOnly)
		if _, err := b.scanErr(t, "multi:windows", nil); !errors.Is(err, scan.ErrUnsupported) {
			t.Errorf("windows-only index: %v, want ErrUnsupported", err)
		}
		b.reg.Push(t, "win:1", win)
		if _, err := b.scanErr(t, "win:1", nil); !errors.Is(err, scan.ErrUnsupported) {
			t.Errorf("windows image: %v, want ErrUnsupported", err)
		}
	})
}

// TestJammy scans the debootstrap jammy minbase image with the repos
// source. Every package apt upgrades from jammy-security alone must be
// reported; anything else reported must be an upgrade apt makes from the
// release, -updates and -security together (a -updates version whose
// changelog names CVEs).
func TestJammy(t *testing.T) {
	testutil.RequireSlow(t)
	rootfs := testutil.Rootfs(t, testutil.Jammy)
	b := setup(t)
	b.reg.Push(t, "ubuntu:jammy", testutil.ImageFromDir(t, rootfs))
	res := b.scan(t, "ubuntu:jammy", b.repos)
	got := fixedPackages(res.Images[0].Findings)

	sec := aptUpgrades(t, rootfs, "deb http://security.ubuntu.com/ubuntu jammy-security main")
	all := aptUpgrades(t, rootfs, strings.Join([]string{
		"deb http://archive.ubuntu.com/ubuntu jammy main",
		"deb http://archive.ubuntu.com/ubuntu jammy-updates main",
		"deb http://security.ubuntu.com/ubuntu jammy-security main",
	}, "\n"))
	if len(sec) == 0 {
		t.Fatal("apt finds no security update; the test would prove nothing")
	}
	for pkg, v := range sec {
		if _, ok := got[pkg]; !ok {
			t.Errorf("%s: apt upgrades it from jammy-security to %s, scan reports nothing", pkg, v)
		} else if v != "" && !slices.Contains(got[pkg], v) && !slices.Contains(got[pkg], all[pkg]) {
			t.Errorf("%s: fixed versions %v, apt upgrades to %s", pkg, got[pkg], v)
		}
	}
	for pkg := range got {
		if _, ok := all[pkg]; !ok {
			t.Errorf("%s reported (%v), but apt would not upgrade it", pkg, got[pkg])
		}
	}
	if d := diffLines(inventoryLines(res.Images[0].Packages), dpkgQuery(t, rootfs)); d != "" {
		t.Error(d)
	}
}

func setupWith(t *testing.T, opts ...testutil.RegistryOption) *bundle {
	t.Helper()
	b := setup(t)
	b.reg = testutil.StartRegistry(t, opts...)
	client, err := registry.New(b.reg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	b.client = client
	return b
}

// distroless builds a distroless-style tree from a rootfs: os-release and
// one /var/lib/dpkg/status.d file per installed package (without Status
// fields, as distroless writes them), and no apt configuration.
func distroless(t *testing.T, rootfs string) string {
	t.Helper()
	dir := t.TempDir()
	osr, err := os.ReadFile(filepath.Join(rootfs, "usr/lib/os-release"))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "etc/os-release"), osr)
	status, err := os.ReadFile(filepath.Join(rootfs, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range strings.Split(strings.TrimSpace(string(status)), "\n\n") {
		var pkgName string
		var keep []string
		installed := false
		for _, l := range strings.Split(st, "\n") {
			if n, ok := strings.CutPrefix(l, "Package: "); ok {
				pkgName = n
			}
			if s, ok := strings.CutPrefix(l, "Status: "); ok {
				installed = strings.HasSuffix(s, " installed")
				continue
			}
			keep = append(keep, l)
		}
		if installed {
			mustWrite(t, filepath.Join(dir, "var/lib/dpkg/status.d", pkgName), []byte(strings.Join(keep, "\n")+"\n"))
		}
	}
	return dir
}

func mustWrite(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// windowsImage is a small random image whose config says windows.
func windowsImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "windows", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return mutate.MediaType(img, types.OCIManifestSchema1)
}

func pushIndex(t *testing.T, c *registry.Client, ref name.Reference, idx v1.ImageIndex) {
	t.Helper()
	tag, ok := ref.(name.Tag)
	if !ok {
		t.Fatalf("%s is not a tag", ref)
	}
	if _, err := c.WriteIndex(context.Background(), tag, idx); err != nil {
		t.Fatal(err)
	}
}

// syftAgrees compares an inventory with syft's dpkg packages for the same
// image, pulled from the registry by syft itself. syft is built by
// scripts/build-syft.sh into the test cache, never imported.
func syftAgrees(t *testing.T, ref string, pkgs []pkgdb.Package) {
	t.Helper()
	out, err := exec.Command("../scripts/build-syft.sh").Output()
	if err != nil {
		t.Fatalf("building syft (scripts/build-syft.sh): %v", err)
	}
	syft := strings.TrimSpace(string(out))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, syft, "scan", "registry:"+ref, "-o", "json", "-q", "--override-default-catalogers", "dpkg-db-cataloger")
	cmd.Env = append(os.Environ(), "SYFT_REGISTRY_INSECURE_USE_HTTP=true", "SYFT_CHECK_FOR_APP_UPDATE=false")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("syft %s: %v\n%s", ref, err, stderr.String())
	}
	var doc struct {
		Artifacts []struct {
			Name, Version, Type string
			Metadata            struct {
				Architecture string `json:"architecture"`
			} `json:"metadata"`
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("syft output: %v", err)
	}
	var want []string
	for _, a := range doc.Artifacts {
		if a.Type == "deb" {
			want = append(want, a.Name+" "+a.Metadata.Architecture+" "+a.Version)
		}
	}
	sort.Strings(want)
	if d := diffLines(inventoryLines(pkgs), want); d != "" {
		t.Errorf("inventory differs from syft: %s", d)
	}
}

// diffLines describes how two sorted lists differ, or returns "".
func diffLines(got, want []string) string {
	var extra, missing []string
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	if len(extra) == 0 && len(missing) == 0 && len(got) == len(want) {
		return ""
	}
	return "got " + strconv.Itoa(len(got)) + " want " + strconv.Itoa(len(want)) + "; unexpected " + strings.Join(extra, ", ") + "; missing " + strings.Join(missing, ", ")
}
