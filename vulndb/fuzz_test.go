package vulndb_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchloop/patchloop/vulndb"
)

func addFiles(f *testing.F, pattern string) {
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seeds at %s: %v", pattern, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParseOSV(f *testing.F) {
	addFiles(f, "testdata/osv/*/*.json")
	addFiles(f, "testdata/osv-bad/*.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := vulndb.ParseOSV(b)
		if err != nil {
			return
		}
		if rec.ID.IsZero() {
			t.Fatal("parsed record without id")
		}
		for _, a := range rec.Affected {
			if a.Ecosystem == "" || a.Name == "" {
				t.Fatalf("affected without package: %+v", a)
			}
			for _, r := range a.Ranges {
				for _, e := range r.Events {
					n := 0
					for _, v := range []string{e.Introduced, e.Fixed, e.LastAffected} {
						if v != "" {
							n++
						}
					}
					if n != 1 {
						t.Fatalf("event %+v has %d versions", e, n)
					}
				}
			}
		}
	})
}

func FuzzParseReport(f *testing.F) {
	addFiles(f, "testdata/trivy-report-*.json")
	f.Add([]byte(`{"SchemaVersion":2,"Results":[{"Class":"os-pkgs","Vulnerabilities":[{"VulnerabilityID":"CVE-2024-0001","PkgName":"a","InstalledVersion":"1"}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := vulndb.ParseReport(b)
		if err != nil {
			return
		}
		fs, err := rep.Findings()
		if err != nil {
			return
		}
		// What was read writes back and reads the same.
		var buf bytes.Buffer
		if err := vulndb.WriteReport(&buf, vulndb.NewReport(vulndb.ReportImage{Name: "x"}, bookworm, false, fs, time.Time{})); err != nil {
			t.Fatal(err)
		}
		again, err := vulndb.ReadReport(&buf)
		if err != nil {
			t.Fatalf("re-reading a written report: %v", err)
		}
		fs2, err := again.Findings()
		if err != nil || len(fs2) != len(fs) {
			t.Fatalf("re-read %d findings of %d: %v", len(fs2), len(fs), err)
		}
		for i := range fs {
			a, b := fs[i], fs2[i]
			if a.VulnerabilityID != b.VulnerabilityID || a.PkgName != b.PkgName || a.InstalledVersion != b.InstalledVersion ||
				a.FixedVersion != b.FixedVersion || a.Severity != b.Severity || a.Status != b.Status {
				t.Fatalf("finding %d changed: %+v → %+v", i, a, b)
			}
		}
	})
}

func FuzzParseTrivyAdvisory(f *testing.F) {
	for _, s := range []string{
		`{"FixedVersion":"1.2-3"}`, `{"Status":5}`, `{"FixedVersion":"1","Severity":2,"Arches":["amd64"],"VendorIDs":["DSA-1-1"]}`,
		`{"Entries":[{"FixedVersion":"1","Arches":["x86_64"]},{"FixedVersion":"2"}]}`, `{"Status":99}`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		advs, err := vulndb.ParseTrivyAdvisory(b)
		if err != nil {
			return
		}
		if len(advs) == 0 {
			t.Fatal("no advisory and no error")
		}
		for _, a := range advs {
			if a.Status < vulndb.StatusUnknown || a.Status > vulndb.StatusEndOfLife || a.Severity < vulndb.SeverityUnknown || a.Severity > vulndb.SeverityCritical {
				t.Fatalf("out of range: %+v", a)
			}
		}
	})
}

func FuzzParseTrivyVulnerability(f *testing.F) {
	for _, s := range []string{
		`{"Title":"t","Severity":"HIGH","VendorSeverity":{"debian":1,"nvd":3},"References":["https://x"]}`,
		`{"VendorSeverity":{"nvd":9}}`, `{"Severity":"SEVERE"}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = vulndb.ParseTrivyVulnerability(b) // must not panic; ranges checked inside
	})
}
