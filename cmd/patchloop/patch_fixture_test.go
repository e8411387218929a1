package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/patchloop/patchloop/internal/testutil"
)

// sh runs a command and returns its combined output, failing the test on
// a non-zero exit.
func sh(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func mustNil(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (CI installs it): %v", tool, err)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to install packages with dpkg --root and to chroot")
	}
}

// testDeb is a package built with the real dpkg-deb.
type testDeb struct {
	name, version, arch string
	fields              []string          // extra control lines
	files               map[string]string // absolute path → content
}

// build writes the package into dir and returns its path.
func (d testDeb) build(t testing.TB, dir string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "pkg")
	mustNil(t, os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755))
	ctl := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: Test <test@example.org>\n", d.name, d.version, d.arch)
	for _, f := range d.fields {
		ctl += f + "\n"
	}
	ctl += "Description: test package " + d.name + "\n built by the patch command tests.\n"
	mustNil(t, os.WriteFile(filepath.Join(root, "DEBIAN/control"), []byte(ctl), 0o644))
	mtime := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for p, c := range d.files {
		full := filepath.Join(root, p)
		mustNil(t, os.MkdirAll(filepath.Dir(full), 0o755))
		mustNil(t, os.WriteFile(full, []byte(c), 0o644))
		mustNil(t, os.Chtimes(full, mtime, mtime))
	}
	out := filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", d.name, strings.ReplaceAll(d.version, ":", "%3a"), d.arch))
	sh(t, "dpkg-deb", "--root-owner-group", "-Zxz", "--build", root, out)
	return out
}

// aptRepo is a local apt repository served over HTTP, signed by a key in
// a private GNUPGHOME through the real gpg, laid out like
// deb.debian.org: /debian/dists/<suite>, /debian-security/dists/<suite>.
type aptRepo struct {
	t    testing.TB
	dir  string
	srv  *httptest.Server
	home string
	// PubKey is the armored public key (for --keyring).
	pubKey string

	mu   sync.Mutex
	fail func(w http.ResponseWriter, r *http.Request) bool
}

func newAptRepo(t testing.TB) *aptRepo {
	t.Helper()
	r := &aptRepo{t: t, dir: t.TempDir()}
	files := http.FileServer(http.Dir(r.dir))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		f := r.fail
		r.mu.Unlock()
		if f != nil && f(w, req) {
			return
		}
		files.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	home, err := os.MkdirTemp("", "gnupg-")
	mustNil(t, err)
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		_ = os.RemoveAll(home)
	})
	r.home = home
	sh(t, "gpg", "--homedir", home, "--batch", "--passphrase", "", "--pinentry-mode", "loopback",
		"--quick-gen-key", "patchloop test repo <repo@example.invalid>", "ed25519", "sign", "never")
	r.pubKey = filepath.Join(home, "pub.asc")
	sh(t, "gpg", "--homedir", home, "--batch", "--armor", "--output", r.pubKey, "--export")
	return r
}

// mirrorFlags point the Debian archive at this repository.
func (r *aptRepo) mirrorFlags() []string {
	return []string{"--mirror", "http://deb.debian.org/=" + r.srv.URL + "/", "--keyring", r.pubKey}
}

