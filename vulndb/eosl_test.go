package vulndb_test

import (
	"encoding/csv"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/vulndb"
)

// distroInfo reads a distro-info-data CSV (Debian's and Ubuntu's own
// release tables) as rows keyed by column name.
func distroInfo(t *testing.T, name string) []map[string]string {
	t.Helper()
	f, err := os.Open("/usr/share/distro-info/" + name)
	if err != nil {
		t.Skipf("distro-info-data not installed: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, v := range rec {
			row[recs[0][i]] = v
		}
		rows = append(rows, row)
	}
	return rows
}

func day(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEOSLAgreesWithDistroInfo(t *testing.T) {
	t.Parallel()
	since := day(t, "2013-01-01") // releases of the container era must all be known
	cases := []struct {
		file, id, column string
		family           pkgdb.Family
	}{
		{"debian.csv", "debian", "eol-lts", pkgdb.Deb}, // LTS uploads go to <codename>-security
		{"ubuntu.csv", "ubuntu", "eol", pkgdb.Deb},     // standard support; ESM needs Pro
	}
	for _, c := range cases {
		checked := 0
		for _, row := range distroInfo(t, c.file) {
			ver := strings.TrimSuffix(row["version"], " LTS")
			end := row[c.column]
			if ver == "" || row["release"] == "" || end == "" || day(t, row["release"]).Before(since) {
				continue
			}
			osys := pkgdb.OS{ID: c.id, VersionID: ver, Family: c.family}
			got, ok := vulndb.EOSLDate(osys)
			if !ok || !got.Equal(day(t, end)) {
				t.Errorf("%s %s: end %v (known %v), distro-info says %s", c.id, ver, got.Format(time.DateOnly), ok, end)
				continue
			}
			// The last day is supported, the day after is not.
			if eosl, _ := vulndb.EOSL(osys, got.Add(23*time.Hour)); eosl {
				t.Errorf("%s %s: EOSL on its last day", c.id, ver)
			}
			if eosl, _ := vulndb.EOSL(osys, got.AddDate(0, 0, 1)); !eosl {
				t.Errorf("%s %s: not EOSL the day after its end", c.id, ver)
			}
			checked++
		}
		if checked < 5 {
			t.Errorf("%s: only %d releases checked", c.file, checked)
		}
	}
}

func TestEOSLUnknownIsNotEOSL(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for _, osys := range []pkgdb.OS{
		{ID: "debian", VersionID: "", Codename: "trixie/sid", Family: pkgdb.Deb}, // testing has no VERSION_ID
		{ID: "debian", VersionID: "99", Family: pkgdb.Deb},
		{ID: "fedora", VersionID: "40", Family: pkgdb.RPM},
		{ID: "alpine", VersionID: "edge", Family: pkgdb.APK},
	} {
		eosl, end := vulndb.EOSL(osys, now)
		if eosl || !end.IsZero() {
			t.Errorf("%s %q: eosl %v end %v, want false and the zero (unknown) date", osys.ID, osys.VersionID, eosl, end)
		}
	}
	// Point releases use their major (Debian) or major.minor (Alpine) row.
	for _, pair := range [][2]pkgdb.OS{
		{{ID: "debian", VersionID: "12.8"}, {ID: "debian", VersionID: "12"}},
		{{ID: "alpine", VersionID: "3.19.4"}, {ID: "alpine", VersionID: "3.19"}},
		{{ID: "rocky", VersionID: "9.3"}, {ID: "rocky", VersionID: "9"}},
	} {
		a, aok := vulndb.EOSLDate(pair[0])
		b, bok := vulndb.EOSLDate(pair[1])
		if !aok || !bok || !a.Equal(b) {
			t.Errorf("%s %s and %s disagree: %v %v", pair[0].ID, pair[0].VersionID, pair[1].VersionID, a, b)
		}
	}
}
