package vulndb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/vulndb"
)

// benchData makes 2,000 source packages with 5 advisories each (10,000
// entries) and 500 installed packages, two binaries per source for half
// of them.
func benchData() ([]trivyEntry, []pkgdb.Package) {
	var entries []trivyEntry
	for s := 0; s < 2000; s++ {
		src := fmt.Sprintf("src%04d", s)
		for a := 0; a < 5; a++ {
			entries = append(entries, trivyEntry{"debian 12", src, fmt.Sprintf("CVE-2024-%05d", s*5+a),
				map[string]any{"FixedVersion": fmt.Sprintf("1.%d-%d+deb12u%d", a, s%7, a+1)}})
		}
	}
	var pkgs []pkgdb.Package
	for i := 0; i < 500; i++ {
		src := fmt.Sprintf("src%04d", i*3)
		v := fmt.Sprintf("1.2-%d", i%9)
		pkgs = append(pkgs, pkgdb.Package{Name: fmt.Sprintf("lib%s-%d", src, i%2), Version: v, Arch: "amd64", SourceName: src, SourceVersion: v})
	}
	return entries, pkgs
}

func BenchmarkTrivyDBFind500Packages10kEntries(b *testing.B) {
	entries, pkgs := benchData()
	dir := b.TempDir()
	buildTrivyDB(b, dir, entries, nil, nil)
	db, err := vulndb.OpenTrivyDB(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		fs, err := db.Find(ctx, bookworm, pkgs)
		if err != nil {
			b.Fatal(err)
		}
		n = len(fs)
	}
	b.ReportMetric(float64(n), "findings")
}

func BenchmarkOSVFind500Packages10kEntries(b *testing.B) {
	entries, pkgs := benchData()
	dir := b.TempDir()
	for _, e := range entries {
		rec, _ := json.Marshal(map[string]any{
			"schema_version": "1.6.0",
			"id":             "DEBIAN-" + e.ID,
			"affected": []any{map[string]any{
				"package": map[string]string{"ecosystem": "Debian:12", "name": e.Package},
				"ranges": []any{map[string]any{"type": "ECOSYSTEM", "events": []any{
					map[string]string{"introduced": "0"},
					map[string]string{"fixed": e.Value.(map[string]any)["FixedVersion"].(string)},
				}}},
			}},
		})
		writeFile(b, filepath.Join(dir, e.ID+".json"), string(rec))
	}
	src, err := vulndb.OpenOSV(zipDir(b, dir))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		fs, err := src.Find(ctx, bookworm, pkgs)
		if err != nil {
			b.Fatal(err)
		}
		n = len(fs)
	}
	b.ReportMetric(float64(n), "findings")
}
