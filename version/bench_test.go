package version

import "testing"

// The benchmarks compare each hand-picked table pair, as a scanner does:
// from strings, parsing included.

func benchComparer(b *testing.B, c Comparer, edges []edge) {
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range edges {
			if _, err := c.Compare(e.a, e.b); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(edges)), "ns/compare")
}

func BenchmarkDebCompare(b *testing.B) { benchComparer(b, DebComparer{}, debEdges) }

func BenchmarkAPKCompare(b *testing.B) { benchComparer(b, APKComparer{}, apkEdges) }

func BenchmarkRPMCompare(b *testing.B) { benchComparer(b, RPMComparer{}, rpmEdges) }

// The knqyf263 libraries on the same pairs, for reference.

func benchLib(b *testing.B, lib func(a, b string) (int, error), edges []edge) {
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range edges {
			_, _ = lib(e.a, e.b)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(edges)), "ns/compare")
}

func BenchmarkLibDebCompare(b *testing.B) { benchLib(b, libDeb, debEdges) }

func BenchmarkLibAPKCompare(b *testing.B) { benchLib(b, libAPK, apkEdges) }

func BenchmarkLibRPMCompare(b *testing.B) { benchLib(b, libRPM, rpmEdges) }
