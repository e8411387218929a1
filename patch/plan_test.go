package patch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchloop/patchloop/distrorepo"
)

// pkgIndex is a Candidates over entries parsed by distrorepo from a
// Packages file.
type pkgIndex struct{ all []*distrorepo.Package }

func (ix pkgIndex) Packages(name string) []*distrorepo.Package {
	var out []*distrorepo.Package
	for _, p := range ix.all {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

func (ix pkgIndex) Providers(name string) []*distrorepo.Package {
	var out []*distrorepo.Package
	for _, p := range ix.all {
		for _, g := range p.Provides {
			for _, r := range g {
				if r.Name == name {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// aptWorld is an installed system (a dpkg status file) and a flat
// repository, which both the planner and the real apt read.
type aptWorld struct {
	dir      string
	status   string
	packages string
}

// stanzas turns "name version [Field: value]..." specs into paragraphs.
func stanzas(specs []string, installed bool) string {
	var b strings.Builder
	for _, s := range specs {
		parts := strings.Split(s, ";")
		nv := strings.Fields(parts[0])
		arch := "amd64"
		if len(nv) > 2 {
			arch = nv[2]
		}
		fmt.Fprintf(&b, "Package: %s\n", nv[0])
		if installed {
			b.WriteString("Status: install ok installed\n")
		}
		fmt.Fprintf(&b, "Maintainer: Test <t@example.org>\nArchitecture: %s\nVersion: %s\n", arch, nv[1])
		for _, f := range parts[1:] {
			b.WriteString(strings.TrimSpace(f) + "\n")
		}
		if !installed {
			fmt.Fprintf(&b, "Filename: pool/%s_%s_%s.deb\nSize: 1000\nSHA256: %064x\n", nv[0], nv[1], arch, len(s))
		}
		b.WriteString("Description: test\n\n")
	}
	return b.String()
}

func newAptWorld(t *testing.T, installed, available []string) *aptWorld {
	t.Helper()
	w := &aptWorld{dir: t.TempDir(), status: stanzas(installed, true), packages: stanzas(available, false)}
	for _, d := range []string{"root/var/lib/dpkg", "repo", "state/lists/partial", "cache/archives/partial", "parts"} {
		must(t, os.MkdirAll(filepath.Join(w.dir, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(w.dir, "root/var/lib/dpkg/status"), []byte(w.status), 0o644))
	must(t, os.WriteFile(filepath.Join(w.dir, "repo/Packages"), []byte(w.packages), 0o644))
	must(t, os.WriteFile(filepath.Join(w.dir, "sources.list"), []byte("deb [trusted=yes] file:"+filepath.Join(w.dir, "repo")+" ./\n"), 0o644))
	w.apt(t, true, "update")
	return w
}

// apt runs the real apt-get on the world; it returns the output and
// whether apt succeeded.
func (w *aptWorld) apt(t *testing.T, mustSucceed bool, args ...string) (string, bool) {
	t.Helper()
	opts := []string{
		"-o", "Dir::State::status=" + filepath.Join(w.dir, "root/var/lib/dpkg/status"),
		"-o", "Dir::State=" + filepath.Join(w.dir, "state"),
		"-o", "Dir::Cache=" + filepath.Join(w.dir, "cache"),
		"-o", "Dir::Etc::SourceList=" + filepath.Join(w.dir, "sources.list"),
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(w.dir, "parts"),
		"-o", "Dir::Etc::PreferencesParts=" + filepath.Join(w.dir, "parts"),
		"-o", "Dir::Etc::Preferences=" + filepath.Join(w.dir, "parts/none"),
		"-o", "APT::Architecture=amd64", "-o", "APT::Architectures=amd64",
		"-o", "Debug::NoLocking=1", "-o", "Acquire::Languages=none",
		"-o", "APT::Get::Show-Versions=1", "-q",
	}
	cmd := exec.Command("apt-get", append(opts, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil && mustSucceed {
		t.Fatalf("apt-get %v: %v\n%s", args, err, out)
	}
	return string(out), err == nil
}

func (w *aptWorld) index(t *testing.T) Candidates {
	t.Helper()
	ps, err := distrorepo.ParsePackages(strings.NewReader(w.packages), &distrorepo.Suite{Name: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pkgIndex{all: ps}
}

func TestDpkgPlanAgainstApt(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get not installed")
	}
	cases := []struct {
		name       string
		installed  []string
		available  []string
		fix        []string
		wantFail   bool
		wantReason map[string]string
	}{
		{
			name:      "versioned depends forces an installed package up",
			installed: []string{"a 1", "b 1"},
			available: []string{"a 2; Depends: b (>= 2)", "b 2"},
			fix:       []string{"a"},
		},
		{
			name:       "a dependency installs a new package",
			installed:  []string{"a 1"},
			available:  []string{"a 2; Depends: c (>= 1) | d", "c 1", "d 1"},
			fix:        []string{"a"},
			wantReason: map[string]string{"c": "new, needed by a"},
		},
		{
			name:      "breaks forces the broken package up",
			installed: []string{"a 1", "d 1"},
			available: []string{"a 2; Breaks: d (<< 2)", "d 2"},
			fix:       []string{"a"},
		},
		{
			name:      "an exact reverse dependency moves too",
			installed: []string{"a 1", "f 1; Depends: a (= 1)"},
			available: []string{"a 2", "f 2; Depends: a (= 2)"},
			fix:       []string{"a"},
		},
		{
			name:      "an unavailable dependency fails",
			installed: []string{"a 1"},
			available: []string{"a 2; Depends: e (>= 5)", "e 1"},
			fix:       []string{"a"},
			wantFail:  true,
		},
		{
			name:      "a reverse dependency with no fix fails (apt would remove it)",
			installed: []string{"a 1", "f 1; Depends: a (= 1)"},
			available: []string{"a 2"},
			fix:       []string{"a"},
			wantFail:  true,
		},
		{
			name:      "highest version across suites, arch all",
			installed: []string{"a 1:1.0", "t 2020a all"},
			available: []string{"a 1:1.0", "a 1:1.1", "a 0:9.0", "t 2024b all", "t 2023c all"},
			fix:       []string{"a", "t"},
		},
		{
			name:      "virtual dependency satisfied by provides",
			installed: []string{"a 1", "m 1; Provides: mail-agent (= 1)"},
			available: []string{"a 2; Depends: mail-agent (>= 1)"},
			fix:       []string{"a"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newAptWorld(t, tc.installed, tc.available)
			out, ok := w.apt(t, false, append([]string{"-s", "--only-upgrade", "install"}, tc.fix...)...)
			// A plan never removes packages: where apt would, it fails.
			ok = ok && !strings.Contains(out, "\nRemv ")
			var want []Upgrade
			for _, l := range strings.Split(out, "\n") {
				if m := aptInst.FindStringSubmatch(l); m != nil {
					want = append(want, Upgrade{Name: m[1], OldVersion: m[2], NewVersion: m[3], Arch: m[4]})
				}
			}
			var fixes []Fix
			for _, f := range tc.fix {
				fixes = append(fixes, Fix{Name: f})
			}
			plan, err := (&DpkgPlanner{}).Plan(context.Background(), os.DirFS(filepath.Join(w.dir, "root")), PlanRequest{Fixes: fixes, Index: w.index(t), Arch: "amd64"})
			if ok == tc.wantFail {
				t.Fatalf("apt succeeded=%v, test expects failure=%v:\n%s", ok, tc.wantFail, out)
			}
			if tc.wantFail {
				if !errors.Is(err, ErrUnsatisfiable) {
					t.Fatalf("apt refuses, plan gave %v, %+v", err, plan)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, w := upgradeStrings(plan.Upgrades), upgradeStrings(sortUpgrades(want)); got != w {
				t.Errorf("plan:\n%s\napt:\n%s", got, w)
			}
			for n, r := range tc.wantReason {
				for _, u := range plan.Upgrades {
					if u.Name == n && u.Reason != r {
						t.Errorf("%s: reason %q, want %q", n, u.Reason, r)
					}
				}
			}
		})
	}
}

func sortUpgrades(ups []Upgrade) []Upgrade {
	out := append([]Upgrade(nil), ups...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Name < out[i].Name {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestDpkgPlanSameSourceMovesTogether(t *testing.T) {
	t.Parallel()
	installed := []string{"libssl3 3.0.1; Source: openssl", "openssl 3.0.1", "other 1"}
	available := []string{"libssl3 3.0.2; Source: openssl", "openssl 3.0.2; Depends: libssl3 (>= 3.0.0)", "other 2"}
	w := &aptWorld{dir: t.TempDir(), status: stanzas(installed, true), packages: stanzas(available, false)}
	must(t, os.MkdirAll(filepath.Join(w.dir, "var/lib/dpkg"), 0o755))
	must(t, os.WriteFile(filepath.Join(w.dir, "var/lib/dpkg/status"), []byte(w.status), 0o644))
	plan, err := (&DpkgPlanner{}).Plan(context.Background(), os.DirFS(w.dir), PlanRequest{Fixes: []Fix{{Name: "libssl3"}}, Index: w.index(t), Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	want := "libssl3:amd64 3.0.1 -> 3.0.2\nopenssl:amd64 3.0.1 -> 3.0.2"
	if got := upgradeStrings(plan.Upgrades); got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	if plan.Upgrades[1].Reason != "same source as libssl3" {
		t.Errorf("openssl reason %q", plan.Upgrades[1].Reason)
	}
}
