package image

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// stackSelector selects what the scanner and the patch engine read.
var stackSelector = Selector{
	Paths: []string{"etc/os-release", "usr/lib/os-release", "var/lib/dpkg/status"},
	Dirs:  []string{"var/lib/dpkg/status.d", "etc/apt/sources.list.d", "var/lib/dpkg/info"},
}

// stack is three layers exercising whiteouts, opaque directories, a file
// replaced by a later layer, symlinks and a hardlink.
func stack(t *testing.T) []v1.Layer {
	return []v1.Layer{
		gzLayer(t,
			dir("etc"), dir("etc/apt"), dir("etc/apt/sources.list.d"),
			file("etc/apt/sources.list.d/old.list", "deb old"),
			file("etc/apt/sources.list.d/keep.list", "deb keep"),
			symlink("etc/os-release", "../usr/lib/os-release"),
			dir("usr"), dir("usr/lib"), file("usr/lib/os-release", "ID=debian\nVERSION_ID=11\n"),
			dir("var"), dir("var/lib"), dir("var/lib/dpkg"), dir("var/lib/dpkg/status.d"),
			file("var/lib/dpkg/status", "Package: a\n"),
			file("var/lib/dpkg/status.d/a", "Package: a\n"),
			file("var/lib/dpkg/status.d/b", "Package: b\n"),
			dir("var/lib/dpkg/info"),
			file("var/lib/dpkg/info/a.list", "/a\n"),
			file("var/lib/dpkg/info/gone.list", "/gone\n"),
			file("opt/data", strings.Repeat("x", 100000)),
		),
		gzLayer(t,
			whiteout("var/lib/dpkg/status.d/a"),
			opaque("etc/apt/sources.list.d"),
			file("etc/apt/sources.list.d/new.list", "deb new"),
			file("usr/lib/os-release", "ID=debian\nVERSION_ID=12\n"),
			whiteout("var/lib/dpkg/info/gone.list"),
			file("var/lib/dpkg/info/gone.list", "same layer as its whiteout: stays"),
			file("opt/orig", "hardlinked contents"),
			hardlink("var/lib/dpkg/info/h.list", "opt/orig"),
		),
		gzLayer(t,
			file("var/lib/dpkg/status", "Package: b\n"),
			file("var/lib/dpkg/status.d/c", "Package: c\n"),
		),
	}
}

func TestExtractMatchesUmoci(t *testing.T) {
	t.Parallel()
	b := setup(t)
	img := b.push(t, "stack:1", stack(t)...)
	fsys := extract(t, img, stackSelector)
	compareWithRootfs(t, fsys, umociUnpack(t, b.reg, "stack:1"), stackSelector)
	if got := readAll(t, fsys, "etc/os-release"); got != "ID=debian\nVERSION_ID=12\n" {
		t.Errorf("os-release through its symlink = %q", got)
	}
}

func TestExtractCompressions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, mk := range map[string]func(testing.TB, ...ent) v1.Layer{"gzip": gzLayer, "zstd": zstdLayer, "uncompressed": plainLayer} {
		t.Run(name, func(t *testing.T) {
			img := b.push(t, "comp:"+name, gzLayer(t, file("var/lib/dpkg/status", "bottom")), mk(t, file("var/lib/dpkg/status", "top "+name)))
			if got := readAll(t, extract(t, img, stackSelector), "var/lib/dpkg/status"); got != "top "+name {
				t.Errorf("status = %q", got)
			}
		})
	}
}

