package vulndb_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/vulndb"
	"github.com/patchloop/patchloop/vulndb/vulndbtest"
)

// release names the suite's releases in each format.
func release(t *testing.T, os pkgdb.OS) (bucket, ecosystem string) {
	switch os {
	case vulndbtest.Bookworm:
		return "debian 12", "Debian:12"
	case vulndbtest.Bullseye:
		return "debian 11", "Debian:11"
	case vulndbtest.Jammy:
		return "ubuntu 22.04", "Ubuntu:22.04:LTS"
	}
	t.Fatalf("no names for %+v", os)
	return "", ""
}

func TestTrivyDBConformance(t *testing.T) {
	t.Parallel()
	vulndbtest.Run(t, func(t *testing.T, advs []vulndbtest.Advisory) vulndb.Source {
		var entries []trivyEntry
		for _, a := range advs {
			bucket, _ := release(t, a.OS)
			v := map[string]any{"FixedVersion": a.FixedVersion}
			if a.FixedVersion == "" {
				v = map[string]any{"Status": int(vulndb.StatusAffected)}
			}
			entries = append(entries, trivyEntry{bucket, a.Package, a.ID.String(), v})
		}
		// Every release bucket exists, as in a real DB.
		for _, os := range []pkgdb.OS{vulndbtest.Bookworm, vulndbtest.Bullseye, vulndbtest.Jammy} {
			bucket, _ := release(t, os)
			entries = append(entries, trivyEntry{bucket, "placeholder-package", "CVE-1999-0001", map[string]any{"FixedVersion": "1"}})
		}
		return setupTrivy(t, entries, nil).db
	})
}

func TestOSVConformance(t *testing.T) {
	t.Parallel()
	vulndbtest.Run(t, func(t *testing.T, advs []vulndbtest.Advisory) vulndb.Source {
		dir := t.TempDir()
		for i, a := range advs {
			_, eco := release(t, a.OS)
			events := []any{map[string]string{"introduced": "0"}}
			if a.FixedVersion != "" {
				events = append(events, map[string]string{"fixed": a.FixedVersion})
			}
			rec, err := json.Marshal(map[string]any{
				"schema_version": "1.6.0",
				"id":             a.ID.String(),
				"affected": []any{map[string]any{
					"package": map[string]string{"ecosystem": eco, "name": a.Package},
					"ranges":  []any{map[string]any{"type": "ECOSYSTEM", "events": events}},
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, fmt.Sprintf("%d.json", i)), string(rec))
		}
		src, err := vulndb.OpenOSV(dir)
		if err != nil {
			t.Fatal(err)
		}
		return src
	})
}
