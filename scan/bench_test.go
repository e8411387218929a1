package scan_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/scan"
)

// BenchmarkScanBookworm measures the scanner in-process (as the workflow
// daemon runs it) on the debootstrap bookworm image from the in-process
// registry: cold (empty cache), a second tag whose layers are cached, and
// a digest scanned before. No vulnerability source: the inventory only.
// scripts/bench-scan measures the CLI against syft and gunzip.
func BenchmarkScanBookworm(b *testing.B) {
	rootfs := testutil.Rootfs(b, testutil.Bookworm)
	reg := testutil.StartRegistry(b)
	img := testutil.ImageFromDir(b, rootfs)
	reg.Push(b, "bench:cold", img)
	client, err := registry.New(reg.Addr)
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, ref string, cache *image.Cache) {
		res, err := scan.Scan(context.Background(), reg.Ref(b, ref), scan.Options{Registry: client, Cache: cache})
		if err != nil || len(res.Images[0].Packages) < 50 {
			b.Fatalf("scan %s: %v", ref, err)
		}
	}
	newCache := func(b *testing.B) *image.Cache {
		c, err := image.NewCache(b.TempDir(), 0)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			run(b, "bench:cold", nil)
		}
	})
	b.Run("second-tag", func(b *testing.B) {
		cache := newCache(b)
		run(b, "bench:cold", cache)
		var tags []string
		for i := range b.N {
			tag := "bench:warm" + strconv.Itoa(i)
			reg.Push(b, tag, withOtherConfig(b, img, "WARM="+strconv.Itoa(i)))
			tags = append(tags, tag)
		}
		b.ResetTimer()
		for i := range b.N {
			run(b, tags[i], cache)
		}
	})
	b.Run("same-digest", func(b *testing.B) {
		cache := newCache(b)
		run(b, "bench:cold", cache)
		for b.Loop() {
			run(b, "bench:cold", cache)
		}
	})
}
