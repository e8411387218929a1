package vulndb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/version"
)

// The file names and schema of a Trivy DB, as trivy-db writes them.
const (
	TrivyDBFile         = "trivy.db"
	TrivyMetadataFile   = "metadata.json"
	TrivyDBSchema       = 2
	trivyVulnBucket     = "vulnerability"
	trivyDataSrcBucket  = "data-source"
	maxTrivyValueLen    = 1 << 20 // one advisory or vulnerability value
	maxTrivyMetadataLen = 1 << 16
)

// TrivyMetadata is a Trivy DB's metadata.json.
type TrivyMetadata struct {
	Version      int       `json:"Version"`
	NextUpdate   time.Time `json:"NextUpdate"`
	UpdatedAt    time.Time `json:"UpdatedAt"`
	DownloadedAt time.Time `json:"DownloadedAt"`
}

// TrivyDB is a Source over a Trivy vulnerability database: a bbolt file
// whose top-level buckets are platforms ("debian 12", "ubuntu 22.04",
// "alpine 3.19"…), each holding one bucket per package whose keys are
// vulnerability ids and whose values are advisories, plus a "vulnerability"
// bucket of titles and severities. It is safe for concurrent use.
type TrivyDB struct {
	db   *bolt.DB
	meta TrivyMetadata
}

var _ Source = (*TrivyDB)(nil)

// OpenTrivyDB opens a Trivy DB read-only. path is a directory holding
// trivy.db and metadata.json, or the trivy.db file itself (a metadata.json
// beside it is then read if present). A metadata schema other than 2 is an
// error. Close the DB when done.
func OpenTrivyDB(path string) (*TrivyDB, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening trivy db: %w", err)
	}
	dbPath, metaRequired := path, false
	if st.IsDir() {
		dbPath, metaRequired = filepath.Join(path, TrivyDBFile), true
	}
	meta, err := readTrivyMetadata(filepath.Join(filepath.Dir(dbPath), TrivyMetadataFile))
	switch {
	case errors.Is(err, fs.ErrNotExist) && !metaRequired:
	case err != nil:
		return nil, fmt.Errorf("opening trivy db %s: %w", path, err)
	case meta.Version != TrivyDBSchema:
		return nil, fmt.Errorf("opening trivy db %s: schema version %d, want %d", path, meta.Version, TrivyDBSchema)
	}
	db, err := openBolt(dbPath)
	if err != nil {
		return nil, fmt.Errorf("opening trivy db %s: %w", dbPath, err)
	}
	return &TrivyDB{db: db, meta: meta}, nil
}

func readTrivyMetadata(path string) (TrivyMetadata, error) {
	var meta TrivyMetadata
	f, err := os.Open(path)
	if err != nil {
		return meta, err
	}
	defer f.Close()
	b, err := readLimited(f, maxTrivyMetadataLen)
	if err != nil {
		return meta, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return meta, fmt.Errorf("parsing %s: %w", path, err)
	}
	return meta, nil
}

// openBolt opens a bbolt file read-only, turning a panic on a corrupt
// file into an error.
func openBolt(path string) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("corrupt database: %v", r)
		}
	}()
	return bolt.Open(path, 0, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
}

// Name returns "trivy-db".
func (t *TrivyDB) Name() string { return "trivy-db" }

// Metadata returns the DB's metadata.json, zero when it had none.
func (t *TrivyDB) Metadata() TrivyMetadata { return t.meta }

// Close closes the database file.
func (t *TrivyDB) Close() error { return t.db.Close() }

