package demo_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/internal/demo"
	"github.com/patchloop/patchloop/internal/testutil"
)

// TestBuildIsAValidVulnerableDebianImage builds the demo image and checks
// it with dpkg itself: the database audits clean, dpkg-query lists every
// package at the version Build chose, and each vulnerable seed is older
// than the bookworm-security version.
func TestBuildIsAValidVulnerableDebianImage(t *testing.T) {
	testutil.RequireSlow(t)
	ctx := context.Background()
	repos, err := distrorepo.New(distrorepo.Config{CacheDir: filepath.Join(testutil.CacheDir(), "distrorepo")})
	if err != nil {
		t.Fatal(err)
	}
	built, err := demo.Build(ctx, demo.Config{Repos: repos, ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(built.Vulnerable) == 0 {
		t.Fatal("no vulnerable package")
	}
	root := t.TempDir()
	rc := mutate.Extract(built.Image)
	defer rc.Close()
	tarCmd := exec.Command("tar", "-x", "-C", root)
	tarCmd.Stdin = rc
	if out, err := tarCmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	admin := filepath.Join(root, "var/lib/dpkg")
	if out, err := exec.Command("dpkg", "--admindir", admin, "--audit").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("dpkg --audit: %v: %s", err, out)
	}
	out, err := exec.Command("dpkg-query", "--admindir", admin, "-W", "-f", "${Package} ${Version} ${Status}\n").Output()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) != 5 || strings.Join(f[2:], " ") != "install ok installed" {
			t.Fatalf("dpkg-query line %q", l)
		}
		got[f[0]] = f[1]
	}
	if len(got) != len(built.Packages) {
		t.Fatalf("dpkg-query lists %d packages, Build installed %d", len(got), len(built.Packages))
	}
	for _, p := range built.Packages {
		if got[p.Name] != p.NewVersion {
			t.Errorf("%s: dpkg says %q, want %q", p.Name, got[p.Name], p.NewVersion)
		}
	}
	for name, sec := range built.Vulnerable {
		c, err := exec.Command("dpkg", "--compare-versions", got[name], "lt", sec).CombinedOutput()
		if err != nil {
			t.Errorf("%s %s is not older than bookworm-security's %s (%s)", name, got[name], sec, c)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/os-release")); err != nil || !strings.Contains(string(b), "bookworm") {
		t.Fatalf("etc/os-release: %v %q", err, b)
	}
	t.Logf("demo image: %d packages, vulnerable %v", len(built.Packages), built.Vulnerable)
}
