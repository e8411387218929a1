// Package debtest builds small real .deb files with dpkg-deb for tests.
package debtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Spec describes one binary package to build.
type Spec struct {
	Name, Version, Arch string
	// Source is written as "Source:" when set ("src" or "src (1.0-1)").
	Source string
	// Extra holds more control fields in order, e.g. "Depends: libc6".
	Extra []string
	// Files maps a clean path ("usr/share/doc/x/README") to its content.
	Files map[string]string
	// Symlinks maps a clean path to its link target.
	Symlinks map[string]string
	// Compression is dpkg-deb's -Z value: xz, zstd, gzip or none.
	Compression string
}

// Build builds the package with dpkg-deb into dir and returns its path.
func Build(t testing.TB, dir string, s Spec) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skipf("dpkg-deb not installed: %v", err)
	}
	if s.Arch == "" {
		s.Arch = "amd64"
	}
	if s.Compression == "" {
		s.Compression = "xz"
	}
	root, err := os.MkdirTemp(dir, "pkgroot-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	ctl := []string{
		"Package: " + s.Name,
		"Version: " + s.Version,
		"Architecture: " + s.Arch,
		"Maintainer: Test <test@example.invalid>",
	}
	if s.Source != "" {
		ctl = append(ctl, "Source: "+s.Source)
	}
	ctl = append(ctl, s.Extra...)
	ctl = append(ctl, "Description: test package "+s.Name, " built by debtest.")
	write(t, filepath.Join(root, "DEBIAN/control"), strings.Join(ctl, "\n")+"\n", 0o644)
	names := make([]string, 0, len(s.Files))
	for n := range s.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		write(t, filepath.Join(root, n), s.Files[n], 0o644)
	}
	for n, target := range s.Symlinks {
		p := filepath.Join(root, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", s.Name, strings.ReplaceAll(s.Version, ":", "%3a"), s.Arch))
	cmd := exec.Command("dpkg-deb", "--root-owner-group", "-Z"+s.Compression, "--build", root, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build %s: %v\n%s", s.Name, err, b)
	}
	return out
}

func write(t testing.TB, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
