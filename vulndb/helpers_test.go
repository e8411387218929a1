package vulndb_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/patchloop/patchloop/vulndb"
)

// dpkgLess asks the real dpkg whether a sorts before b.
func dpkgLess(t testing.TB, a, b string) bool {
	t.Helper()
	err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run()
	if err == nil {
		return true
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
		return false
	}
	t.Fatalf("dpkg --compare-versions %q lt %q: %v", a, b, err)
	return false
}

// trivyEntry is one advisory to store in a test Trivy DB.
type trivyEntry struct {
	Platform string // "debian 12"
	Package  string
	ID       string
	Value    any // marshalled as the advisory value
}

// buildTrivyDB writes trivy.db and metadata.json into dir with trivy-db's
// bucket layout: platform → package → vulnerability id → advisory JSON, a
// "vulnerability" bucket of details and a "data-source" bucket.
func buildTrivyDB(t testing.TB, dir string, entries []trivyEntry, vulns map[string]any, sources map[string]any) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, vulndb.TrivyDBFile), 0o644, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, e := range entries {
			pb, err := tx.CreateBucketIfNotExists([]byte(e.Platform))
			if err != nil {
				return err
			}
			nb, err := pb.CreateBucketIfNotExists([]byte(e.Package))
			if err != nil {
				return err
			}
			if err := nb.Put([]byte(e.ID), mustJSON(t, e.Value)); err != nil {
				return err
			}
		}
		vb, err := tx.CreateBucketIfNotExists([]byte("vulnerability"))
		if err != nil {
			return err
		}
		for id, v := range vulns {
			if err := vb.Put([]byte(id), mustJSON(t, v)); err != nil {
				return err
			}
		}
		db, err := tx.CreateBucketIfNotExists([]byte("data-source"))
		if err != nil {
			return err
		}
		for p, v := range sources {
			if err := db.Put([]byte(p), mustJSON(t, v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	meta := map[string]any{
		"Version":    2,
		"NextUpdate": time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC),
		"UpdatedAt":  time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
	}
	if err := os.WriteFile(filepath.Join(dir, vulndb.TrivyMetadataFile), mustJSON(t, meta), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	if b, ok := v.([]byte); ok {
		return b
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
