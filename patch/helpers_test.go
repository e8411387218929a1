package patch

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// debFile is one entry of a test package's data.
type debFile struct {
	path     string // absolute, as in the package
	content  string
	mode     fs.FileMode
	symlink  string // target, for a symlink
	hardlink string // absolute path of an earlier file, for a hard link
	dir      bool
	mtime    time.Time
}

// debSpec is a test package built with the real dpkg-deb.
type debSpec struct {
	name, version, arch string
	fields              []string // extra control lines, in order
	files               []debFile
	conffiles           []string
	scripts             map[string]string
}

// buildDeb builds spec with `dpkg-deb --build` into dir and returns the
// file's path.
func buildDeb(t testing.TB, dir string, spec debSpec) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "pkg")
	must(t, os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755))
	ctl := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: Test <test@example.org>\n", spec.name, spec.version, spec.arch)
	for _, f := range spec.fields {
		ctl += f + "\n"
	}
	ctl += "Description: test package " + spec.name + "\n a package built by the patch tests.\n"
	must(t, os.WriteFile(filepath.Join(root, "DEBIAN/control"), []byte(ctl), 0o644))
	if len(spec.conffiles) > 0 {
		must(t, os.WriteFile(filepath.Join(root, "DEBIAN/conffiles"), []byte(strings.Join(spec.conffiles, "\n")+"\n"), 0o644))
	}
	for n, s := range spec.scripts {
		must(t, os.WriteFile(filepath.Join(root, "DEBIAN", n), []byte(s), 0o755))
	}
	var dirs []debFile
	for _, f := range spec.files {
		p := filepath.Join(root, f.path)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		switch {
		case f.dir:
			must(t, os.MkdirAll(p, 0o755))
			if f.mode != 0 {
				must(t, os.Chmod(p, f.mode))
			}
			dirs = append(dirs, f)
			continue
		case f.symlink != "":
			must(t, os.Symlink(f.symlink, p))
			continue
		case f.hardlink != "":
			must(t, os.Link(filepath.Join(root, f.hardlink), p))
			continue
		}
		mode := f.mode
		if mode == 0 {
			mode = 0o644
		}
		must(t, os.WriteFile(p, []byte(f.content), mode))
		must(t, os.Chmod(p, mode))
		if !f.mtime.IsZero() {
			must(t, os.Chtimes(p, f.mtime, f.mtime))
		}
	}
	for _, f := range dirs {
		if !f.mtime.IsZero() {
			must(t, os.Chtimes(filepath.Join(root, f.path), f.mtime, f.mtime))
		}
	}
	out := filepath.Join(dir, DebFileName(spec.name, spec.version, spec.arch))
	run(t, "", "dpkg-deb", "--root-owner-group", "-Zxz", "--build", root, out)
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// run runs a command and fails the test with its output on error.
func run(t testing.TB, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// applyLayerWithTar applies a gzip layer to dir the simple independent way:
// GNU tar extracts it, then each whiteout deletes its target.
func applyLayerWithTar(t testing.TB, layer, dir string) {
	t.Helper()
	run(t, "", "tar", "-xzpf", layer, "-C", dir, "--numeric-owner")
	script := `find "$1" -name '.wh.*' -print0 | sort -z | while IFS= read -r -d '' w; do
  d=$(dirname "$w"); b=$(basename "$w"); rm -rf "$d/${b#.wh.}"; rm -f "$w"; done`
	run(t, "", "bash", "-c", script, "apply", dir)
}

// treeEntry describes one path of a tree for comparison.
type treeEntry struct {
	kind     string
	mode     fs.FileMode
	uid, gid uint32
	size     int64
	sum      string
	link     string
	mtime    int64
	nlink    uint64
}

// snapshot describes every path under dir, skipping those skip says.
func snapshot(t testing.TB, dir string, skip func(rel string) bool) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		if skip != nil && skip(filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := treeEntry{mode: fi.Mode(), uid: st.Uid, gid: st.Gid}
		switch {
		case fi.IsDir():
			e.kind = "dir"
		case fi.Mode()&fs.ModeSymlink != 0:
			e.kind = "symlink"
			e.link, _ = os.Readlink(p)
		case fi.Mode().IsRegular():
			e.kind = "file"
			e.size = fi.Size()
			e.mtime = fi.ModTime().Unix()
			e.nlink = uint64(st.Nlink)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.sum = fmt.Sprintf("%x", sha256.Sum256(b))
		default:
			e.kind = fi.Mode().Type().String()
		}
		out[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffTrees returns a line per path that differs between two snapshots.
func diffTrees(a, b map[string]treeEntry, ignoreMtime func(string) bool) []string {
	var out []string
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		ea, oka := a[k]
		eb, okb := b[k]
		switch {
		case !oka:
			out = append(out, "only in second: "+k)
		case !okb:
			out = append(out, "only in first: "+k)
		default:
			if ignoreMtime != nil && ignoreMtime(k) {
				ea.mtime, eb.mtime = 0, 0
			}
			if ea != eb {
				out = append(out, fmt.Sprintf("%s: %+v != %+v", k, ea, eb))
			}
		}
	}
	return out
}
