package pkgdb_test

import (
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/pkgdb/pkgdbtest"
)

// rpmSpecs are tiny packages built with the real rpmbuild. tinya has a
// subpackage, so libtinya's source rpm is tinya's.
var rpmSpecs = map[string]string{
	"tinya": `Name: tinya
Version: 1.2
Release: 3
Epoch: 2
Summary: tiny
License: MIT
BuildArch: noarch
%description
tiny
%package -n libtinya
Summary: tiny lib
%description -n libtinya
tiny lib
%files
%files -n libtinya
`,
	"zeta": `Name: zeta
Version: 0.9
Release: 1.el9
Summary: zeta
License: MIT
BuildArch: noarch
%description
zeta
%files
`,
	"mid": `Name: mid
Version: 10.0.1
Release: 7
Epoch: 0
Summary: mid
License: MIT
BuildArch: x86_64
%description
mid
%files
`,
}

var (
	rpmBuildOnce sync.Once
	rpmBuildDir  string
	rpmBuildErr  error
)

// builtRPMs builds the sample packages once per test binary and returns
// the binary rpm files, keyed by package name.
func builtRPMs(t testing.TB) map[string]string {
	t.Helper()
	for _, tool := range []string{"rpmbuild", "rpm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (apt-get install rpm): %v", tool, err)
		}
	}
	rpmBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "patchloop-rpmbuild-")
		if err != nil {
			rpmBuildErr = err
			return
		}
		rpmBuildDir = dir
		for name, spec := range rpmSpecs {
			p := filepath.Join(dir, name+".spec")
			if err := os.WriteFile(p, []byte(spec), 0o644); err != nil {
				rpmBuildErr = err
				return
			}
			out, err := exec.Command("rpmbuild", "--define", "_topdir "+dir, "--define", "debug_package %{nil}", "-ba", p).CombinedOutput()
			if err != nil {
				rpmBuildErr = fmt.Errorf("rpmbuild %s: %v\n%s", name, err, out)
				return
			}
		}
	})
	if rpmBuildErr != nil {
		t.Fatal(rpmBuildErr)
	}
	files, _ := filepath.Glob(filepath.Join(rpmBuildDir, "RPMS", "*", "*.rpm"))
	out := map[string]string{}
	for _, f := range files {
		n := strings.TrimSpace(rpmQuery(t, "-qp", "--qf", "%{NAME}", f))
		out[n] = f
	}
	return out
}

