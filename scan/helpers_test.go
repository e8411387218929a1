package scan_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/scan"
	"github.com/patchloop/patchloop/vulndb"
)

// bundle is one test's registry, caches and repos source.
type bundle struct {
	reg    *testutil.Registry
	client *registry.Client
	cache  *image.Cache
	repos  *vulndb.Repos
}

func setup(t *testing.T) *bundle {
	t.Helper()
	reg := testutil.StartRegistry(t)
	client, err := registry.New(reg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := image.NewCache(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Packages and indexes are shared with the other slow tests, so each
	// .deb is downloaded once a day at most.
	repo, err := distrorepo.New(distrorepo.Config{CacheDir: filepath.Join(testutil.CacheDir(), "distrorepo")})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{reg: reg, client: client, cache: cache, repos: vulndb.NewRepos(repo)}
}

// scan scans ref with the bundle's registry and cache.
func (b *bundle) scan(t *testing.T, ref string, src vulndb.Source, mod ...func(*scan.Options)) *scan.Result {
	t.Helper()
	res, err := b.scanErr(t, ref, src, mod...)
	if err != nil {
		t.Fatalf("scan %s: %v", ref, err)
	}
	return res
}

func (b *bundle) scanErr(t *testing.T, ref string, src vulndb.Source, mod ...func(*scan.Options)) (*scan.Result, error) {
	t.Helper()
	opts := scan.Options{Registry: b.client, Source: src, Cache: b.cache}
	for _, m := range mod {
		m(&opts)
	}
	r, err := name.ParseReference(b.reg.Addr + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	return scan.Scan(context.Background(), r, opts)
}

var instLine = regexp.MustCompile(`^Inst (\S+) \[([^\]]+)\] \((\S+) `)

// aptUpgrades asks the real apt, in a chroot of a copy of rootfs whose
// only apt source is sourcesList, which packages `apt-get upgrade` would
// upgrade, and to which version. Packages apt keeps back are included
// with an empty version.
func aptUpgrades(t *testing.T, rootfs, sourcesList string) map[string]string {
	t.Helper()
	root := testutil.CopyDir(t, rootfs)
	if err := os.WriteFile(filepath.Join(root, "etc/apt/sources.list"), []byte(sourcesList+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(root, "etc/apt/sources.list.d")
	ents, _ := os.ReadDir(d)
	for _, e := range ents {
		os.Remove(filepath.Join(d, e.Name()))
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err == nil {
		os.Remove(filepath.Join(root, "etc/resolv.conf"))
		if err := os.WriteFile(filepath.Join(root, "etc/resolv.conf"), resolv, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("chroot", root, "apt-get", "-q", "update").CombinedOutput(); err != nil {
		t.Fatalf("chroot apt-get update: %v\n%s", err, out)
	}
	out, err := exec.Command("chroot", root, "apt-get", "-s", "-q", "upgrade").CombinedOutput()
	if err != nil {
		t.Fatalf("chroot apt-get -s upgrade: %v\n%s", err, out)
	}
	got := map[string]string{}
	keptBack := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := instLine.FindStringSubmatch(line); m != nil {
			got[strings.Split(m[1], ":")[0]] = m[3]
			continue
		}
		switch {
		case strings.HasPrefix(line, "The following packages have been kept back"):
			keptBack = true
			continue
		case !strings.HasPrefix(line, "  "):
			keptBack = false
		}
		if keptBack {
			for _, p := range strings.Fields(line) {
				got[strings.Split(p, ":")[0]] = ""
			}
		}
	}
	if testing.Verbose() {
		t.Logf("apt-get -s upgrade with %q: %v", sourcesList, got)
	}
	return got
}

// dpkgQuery lists the installed packages of a root filesystem with the
// real dpkg-query: "name arch version" lines, sorted.
func dpkgQuery(t *testing.T, root string) []string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W",
		"-f", "${db:Status-Abbrev} ${Package} ${Architecture} ${Version}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 4 && strings.HasPrefix(f[0], "ii") {
			lines = append(lines, f[1]+" "+f[2]+" "+f[3])
		}
	}
	sort.Strings(lines)
	return lines
}

func inventoryLines(pkgs []pkgdb.Package) []string {
	var lines []string
	for _, p := range pkgs {
		lines = append(lines, p.Name+" "+p.Arch+" "+p.Version)
	}
	sort.Strings(lines)
	return lines
}

// fixedPackages maps each package with a fixable finding to its fixed
// versions.
func fixedPackages(fs []vulndb.Finding) map[string][]string {
	out := map[string][]string{}
	for _, f := range fs {
		if f.Fixable() {
			out[f.PkgName] = append(out[f.PkgName], f.FixedVersion)
		}
	}
	return out
}

// diffLayer builds a gzip layer that turns the tree at base into the tree
// at top: new and changed entries, and a whiteout (.wh.NAME) for each
// entry of base missing from top.
func diffLayer(t *testing.T, base, top string) v1.Layer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "diff.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	err = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == top {
			return err
		}
		rel, _ := filepath.Rel(top, p)
		if same(t, filepath.Join(base, rel), p) && !d.IsDir() {
			return nil
		}
		if d.IsDir() {
			if _, err := os.Lstat(filepath.Join(base, rel)); err == nil {
				return nil // directories are kept; their changed contents follow
			}
		}
		return addEntry(tw, p, rel)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == base {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		if _, err := os.Lstat(filepath.Join(top, rel)); os.IsNotExist(err) {
			wh := filepath.Join(filepath.Dir(rel), ".wh."+filepath.Base(rel))
			if err := tw.WriteHeader(&tar.Header{Name: wh, Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
				return err
			}
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func addEntry(tw *tar.Writer, p, rel string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0 {
		return nil // device nodes and the like do not matter here
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name = filepath.ToSlash(rel)
	if fi.IsDir() {
		h.Name += "/"
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if fi.Mode().IsRegular() {
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	}
	return nil
}

// same reports whether two paths hold the same kind of entry with the
// same contents or link target.
func same(t *testing.T, a, b string) bool {
	fa, err := os.Lstat(a)
	if err != nil {
		return false
	}
	fb, err := os.Lstat(b)
	if err != nil || fa.Mode() != fb.Mode() {
		return false
	}
	switch {
	case fa.Mode()&fs.ModeSymlink != 0:
		la, _ := os.Readlink(a)
		lb, _ := os.Readlink(b)
		return la == lb
	case fa.Mode().IsRegular():
		return fa.Size() == fb.Size() && fileSum(t, a) == fileSum(t, b)
	}
	return true
}

func fileSum(t *testing.T, p string) [32]byte {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}