func TestExtractStopsEarly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bottom := gzLayer(t, file("var/lib/dpkg/status", "old"), file("usr/lib/os-release", "ID=debian"))
	middle := gzLayer(t, file("opt/x", "x"))
	top := gzLayer(t, file("var/lib/dpkg/status", "new"))
	img := b.push(t, "early:1", bottom, middle, top)

	t.Run("exact paths found in the top layer", func(t *testing.T) {
		before := b.counter.get(t, bottom) + b.counter.get(t, middle)
		fsys := extract(t, img, Selector{Paths: []string{"var/lib/dpkg/status"}})
		if got := readAll(t, fsys, "var/lib/dpkg/status"); got != "new" {
			t.Errorf("status = %q", got)
		}
		if n := b.counter.get(t, bottom) + b.counter.get(t, middle) - before; n != 0 {
			t.Errorf("lower layers fetched %d times, want 0", n)
		}
	})
	t.Run("a path missing from the top reads down to the bottom", func(t *testing.T) {
		before := b.counter.get(t, bottom)
		fsys := extract(t, img, Selector{Paths: []string{"var/lib/dpkg/status", "usr/lib/os-release"}})
		if got := readAll(t, fsys, "usr/lib/os-release"); got != "ID=debian" {
			t.Errorf("os-release = %q", got)
		}
		if n := b.counter.get(t, bottom) - before; n != 1 {
			t.Errorf("bottom layer fetched %d times, want 1", n)
		}
	})
	t.Run("a stop function ends the walk", func(t *testing.T) {
		before := b.counter.get(t, bottom) + b.counter.get(t, middle)
		stop := func(f fs.FS) bool { _, err := fs.Stat(f, "var/lib/dpkg/status"); return err == nil }
		fsys := extract(t, img, Selector{Paths: []string{"var/lib/dpkg/status"}, Dirs: []string{"var/lib/dpkg/status.d"}, Stop: stop, Key: "status-found"})
		if got := readAll(t, fsys, "var/lib/dpkg/status"); got != "new" {
			t.Errorf("status = %q", got)
		}
		if n := b.counter.get(t, bottom) + b.counter.get(t, middle) - before; n != 0 {
			t.Errorf("lower layers fetched %d times, want 0", n)
		}
	})
	t.Run("a whiteout decides a path", func(t *testing.T) {
		img := b.push(t, "early:2", bottom, gzLayer(t, whiteout("var/lib/dpkg/status")))
		before := b.counter.get(t, bottom)
		fsys := extract(t, img, Selector{Paths: []string{"var/lib/dpkg/status"}})
		if _, err := fsys.Stat("var/lib/dpkg/status"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("whited-out status: stat error %v, want not-exist", err)
		}
		if n := b.counter.get(t, bottom) - before; n != 0 {
			t.Errorf("bottom layer fetched %d times, want 0", n)
		}
	})
}

func TestExtractCaches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cache, err := NewCache(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	base := []v1.Layer{
		gzLayer(t, file("var/lib/dpkg/status", "base"), file("etc/apt/sources.list.d/a.list", "a")),
		gzLayer(t, file("opt/big", strings.Repeat("y", 1<<20))),
	}
	imgA := b.push(t, "app:a", append(base, gzLayer(t, file("etc/apt/sources.list.d/b.list", "b")))...)
	topB := gzLayer(t, file("etc/apt/sources.list.d/c.list", "c"))
	imgB := b.push(t, "app:b", append(base, topB)...)
	sel := Selector{Paths: []string{"var/lib/dpkg/status"}, Dirs: []string{"etc/apt/sources.list.d"}}

	first := extract(t, imgA, sel, WithCache(cache))
	if n := b.counter.total(); n != 3 {
		t.Fatalf("cold extraction fetched %d blobs, want the 3 layers", n)
	}
	t.Run("a second tag sharing the base fetches only its own layer", func(t *testing.T) {
		before := b.counter.total()
		fsys := extract(t, imgB, sel, WithCache(cache))
		if n := b.counter.total() - before; n != 1 || b.counter.get(t, topB) != 1 {
			t.Errorf("fetched %d blobs (top %d), want only the top layer", n, b.counter.get(t, topB))
		}
		compareWithRootfs(t, fsys, umociUnpack(t, b.reg, "app:b"), sel)
	})
	t.Run("an image digest extracted before fetches nothing", func(t *testing.T) {
		before := b.counter.total()
		again := extract(t, b.remote(t, "app:a"), sel, WithCache(cache))
		if n := b.counter.total() - before; n != 0 {
			t.Errorf("fetched %d blobs, want 0", n)
		}
		if err := fstest.TestFS(again, "var/lib/dpkg/status", "etc/apt/sources.list.d/a.list", "etc/apt/sources.list.d/b.list"); err != nil {
			t.Error(err)
		}
		for _, f := range first.Files() {
			g, err := again.Lstat(f.Name)
			if err != nil || g.Mode() != f.Mode || g.Sys().(*File).Layer != f.Layer {
				t.Errorf("%s: cached result differs: %v %v", f.Name, g, err)
			}
		}
	})
	t.Run("a new selector misses the caches", func(t *testing.T) {
		before := b.counter.total()
		extract(t, imgA, Selector{Paths: []string{"var/lib/dpkg/status"}, Dirs: []string{"etc"}}, WithCache(cache))
		if n := b.counter.total() - before; n != 3 {
			t.Errorf("fetched %d blobs, want 3", n)
		}
	})
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cache, err := NewCache(dir, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t)
	var last v1.Image
	for i := range 8 {
		last = b.push(t, "evict:"+string(rune('a'+i)), gzLayer(t, file("var/lib/dpkg/status", strings.Repeat(string(rune('a'+i)), 20<<10))))
		extract(t, last, Selector{Paths: []string{"var/lib/dpkg/status"}}, WithCache(cache))
	}
	var total int64
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".tar") {
			st, _ := d.Info()
			total += st.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > 64<<10 {
		t.Errorf("cache holds %d bytes, over its 64 KiB bound", total)
	}
	before := b.counter.total()
	extract(t, last, Selector{Paths: []string{"var/lib/dpkg/status"}}, WithCache(cache))
	if n := b.counter.total() - before; n != 0 {
		t.Errorf("most recent image was evicted: fetched %d blobs", n)
	}
}

