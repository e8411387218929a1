package distrorepo_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/pkgdb"
)

// bookwormMainPackages returns the decompressed bookworm main amd64
// Packages index, fetched and verified through the client into the shared
// test cache.
func bookwormMainPackages(b *testing.B) []byte {
	b.Helper()
	testutil.RequireSlow(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cacheDir := filepath.Join(testutil.CacheDir(), "distrorepo")
	c, err := distrorepo.New(distrorepo.Config{CacheDir: cacheDir, NoDefaultSources: true,
		Repositories: []distrorepo.Source{{URI: distrorepo.DebianMirror, Suite: "bookworm", Components: []string{"main"}}}})
	if err != nil {
		b.Fatal(err)
	}
	set, err := c.Sources(nil, pkgdb.OS{ID: "debian", Codename: "bookworm"}, "amd64")
	if err != nil {
		b.Fatal(err)
	}
	ix, err := c.Index(ctx, set)
	if err != nil {
		b.Fatal(err)
	}
	sum := ix.Suites()[0].Release.SHA256["main/binary-amd64/Packages.gz"].SHA256
	f, err := os.Open(filepath.Join(cacheDir, "sha256", sum[:2], sum))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := kgzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkParsePackages parses the real bookworm main amd64 Packages
// index (about 63,000 paragraphs, 50 MB) from memory.
func BenchmarkParsePackages(b *testing.B) {
	data := bookwormMainPackages(b)
	suite := &distrorepo.Suite{URI: distrorepo.DebianMirror, Name: "bookworm"}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		ps, err := distrorepo.ParsePackages(bytes.NewReader(data), suite, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(ps)), "packages")
	}
}

// BenchmarkParsePackagesFiltered keeps only a minbase image's worth of
// names, as the scanner does.
func BenchmarkParsePackagesFiltered(b *testing.B) {
	data := bookwormMainPackages(b)
	suite := &distrorepo.Suite{URI: distrorepo.DebianMirror, Name: "bookworm"}
	keep := map[string]bool{}
	for _, n := range []string{"apt", "libapt-pkg6.0", "liblzma5", "libpcre2-8-0", "perl-base", "tzdata", "libc6", "bash", "coreutils", "dpkg"} {
		keep[n] = true
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		ps, err := distrorepo.ParsePackages(bytes.NewReader(data), suite, func(n string) bool { return keep[n] })
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(ps)), "packages")
	}
}

// BenchmarkIndexWarm builds the bookworm + -updates + -security amd64
// index with a fresh client over a warm download cache: the cost a CLI run
// pays (InRelease fetch and signature check, cache re-hash, gunzip, parse).
func BenchmarkIndexWarm(b *testing.B) {
	testutil.RequireSlow(b)
	for _, filtered := range []bool{false, true} {
		name := map[bool]string{false: "full", true: "filtered"}[filtered]
		b.Run(name, func(b *testing.B) {
			cacheDir := filepath.Join(testutil.CacheDir(), "distrorepo")
			var opts []distrorepo.IndexOption
			if filtered {
				opts = append(opts, distrorepo.WithPackages("apt", "libapt-pkg6.0", "liblzma5", "libpcre2-8-0", "perl-base", "tzdata", "libc6"))
			}
			for b.Loop() {
				c, err := distrorepo.New(distrorepo.Config{CacheDir: cacheDir})
				if err != nil {
					b.Fatal(err)
				}
				set, err := c.Sources(nil, pkgdb.OS{ID: "debian", Codename: "bookworm"}, "amd64")
				if err != nil {
					b.Fatal(err)
				}
				ix, err := c.Index(context.Background(), set, opts...)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(ix.Len()), "entries")
			}
		})
	}
}
