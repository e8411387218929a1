package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	bolt "go.etcd.io/bbolt"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/vulndb"
)

// installedDeb is one installed package as dpkg-query reports it.
type installedDeb struct {
	name, version, source, sourceVersion string
}

// dpkgInstalled lists a rootfs's installed packages with the real
// dpkg-query.
func dpkgInstalled(t *testing.T, root string) []installedDeb {
	t.Helper()
	out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W",
		"-f", "${db:Status-Abbrev}\t${Package}\t${Version}\t${source:Package}\t${source:Version}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	var pkgs []installedDeb
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		if strings.HasPrefix(f[0], "ii") {
			pkgs = append(pkgs, installedDeb{f[1], f[2], f[3], f[4]})
		}
	}
	return pkgs
}

// dpkgLess asks the real dpkg whether version a sorts before b.
func dpkgLess(t *testing.T, a, b string) bool {
	t.Helper()
	err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run()
	if err == nil {
		return true
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
		return false
	}
	t.Fatalf("dpkg --compare-versions: %v", err)
	return false
}

// advisory is one fixture advisory on a source package.
type advisory struct {
	source, id, fixed, severity string
}

// writeTrivyDB writes a Trivy DB (schema 2, bbolt) in trivy-db's bucket
// layout: "debian 12" → source package → id → {"FixedVersion"}, plus the
// vulnerability and data-source buckets.
func writeTrivyDB(t *testing.T, dir string, advs []advisory) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "trivy.db"), 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		plat, err := tx.CreateBucketIfNotExists([]byte("debian 12"))
		if err != nil {
			return err
		}
		vb, err := tx.CreateBucketIfNotExists([]byte("vulnerability"))
		if err != nil {
			return err
		}
		for _, a := range advs {
			pb, err := plat.CreateBucketIfNotExists([]byte(a.source))
			if err != nil {
				return err
			}
			if err := pb.Put([]byte(a.id), fmt.Appendf(nil, `{"FixedVersion":%q}`, a.fixed)); err != nil {
				return err
			}
			if err := vb.Put([]byte(a.id), fmt.Appendf(nil, `{"Title":"test %s","Severity":%q}`, a.id, a.severity)); err != nil {
				return err
			}
		}
		ds, err := tx.CreateBucketIfNotExists([]byte("data-source"))
		if err != nil {
			return err
		}
		return ds.Put([]byte("debian 12"), []byte(`{"ID":"debian","Name":"Debian Security Tracker","URL":"https://salsa.debian.org/security-tracker-team/security-tracker"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	meta := `{"Version":2,"NextUpdate":"2026-11-28T00:00:00Z","UpdatedAt":"2026-11-27T00:00:00Z"}`
	if err := os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
}

// distrolessTree builds a distroless-style tree from a rootfs: os-release
// and a status.d file per installed package.
func distrolessTree(t *testing.T, rootfs string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(p string, b []byte) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	osr, err := os.ReadFile(filepath.Join(rootfs, "usr/lib/os-release"))
	if err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(dir, "etc/os-release"), osr)
	status, err := os.ReadFile(filepath.Join(rootfs, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range strings.Split(strings.TrimSpace(string(status)), "\n\n") {
		if strings.Contains(st, "\nStatus: install ok installed") {
			write(filepath.Join(dir, "var/lib/dpkg/status.d", fmt.Sprint(i)), []byte(st+"\n"))
		}
	}
	return dir
}

// vulnKeys lists "pkg id installed fixed severity" of a JSON report.
func vulnKeys(t *testing.T, out string) []string {
	t.Helper()
	rep, err := vulndb.ParseReport([]byte(out))
	if err != nil {
		t.Fatalf("output is not a Trivy report: %v\n%s", err, out)
	}
	var keys []string
	for _, res := range rep.Results {
		for _, v := range res.Vulnerabilities {
			keys = append(keys, strings.Join([]string{v.PkgName, v.VulnerabilityID, v.InstalledVersion, v.FixedVersion, v.Severity}, " "))
		}
	}
	slices.Sort(keys)
	return keys
}

// TestScanCommand runs `patchloop scan` in-process on a distroless-style
// bookworm image (the real dpkg database of the debootstrap image) in the
// real registry, with each source.
func TestScanCommand(t *testing.T) {
	testutil.RequireSlow(t)
	rootfs := testutil.Rootfs(t, testutil.Bookworm)
	installed := dpkgInstalled(t, rootfs)
	reg := testutil.StartRegistry(t)
	reg.Push(t, "app:1", testutil.ImageFromDir(t, distrolessTree(t, rootfs)))
	ref := reg.Addr + "/app:1"

	// Advisories: glibc and zlib fixed above what is installed, systemd's
	// (not installed) and a fix below the installed apt.
	var glibc, zlib, aptV string
	for _, p := range installed {
		switch p.source {
		case "glibc":
			glibc = p.sourceVersion
		case "zlib":
			zlib = p.sourceVersion
		case "apt":
			aptV = p.sourceVersion
		}
	}
	advs := []advisory{
		{"glibc", "CVE-2099-0001", glibc + "+deb12u99", "HIGH"},
		{"zlib", "CVE-2099-0002", zlib + "+deb12u99", "LOW"},
		{"systemd", "CVE-2099-0003", "999", "CRITICAL"},
		{"apt", "CVE-2099-0004", "1.0", "CRITICAL"},
	}
	// The oracle: every installed binary of an advisory's source whose
	// source version dpkg orders below the fix.
	expect := func(sevs ...string) []string {
		var keys []string
		for _, p := range installed {
			for _, a := range advs {
				if a.source == p.source && slices.Contains(sevs, a.severity) && dpkgLess(t, p.sourceVersion, a.fixed) {
					keys = append(keys, strings.Join([]string{p.name, a.id, p.version, a.fixed, a.severity}, " "))
				}
			}
		}
		slices.Sort(keys)
		return keys
	}
	all := expect("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
	if len(all) < 2 || aptV == "" {
		t.Fatalf("fixture matches %d findings; glibc %q zlib %q apt %q", len(all), glibc, zlib, aptV)
	}
	dbDir := t.TempDir()
	writeTrivyDB(t, dbDir, advs)
	cache := t.TempDir()
	h := newHarness(t)

	var jsonReport string
	t.Run("trivy-db from a directory", func(t *testing.T) {
		r := h.ok("", "scan", ref, "--source", "trivy-db", "--db", dbDir, "-o", "json", "--cache-dir", cache)
		if got := vulnKeys(t, r.stdout); !slices.Equal(got, all) {
			t.Errorf("findings:\n got %v\nwant %v", got, all)
		}
		jsonReport = r.stdout
	})

	t.Run("the report has the fields Copa reads", func(t *testing.T) {
		var doc struct {
			SchemaVersion int
			Metadata      struct {
				OS          struct{ Family, Name string }
				ImageConfig struct {
					Architecture string `json:"architecture"`
				}
			}
			Results []struct {
				Class, Type     string
				Vulnerabilities []struct{ VulnerabilityID, PkgName, InstalledVersion, FixedVersion string }
			}
		}
		if err := json.Unmarshal([]byte(jsonReport), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.SchemaVersion != 2 || doc.Metadata.OS.Family != "debian" || doc.Metadata.OS.Name != "12" || doc.Metadata.ImageConfig.Architecture != "amd64" {
			t.Errorf("SchemaVersion %d, OS %+v, architecture %q", doc.SchemaVersion, doc.Metadata.OS, doc.Metadata.ImageConfig.Architecture)
		}
		if len(doc.Results) != 1 || doc.Results[0].Class != "os-pkgs" || doc.Results[0].Type != "debian" || len(doc.Results[0].Vulnerabilities) != len(all) {
			t.Fatalf("Results = %+v", doc.Results)
		}
		for _, v := range doc.Results[0].Vulnerabilities {
			if v.VulnerabilityID == "" || v.PkgName == "" || v.InstalledVersion == "" || v.FixedVersion == "" {
				t.Errorf("incomplete vulnerability %+v", v)
			}
		}
	})

	t.Run("severity filter", func(t *testing.T) {
		r := h.ok("", "scan", ref, "--source", "trivy-db", "--db", dbDir, "-o", "json", "--cache-dir", cache, "--severity", "high,critical")
		if got, want := vulnKeys(t, r.stdout), expect("HIGH", "CRITICAL"); !slices.Equal(got, want) || len(want) == 0 {
			t.Errorf("--severity HIGH,CRITICAL:\n got %v\nwant %v", got, want)
		}
	})

	t.Run("exit codes", func(t *testing.T) {
		if r := h.run("", "scan", ref, "--source", "trivy-db", "--db", dbDir, "--cache-dir", cache, "--exit-code", "3"); r.code != 3 || r.stderr != "" {
			t.Errorf("fixable with --exit-code 3: code %d, stderr %q", r.code, r.stderr)
		}
		if r := h.run("", "scan", ref, "--source", "trivy-db", "--db", dbDir, "--cache-dir", cache, "--exit-code", "3", "--severity", "MEDIUM"); r.code != 0 {
			t.Errorf("nothing at MEDIUM with --exit-code 3: code %d, stderr %q", r.code, r.stderr)
		}
		if r := h.run("", "scan", ref, "--source", "trivy-db", "--db", dbDir, "--cache-dir", cache); r.code != 0 {
			t.Errorf("fixable without --exit-code: code %d", r.code)
		}
		if r := h.run("", "scan", reg.Addr+"/missing:1", "--source", "trivy-db", "--db", dbDir, "--cache-dir", cache, "--exit-code", "3"); r.code != 1 {
			t.Errorf("missing image: code %d, want 1", r.code)
		}
	})

	t.Run("table output", func(t *testing.T) {
		r := h.ok("", "scan", ref, "--source", "trivy-db", "--db", dbDir, "--cache-dir", cache)
		for _, want := range []string{"PACKAGE", "INSTALLED", "FIXED", "SEVERITY", "CVE-2099-0001", glibc + "+deb12u99", "HIGH"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("table lacks %q:\n%s", want, r.stdout)
			}
		}
	})

	t.Run("--report round trip", func(t *testing.T) {
		// Add a finding for a package the image does not have: dropped.
		rep, err := vulndb.ParseReport([]byte(jsonReport))
		if err != nil {
			t.Fatal(err)
		}
		rep.Results[0].Vulnerabilities = append(rep.Results[0].Vulnerabilities, vulndb.ReportVulnerability{
			VulnerabilityID: "CVE-2099-0009", PkgName: "not-installed", InstalledVersion: "1", FixedVersion: "2", Severity: "HIGH",
		})
		f := filepath.Join(t.TempDir(), "report.json")
		b, _ := json.Marshal(rep)
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r := h.ok("", "scan", ref, "--report", f, "-o", "json", "--cache-dir", cache)
		if got := vulnKeys(t, r.stdout); !slices.Equal(got, all) {
			t.Errorf("from --report:\n got %v\nwant %v", got, all)
		}
	})

	t.Run("trivy-db pulled from the registry", func(t *testing.T) {
		art, err := vulndb.TrivyDBArtifact(dbDir)
		if err != nil {
			t.Fatal(err)
		}
		c, err := registry.New(reg.Addr)
		if err != nil {
			t.Fatal(err)
		}
		tag, _ := name.NewTag(reg.Addr + "/mirror/trivy-db:2")
		if _, err := c.WriteImage(context.Background(), tag, art); err != nil {
			t.Fatal(err)
		}
		r := h.ok("", "scan", ref, "--source", "trivy-db", "--db-repository", tag.String(), "-o", "json", "--cache-dir", cache)
		if got := vulnKeys(t, r.stdout); !slices.Equal(got, all) {
			t.Errorf("findings:\n got %v\nwant %v", got, all)
		}
	})

	t.Run("osv", func(t *testing.T) {
		dir := t.TempDir()
		rec := fmt.Sprintf(`{"schema_version":"1.6.0","id":"DEBIAN-CVE-2099-0001","modified":"2026-11-27T00:00:00Z",
"upstream":["CVE-2099-0001"],"summary":"glibc test","database_specific":{"severity":"HIGH"},
"affected":[{"package":{"ecosystem":"Debian:12","name":"glibc"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":%q}]}]}]}`, glibc+"+deb12u99")
		if err := os.WriteFile(filepath.Join(dir, "DEBIAN-CVE-2099-0001.json"), []byte(rec), 0o644); err != nil {
			t.Fatal(err)
		}
		r := h.ok("", "scan", ref, "--source", "osv", "--osv", dir, "-o", "json", "--cache-dir", cache)
		var want []string
		for _, k := range expect("HIGH") {
			want = append(want, strings.Replace(k, "CVE-2099-0001", "DEBIAN-CVE-2099-0001", 1))
		}
		if got := vulnKeys(t, r.stdout); !slices.Equal(got, want) {
			t.Errorf("osv findings:\n got %v\nwant %v", got, want)
		}
	})

	t.Run("repos, the default", func(t *testing.T) {
		r := h.run("", "scan", ref, "-o", "json", "--cache-dir", cache, "--exit-code", "4")
		if r.code != 4 {
			t.Fatalf("code %d, want 4 (bookworm minbase has security updates)\n%s", r.code, r.stderr)
		}
		if len(vulnKeys(t, r.stdout)) == 0 {
			t.Error("no vulnerabilities in the report")
		}
		if !strings.Contains(r.stderr, "warning: no apt sources in the image") {
			t.Errorf("stderr %q lacks the warning about the missing apt sources", r.stderr)
		}
	})

	t.Run("--packages lists the inventory", func(t *testing.T) {
		r := h.ok("", "scan", ref, "--packages", "-o", "json", "--cache-dir", cache)
		var list []struct {
			Packages []struct{ Name, Version string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || len(list[0].Packages) != len(installed) {
			t.Errorf("%d images; want 1 with %d packages", len(list), len(installed))
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"--report", "x.json", "--source", "osv"},
			{"--source", "trivy-db"},
			{"--source", "trivy-db", "--db", dbDir, "--db-repository", "x/y:1"},
			{"--source", "osv"},
			{"--source", "nope"},
			{"--source", "osv", "--osv", dbDir, "--mirror", "a=b"},
			{"--mirror", "nonsense"},
			{"--severity", "BAD"},
			{"--platform", "a/b/c/d"},
			{"--username", "u"},
		} {
			r := h.run("", append([]string{"scan", ref, "--cache-dir", cache}, args...)...)
			if r.code != 1 || !strings.HasPrefix(r.stderr, "patchloop: ") {
				t.Errorf("%v: code %d, stderr %q", args, r.code, r.stderr)
			}
		}
	})
}