func TestExtractSymlinks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sel := Selector{Paths: []string{"etc/os-release"}}
	t.Run("absolute target is relative to the image root", func(t *testing.T) {
		img := b.push(t, "links:abs", gzLayer(t, symlink("etc/os-release", "/usr/lib/os-release"), file("usr/lib/os-release", "ID=alpine")))
		if got := readAll(t, extract(t, img, sel), "etc/os-release"); got != "ID=alpine" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("dot-dot never climbs above the root", func(t *testing.T) {
		img := b.push(t, "links:up", gzLayer(t, symlink("etc/os-release", "../../../../../usr/lib/os-release"), file("usr/lib/os-release", "ID=debian")))
		if got := readAll(t, extract(t, img, sel), "etc/os-release"); got != "ID=debian" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("a link to a host file stays in the image", func(t *testing.T) {
		img := b.push(t, "links:host", gzLayer(t, symlink("etc/os-release", "/etc/hostname")))
		_, err := extract(t, img, sel).ReadFile("etc/os-release")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("reading a link to a file missing from the image: %v, want not-exist", err)
		}
	})
	t.Run("a loop is a clear error", func(t *testing.T) {
		img := b.push(t, "links:loop", gzLayer(t, symlink("etc/os-release", "os-release2"), symlink("etc/os-release2", "os-release")))
		_, err := extract(t, img, sel).ReadFile("etc/os-release")
		if !errors.Is(err, ErrSymlinkLoop) {
			t.Errorf("reading a symlink loop: %v, want ErrSymlinkLoop", err)
		}
	})
	t.Run("a link in a lower layer to a file changed higher up", func(t *testing.T) {
		img := b.push(t, "links:layers",
			gzLayer(t, symlink("etc/os-release", "../usr/lib/os-release"), file("usr/lib/os-release", "old")),
			gzLayer(t, file("usr/lib/os-release", "new")))
		if got := readAll(t, extract(t, img, sel), "etc/os-release"); got != "new" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("a symlinked parent directory with its target selected", func(t *testing.T) {
		l := gzLayer(t,
			symlink("var/lib/rpm", "../../usr/lib/sysimage/rpm"),
			file("usr/lib/sysimage/rpm/rpmdb.sqlite", "db"))
		img := b.push(t, "links:parent", l)
		before := b.counter.get(t, l)
		fsys := extract(t, img, Selector{Paths: []string{"var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"}})
		if got := readAll(t, fsys, "var/lib/rpm/rpmdb.sqlite"); got != "db" {
			t.Errorf("got %q", got)
		}
		if n := b.counter.get(t, l) - before; n != 1 {
			t.Errorf("layer fetched %d times, want 1", n)
		}
	})
	t.Run("a usrmerge parent link costs no extra pass", func(t *testing.T) {
		l := gzLayer(t, symlink("lib", "usr/lib"), file("usr/lib/apk/db/installed", "never selected"), file("var/lib/dpkg/status", "x"))
		img := b.push(t, "links:usrmerge", l)
		before := b.counter.get(t, l)
		extract(t, img, Selector{Paths: []string{"lib/apk/db/installed", "var/lib/dpkg/status"}})
		if n := b.counter.get(t, l) - before; n != 1 {
			t.Errorf("layer fetched %d times, want 1", n)
		}
	})
	t.Run("a selected link to an unselected file costs one more pass", func(t *testing.T) {
		l := gzLayer(t, symlink("etc/apt/trusted.gpg.d/debian.gpg", "/usr/share/keyrings/debian-archive-keyring.gpg"), file("usr/share/keyrings/debian-archive-keyring.gpg", "KEY"))
		img := b.push(t, "links:keyring", l)
		before := b.counter.get(t, l)
		fsys := extract(t, img, Selector{Dirs: []string{"etc/apt/trusted.gpg.d"}})
		if got := readAll(t, fsys, "etc/apt/trusted.gpg.d/debian.gpg"); got != "KEY" {
			t.Errorf("got %q", got)
		}
		if n := b.counter.get(t, l) - before; n != 2 {
			t.Errorf("layer fetched %d times, want 2", n)
		}
	})
}

func TestExtractHostileLayers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	t.Run("path traversal is ignored", func(t *testing.T) {
		img := b.push(t, "hostile:traversal", gzLayer(t,
			file("../../etc/passwd", "root::0:0"),
			file("/etc/../../etc/shadow", "x"),
			file("/etc/hostname", "absolute names are normalized"),
		))
		fsys := extract(t, img, Selector{Dirs: []string{"etc"}})
		if _, err := fsys.Stat("etc/passwd"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("escaping entry became etc/passwd: %v", err)
		}
		if _, err := fsys.Stat("etc/shadow"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("escaping entry became etc/shadow: %v", err)
		}
		if got := readAll(t, fsys, "etc/hostname"); got != "absolute names are normalized" {
			t.Errorf("hostname = %q", got)
		}
	})
	t.Run("device nodes are ignored", func(t *testing.T) {
		img := b.push(t, "hostile:dev", gzLayer(t, ent{name: "var/lib/dpkg/info/dev", typ: tar.TypeChar}, file("var/lib/dpkg/info/a.list", "/a")))
		fsys := extract(t, img, stackSelector)
		if _, err := fsys.Lstat("var/lib/dpkg/info/dev"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("device node extracted: %v", err)
		}
		if got := readAll(t, fsys, "var/lib/dpkg/info/a.list"); got != "/a" {
			t.Errorf("a.list = %q", got)
		}
	})
	t.Run("names that are not UTF-8 are kept", func(t *testing.T) {
		img := b.push(t, "hostile:utf8", gzLayer(t, file("etc/apt/sources.list.d/\xff\xfe.list", "deb x")))
		fsys := extract(t, img, Selector{Dirs: []string{"etc/apt/sources.list.d"}})
		if got := readAll(t, fsys, "etc/apt/sources.list.d/\xff\xfe.list"); got != "deb x" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("garbage names its layer", func(t *testing.T) {
		junk := make([]byte, 4096)
		if _, err := rand.Read(junk); err != nil {
			t.Fatal(err)
		}
		l := static.NewLayer(gzipBytes(t, junk), types.DockerLayer)
		img := b.push(t, "hostile:garbage", l)
		d, _ := l.Digest()
		_, err := Extract(context.Background(), img, stackSelector)
		if err == nil || !strings.Contains(err.Error(), d.String()) {
			t.Errorf("garbage layer: %v, want an error naming %s", err, d)
		}
	})
	t.Run("a file over the per-file cap is an error", func(t *testing.T) {
		img := b.push(t, "hostile:big", gzLayer(t, file("var/lib/dpkg/status", strings.Repeat("z", 4096))))
		_, err := Extract(context.Background(), img, stackSelector, WithMaxFileSize(1024))
		if err == nil || !strings.Contains(err.Error(), "per-file limit") || !strings.Contains(err.Error(), "var/lib/dpkg/status") {
			t.Errorf("oversized status: %v", err)
		}
	})
	t.Run("an oversized file hidden by a higher layer is fine", func(t *testing.T) {
		img := b.push(t, "hostile:hidden", gzLayer(t, file("var/lib/dpkg/status", strings.Repeat("z", 4096))), gzLayer(t, file("var/lib/dpkg/status", "small")))
		fsys, err := Extract(context.Background(), img, Selector{Paths: []string{"var/lib/dpkg/status"}, Dirs: []string{"etc"}}, WithMaxFileSize(1024))
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, fsys, "var/lib/dpkg/status"); got != "small" {
			t.Errorf("status = %q", got)
		}
	})
	t.Run("many selected files hit the total cap", func(t *testing.T) {
		var ents []ent
		for i := range 100 {
			ents = append(ents, file("etc/apt/sources.list.d/"+strings.Repeat("n", i+1), strings.Repeat("q", 1000)))
		}
		img := b.push(t, "hostile:total", gzLayer(t, ents...))
		_, err := Extract(context.Background(), img, stackSelector, WithMaxTotalSize(20000))
		if err == nil || !strings.Contains(err.Error(), "total limit") {
			t.Errorf("many files: %v, want a total-limit error", err)
		}
	})
}

func TestSelectorValidation(t *testing.T) {
	t.Parallel()
	for name, sel := range map[string]Selector{
		"empty":             {},
		"match without key": {Match: func(string) bool { return true }},
		"escaping path":     {Paths: []string{"../etc/passwd"}},
		"root directory":    {Dirs: []string{"/"}},
	} {
		if _, err := sel.compile(); err == nil {
			t.Errorf("%s: compiled without error", name)
		}
	}
}

// Not parallel: it points TMPDIR at a fresh directory.
func TestExtractWritesNothingWithoutCache(t *testing.T) {
	b := setup(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	img := b.push(t, "hostile:nowrite", stack(t)...)
	extract(t, img, stackSelector)
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("extraction wrote %d entries to the temporary directory", len(ents))
	}
}

func TestExtractHonoursCancellation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	img := b.push(t, "cancel:1", stack(t)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Extract(ctx, img, stackSelector); !errors.Is(err, context.Canceled) {
		t.Errorf("extract with a cancelled context: %v", err)
	}
}

func TestExtractReportsProgress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	layers := stack(t)
	img := b.push(t, "progress:1", layers...)
	cache, err := NewCache(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var done []Progress
	record := WithProgress(func(p Progress) {
		if p.Done {
			done = append(done, p)
		}
	})
	extract(t, img, stackSelector, WithCache(cache), record)
	if len(done) != len(layers) {
		t.Fatalf("%d layers reported done, want %d", len(done), len(layers))
	}
	for _, p := range done {
		if p.Cached || p.Read != p.Total || p.Total == 0 {
			t.Errorf("cold layer progress %+v: want all compressed bytes read", p)
		}
	}
	done = nil
	extract(t, b.push(t, "progress:2", append(layers, gzLayer(t, file("x", "y")))...), stackSelector, WithCache(cache), record)
	cached := 0
	for _, p := range done {
		if p.Cached {
			cached++
		}
	}
	if cached != len(layers) {
		t.Errorf("%d layers reported cached, want %d", cached, len(layers))
	}
}

// TestCacheSharedByConcurrentExtractions runs extractions of images that
// share layers against one cache directory from many goroutines at once,
// each with its own Cache value, as separate processes would.
func TestCacheSharedByConcurrentExtractions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := t.TempDir()
	base := gzLayer(t, file("var/lib/dpkg/status", "base"), file("etc/apt/sources.list.d/a.list", "a"))
	var imgs []v1.Image
	for i := range 4 {
		imgs = append(imgs, b.push(t, "shared:"+string(rune('a'+i)), base, gzLayer(t, file("etc/apt/sources.list.d/"+string(rune('a'+i))+"x.list", "x"))))
	}
	sel := Selector{Paths: []string{"var/lib/dpkg/status"}, Dirs: []string{"etc/apt/sources.list.d"}}
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			cache, err := NewCache(dir, 0)
			if err == nil {
				var fsys *FS
				fsys, err = Extract(context.Background(), imgs[i%4], sel, WithCache(cache))
				if err == nil {
					var got []byte
					got, err = fsys.ReadFile("etc/apt/sources.list.d/a.list")
					if err == nil && string(got) != "a" {
						err = errors.New("wrong contents from the shared cache")
					}
				}
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*", ".tmp-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left in the cache: %v", leftovers)
	}
}
