// Package vulndbtest is the conformance suite for vulndb.Source
// implementations that match advisories against installed packages. Each
// implementation's tests call Run with a factory that stores advisories in
// its own format.
package vulndbtest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"sync"
	"testing"

	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/vulndb"
)

// Advisory is one advisory for the factory to store.
type Advisory struct {
	OS pkgdb.OS
	// Package is the name the distro's advisories use: the source package
	// for Debian and Ubuntu.
	Package string
	ID      vulndb.ID
	// FixedVersion is empty for a vulnerability with no fix.
	FixedVersion string
}

// Factory returns a Source holding exactly advs.
type Factory func(t *testing.T, advs []Advisory) vulndb.Source

// The releases the suite uses.
var (
	Bookworm = pkgdb.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Family: pkgdb.Deb}
	Bullseye = pkgdb.OS{ID: "debian", VersionID: "11", Codename: "bullseye", Family: pkgdb.Deb}
	Jammy    = pkgdb.OS{ID: "ubuntu", VersionID: "22.04", Codename: "jammy", Family: pkgdb.Deb}
)

// installed are bookworm packages as the dpkg reader returns them.
var installed = []pkgdb.Package{
	{Name: "libc-bin", Version: "2.36-9+deb12u4", Arch: "amd64", SourceName: "glibc", SourceVersion: "2.36-9+deb12u4"},
	{Name: "libc6", Version: "2.36-9+deb12u4", Arch: "amd64", SourceName: "glibc", SourceVersion: "2.36-9+deb12u4"},
	{Name: "liblzma5", Version: "5.4.1-0.2", Arch: "amd64", SourceName: "xz-utils", SourceVersion: "5.4.1-0.2"},
	{Name: "libpcre2-8-0", Version: "10.42-1", Arch: "amd64", SourceName: "pcre2", SourceVersion: "10.42-1"},
	{Name: "libssl3", Version: "3.0.11-1~deb12u2", Arch: "amd64", SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u2"},
	{Name: "perl-base", Version: "5.36.0-7+deb12u1", Arch: "amd64", SourceName: "perl", SourceVersion: "5.36.0-7+deb12u1"},
	{Name: "tzdata", Version: "2024a-0+deb12u1", Arch: "all", SourceName: "tzdata", SourceVersion: "2024a-0+deb12u1"},
	{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Arch: "amd64", SourceName: "zlib", SourceVersion: "1:1.2.13.dfsg-1"},
}

// Run runs the conformance suite against the sources newSource makes.
func Run(t *testing.T, newSource Factory) {
	t.Run("FixableExactlyWhenInstalledIsBelowFixedByDpkg", func(t *testing.T) {
		t.Parallel()
		if _, err := exec.LookPath("dpkg"); err != nil {
			t.Skip("dpkg is the oracle and is not installed")
		}
		var advs []Advisory
		n := 0
		seen := map[string]bool{}
		for _, p := range installed {
			if seen[p.SourceName] {
				continue
			}
			seen[p.SourceName] = true
			for _, v := range around(p.SourceVersion) {
				n++
				advs = append(advs, Advisory{Bookworm, p.SourceName, cve(n), v})
			}
		}
		got := find(t, newSource(t, advs), Bookworm, installed)
		var want []string
		for _, p := range installed {
			for _, a := range advs {
				if a.Package == p.SourceName && dpkgLess(t, p.SourceVersion, a.FixedVersion) {
					want = append(want, key(p.Name, a.ID, a.FixedVersion))
				}
			}
		}
		slices.Sort(want)
		var have []string
		for _, f := range got {
			have = append(have, key(f.PkgName, f.VulnerabilityID, f.FixedVersion))
			if !f.Fixable() || f.Status != vulndb.StatusFixed {
				t.Errorf("%s %s: fixed %q status %s", f.PkgName, f.VulnerabilityID, f.FixedVersion, f.Status)
			}
		}
		slices.Sort(have)
		if !slices.Equal(have, want) {
			t.Errorf("findings\n%q\ndpkg says\n%q", have, want)
		}
	})

	t.Run("FindingsNameBinaryAndSourcePackages", func(t *testing.T) {
		t.Parallel()
		src := newSource(t, []Advisory{{Bookworm, "glibc", cve(1), "2.36-9+deb12u7"}})
		got := find(t, src, Bookworm, installed)
		if len(got) != 2 {
			t.Fatalf("%d findings, want libc-bin and libc6 from source glibc", len(got))
		}
		for i, name := range []string{"libc-bin", "libc6"} {
			f := got[i]
			if f.PkgName != name || f.SourceName != "glibc" || f.InstalledVersion != "2.36-9+deb12u4" || f.Arch != "amd64" {
				t.Errorf("finding %d: %+v", i, f)
			}
		}
	})

	t.Run("SortedByPackageThenID", func(t *testing.T) {
		t.Parallel()
		var advs []Advisory
		for i, p := range []string{"zlib", "openssl", "glibc", "openssl", "perl"} {
			advs = append(advs, Advisory{Bookworm, p, cve(50 - i), "9:9"})
		}
		got := find(t, newSource(t, advs), Bookworm, installed)
		if len(got) != 6 {
			t.Fatalf("%d findings, want 6", len(got))
		}
		if !slices.IsSortedFunc(got, func(a, b vulndb.Finding) int {
			if a.PkgName != b.PkgName {
				return cmpString(a.PkgName, b.PkgName)
			}
			return cmpString(a.VulnerabilityID.String(), b.VulnerabilityID.String())
		}) {
			t.Errorf("not sorted: %v", got)
		}
	})

	t.Run("OtherReleasesAreIgnored", func(t *testing.T) {
		t.Parallel()
		src := newSource(t, []Advisory{
			{Bullseye, "openssl", cve(1), "9.9"},
			{Jammy, "openssl", cve(2), "9.9"},
			{Bookworm, "pcre2", cve(3), "10.42-1+deb12u1"},
		})
		got := find(t, src, Bookworm, installed)
		if len(got) != 1 || got[0].PkgName != "libpcre2-8-0" {
			t.Errorf("findings %+v, want only pcre2's", got)
		}
	})

	t.Run("UnfixedAreNotFixable", func(t *testing.T) {
		t.Parallel()
		got := find(t, newSource(t, []Advisory{{Bookworm, "perl", cve(1), ""}, {Bookworm, "tzdata", cve(2), "2099a-1"}}), Bookworm, installed)
		for _, f := range got {
			if f.PkgName == "perl-base" && (f.Fixable() || f.Status == vulndb.StatusFixed) {
				t.Errorf("unfixed finding is fixable: %+v", f)
			}
		}
		if fix := vulndb.Fixable(got); len(fix) != 1 || fix[0].PkgName != "tzdata" {
			t.Errorf("fixable %+v, want tzdata only", fix)
		}
	})

	t.Run("UnsupportedOSIsAnError", func(t *testing.T) {
		t.Parallel()
		src := newSource(t, []Advisory{{Bookworm, "openssl", cve(1), "9.9"}})
		for _, os := range []pkgdb.OS{
			{ID: "plan9", VersionID: "4", Family: pkgdb.RPM},
			{ID: "debian", VersionID: "", Family: pkgdb.Deb},
		} {
			if _, err := src.Find(context.Background(), os, installed); !errors.Is(err, vulndb.ErrUnsupportedOS) {
				t.Errorf("%s %q: %v, want ErrUnsupportedOS", os.ID, os.VersionID, err)
			}
		}
	})

	t.Run("NoPackagesNoFindings", func(t *testing.T) {
		t.Parallel()
		if got := find(t, newSource(t, []Advisory{{Bookworm, "openssl", cve(1), "9.9"}}), Bookworm, nil); len(got) != 0 {
			t.Errorf("findings %+v for no packages", got)
		}
	})

	t.Run("CancelledContext", func(t *testing.T) {
		t.Parallel()
		src := newSource(t, []Advisory{{Bookworm, "openssl", cve(1), "9.9"}})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := src.Find(ctx, Bookworm, installed); !errors.Is(err, context.Canceled) {
			t.Errorf("Find with a cancelled context: %v", err)
		}
	})

	t.Run("ConcurrentFinds", func(t *testing.T) {
		t.Parallel()
		src := newSource(t, []Advisory{{Bookworm, "openssl", cve(1), "9.9"}, {Bookworm, "zlib", cve(2), "1:1.3"}})
		first := fmt.Sprint(find(t, src, Bookworm, installed))
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := src.Find(context.Background(), Bookworm, installed)
				if err != nil || fmt.Sprint(got) != first {
					errs <- fmt.Sprint(got, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("concurrent Find differs: %s", e)
		}
	})
}

func find(t *testing.T, src vulndb.Source, os pkgdb.OS, pkgs []pkgdb.Package) []vulndb.Finding {
	t.Helper()
	got, err := src.Find(context.Background(), os, pkgs)
	if err != nil {
		t.Fatalf("%s: Find on %s %s: %v", src.Name(), os.ID, os.VersionID, err)
	}
	return got
}

// around returns fixed versions on both sides of v: a later security
// update, v itself, a tilde pre-release, the next epoch and the upstream
// part alone.
func around(v string) []string {
	epoch, rest := "", v
	for i := 0; i < len(v); i++ {
		if v[i] == ':' {
			epoch, rest = v[:i], v[i+1:]
			break
		}
		if v[i] < '0' || v[i] > '9' {
			break
		}
	}
	next := "1:" + rest
	if epoch != "" {
		var n int
		fmt.Sscan(epoch, &n)
		next = fmt.Sprintf("%d:%s", n+1, rest)
	}
	upstream := v
	for i := len(v) - 1; i > 0; i-- {
		if v[i] == '-' {
			upstream = v[:i]
			break
		}
	}
	return []string{v + "+deb12u9", v, v + "~rc1", next, upstream}
}

func cve(n int) vulndb.ID { return vulndb.MustParseID(fmt.Sprintf("CVE-2024-%05d", n)) }

func key(pkg string, id vulndb.ID, fixed string) string { return pkg + " " + id.String() + " " + fixed }

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func dpkgLess(t *testing.T, a, b string) bool {
	t.Helper()
	err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run()
	if err == nil {
		return true
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return false
	}
	t.Fatalf("dpkg --compare-versions %q lt %q: %v", a, b, err)
	return false
}
