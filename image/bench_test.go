package image_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/pkgdb"
)

// bookwormBench pushes the debootstrap bookworm rootfs as a one-layer
// image and returns the registry, the image and the layer file.
func bookwormBench(b *testing.B) (*testutil.Registry, v1.Image, string) {
	b.Helper()
	rootfs := testutil.Rootfs(b, testutil.Bookworm)
	layer := testutil.LayerFromDir(b, rootfs)
	reg := testutil.StartRegistry(b)
	img := testutil.ImageFromLayers(b, "amd64", layer)
	reg.Push(b, "bench:bookworm", img)
	r, err := remote.Image(reg.Ref(b, "bench:bookworm"))
	if err != nil {
		b.Fatal(err)
	}
	// The layer file written by LayerFromDir, for the gzip -dc floor.
	path := filepath.Join(b.TempDir(), "layer.tar.gz")
	rc, err := layer.Compressed()
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.ReadFrom(rc); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return reg, r, path
}

func scanSelector() image.Selector {
	sel := image.SelectPaths(pkgdb.Paths()...)
	sel.Stop, sel.Key = pkgdb.Complete, "pkgdb.Complete"
	return sel
}

func inventory(b *testing.B, img v1.Image, opts ...image.Option) {
	fsys, err := image.Extract(context.Background(), img, scanSelector(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	if _, pkgs, err := pkgdb.Inventory(fsys); err != nil || len(pkgs) < 50 {
		b.Fatalf("inventory: %d packages, %v", len(pkgs), err)
	}
}

// BenchmarkInventoryBookworm measures the scanner's inventory of the
// debootstrap bookworm image from the in-process registry: cold (no
// cache), warm (layers cached, new image digest) and image-cached (digest
// seen before), against the floor of `gzip -dc` on the same layer.
func BenchmarkInventoryBookworm(b *testing.B) {
	reg, img, layerPath := bookwormBench(b)
	if size, err := os.Stat(layerPath); err == nil {
		b.Logf("layer: %d bytes compressed", size.Size())
	}
	b.Run("gzip-dc-floor", func(b *testing.B) {
		var cpu time.Duration
		for range b.N {
			cmd := exec.Command("gzip", "-dc", layerPath)
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err != nil {
				b.Fatalf("gzip -dc: %v", err)
			}
			cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	})
	b.Run("syft-dpkg-cataloger", func(b *testing.B) {
		out, err := exec.Command("../scripts/build-syft.sh").Output()
		if err != nil {
			b.Fatalf("building syft (scripts/build-syft.sh): %v", err)
		}
		syft := strings.TrimSpace(string(out))
		b.ResetTimer()
		for range b.N {
			cmd := exec.Command(syft, "scan", "registry:"+reg.Addr+"/bench:bookworm", "-o", "json", "-q", "--override-default-catalogers", "dpkg-db-cataloger")
			cmd.Env = append(os.Environ(), "SYFT_REGISTRY_INSECURE_USE_HTTP=true", "SYFT_CHECK_FOR_APP_UPDATE=false")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("syft: %v\n%s", err, out)
			}
		}
	})
	b.Run("cold", func(b *testing.B) {
		start := cpuTime()
		for range b.N {
			inventory(b, img)
		}
		b.ReportMetric(float64((cpuTime()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
	})
	b.Run("warm-layers", func(b *testing.B) {
		cache, err := image.NewCache(b.TempDir(), 0)
		if err != nil {
			b.Fatal(err)
		}
		inventory(b, img, image.WithCache(cache))
		b.ResetTimer()
		var cpu time.Duration
		for i := range b.N {
			b.StopTimer()
			cf, err := img.ConfigFile()
			if err != nil {
				b.Fatal(err)
			}
			cf = cf.DeepCopy()
			cf.Config.Env = append(cf.Config.Env, "I="+strconv.Itoa(i))
			other, err := mutate.ConfigFile(img, cf)
			if err != nil {
				b.Fatal(err)
			}
			tag := "bench:warm" + strconv.Itoa(i)
			reg.Push(b, tag, other)
			r, err := remote.Image(reg.Ref(b, tag))
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			t0 := cpuTime()
			inventory(b, r, image.WithCache(cache))
			cpu += cpuTime() - t0
		}
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	})
	b.Run("image-cached", func(b *testing.B) {
		cache, err := image.NewCache(b.TempDir(), 0)
		if err != nil {
			b.Fatal(err)
		}
		inventory(b, img, image.WithCache(cache))
		b.ResetTimer()
		start := cpuTime()
		for range b.N {
			inventory(b, img, image.WithCache(cache))
		}
		b.ReportMetric(float64((cpuTime()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	})
}

// cpuTime is this process's user and system CPU time: the scanner and the
// in-process registry serving it, which makes the figure conservative.
// Unlike wall time it does not depend on what else the machine runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
