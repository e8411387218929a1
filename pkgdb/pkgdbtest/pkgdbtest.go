// Package pkgdbtest is the conformance suite that every pkgdb.Reader runs:
// empty, missing, garbage and huge databases, sorted output, and only
// installed packages counted.
package pkgdbtest

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/patchloop/patchloop/pkgdb"
)

// Harness adapts one reader to the suite.
type Harness struct {
	Reader pkgdb.Reader
	// Installed are sample packages, as Read must return them.
	Installed []pkgdb.Package
	// NotInstalled are packages the database records in a state that is
	// not installed (removed, config-files only); nil for families whose
	// database has no such state.
	NotInstalled []pkgdb.Package
	// Write returns a root filesystem whose database records installed
	// and notInstalled, written in the given order with the family's real
	// format (or real tools).
	Write func(t testing.TB, installed, notInstalled []pkgdb.Package) fs.FS
}

// Garbage is content that is not a database of any family.
var Garbage = []byte("\x7fELF\x02\x01\x01 this is not a package database\n\x00\x00\xff\xfe\n")

// Run runs the suite against h.
func Run(t *testing.T, h Harness) {
	t.Run("missing database", func(t *testing.T) {
		_, err := h.Reader.Read(fstest.MapFS{"etc/hostname": {Data: []byte("x")}})
		if !errors.Is(err, pkgdb.ErrNoDatabase) {
			t.Errorf("Read of a filesystem without a database: %v, want ErrNoDatabase", err)
		}
	})
	t.Run("empty database", func(t *testing.T) {
		pkgs, err := h.Reader.Read(h.Write(t, nil, nil))
		if err != nil || len(pkgs) != 0 {
			t.Errorf("Read of an empty database = %v, %v; want no packages and no error", pkgs, err)
		}
	})
	t.Run("sorted and complete", func(t *testing.T) {
		shuffled := slices.Clone(h.Installed)
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got, err := h.Reader.Read(h.Write(t, shuffled, nil))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSortedFunc(got, byNameArch) {
			t.Errorf("output is not sorted by name then arch: %v", names(got))
		}
		want := slices.Clone(h.Installed)
		slices.SortFunc(want, byNameArch)
		if !reflect.DeepEqual(strip(got), strip(want)) {
			t.Errorf("Read =\n%v\nwant\n%v", strip(got), strip(want))
		}
	})
	if h.NotInstalled != nil {
		t.Run("only installed packages", func(t *testing.T) {
			got, err := h.Reader.Read(h.Write(t, h.Installed, h.NotInstalled))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range got {
				for _, n := range h.NotInstalled {
					if p.Name == n.Name {
						t.Errorf("%s is not installed but was returned", p.Name)
					}
				}
			}
			if len(got) != len(h.Installed) {
				t.Errorf("got %d packages, want the %d installed", len(got), len(h.Installed))
			}
		})
	}
	t.Run("garbage database", func(t *testing.T) {
		for _, p := range h.Reader.Paths() {
			if strings.HasSuffix(p, "/") {
				p += "garbage"
			}
			pkgs, err := h.Reader.Read(fstest.MapFS{p: {Data: Garbage}})
			if err == nil {
				t.Errorf("garbage at %s: Read = %v, nil; want an error", p, pkgs)
			} else if !strings.Contains(err.Error(), p) {
				t.Errorf("garbage at %s: error %q does not name the file", p, err)
			}
		}
	})
	t.Run("random bytes do not panic", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, p := range h.Reader.Paths() {
			if strings.HasSuffix(p, "/") {
				p += "random"
			}
			for range 20 {
				b := make([]byte, rng.IntN(8192))
				for i := range b {
					b[i] = byte(rng.UintN(256))
				}
				_, _ = h.Reader.Read(fstest.MapFS{p: {Data: b}})
			}
		}
	})
	t.Run("huge database is refused with bounded memory", func(t *testing.T) {
		for _, p := range h.Reader.Paths() {
			if strings.HasSuffix(p, "/") {
				p += "huge"
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := h.Reader.Read(hugeFS{name: p, size: 1 << 40})
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Errorf("a 1 TiB database at %s was accepted", p)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Errorf("reading a 1 TiB database at %s allocated %d MiB", p, grew>>20)
			}
		}
	})
}

func byNameArch(a, b pkgdb.Package) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return strings.Compare(a.Arch, b.Arch)
}

// strip drops Status, which families fill differently.
func strip(pkgs []pkgdb.Package) []pkgdb.Package {
	out := make([]pkgdb.Package, len(pkgs))
	for i, p := range pkgs {
		p.Status = ""
		out[i] = p
	}
	return out
}

func names(pkgs []pkgdb.Package) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Name+":"+p.Arch)
	}
	return out
}

// hugeFS is a fault-injection filesystem: one file that claims size bytes
// and reads as endless 'A' lines, as a hostile layer could hold.
type hugeFS struct {
	name string
	size int64
}

func (h hugeFS) Open(name string) (fs.File, error) {
	if name == "." || strings.HasPrefix(h.name, name+"/") {
		return &hugeDir{fs: h, name: name}, nil
	}
	if name != h.name {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &hugeFile{fs: h}, nil
}

type hugeFile struct {
	fs   hugeFS
	read int64
}

func (f *hugeFile) Stat() (fs.FileInfo, error) {
	return hugeInfo{name: f.fs.name, size: f.fs.size}, nil
}
func (f *hugeFile) Close() error { return nil }
func (f *hugeFile) Read(b []byte) (int, error) {
	if f.read >= f.fs.size {
		return 0, io.EOF
	}
	for i := range b {
		b[i] = 'A'
		if i%80 == 79 {
			b[i] = '\n'
		}
	}
	f.read += int64(len(b))
	return len(b), nil
}

type hugeDir struct {
	fs   hugeFS
	name string
	done bool
}

func (d *hugeDir) Stat() (fs.FileInfo, error) { return hugeInfo{name: d.name, dir: true}, nil }
func (d *hugeDir) Close() error               { return nil }
func (d *hugeDir) Read([]byte) (int, error)   { return 0, io.EOF }
func (d *hugeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.done {
		return nil, io.EOF
	}
	d.done = true
	prefix := d.name + "/"
	if d.name == "." {
		prefix = ""
	}
	rest := strings.TrimPrefix(d.fs.name, prefix)
	first, _, isDir := strings.Cut(rest, "/")
	info := hugeInfo{name: first, dir: isDir, size: d.fs.size}
	return []fs.DirEntry{fs.FileInfoToDirEntry(info)}, nil
}

type hugeInfo struct {
	name string
	size int64
	dir  bool
}

func (i hugeInfo) Name() string { return i.name[strings.LastIndexByte(i.name, '/')+1:] }
func (i hugeInfo) Size() int64 {
	if i.dir {
		return 0
	}
	return i.size
}
func (i hugeInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i hugeInfo) ModTime() time.Time { return time.Time{} }
func (i hugeInfo) IsDir() bool        { return i.dir }
func (i hugeInfo) Sys() any           { return nil }
