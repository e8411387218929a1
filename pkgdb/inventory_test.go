package pkgdb_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/pkgdb"
)

// inventory extracts what pkgdb needs from img and inventories it, as the
// scanner does.
func inventory(t *testing.T, img v1.Image) (pkgdb.OS, []pkgdb.Package) {
	t.Helper()
	sel := image.SelectPaths(pkgdb.Paths()...)
	sel.Stop, sel.Key = pkgdb.Complete, "pkgdb.Complete"
	fsys, err := image.Extract(context.Background(), img, sel)
	if err != nil {
		t.Fatalf("extract: %v", err)
	}
	o, pkgs, err := pkgdb.Inventory(fsys)
	if err != nil {
		t.Fatalf("inventory: %v", err)
	}
	return o, pkgs
}

// dpkgOracle lists installed packages with the real dpkg-query.
func dpkgOracle(t *testing.T, admindir string) []pkgdb.Package {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "--admindir="+admindir,
		"-f", "${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\t${db:Status-Want}\t${db:Status-Status}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	var pkgs []pkgdb.Package
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if f[6] != "installed" || (f[5] != "install" && f[5] != "hold") {
			continue
		}
		pkgs = append(pkgs, pkgdb.Package{Name: f[0], Version: f[1], Arch: f[2], SourceName: f[3], SourceVersion: f[4]})
	}
	sort.Slice(pkgs, func(i, j int) bool {
		if pkgs[i].Name != pkgs[j].Name {
			return pkgs[i].Name < pkgs[j].Name
		}
		return pkgs[i].Arch < pkgs[j].Arch
	})
	return pkgs
}

func withoutStatus(pkgs []pkgdb.Package) []pkgdb.Package {
	out := make([]pkgdb.Package, len(pkgs))
	for i, p := range pkgs {
		p.Status = ""
		out[i] = p
	}
	return out
}

func samePackages(t *testing.T, got, want []pkgdb.Package) {
	t.Helper()
	got = withoutStatus(got)
	if !reflect.DeepEqual(got, want) {
		gm := map[string]pkgdb.Package{}
		for _, p := range got {
			gm[p.Name+":"+p.Arch] = p
		}
		for _, p := range want {
			if g, ok := gm[p.Name+":"+p.Arch]; !ok {
				t.Errorf("missing %+v", p)
			} else if g != p {
				t.Errorf("got %+v, want %+v", g, p)
			}
			delete(gm, p.Name+":"+p.Arch)
		}
		for _, p := range gm {
			t.Errorf("unexpected %+v", p)
		}
	}
}

func TestInventoryDebootstrapImages(t *testing.T) {
	testutil.RequireSlow(t)
	reg := testutil.StartRegistry(t)
	for _, suite := range []testutil.Suite{testutil.Bookworm, testutil.Jammy} {
		t.Run(suite.Name, func(t *testing.T) {
			rootfs := testutil.Rootfs(t, suite)
			reg.Push(t, "deb:"+suite.Name, testutil.ImageFromDir(t, rootfs))
			img, err := remote.Image(reg.Ref(t, "deb:"+suite.Name))
			if err != nil {
				t.Fatal(err)
			}
			o, pkgs := inventory(t, img)
			want := shellOSRelease(t, filepath.Join(rootfs, "usr/lib/os-release"))
			if o.ID != want.ID || o.VersionID != want.VersionID || o.Codename != want.Codename || o.Family != pkgdb.Deb {
				t.Errorf("OS = %+v, want %+v", o, want)
			}
			samePackages(t, pkgs, dpkgOracle(t, filepath.Join(rootfs, "var/lib/dpkg")))
			if len(pkgs) < 50 {
				t.Errorf("only %d packages in a minbase image", len(pkgs))
			}
			syftAgrees(t, reg.Addr+"/deb:"+suite.Name, pkgs)
		})
	}
}

