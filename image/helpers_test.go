package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/patchloop/patchloop/internal/testutil"
)

// ent is one tar entry of a test layer.
type ent struct {
	name string
	typ  byte
	body string
	link string
}

func file(name, body string) ent { return ent{name: name, typ: tar.TypeReg, body: body} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir} }
func symlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeSymlink, link: target}
}
func hardlink(name, target string) ent { return ent{name: name, typ: tar.TypeLink, link: target} }
func whiteout(p string) ent {
	return file(path.Join(path.Dir(p), ".wh."+path.Base(p)), "")
}
func opaque(d string) ent { return file(d+"/.wh..wh..opq", "") }

func tarBytes(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, Format: tar.FormatPAX}
		if e.typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if e.typ == tar.TypeChar {
			hdr.Devmajor, hdr.Devminor = 1, 3
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gzLayer is a gzip-compressed layer of ents.
func gzLayer(t testing.TB, ents ...ent) v1.Layer {
	t.Helper()
	return layerFromBytes(t, gzipBytes(t, tarBytes(t, ents...)))
}

// layerFromBytes wraps an already compressed layer, computing its diffid.
func layerFromBytes(t testing.TB, b []byte) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func zstdLayer(t testing.TB, ents ...ent) v1.Layer {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return layerFromBytes(t, enc.EncodeAll(tarBytes(t, ents...), nil))
}

func plainLayer(t testing.TB, ents ...ent) v1.Layer {
	t.Helper()
	return static.NewLayer(tarBytes(t, ents...), types.OCIUncompressedLayer)
}

// blobCounter counts GET requests for blobs, by digest, seen by the
// registry.
type blobCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *blobCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			c.mu.Lock()
			c.n[path.Base(r.URL.Path)]++
			c.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func (c *blobCounter) get(t testing.TB, l v1.Layer) int {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[d.String()]
}

func (c *blobCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := 0
	for _, v := range c.n {
		s += v
	}
	return s
}

type bundle struct {
	reg     *testutil.Registry
	counter *blobCounter
}

func setup(t *testing.T) *bundle {
	t.Helper()
	c := &blobCounter{n: map[string]int{}}
	return &bundle{reg: testutil.StartRegistry(t, testutil.WithHandlerWrap(c.wrap)), counter: c}
}

// push pushes layers (bottom first) as repo:tag and returns the image as
// read back from the registry, lazily.
func (b *bundle) push(t *testing.T, ref string, layers ...v1.Layer) v1.Image {
	t.Helper()
	b.reg.Push(t, ref, testutil.ImageFromLayers(t, "amd64", layers...))
	return b.remote(t, ref)
}

func (b *bundle) remote(t *testing.T, ref string) v1.Image {
	t.Helper()
	img, err := remote.Image(b.reg.Ref(t, ref))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// umociUnpack extracts ref with the independent skopeo + umoci tools,
// which apply whiteouts themselves, and returns the root filesystem.
func umociUnpack(t *testing.T, reg *testutil.Registry, ref string) string {
	t.Helper()
	for _, tool := range []string{"skopeo", "umoci"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (apt-get install %s): %v", tool, tool, err)
		}
	}
	dir := t.TempDir()
	layout := filepath.Join(dir, "oci")
	rootfs := filepath.Join(dir, "rootfs")
	r, err := name.ParseReference(reg.Addr + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	run(t, "skopeo", "copy", "--src-tls-verify=false", "docker://"+r.String(), "oci:"+layout+":x")
	run(t, "umoci", "raw", "unpack", "--rootless", "--image", layout+":x", rootfs)
	return rootfs
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// compareWithRootfs checks that fsys holds exactly what the unpacked
// rootfs holds for every selected path: same types, contents, link targets.
func compareWithRootfs(t *testing.T, fsys *FS, rootfs string, sel Selector) {
	t.Helper()
	s, err := sel.compile()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	err = filepath.Walk(rootfs, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(rootfs, p)
		rel = filepath.ToSlash(rel)
		if rel == "." || !s.wants(rel) {
			return nil
		}
		want[rel] = true
		got, err := fsys.Lstat(rel)
		if err != nil {
			t.Errorf("%s: in unpacked rootfs, not extracted: %v", rel, err)
			return nil
		}
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			gotT, err := fsys.ReadLink(rel)
			if err != nil || gotT != target {
				t.Errorf("%s: link %q, want %q (%v)", rel, gotT, target, err)
			}
		case info.IsDir():
			if !got.IsDir() {
				t.Errorf("%s: extracted as %v, want a directory", rel, got.Mode())
			}
		default:
			wantData, _ := os.ReadFile(p)
			gotData, err := fsys.ReadFile(rel)
			if err != nil || !bytes.Equal(gotData, wantData) {
				t.Errorf("%s: contents %q, want %q (%v)", rel, gotData, wantData, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fsys.Files() {
		if s.wants(f.Name) && !want[f.Name] {
			t.Errorf("%s: extracted, but absent from the unpacked rootfs", f.Name)
		}
	}
}

func extract(t *testing.T, img v1.Image, sel Selector, opts ...Option) *FS {
	t.Helper()
	fsys, err := Extract(context.Background(), img, sel, opts...)
	if err != nil {
		t.Fatalf("extract: %v", err)
	}
	return fsys
}

func readAll(t *testing.T, fsys *FS, name string) string {
	t.Helper()
	b, err := fsys.ReadFile(name)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return string(b)
}

var _ io.Reader = (*countingReader)(nil)

func remoteImage(t *testing.T, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
