package testutil

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Suite names a debootstrap target: a release and the mirror it comes from.
type Suite struct {
	Name   string // debootstrap suite, e.g. "bookworm"
	Mirror string // archive URL
	// NoCheckGPG passes --no-check-gpg (Ubuntu: the host lacks its keyring).
	NoCheckGPG bool
}

// Suites used by the end-to-end tests.
var (
	Bookworm = Suite{Name: "bookworm", Mirror: "http://deb.debian.org/debian"}
	Jammy    = Suite{Name: "jammy", Mirror: "http://archive.ubuntu.com/ubuntu", NoCheckGPG: true}
)

// CacheDir is where slow test inputs are cached: $PATCHLOOP_TEST_CACHE, or
// ~/.cache/patchloop-test. Root filesystems live under a subdirectory named
// for today's date, so each day gets a fresh snapshot of the archive.
func CacheDir() string {
	if d := os.Getenv("PATCHLOOP_TEST_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "patchloop-test-cache")
	}
	return filepath.Join(home, ".cache", "patchloop-test")
}

// RequireSlow skips the test under -short. Slow tests build real root
// filesystems with debootstrap and talk to the distro archives.
func RequireSlow(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("slow end-to-end test: skipped with -short")
	}
}

// Rootfs returns the directory of a `debootstrap --variant=minbase` root
// filesystem for suite, building it once per day and caching it. Callers
// must not modify it; use CopyDir for a private copy. Needs root and
// debootstrap, so it skips under -short.
func Rootfs(t testing.TB, s Suite) string {
	t.Helper()
	RequireSlow(t)
	day := time.Now().UTC().Format("2006-01-02")
	base := filepath.Join(CacheDir(), "rootfs-"+day)
	dir := filepath.Join(base, s.Name+"-minbase")
	if _, err := os.Stat(filepath.Join(dir, "var/lib/dpkg/status")); err == nil {
		return dir
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock := lockFile(t, dir+".lock")
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, "var/lib/dpkg/status")); err == nil {
		return dir
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Fatalf("debootstrap is not installed (apt-get install debootstrap): %v", err)
	}
	tmp := dir + ".building"
	_ = os.RemoveAll(tmp)
	args := []string{"--variant=minbase"}
	if s.NoCheckGPG {
		args = append(args, "--no-check-gpg")
	}
	args = append(args, s.Name, tmp, s.Mirror)
	cmd := exec.Command("debootstrap", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("debootstrap %s: %v\n%s", s.Name, err, lastLines(string(out), 20))
	}
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func lockFile(t testing.TB, path string) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}
}

// CopyDir copies a root filesystem to a fresh temporary directory with
// `cp -a`, keeping owners, modes, links and device nodes.
func CopyDir(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s: %v: %s", src, err, out)
	}
	return dst
}

// LayerFromDir builds a gzip-compressed image layer holding the tree at dir,
// with owners, modes, symlinks, hardlinks and device nodes as on disk. The
// compressed layer is written under the test's temp directory, so large
// trees are never held in memory.
func LayerFromDir(t testing.TB, dir string) v1.Layer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "layer.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err := WriteTree(gz, dir); err != nil {
		t.Fatalf("archiving %s: %v", dir, err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return layer
}

// ImageFromDir is a single-layer linux/amd64 image of the tree at dir.
func ImageFromDir(t testing.TB, dir string) v1.Image {
	t.Helper()
	return ImageFromLayers(t, "amd64", LayerFromDir(t, dir))
}

// ImageFromLayers stacks layers into an image for linux/arch.
func ImageFromLayers(t testing.TB, arch string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Cmd = []string{"/bin/bash"}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// WriteTree writes the tree at dir as a tar stream with paths relative to
// dir, in sorted order, so the same tree always gives the same bytes.
func WriteTree(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	type inode struct{ dev, ino uint64 }
	seen := map[inode]string{}
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
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
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		hdr.Format = tar.FormatPAX
		st, _ := fi.Sys().(*syscall.Stat_t)
		if st != nil && fi.Mode().IsRegular() && st.Nlink > 1 {
			key := inode{uint64(st.Dev), st.Ino}
			if first, ok := seen[key]; ok {
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = first
				hdr.Size = 0
			} else {
				seen[key] = hdr.Name
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
		}
	}
	return tw.Close()
}
