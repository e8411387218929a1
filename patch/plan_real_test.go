package patch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/internal/testutil"
)

// suiteFilter restricts an index to some suites, as an apt sources list
// naming only those would.
type suiteFilter struct {
	ix     *distrorepo.Index
	suites map[string]bool
}

func (f suiteFilter) keep(ps []*distrorepo.Package) []*distrorepo.Package {
	var out []*distrorepo.Package
	for _, p := range ps {
		if f.suites[p.Suite.Name] {
			out = append(out, p)
		}
	}
	return out
}

func (f suiteFilter) Packages(name string) []*distrorepo.Package { return f.keep(f.ix.Packages(name)) }
func (f suiteFilter) Providers(name string) []*distrorepo.Package {
	return f.keep(f.ix.Providers(name))
}

// realIndex is the real, signature-checked index of d's release and
// security suites, fetched by distrorepo.
func realIndex(t *testing.T, d distro, root string) (*distrorepo.Client, Candidates) {
	t.Helper()
	c, err := distrorepo.New(distrorepo.Config{CacheDir: filepath.Join(testutil.CacheDir(), "distrorepo")})
	if err != nil {
		t.Fatal(err)
	}
	set, err := c.Sources(os.DirFS(root), d.os, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ix, err := c.Index(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	keep := map[string]bool{}
	for _, s := range d.suites {
		keep[s] = true
	}
	return c, suiteFilter{ix: ix, suites: keep}
}

func upgradeStrings(ups []Upgrade) string {
	var s []string
	for _, u := range ups {
		s = append(s, u.Name+":"+u.Arch+" "+u.OldVersion+" -> "+u.NewVersion)
	}
	return strings.Join(s, "\n")
}

func TestDpkgPlanMatchesAptJammy(t *testing.T) {
	testutil.RequireSlow(t)
	t.Parallel()
	orig := withSecuritySuite(t, jammy)
	_, ix := realIndex(t, jammy, orig)
	names := strings.Fields(run(t, "", "chroot", orig, "dpkg-query", "-W", "-f=${Package}\n"))
	want := aptSimulate(t, orig, append([]string{"--only-upgrade", "install"}, names...)...)
	plan, err := (&DpkgPlanner{}).Plan(context.Background(), os.DirFS(orig), PlanRequest{All: true, Index: ix, Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if got, w := upgradeStrings(plan.Upgrades), upgradeStrings(want); got != w {
		t.Errorf("plan:\n%s\napt:\n%s", got, w)
	}
}

func TestDpkgPlanMatchesApt(t *testing.T) {
	testutil.RequireSlow(t)
	t.Parallel()
	ctx := context.Background()
	orig := withSecuritySuite(t, bookworm)
	_, ix := realIndex(t, bookworm, orig)
	planner := &DpkgPlanner{}

	t.Run("all equals apt-get --only-upgrade install of every package", func(t *testing.T) {
		names := strings.Fields(run(t, "", "chroot", orig, "dpkg-query", "-W", "-f=${Package}\n"))
		want := aptSimulate(t, orig, append([]string{"--only-upgrade", "install"}, names...)...)
		plan, err := planner.Plan(ctx, os.DirFS(orig), PlanRequest{All: true, Index: ix, Arch: "amd64"})
		if err != nil {
			t.Fatal(err)
		}
		if got, w := upgradeStrings(plan.Upgrades), upgradeStrings(want); got != w {
			t.Errorf("plan:\n%s\napt:\n%s", got, w)
		}
	})
	t.Run("one package equals apt-get --only-upgrade install of it", func(t *testing.T) {
		want := aptSimulate(t, orig, "--only-upgrade", "install", "perl-base")
		plan, err := planner.Plan(ctx, os.DirFS(orig), PlanRequest{Fixes: []Fix{{Name: "perl-base"}}, Index: ix, Arch: "amd64"})
		if err != nil {
			t.Fatal(err)
		}
		if got, w := upgradeStrings(plan.Upgrades), upgradeStrings(want); got != w {
			t.Errorf("plan:\n%s\napt:\n%s", got, w)
		}
	})
	t.Run("binaries of one source move together", func(t *testing.T) {
		plan, err := planner.Plan(ctx, os.DirFS(orig), PlanRequest{Fixes: []Fix{{Name: "libapt-pkg6.0"}}, Index: ix, Arch: "amd64"})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, u := range plan.Upgrades {
			got[u.Name] = u.Reason
		}
		if len(got) != 2 || got["libapt-pkg6.0"] != "requested" || got["apt"] != "same source as libapt-pkg6.0" {
			t.Errorf("plan %+v, want libapt-pkg6.0 and apt from the same source", plan.Upgrades)
		}
	})
	t.Run("a fixed version no suite has fails", func(t *testing.T) {
		_, err := planner.Plan(ctx, os.DirFS(orig), PlanRequest{Fixes: []Fix{{Name: "perl-base", MinVersion: "99:1"}}, Index: ix, Arch: "amd64"})
		if err == nil || !strings.Contains(err.Error(), "older than the fixed version 99:1") {
			t.Errorf("err = %v", err)
		}
	})
}