// Find matches pkgs against the platform bucket of os. Debian, Ubuntu and
// Alpine packages are looked up by source package name, as Trivy does.
func (t *TrivyDB) Find(ctx context.Context, os pkgdb.OS, pkgs []pkgdb.Package) (out []Finding, err error) {
	plat, err := platformFor(os)
	if err != nil {
		return nil, fmt.Errorf("matching trivy db: %w", err)
	}
	if plat.trivyBucket == nil {
		return nil, fmt.Errorf("matching trivy db: distro %q: %w", os.ID, ErrUnsupportedOS)
	}
	bucket, err := plat.trivyBucket(os.VersionID)
	if err != nil {
		return nil, fmt.Errorf("matching trivy db: %w", err)
	}
	cmp, err := comparerFor(os.Family)
	if err != nil {
		return nil, fmt.Errorf("matching trivy db: %w", err)
	}
	// bbolt panics on some corrupt pages, and may fault reading them
	// through its mmap; a hostile file must give an error instead.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("reading trivy db bucket %q: corrupt database: %v", bucket, r)
		}
	}()
	err = t.db.View(func(tx *bolt.Tx) error {
		pb := tx.Bucket([]byte(bucket))
		if pb == nil {
			return fmt.Errorf("trivy db has no bucket %q: %w", bucket, ErrUnsupportedOS)
		}
		m := &trivyMatcher{
			tx: tx, bucket: bucket, plat: plat, cmp: cmp,
			source: trivyDataSource(tx, bucket, plat.trivySource),
			vulns:  map[string]TrivyVulnerability{},
		}
		for i, pkg := range pkgs {
			if i%64 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			fs, err := m.match(pb, pkg)
			if err != nil {
				return err
			}
			out = append(out, fs...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("matching trivy db: %w", err)
	}
	SortFindings(out)
	return out, nil
}

type trivyMatcher struct {
	tx     *bolt.Tx
	bucket string
	plat   platform
	cmp    version.Comparer
	source string
	vulns  map[string]TrivyVulnerability
}

func (m *trivyMatcher) match(pb *bolt.Bucket, pkg pkgdb.Package) ([]Finding, error) {
	name, installed := m.plat.advisoryName(pkg)
	nb := pb.Bucket([]byte(name))
	if nb == nil {
		return nil, nil
	}
	var out []Finding
	err := nb.ForEach(func(k, v []byte) error {
		id, err := ParseID(string(k))
		if err != nil {
			return fmt.Errorf("reading %s/%s: %w", m.bucket, name, err)
		}
		advs, err := ParseTrivyAdvisory(v)
		if err != nil {
			return fmt.Errorf("reading %s/%s/%s: %w", m.bucket, name, id, err)
		}
		for _, adv := range advs {
			f, ok, err := m.finding(id, name, installed, pkg, adv)
			if err != nil {
				return fmt.Errorf("matching %s/%s/%s: %w", m.bucket, name, id, err)
			}
			if ok {
				out = append(out, f)
				break
			}
		}
		return nil
	})
	return out, err
}

func (m *trivyMatcher) finding(id ID, name, installed string, pkg pkgdb.Package, adv TrivyAdvisory) (Finding, bool, error) {
	if len(adv.Arches) > 0 && pkg.Arch != "" && !containsString(adv.Arches, pkg.Arch) {
		return Finding{}, false, nil
	}
	status := adv.Status
	if adv.FixedVersion != "" {
		c, err := m.cmp.Compare(installed, adv.FixedVersion)
		if err != nil {
			return Finding{}, false, err
		}
		if c >= 0 {
			return Finding{}, false, nil
		}
		status = StatusFixed
	} else {
		switch status {
		case StatusNotAffected, StatusFixed:
			// Fixed with no version names nothing to install.
			return Finding{}, false, nil
		case StatusUnknown:
			status = StatusAffected
		}
	}
	vuln, err := m.vulnerability(id)
	if err != nil {
		return Finding{}, false, err
	}
	sev := adv.Severity
	if sev == SeverityUnknown {
		sev = vuln.severity(m.source)
	}
	return Finding{
		VulnerabilityID:  id,
		PkgName:          pkg.Name,
		SourceName:       name,
		Arch:             pkg.Arch,
		InstalledVersion: pkg.Version,
		FixedVersion:     adv.FixedVersion,
		Status:           status,
		Severity:         sev,
		Title:            vuln.Title,
		Description:      vuln.Description,
		PrimaryURL:       primaryURL(id, vuln.References),
		DataSource:       m.source,
	}, true, nil
}

func (m *trivyMatcher) vulnerability(id ID) (TrivyVulnerability, error) {
	if v, ok := m.vulns[id.String()]; ok {
		return v, nil
	}
	var v TrivyVulnerability
	if vb := m.tx.Bucket([]byte(trivyVulnBucket)); vb != nil {
		if raw := vb.Get([]byte(id.String())); raw != nil {
			p, err := ParseTrivyVulnerability(raw)
			if err != nil {
				return v, fmt.Errorf("reading %s/%s: %w", trivyVulnBucket, id, err)
			}
			v = p
		}
	}
	m.vulns[id.String()] = v
	return v, nil
}

// trivyDataSource returns the source id the data-source bucket gives the
// platform bucket, or def.
func trivyDataSource(tx *bolt.Tx, bucket, def string) string {
	b := tx.Bucket([]byte(trivyDataSrcBucket))
	if b == nil {
		return def
	}
	raw := b.Get([]byte(bucket))
	if raw == nil || len(raw) > maxTrivyValueLen {
		return def
	}
	var ds struct{ ID string }
	if json.Unmarshal(raw, &ds) != nil || ds.ID == "" {
		return def
	}
	return ds.ID
}

// primaryURL follows Trivy: the AVD page of a CVE, else the first reference.
func primaryURL(id ID, refs []string) string {
	if id.IsCVE() {
		return "https://avd.aquasec.com/nvd/" + lower(id.String())
	}
	if len(refs) > 0 {
		return refs[0]
	}
	return ""
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