// TestInventoryDistroless splits the bookworm status into distroless
// status.d files (without Status fields), drops apt and its files, and
// expects dpkg-query's list of the original minus apt.
func TestInventoryDistroless(t *testing.T) {
	testutil.RequireSlow(t)
	orig := testutil.Rootfs(t, testutil.Bookworm)
	root := testutil.CopyDir(t, orig)
	dpkgDir := filepath.Join(root, "var/lib/dpkg")
	status, err := os.ReadFile(filepath.Join(dpkgDir, "status"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dpkgDir, "status.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, st := range strings.Split(strings.TrimSpace(string(status)), "\n\n") {
		var name string
		var keep []string
		for _, l := range strings.Split(st, "\n") {
			if n, ok := strings.CutPrefix(l, "Package: "); ok {
				name = n
			}
			if !strings.HasPrefix(l, "Status: ") {
				keep = append(keep, l)
			}
		}
		if name == "apt" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dpkgDir, "status.d", name), []byte(strings.Join(keep, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		md5, err := os.ReadFile(filepath.Join(dpkgDir, "info", name+".md5sums"))
		if err == nil {
			_ = os.WriteFile(filepath.Join(dpkgDir, "status.d", name+".md5sums"), md5, 0o644)
		}
	}
	list, err := os.ReadFile(filepath.Join(dpkgDir, "info", "apt.list"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		if st, err := os.Lstat(filepath.Join(root, p)); err == nil && !st.IsDir() {
			if err := os.Remove(filepath.Join(root, p)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Remove(filepath.Join(dpkgDir, "status")); err != nil {
		t.Fatal(err)
	}
	var want []pkgdb.Package
	for _, p := range dpkgOracle(t, filepath.Join(orig, "var/lib/dpkg")) {
		if p.Name != "apt" {
			want = append(want, p)
		}
	}
	reg := testutil.StartRegistry(t)
	reg.Push(t, "distroless:1", testutil.ImageFromDir(t, root))
	img, err := remote.Image(reg.Ref(t, "distroless:1"))
	if err != nil {
		t.Fatal(err)
	}
	_, pkgs := inventory(t, img)
	samePackages(t, pkgs, want)
	syftAgrees(t, reg.Addr+"/distroless:1", pkgs)
}

// TestInventoryTopLayerRemovesPackage purges a package with the real dpkg
// in a copy of the rootfs, and stacks the difference (whiteouts of its
// files and the new status) as a layer on the original.
func TestInventoryTopLayerRemovesPackage(t *testing.T) {
	testutil.RequireSlow(t)
	orig := testutil.Rootfs(t, testutil.Bookworm)
	root := testutil.CopyDir(t, orig)
	const victim = "hostname"
	if out, err := exec.Command("dpkg", "--root="+root, "--purge", "--force-all", victim).CombinedOutput(); err != nil {
		t.Fatalf("dpkg --purge %s: %v\n%s", victim, err, out)
	}
	want := dpkgOracle(t, filepath.Join(root, "var/lib/dpkg"))
	for _, p := range want {
		if p.Name == victim {
			t.Fatalf("%s still installed after purge", victim)
		}
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	whited := map[string]bool{}
	err := filepath.WalkDir(orig, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(orig, p)
		if rel == "." {
			return nil
		}
		if _, err := os.Lstat(filepath.Join(root, rel)); err == nil || whited[filepath.Dir(rel)] {
			return nil
		}
		whited[rel] = true
		wh := path.Join(path.Dir(filepath.ToSlash(rel)), ".wh."+path.Base(rel))
		return tw.WriteHeader(&tar.Header{Name: wh, Typeflag: tar.TypeReg, Mode: 0o644})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(whited) == 0 {
		t.Fatal("the purge removed no files")
	}
	status, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: "var/lib/dpkg/status", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(status))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(status); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	top, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	reg := testutil.StartRegistry(t)
	reg.Push(t, "removed:1", testutil.ImageFromLayers(t, "amd64", testutil.LayerFromDir(t, orig), top))
	img, err := remote.Image(reg.Ref(t, "removed:1"))
	if err != nil {
		t.Fatal(err)
	}
	_, pkgs := inventory(t, img)
	samePackages(t, pkgs, want)
	info, err := image.Extract(context.Background(), img, image.Selector{Dirs: []string{"var/lib/dpkg/info"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := info.Stat("var/lib/dpkg/info/" + victim + ".list"); err == nil {
		t.Errorf("%s.list survived its whiteout", victim)
	}
	if _, err := info.Stat("var/lib/dpkg/info/dpkg.list"); err != nil {
		t.Errorf("dpkg.list lost: %v", err)
	}
	syftAgrees(t, reg.Addr+"/removed:1", pkgs)
}

// TestInventoryAlpineIndex pushes the real Alpine minirootfs tarballs for
// x86_64 and aarch64 as a two-platform index and inventories each
// platform; the oracle is the real apk, run in a chroot of the x86_64
// rootfs, reading each platform's database.
func TestInventoryAlpineIndex(t *testing.T) {
	testutil.RequireSlow(t)
	reg := testutil.StartRegistry(t)
	arches := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}
	var adds []mutate.IndexAddendum
	for goarch, apkArch := range arches {
		l, err := tarball.LayerFromFile(filepath.Join(alpineFixtures, "alpine-minirootfs-3.19.4-"+apkArch+".tar.gz"))
		if err != nil {
			t.Fatal(err)
		}
		img := testutil.ImageFromLayers(t, goarch, l)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: goarch}}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	if err := remote.WriteIndex(reg.Ref(t, "alpine:3.19.4"), idx); err != nil {
		t.Fatal(err)
	}
	chroot := t.TempDir()
	run(t, "tar", "-xzf", filepath.Join(alpineFixtures, "alpine-minirootfs-3.19.4-x86_64.tar.gz"), "-C", chroot)
	rindex, err := remote.Index(reg.Ref(t, "alpine:3.19.4"))
	if err != nil {
		t.Fatal(err)
	}
	man, err := rindex.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(man.Manifests) != 2 {
		t.Fatalf("index has %d manifests", len(man.Manifests))
	}
	for _, desc := range man.Manifests {
		apkArch := arches[desc.Platform.Architecture]
		t.Run(apkArch, func(t *testing.T) {
			img, err := rindex.Image(desc.Digest)
			if err != nil {
				t.Fatal(err)
			}
			o, pkgs := inventory(t, img)
			if o.ID != "alpine" || o.VersionID != "3.19.4" || o.Family != pkgdb.APK {
				t.Errorf("OS = %+v", o)
			}
			other := filepath.Join(chroot, "mnt", apkArch)
			run(t, "mkdir", "-p", other)
			run(t, "tar", "-xzf", filepath.Join(alpineFixtures, "alpine-minirootfs-3.19.4-"+apkArch+".tar.gz"), "-C", other, "./lib/apk", "./etc/apk")
			out, err := exec.Command("chroot", chroot, "/sbin/apk", "--root", "/mnt/"+apkArch, "info", "-v").Output()
			if err != nil {
				t.Fatalf("apk info -v: %v", err)
			}
			want := strings.Fields(string(out))
			var got []string
			for _, p := range pkgs {
				got = append(got, p.Name+"-"+p.Version)
				if p.Arch != apkArch {
					t.Errorf("%s arch %q, want %q", p.Name, p.Arch, apkArch)
				}
			}
			sort.Strings(want)
			sort.Strings(got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("packages %v\napk info -v lists %v", got, want)
			}
		})
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// syftAgrees compares an inventory with syft's deb packages for the same
// image, pulled from the registry. syft is built by scripts/build-syft.sh
// and only ever run as an external program.
func syftAgrees(t *testing.T, ref string, pkgs []pkgdb.Package) {
	t.Helper()
	out, err := exec.Command("../scripts/build-syft.sh").Output()
	if err != nil {
		t.Fatalf("building syft (scripts/build-syft.sh): %v", err)
	}
	syft := strings.TrimSpace(string(out))
	cmd := exec.Command(syft, "scan", "registry:"+ref, "-o", "json", "-q", "--override-default-catalogers", "dpkg-db-cataloger")
	cmd.Env = append(os.Environ(), "SYFT_REGISTRY_INSECURE_USE_HTTP=true", "SYFT_CHECK_FOR_APP_UPDATE=false")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	js, err := cmd.Output()
	if err != nil {
		t.Fatalf("syft %s: %v\n%s", ref, err, stderr.String())
	}
	var doc struct {
		Artifacts []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			Type    string `json:"type"`
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("syft output: %v", err)
	}
	var want, got []string
	for _, a := range doc.Artifacts {
		if a.Type == "deb" {
			want = append(want, a.Name+"="+a.Version)
		}
	}
	for _, p := range pkgs {
		got = append(got, p.Name+"="+p.Version)
	}
	sort.Strings(want)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inventory (%d) differs from syft (%d):\n got %v\nsyft %v", len(got), len(want), got, want)
	}
}
