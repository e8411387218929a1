package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/patchloop/patchloop/internal/regserver"
	"github.com/patchloop/patchloop/internal/testutil"
)

// TestDemo runs `patchloop demo` and then checks its result with dpkg:
// the registry storage it leaves is served again, each patched tag is
// pulled and unpacked, its dpkg database audits clean and every package
// the demo called vulnerable is now at least bookworm-security's version.
func TestDemo(t *testing.T) {
	testutil.RequireSlow(t)
	h := newHarness(t)
	dir := t.TempDir()
	r := h.ok("", "demo", "--dir", dir, "--cache-dir", filepath.Join(testutil.CacheDir(), "xdg-cache", "patchloop"))
	for _, want := range []string{"cycle complete", "Patched images:", "Demo finished in"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	vuln := regexp.MustCompile(`(\S+) (\S+) \(bookworm-security has (\S+)\)`).FindAllStringSubmatch(r.stdout, -1)
	if len(vuln) == 0 {
		t.Fatalf("demo named no vulnerable package:\n%s", r.stdout)
	}
	patched := regexp.MustCompile(`-> (\S+) \(sha256:`).FindAllStringSubmatch(r.stdout, -1)
	if len(patched) != len(demoTags) {
		t.Fatalf("%d patched images, want %d:\n%s", len(patched), len(demoTags), r.stdout)
	}
	reg, err := regserver.Start(context.Background(), regserver.Config{Dir: filepath.Join(dir, "registry")})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for _, p := range patched {
		_, repoTag, _ := strings.Cut(p[1], "/")
		ref, err := name.ParseReference(reg.Addr+"/"+repoTag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		root := t.TempDir()
		rc := mutate.Extract(img)
		tarCmd := exec.Command("tar", "-x", "-C", root)
		tarCmd.Stdin = rc
		if out, err := tarCmd.CombinedOutput(); err != nil {
			t.Fatalf("tar: %v: %s", err, out)
		}
		rc.Close()
		admin := filepath.Join(root, "var/lib/dpkg")
		if out, err := exec.Command("dpkg", "--admindir", admin, "--audit").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
			t.Fatalf("%s: dpkg --audit: %v: %s", repoTag, err, out)
		}
		for _, v := range vuln {
			out, err := exec.Command("dpkg-query", "--admindir", admin, "-W", "-f", "${Version}", v[1]).Output()
			if err != nil {
				t.Fatalf("%s: dpkg-query %s: %v", repoTag, v[1], err)
			}
			if err := exec.Command("dpkg", "--compare-versions", string(out), "ge", v[3]).Run(); err != nil {
				t.Fatalf("%s: %s is %s, want at least %s", repoTag, v[1], out, v[3])
			}
		}
	}
}
