package deb_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/patchloop/patchloop/distrorepo/deb"
	"github.com/patchloop/patchloop/distrorepo/internal/debtest"
)

// dpkgList is the oracle: the data.tar entry names that dpkg-deb -c prints.
func dpkgList(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "--fsys-tarfile", path).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --fsys-tarfile: %v", err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, deb.CleanName(h.Name))
	}
	sort.Strings(names)
	return names
}

func TestReaderAgreesWithDpkgDeb(t *testing.T) {
	t.Parallel()
	for _, comp := range []string{"xz", "zstd", "gzip", "none"} {
		t.Run(comp, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := debtest.Build(t, dir, debtest.Spec{
				Name: "hello-" + comp, Version: "1:2.0-3", Compression: comp,
				Files: map[string]string{
					"usr/bin/hello": "#!/bin/sh\necho hi\n",
					"usr/share/doc/hello-" + comp + "/README": strings.Repeat("odd length\n", 7) + "x",
				},
				Symlinks: map[string]string{"usr/bin/hi": "hello"},
			})
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r := deb.NewReader(f)
			var sections []deb.Section
			var names []string
			var ctl []byte
			for {
				sec, tr, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("next: %v", err)
				}
				sections = append(sections, sec)
				for {
					h, err := tr.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("%s entries: %v", sec, err)
					}
					if sec == deb.Data {
						names = append(names, deb.CleanName(h.Name))
						if h.Name == "./usr/bin/hi" && (h.Typeflag != tar.TypeSymlink || h.Linkname != "hello") {
							t.Errorf("symlink header = %+v", h)
						}
					}
					if sec == deb.Control && deb.CleanName(h.Name) == "control" {
						ctl, _ = io.ReadAll(tr)
					}
				}
			}
			if r.FormatVersion() != "2.0" {
				t.Errorf("format version = %q", r.FormatVersion())
			}
			if len(sections) != 2 || sections[0] != deb.Control || sections[1] != deb.Data {
				t.Errorf("sections = %v", sections)
			}
			sort.Strings(names)
			if want := dpkgList(t, path); strings.Join(names, "\n") != strings.Join(want, "\n") {
				t.Errorf("data entries = %v, dpkg-deb says %v", names, want)
			}
			wantCtl, err := exec.Command("dpkg-deb", "--info", path, "control").Output()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ctl, wantCtl) {
				t.Errorf("control = %q, dpkg-deb says %q", ctl, wantCtl)
			}
		})
	}
}

func TestFind(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("hello (1.0-1) unstable; urgency=medium\n"))
	_ = zw.Close()
	path := debtest.Build(t, dir, debtest.Spec{
		Name: "hello", Version: "1.0-1",
		Files:    map[string]string{"usr/share/doc/hello/changelog.Debian.gz": gz.String()},
		Symlinks: map[string]string{"usr/share/doc/hello-bin": "hello"},
	})
	open := func() io.Reader {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.NewReader(b)
	}
	t.Run("regular file", func(t *testing.T) {
		h, b, err := deb.Find(open(), deb.Data, "usr/share/doc/hello/changelog.Debian.gz", 1<<20)
		if err != nil || h.Typeflag != tar.TypeReg || !bytes.Equal(b, gz.Bytes()) {
			t.Fatalf("find = %v, %d bytes, %v", h, len(b), err)
		}
	})
	t.Run("symlink", func(t *testing.T) {
		h, _, err := deb.Find(open(), deb.Data, "usr/share/doc/hello-bin", 1<<20)
		if err != nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "hello" {
			t.Fatalf("find = %v, %v", h, err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, _, err := deb.Find(open(), deb.Data, "usr/nope", 1<<20); !errors.Is(err, deb.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		if _, _, err := deb.Find(open(), deb.Data, "usr/share/doc/hello/changelog.Debian.gz", 3); !errors.Is(err, deb.ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("control", func(t *testing.T) {
		b, err := deb.ReadControl(open())
		if err != nil || !bytes.Contains(b, []byte("Package: hello\n")) {
			t.Fatalf("control = %q, %v", b, err)
		}
	})
	t.Run("not a deb", func(t *testing.T) {
		if _, _, err := deb.NewReader(strings.NewReader("PK\x03\x04 zip")).Next(); !errors.Is(err, deb.ErrNotDeb) {
			t.Fatalf("err = %v, want ErrNotDeb", err)
		}
	})
}

func FuzzReader(f *testing.F) {
	dir := f.TempDir()
	for _, comp := range []string{"xz", "gzip", "none", "zstd"} {
		path := debtest.Build(f, dir, debtest.Spec{Name: "f" + comp, Version: "1", Compression: comp,
			Files: map[string]string{"etc/x": "y"}})
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("!<arch>\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := deb.NewReader(bytes.NewReader(b))
		for i := 0; i < 10; i++ {
			_, tr, err := r.Next()
			if err != nil {
				return
			}
			for j := 0; j < 1000; j++ {
				if _, err := tr.Next(); err != nil {
					break
				}
				_, _ = io.Copy(io.Discard, io.LimitReader(tr, 1<<20))
			}
		}
	})
}