func rpmQuery(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("rpm", args...).Output()
	if err != nil {
		t.Fatalf("rpm %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// rpmInstall makes a sqlite rpm database in dir holding pkgs, installed in
// the given order with the real rpm, and checkpoints its write-ahead log
// into rpmdb.sqlite.
func rpmInstall(t testing.TB, dir string, pkgs []pkgdb.Package) string {
	t.Helper()
	files := builtRPMs(t)
	run := func(args ...string) {
		if out, err := exec.Command("rpm", append([]string{"--dbpath", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("rpm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("--initdb")
	for _, p := range pkgs {
		run("-i", "--nodeps", "--justdb", "--noscripts", "--ignorearch", files[p.Name])
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "rpmdb.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "rpmdb.sqlite")
}

// rpmOracle lists a database's packages with the real rpm. The source
// package's name and version come from querying the built source rpm.
func rpmOracle(t testing.TB, dbpath string, backend string) []pkgdb.Package {
	t.Helper()
	args := []string{"--dbpath", dbpath, "-qa", "--qf", "%{NAME}\t%{EPOCHNUM}\t%{VERSION}-%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\n"}
	if backend != "" {
		args = append([]string{"--define", "_db_backend " + backend}, args...)
	}
	var out []pkgdb.Package
	for _, line := range strings.Split(strings.TrimSpace(rpmQuery(t, args...)), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		evr := f[2]
		if f[1] != "0" {
			evr = f[1] + ":" + evr
		}
		p := pkgdb.Package{Name: f[0], Version: evr, Arch: f[3]}
		srpms, _ := filepath.Glob(filepath.Join(rpmBuildDir, "SRPMS", f[4]))
		if len(srpms) != 1 {
			t.Fatalf("source rpm %s of %s not found among the built ones", f[4], f[0])
		}
		src := strings.Fields(rpmQuery(t, "-qp", "--qf", "%{NAME} %{VERSION}-%{RELEASE}", srpms[0]))
		p.SourceName, p.SourceVersion = src[0], src[1]
		if f[1] != "0" {
			p.SourceVersion = f[1] + ":" + p.SourceVersion
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func rpmSamples(t *testing.T) []pkgdb.Package {
	var all []pkgdb.Package
	for n := range builtRPMs(t) {
		all = append(all, pkgdb.Package{Name: n})
	}
	dir := t.TempDir()
	rpmInstall(t, dir, all)
	return rpmOracle(t, dir, "")
}

func writeRPMSqlite(t testing.TB, installed, _ []pkgdb.Package) fs.FS {
	p := rpmInstall(t, t.TempDir(), installed)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fstest.MapFS{"var/lib/rpm/rpmdb.sqlite": {Data: data}}
}

// writeRPMBDB builds a Berkeley DB hash Packages file, the format of RHEL 7
// and 8, from the headers the real rpm wrote to a sqlite database: rpm can
// no longer write BDB, so the headers are loaded with db5.3_load.
func writeRPMBDB(t testing.TB, installed, _ []pkgdb.Package) fs.FS {
	if _, err := exec.LookPath("db5.3_load"); err != nil {
		t.Fatalf("db5.3_load is not installed (apt-get install db5.3-util): %v", err)
	}
	dir := t.TempDir()
	sqlitePath := rpmInstall(t, filepath.Join(dir, "sqlite"), installed)
	db, err := sql.Open("sqlite", sqlitePath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT hnum, blob FROM Packages ORDER BY hnum")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var dump strings.Builder
	dump.WriteString("VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=4096\nHEADER=END\n")
	for rows.Next() {
		var hnum uint32
		var blob []byte
		if err := rows.Scan(&hnum, &blob); err != nil {
			t.Fatal(err)
		}
		key := binary.LittleEndian.AppendUint32(nil, hnum)
		fmt.Fprintf(&dump, " %s\n %s\n", hex.EncodeToString(key), hex.EncodeToString(blob))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	dump.WriteString("DATA=END\n")
	bdbDir := filepath.Join(dir, "bdb")
	if err := os.MkdirAll(bdbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("db5.3_load", filepath.Join(bdbDir, "Packages"))
	cmd.Stdin = strings.NewReader(dump.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("db5.3_load: %v\n%s", err, out)
	}
	if len(installed) > 0 { // the real rpm reads the BDB we built: the oracle
		got := rpmOracle(t, bdbDir, "bdb_ro")
		if len(got) != len(installed) {
			t.Fatalf("rpm reads %d packages from the built BDB, want %d", len(got), len(installed))
		}
	}
	data, err := os.ReadFile(filepath.Join(bdbDir, "Packages"))
	if err != nil {
		t.Fatal(err)
	}
	return fstest.MapFS{"var/lib/rpm/Packages": {Data: data}}
}

func TestRPMSqliteConformance(t *testing.T) {
	pkgdbtest.Run(t, pkgdbtest.Harness{Reader: pkgdb.RPMReader{TempDir: t.TempDir()}, Installed: rpmSamples(t), Write: writeRPMSqlite})
}

func TestRPMBDBConformance(t *testing.T) {
	samples := rpmSamples(t)
	h := pkgdbtest.Harness{Reader: pkgdb.RPMReader{TempDir: t.TempDir()}, Installed: samples, Write: writeRPMBDB}
	pkgdbtest.Run(t, h)
}

// TestRPMAgainstRealDatabases reads the real CentOS 7 (BDB) database that
// go-rpmdb ships as test data and compares it with what the real rpm
// reads from the same file.
func TestRPMAgainstRealDatabases(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/knqyf263/go-rpmdb").Output()
	if err != nil {
		t.Fatalf("locating go-rpmdb: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "pkg", "testdata", "centos7-plain")
	data, err := os.ReadFile(filepath.Join(dir, "Packages"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := pkgdb.RPMReader{TempDir: t.TempDir()}.Read(fstest.MapFS{"var/lib/rpm/Packages": {Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--define", "_db_backend bdb_ro", "--dbpath", dir, "-qa", "--qf", "%{NAME}\t%{EPOCHNUM}\t%{VERSION}-%{RELEASE}\t%{ARCH}\n"}
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(rpmQuery(t, args...)), "\n") {
		f := strings.Split(line, "\t")
		v := f[2]
		if f[1] != "0" {
			v = f[1] + ":" + v
		}
		want = append(want, f[0]+" "+v+" "+f[3])
	}
	var have []string
	for _, p := range got {
		have = append(have, p.Name+" "+p.Version+" "+p.Arch)
	}
	sort.Strings(want)
	sort.Strings(have)
	if !reflect.DeepEqual(have, want) {
		t.Errorf("centos7 rpmdb: got %d packages, rpm lists %d\ngot  %v\nwant %v", len(have), len(want), have, want)
	}
}

func TestRPMScratchCopyIsRemoved(t *testing.T) {
	tmp := t.TempDir()
	fsys := writeRPMSqlite(t, []pkgdb.Package{{Name: "zeta"}}, nil)
	if _, err := (pkgdb.RPMReader{TempDir: tmp}).Read(fsys); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("scratch directory holds %d entries after Read", len(ents))
	}
}
