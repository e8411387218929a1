package patch

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

func newGzipWriter(w io.Writer) *gzip.Writer {
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	return gz
}

// compareWithRealUpgrade runs the real `apt-get upgrade` (maintainer
// scripts and all) on a copy of the original and checks that every file of
// every upgraded package, and dpkg's record of it, is the same in root.
func compareWithRealUpgrade(t *testing.T, f *securityFixture, root string) {
	t.Helper()
	want := copyTree(t, f.orig)
	run(t, "", "chroot", want, "apt-get", "-y", "-q", "-o", "Dpkg::Options::=--force-confold", "upgrade")
	noVirtual := func(rel string) bool {
		return rel == "proc" || rel == "sys" || rel == "dev"
	}
	wantAll, gotAll := snapshot(t, want, noVirtual), snapshot(t, root, noVirtual)
	for _, u := range f.upgrades {
		if a, b := run(t, "", "chroot", want, "dpkg-query", "-s", u.Name), run(t, "", "chroot", root, "dpkg-query", "-s", u.Name); a != b {
			t.Errorf("dpkg-query -s %s differs:\napt:\n%s\npatchloop:\n%s", u.Name, a, b)
		}
		list := strings.TrimSpace(run(t, "", "chroot", want, "dpkg-query", "-L", u.Name))
		if got := strings.TrimSpace(run(t, "", "chroot", root, "dpkg-query", "-L", u.Name)); got != list {
			t.Errorf("dpkg-query -L %s differs", u.Name)
		}
		var paths []string
		for _, p := range strings.Split(list, "\n") {
			if p != "/." && p != "" {
				paths = append(paths, p)
			}
		}
		a, b := pick(wantAll, want, paths), pick(gotAll, root, paths)
		// apt itself, not dpkg, hands its download directory to _apt when
		// it runs; the real upgrade ran apt, the patch did not.
		delete(a, "/var/cache/apt/archives/partial")
		delete(b, "/var/cache/apt/archives/partial")
		if d := diffTrees(a, b, nil); len(d) > 0 {
			t.Errorf("%s: files differ from apt's upgrade:\n%s", u.Name, strings.Join(d, "\n"))
		}
	}
}

// pick selects the given absolute paths from a snapshot of the tree at
// root, directories by metadata only (their contents come from many
// packages).
func pick(all map[string]treeEntry, root string, paths []string) map[string]treeEntry {
	out := map[string]treeEntry{}
	for _, p := range paths {
		rel := strings.TrimPrefix(p, "/")
		// Follow the image's directory symlinks as the kernel would.
		if real, err := filepath.EvalSymlinks(filepath.Join(root, filepath.Dir(rel))); err == nil {
			if r2, err := filepath.Rel(root, real); err == nil {
				rel = filepath.ToSlash(filepath.Join(r2, filepath.Base(rel)))
			}
		}
		e, ok := all[rel]
		if !ok {
			if _, err := os.Lstat(filepath.Join(root, rel)); err != nil {
				e = treeEntry{kind: "missing"}
			}
		}
		if e.kind == "dir" {
			e.mtime = 0
		}
		out[p] = e
	}
	return out
}