// publish writes suite under archive ("debian" or "debian-security") with
// debs, for each architecture in archs, and signs its Release.
func (r *aptRepo) publish(archive, suite string, archs []string, debs []testDeb) map[string]string {
	t := r.t
	t.Helper()
	root := filepath.Join(r.dir, archive)
	pool := filepath.Join(root, "pool", suite)
	mustNil(t, os.MkdirAll(pool, 0o755))
	paths := map[string]string{}
	for _, d := range debs {
		paths[d.name+"_"+d.version+"_"+d.arch] = d.build(t, pool)
	}
	index := map[string][]byte{}
	for _, arch := range archs {
		cmd := exec.Command("dpkg-scanpackages", "--multiversion", "--arch", arch, "pool/"+suite)
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		pkgs, err := cmd.Output()
		if err != nil {
			t.Fatalf("dpkg-scanpackages: %v\n%s", err, stderr.String())
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write(pkgs)
		_ = zw.Close()
		index["main/binary-"+arch+"/Packages"] = pkgs
		index["main/binary-"+arch+"/Packages.gz"] = gz.Bytes()
	}
	names := make([]string, 0, len(index))
	for n := range index {
		names = append(names, n)
	}
	sort.Strings(names)
	dist := filepath.Join(root, "dists", suite)
	var rel strings.Builder
	fmt.Fprintf(&rel, "Origin: Debian\nLabel: Debian\nSuite: %s\nCodename: %s\n", suite, suite)
	fmt.Fprintf(&rel, "Date: %s\n", time.Now().Add(-time.Hour).UTC().Format(time.RFC1123))
	fmt.Fprintf(&rel, "Architectures: %s\nComponents: main\nSHA256:\n", strings.Join(archs, " "))
	for _, n := range names {
		sum := sha256.Sum256(index[n])
		fmt.Fprintf(&rel, " %s %d %s\n", hex.EncodeToString(sum[:]), len(index[n]), n)
		dst := filepath.Join(dist, n)
		mustNil(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		mustNil(t, os.WriteFile(dst, index[n], 0o644))
	}
	release := filepath.Join(dist, "Release")
	mustNil(t, os.WriteFile(release, []byte(rel.String()), 0o644))
	in := filepath.Join(dist, "InRelease")
	_ = os.Remove(in)
	sh(t, "gpg", "--homedir", r.home, "--batch", "--output", in, "--clearsign", release)
	return paths
}

// setFail installs a fault: f writes a response and returns true to
// replace the file server's.
func (r *aptRepo) setFail(f func(w http.ResponseWriter, req *http.Request) bool) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

const bookwormOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`

const bookwormSources = `deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
`

// demoSystem is a small Debian bookworm system (no shell, no apt
// binaries) with packages installed by the real dpkg, for arch.
func demoSystem(t testing.TB, arch string, debs ...string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "usr/lib", "usr/bin", "etc/apt", "usr/share"} {
		mustNil(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	mustNil(t, os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644))
	mustNil(t, os.WriteFile(filepath.Join(root, "etc/os-release"), []byte(bookwormOSRelease), 0o644))
	mustNil(t, os.WriteFile(filepath.Join(root, "etc/apt/sources.list"), []byte(bookwormSources), 0o644))
	mustNil(t, os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644))
	mustNil(t, os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\n"), 0o644))
	args := append([]string{"--root=" + root, "--force-architecture", "--force-depends", "--force-script-chrootless", "--force-not-root", "-i"}, debs...)
	sh(t, "dpkg", args...)
	return root
}

// imageOf is a one-layer image of the tree at dir for platform, of media
// type mt (Docker v2 or OCI).
func imageOf(t testing.TB, dir string, arch string, mt types.MediaType) v1.Image {
	t.Helper()
	p := filepath.Join(t.TempDir(), "layer.tar.gz")
	f, err := os.Create(p)
	mustNil(t, err)
	gz := gzip.NewWriter(f)
	mustNil(t, testutil.WriteTree(gz, dir))
	mustNil(t, gz.Close())
	mustNil(t, f.Close())
	layerType, cfgType := types.DockerLayer, types.DockerConfigJSON
	if mt == types.OCIManifestSchema1 {
		layerType, cfgType = types.OCILayer, types.OCIConfigJSON
	}
	layer, err := tarball.LayerFromFile(p, tarball.WithMediaType(layerType))
	mustNil(t, err)
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, mt), cfgType)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "test rootfs"}})
	mustNil(t, err)
	cf, err := img.ConfigFile()
	mustNil(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Entrypoint = []string{"/usr/bin/demo"}
	cf.Config.Env = []string{"PATH=/usr/bin:/bin", "KEEP=1"}
	cf.Config.Labels = map[string]string{"org.example.kept": "yes"}
	img, err = mutate.ConfigFile(img, cf)
	mustNil(t, err)
	return img
}

// unpackRef copies ref out of the registry with skopeo (which converts a
// Docker v2 manifest to OCI) and unpacks it with umoci: both independent
// of our code. It returns the root filesystem.
func unpackRef(t testing.TB, ref string) string {
	t.Helper()
	dir := t.TempDir()
	sh(t, "skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://"+ref, "oci:"+filepath.Join(dir, "oci")+":x")
	bundle := filepath.Join(dir, "bundle")
	sh(t, "umoci", "unpack", "--image", filepath.Join(dir, "oci")+":x", bundle)
	return filepath.Join(bundle, "rootfs")
}

// trivyReport is a Trivy JSON report (schema 2) of one os-pkgs result, as
// Trivy writes it for a Debian image.
func trivyReport(t testing.TB, artifact string, vulns ...[4]string) string {
	t.Helper()
	type vuln struct {
		VulnerabilityID  string
		PkgName          string
		InstalledVersion string
		FixedVersion     string
		Status           string
		Severity         string
	}
	var vs []vuln
	for _, v := range vulns {
		vs = append(vs, vuln{VulnerabilityID: v[0], PkgName: v[1], InstalledVersion: v[2], FixedVersion: v[3], Status: "fixed", Severity: "HIGH"})
	}
	rep := map[string]any{
		"SchemaVersion": 2,
		"ArtifactName":  artifact,
		"ArtifactType":  "container_image",
		"Metadata":      map[string]any{"OS": map[string]any{"Family": "debian", "Name": "12.8"}},
		"Results": []map[string]any{{
			"Target": artifact + " (debian 12.8)", "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": vs,
		}},
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	mustNil(t, err)
	p := filepath.Join(t.TempDir(), "report.json")
	mustNil(t, os.WriteFile(p, b, 0o644))
	return p
}
