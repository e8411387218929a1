package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/patchloop/patchloop/internal/testutil"
)

// bomb is a small gzip stream that expands to a tar holding one selected
// file of size bytes of zeros.
func bomb(t testing.TB, name string, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: size, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(tw, zeroReader{}, size); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// Not parallel: it measures the process's allocations.
func TestGzipBomb(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 128 << 20
	}
	b := setup(t)
	bombLayer := static.NewLayer(bomb(t, "var/lib/dpkg/status", size), types.DockerLayer)
	check := func(t *testing.T, fn func() error) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := fn()
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Errorf("allocated %d MiB while reading a %d MiB bomb", grew>>20, size>>20)
		}
		if err != nil {
			t.Error(err)
		}
	}
	t.Run("the selected bomb is a clear error", func(t *testing.T) {
		img := b.push(t, "bomb:visible", bombLayer)
		check(t, func() error {
			_, err := Extract(context.Background(), img, stackSelector, WithMaxFileSize(64<<20))
			if err == nil || !strings.Contains(err.Error(), "per-file limit") {
				return fmt.Errorf("bomb: %v, want a per-file limit error", err)
			}
			return nil
		})
	})
	t.Run("a bomb hidden by a higher layer leaves the right answer", func(t *testing.T) {
		img := b.push(t, "bomb:hidden", bombLayer, gzLayer(t, file("var/lib/dpkg/status", "Package: ok\n")))
		check(t, func() error {
			fsys, err := Extract(context.Background(), img, Selector{Paths: []string{"var/lib/dpkg/status"}, Dirs: []string{"etc/apt"}}, WithMaxFileSize(64<<20))
			if err != nil {
				return err
			}
			if got, _ := fsys.ReadFile("var/lib/dpkg/status"); string(got) != "Package: ok\n" {
				return fmt.Errorf("status = %q", got)
			}
			return nil
		})
	})
}

// TestPeakRSSWithLargeLayer scans an image whose one layer holds 1 GiB of
// incompressible data above a dpkg status, in a child process, and checks
// the child's peak resident set (VmHWM) stays under 200 MiB.
func TestPeakRSSWithLargeLayer(t *testing.T) {
	if ref := os.Getenv("PATCHLOOP_RSS_CHILD_REF"); ref != "" {
		rssChild(t, ref)
		return
	}
	testutil.RequireSlow(t)
	b := setup(t)
	layerPath := largeLayer(t, 1<<30)
	l, err := tarball.LayerFromFile(layerPath)
	if err != nil {
		t.Fatal(err)
	}
	b.reg.Push(t, "big:1", testutil.ImageFromLayers(t, "amd64", l))
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSSWithLargeLayer$", "-test.v")
	cmd.Env = append(os.Environ(), "PATCHLOOP_RSS_CHILD_REF="+b.reg.Addr+"/big:1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var hwm int64 = -1
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "VmHWM-kB:"); ok {
			hwm, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if hwm < 0 {
		t.Fatalf("child printed no VmHWM:\n%s", out)
	}
	t.Logf("peak RSS scanning a 1 GiB layer: %d MiB", hwm>>10)
	if hwm > 200<<10 {
		t.Errorf("peak RSS %d MiB, over 200 MiB", hwm>>10)
	}
}

func rssChild(t *testing.T, ref string) {
	img := remoteImage(t, ref)
	fsys, err := Extract(context.Background(), img, Selector{Paths: []string{"var/lib/dpkg/status", "etc/os-release"}, Dirs: []string{"var/lib/dpkg/status.d"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.ReadFile("var/lib/dpkg/status"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			fmt.Printf("VmHWM-kB: %s\n", strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
}

// largeLayer writes a gzip layer of size bytes of random file data, with a
// dpkg status as the last entry, and returns its path.
func largeLayer(t testing.TB, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "big.tar.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	rng := rand.NewChaCha8([32]byte{1})
	const chunk = 64 << 20
	for i := int64(0); i*chunk < size; i++ {
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("usr/share/data/blob%03d", i), Typeflag: tar.TypeReg, Size: chunk, Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(tw, rng, chunk); err != nil {
			t.Fatal(err)
		}
	}
	status := []byte("Package: base-files\nStatus: install ok installed\nVersion: 12.4\nArchitecture: amd64\n\n")
	if err := tw.WriteHeader(&tar.Header{Name: "var/lib/dpkg/status", Typeflag: tar.TypeReg, Size: int64(len(status)), Mode: 0o644}); err != nil {
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
	return p
}

func FuzzReadSelected(f *testing.F) {
	f.Add(tarBytes(f, file("var/lib/dpkg/status", "x"), whiteout("etc/os-release"), opaque("var/lib/dpkg/status.d"), symlink("etc/os-release", "/usr/lib/os-release")))
	f.Add(tarBytes(f, hardlink("var/lib/dpkg/status.d/a", "opt/x"), file("../../etc/passwd", "x")))
	f.Add([]byte("garbage"))
	sel, err := stackSelector.compile()
	if err != nil {
		f.Fatal(err)
	}
	lim := limits{maxFile: 1 << 16, maxTotal: 1 << 18}
	f.Fuzz(func(t *testing.T, data []byte) {
		ents, err := readSelected(context.Background(), bytes.NewReader(data), sel, lim)
		if err != nil {
			return
		}
		var kept int64
		for _, e := range ents {
			kept += int64(len(e.data))
			if strings.HasPrefix(e.name, "../") || e.name == ".." || strings.HasPrefix(e.name, "/") {
				t.Fatalf("escaping name kept: %q", e.name)
			}
		}
		if kept > lim.maxTotal {
			t.Fatalf("kept %d bytes, over the %d total", kept, lim.maxTotal)
		}
		m := newMerger(sel, lim)
		if err := m.add("sha256:fuzz", ents); err != nil {
			return
		}
		fsys := m.result()
		for _, fl := range fsys.Files() {
			_, _ = fsys.ReadFile(fl.Name) // must not panic, loops included
		}
	})
}

// TestReadSelectedSurvivesMutations feeds 20,000 randomly corrupted
// archives through the tar walker and the merge, as the fuzz target does,
// so that every plain `go test` run covers corrupt input.
func TestReadSelectedSurvivesMutations(t *testing.T) {
	t.Parallel()
	seed := tarBytes(t, file("var/lib/dpkg/status", "x"), whiteout("etc/os-release"), opaque("var/lib/dpkg/status.d"),
		symlink("etc/os-release", "/usr/lib/os-release"), hardlink("var/lib/dpkg/status.d/a", "var/lib/dpkg/status"))
	sel, err := stackSelector.compile()
	if err != nil {
		t.Fatal(err)
	}
	lim := limits{maxFile: 1 << 16, maxTotal: 1 << 18}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 20000 {
		d := bytes.Clone(seed)
		for range 1 + rng.IntN(8) {
			d[rng.IntN(len(d))] = byte(rng.UintN(256))
		}
		ents, err := readSelected(context.Background(), bytes.NewReader(d), sel, lim)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if strings.HasPrefix(e.name, "../") || e.name == ".." || strings.HasPrefix(e.name, "/") {
				t.Fatalf("escaping name kept: %q", e.name)
			}
		}
		m := newMerger(sel, lim)
		if m.add("sha256:mutated", ents) == nil {
			fsys := m.result()
			for _, fl := range fsys.Files() {
				_, _ = fsys.ReadFile(fl.Name)
			}
		}
	}
}
