package distrorepo_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/patchloop/patchloop/distrorepo/internal/debtest"
)

// testRepo is an apt repository built in a test directory from real .debs
// (dpkg-deb), indexed by the real dpkg-scanpackages and served over HTTP.
type testRepo struct {
	t    *testing.T
	dir  string // served as the repository root
	srv  *httptest.Server
	mu   sync.Mutex
	hits map[string]int
	// fail, when set, may answer a request itself (fault injection).
	fail func(w http.ResponseWriter, r *http.Request) bool
}

func (r *testRepo) URI() string { return r.srv.URL + "/debian" }

// setFail installs a fault injector; it runs under the repo's lock.
func (r *testRepo) setFail(f func(w http.ResponseWriter, r *http.Request) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = f
}

func (r *testRepo) count(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[path]
}

func (r *testRepo) countPrefix(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for p, c := range r.hits {
		if strings.HasPrefix(p, prefix) {
			n += c
		}
	}
	return n
}

func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	r := &testRepo{t: t, dir: t.TempDir(), hits: map[string]int{}}
	files := http.FileServer(http.Dir(r.dir))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.hits[req.URL.Path]++
		failed := r.fail != nil && r.fail(w, req)
		r.mu.Unlock()
		if failed {
			return
		}
		files.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// suiteSpec describes one suite to publish.
type suiteSpec struct {
	name       string
	debs       []debtest.Spec
	date       time.Time
	validUntil time.Time
	byHash     bool
	// sign turns the Release text into the files to publish next to it:
	// "InRelease", "Release.gpg". nil publishes Release unsigned.
	sign func(t *testing.T, release []byte) map[string][]byte
}

// publish builds the debs, runs dpkg-scanpackages and writes the suite.
func (r *testRepo) publish(s suiteSpec) map[string]string {
	t := r.t
	t.Helper()
	root := filepath.Join(r.dir, "debian")
	pool := filepath.Join(root, "pool", s.name)
	if err := os.MkdirAll(pool, 0o755); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, d := range s.debs {
		paths[d.Name] = debtest.Build(t, pool, d)
	}
	cmd := exec.Command("dpkg-scanpackages", "--multiversion", "pool/"+s.name)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pkgs, err := cmd.Output()
	if err != nil {
		t.Fatalf("dpkg-scanpackages: %v\n%s", err, stderr.String())
	}
	dist := filepath.Join(root, "dists", s.name)
	bin := filepath.Join(dist, "main", "binary-amd64")
	if err := os.MkdirAll(filepath.Join(bin, "by-hash", "SHA256"), 0o755); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(pkgs)
	_ = zw.Close()
	index := map[string][]byte{"main/binary-amd64/Packages": pkgs, "main/binary-amd64/Packages.gz": gz.Bytes()}
	names := make([]string, 0, len(index))
	for n := range index {
		names = append(names, n)
	}
	sort.Strings(names)
	date := s.date
	if date.IsZero() {
		date = time.Now().Add(-time.Hour)
	}
	var rel strings.Builder
	fmt.Fprintf(&rel, "Origin: Test\nLabel: Test\nSuite: %s\nCodename: %s\n", s.name, s.name)
	fmt.Fprintf(&rel, "Date: %s\n", date.UTC().Format(time.RFC1123))
	if !s.validUntil.IsZero() {
		fmt.Fprintf(&rel, "Valid-Until: %s\n", s.validUntil.UTC().Format(time.RFC1123))
	}
	if s.byHash {
		rel.WriteString("Acquire-By-Hash: yes\n")
	}
	rel.WriteString("Architectures: amd64\nComponents: main\nSHA256:\n")
	for _, n := range names {
		sum := sha256.Sum256(index[n])
		h := hex.EncodeToString(sum[:])
		fmt.Fprintf(&rel, " %s %d %s\n", h, len(index[n]), n)
		dst := filepath.Join(dist, n)
		if s.byHash {
			// Only the by-hash copy exists, so a plain fetch would fail.
			dst = filepath.Join(dist, filepath.Dir(n), "by-hash", "SHA256", h)
		}
		if err := os.WriteFile(dst, index[n], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	release := []byte(rel.String())
	if err := os.WriteFile(filepath.Join(dist, "Release"), release, 0o644); err != nil {
		t.Fatal(err)
	}
	if s.sign != nil {
		for name, b := range s.sign(t, release) {
			if err := os.WriteFile(filepath.Join(dist, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return paths
}

// gpgKey is a signing key in a private GNUPGHOME, used through the real gpg.
type gpgKey struct {
	home   string
	pubKey string // path of the armored public key
}

func newGPGKey(t *testing.T) gpgKey {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skipf("gpg not installed: %v", err)
	}
	home, err := os.MkdirTemp("", "gnupg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		_ = os.RemoveAll(home)
	})
	run(t, "gpg", "--homedir", home, "--batch", "--passphrase", "", "--pinentry-mode", "loopback",
		"--quick-gen-key", "patchloop test repo <repo@example.invalid>", "ed25519", "sign", "never")
	pub := filepath.Join(home, "pub.asc")
	run(t, "gpg", "--homedir", home, "--batch", "--armor", "--output", pub, "--export")
	return gpgKey{home: home, pubKey: pub}
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// clearsignGPG signs with the real gpg: InRelease, and Release.gpg when
// detached is set (then without InRelease).
func (k gpgKey) signer(detached bool) func(t *testing.T, release []byte) map[string][]byte {
	return func(t *testing.T, release []byte) map[string][]byte {
		in := filepath.Join(t.TempDir(), "Release")
		if err := os.WriteFile(in, release, 0o644); err != nil {
			t.Fatal(err)
		}
		out := in + ".sig"
		if detached {
			run(t, "gpg", "--homedir", k.home, "--batch", "--armor", "--output", out, "--detach-sign", in)
		} else {
			run(t, "gpg", "--homedir", k.home, "--batch", "--output", out, "--clearsign", in)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if detached {
			return map[string][]byte{"Release.gpg": b}
		}
		return map[string][]byte{"InRelease": b}
	}
}

// goKey is a signing key made with go-crypto, for tests that need a
// second, untrusted signer.
type goKey struct {
	entity *openpgp.Entity
	pubKey string
}

func newGoKey(t *testing.T) goKey {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}
	e, err := openpgp.NewEntity("other signer", "", "other@example.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	p := filepath.Join(t.TempDir(), "other.asc")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return goKey{entity: e, pubKey: p}
}

func (k goKey) signer(t *testing.T, release []byte) map[string][]byte {
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, k.entity.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"InRelease": buf.Bytes()}
}
