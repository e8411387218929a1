package patch

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/patchloop/patchloop/distrorepo/deb"
)

// BenchmarkBookwormSecurityLayer times the patch layer for today's
// bookworm security upgrades of a minbase image, packages cached, against
// the floor of the same work: decompressing the packages' data, and
// decompressing it and writing it as one gzip tar. Bytes/s are of .deb
// input.
func BenchmarkBookwormSecurityLayer(b *testing.B) { benchSecurityLayer(b, bookworm) }

// BenchmarkJammySecurityLayer is the same for Ubuntu jammy (61 packages
// on 2026-11-27).
func BenchmarkJammySecurityLayer(b *testing.B) { benchSecurityLayer(b, jammy) }

func benchSecurityLayer(b *testing.B, d distro) {
	f := newSecurityFixture(b, d)
	var files []string
	for _, u := range f.upgrades {
		files = append(files, filepath.Join(f.debs, DebFileName(u.Name, u.NewVersion, u.Arch)))
	}
	b.Run("patchloop", func(b *testing.B) {
		b.SetBytes(f.debBytes)
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			lf, _, err := BuildLayer(context.Background(), &Dpkg{}, LayerParams{
				Root: os.DirFS(f.orig), RootComplete: true, Upgrades: f.upgrades, Debs: DirDebs{Dir: f.debs},
			}, b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			os.Remove(lf.Path)
		}
	})
	b.Run("floor-decompress", func(b *testing.B) {
		b.SetBytes(f.debBytes)
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			for _, p := range files {
				copyDebData(b, p, nil)
			}
		}
	})
	b.Run("floor-decompress-gzip", func(b *testing.B) {
		b.SetBytes(f.debBytes)
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			out, err := os.CreateTemp(b.TempDir(), "floor")
			must(b, err)
			gz, _ := gzip.NewWriterLevel(out, GzipLevel)
			tw := tar.NewWriter(gz)
			for _, p := range files {
				copyDebData(b, p, tw)
			}
			must(b, tw.Close())
			must(b, gz.Close())
			must(b, out.Close())
			os.Remove(out.Name())
		}
	})
}

// copyDebData reads the data.tar of a package, copying its entries to tw
// when given.
func copyDebData(b *testing.B, path string, tw *tar.Writer) {
	fh, err := os.Open(path)
	must(b, err)
	defer fh.Close()
	dr := deb.NewReader(fh)
	for {
		sec, tr, err := dr.Next()
		if err == io.EOF {
			return
		}
		must(b, err)
		if sec != deb.Data {
			continue
		}
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			must(b, err)
			if tw == nil {
				_, err = io.Copy(io.Discard, tr)
				must(b, err)
				continue
			}
			must(b, tw.WriteHeader(hdr))
			_, err = io.Copy(tw, tr)
			must(b, err)
		}
	}
}

// reportCPU reports the process's CPU time per operation, which a loaded
// machine distorts less than wall time. Call the result when done.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64((cpu()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
	}
}
