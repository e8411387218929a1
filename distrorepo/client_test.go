package distrorepo_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/distrorepo/internal/debtest"
	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/version"
)

// testOS has no built-in archive, so only configured sources are used.
var testOS = pkgdb.OS{ID: "testos", VersionID: "1", Family: pkgdb.Deb}

func gzipText(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.String()
}

// helloDebs are the packages of the test suites: hello with its own
// changelog, and hello-data whose doc directory links to hello's.
func helloDebs(t *testing.T, version string) []debtest.Spec {
	return []debtest.Spec{
		{Name: "hello", Version: version, Source: "hello-src",
			Extra: []string{"Depends: libc6 (>= 2.36), hello-data (= " + version + ") | hello-legacy", "Multi-Arch: foreign"},
			Files: map[string]string{"usr/share/doc/hello/changelog.Debian.gz": gzipText(t,
				"hello-src ("+version+") stable-security; urgency=high\n\n  * Fix CVE-2026-0001.\n")}},
		{Name: "hello-data", Version: version, Source: "hello-src", Arch: "all",
			Symlinks: map[string]string{"usr/share/doc/hello-data": "hello"},
			Files:    map[string]string{"usr/share/hello/data.txt": "data\n"}},
	}
}

type bundle struct {
	repo *testRepo
	key  gpgKey
	cfg  distrorepo.Config
}

func setup(t *testing.T) *bundle {
	t.Helper()
	repo := newTestRepo(t)
	key := newGPGKey(t)
	return &bundle{repo: repo, key: key, cfg: distrorepo.Config{
		CacheDir:  t.TempDir(),
		Keyrings:  []string{key.pubKey},
		RetryWait: time.Millisecond,
	}}
}

func (b *bundle) source(suite string) distrorepo.Source {
	return distrorepo.Source{URI: b.repo.URI(), Suite: suite, Components: []string{"main"}}
}

// index builds a client from cfg with the given suites configured and
// indexes them.
func (b *bundle) index(t *testing.T, cfg distrorepo.Config, suites ...string) (*distrorepo.Client, *distrorepo.Index, error) {
	t.Helper()
	for _, s := range suites {
		cfg.Repositories = append(cfg.Repositories, b.source(s))
	}
	c, err := distrorepo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	set, err := c.Sources(nil, testOS, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	ix, err := c.Index(context.Background(), set)
	return c, ix, err
}

func TestGoodRepository(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.repo.publish(suiteSpec{name: "stable", debs: helloDebs(t, "1.0-1"), sign: b.key.signer(false)})
	b.repo.publish(suiteSpec{name: "stable-security", debs: helloDebs(t, "1.0-1+deb1u1"), sign: b.key.signer(false)})
	c, ix, err := b.index(t, b.cfg, "stable", "stable-security")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hellos := ix.Packages("hello")
	if len(hellos) != 2 {
		t.Fatalf("hello entries = %v", hellos)
	}
	got := map[string]distrorepo.Pocket{}
	for _, p := range hellos {
		got[p.Version] = p.Suite.Pocket
	}
	if got["1.0-1"] != distrorepo.PocketRelease || got["1.0-1+deb1u1"] != distrorepo.PocketSecurity {
		t.Fatalf("pockets = %v", got)
	}
	for _, s := range ix.Suites() {
		if !s.Signed || s.Signer == "" {
			t.Errorf("suite %s: signed=%v signer=%q", s, s.Signed, s.Signer)
		}
	}
	h := hellos[1]
	if h.Source != "hello-src" || h.SourceVersion != h.Version || h.MultiArch != "foreign" {
		t.Errorf("hello = %+v", h)
	}
	if got, want := h.Depends.String(), "libc6 (>= 2.36), hello-data (= 1.0-1+deb1u1) | hello-legacy"; got != want {
		t.Errorf("depends = %q, want %q", got, want)
	}
	f, err := c.Fetch(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	f.Close()
	if st.Size() != h.Size || !strings.HasPrefix(f.Name(), b.cfg.CacheDir) {
		t.Errorf("fetched %s size %d, want size %d in the cache", f.Name(), st.Size(), h.Size)
	}
	cl, err := c.Changelog(ctx, ix, h)
	if err != nil || !strings.Contains(string(cl), "CVE-2026-0001") {
		t.Fatalf("changelog = %q, %v", cl, err)
	}
	newest, err := ix.Newest("hello", version.DebComparer{}, nil)
	if err != nil || newest.Version != "1.0-1+deb1u1" {
		t.Fatalf("newest hello = %v, %v", newest, err)
	}
	release, err := ix.Newest("hello", version.DebComparer{}, func(p *distrorepo.Package) bool { return p.Suite.Pocket == distrorepo.PocketRelease })
	if err != nil || release.Version != "1.0-1" {
		t.Fatalf("newest hello in the release pocket = %v, %v", release, err)
	}
	// A filtered index holds just the named packages, the same entries.
	set, _ := c.Sources(nil, testOS, "amd64")
	fix, err := c.Index(ctx, set, distrorepo.WithPackages("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if fix.Len() != 2 || len(fix.Packages("hello-data")) != 0 || fix.Packages("hello")[1].SHA256 != h.SHA256 {
		t.Fatalf("filtered index = %v", fix.All())
	}
	// hello-data's doc directory links to hello: read from hello's .deb.
	data := ix.Packages("hello-data")[1]
	cl, err = c.Changelog(ctx, ix, data)
	if err != nil || !strings.HasPrefix(string(cl), "hello-src (1.0-1+deb1u1)") {
		t.Fatalf("hello-data changelog = %q, %v", cl, err)
	}
}

func TestDetachedSignature(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.repo.publish(suiteSpec{name: "stable", debs: helloDebs(t, "1"), sign: b.key.signer(true)})
	_, ix, err := b.index(t, b.cfg, "stable")
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Packages("hello")) != 1 || !ix.Suites()[0].Signed {
		t.Fatalf("index = %v", ix.All())
	}
	if b.repo.count("/debian/dists/stable/InRelease") != 1 || b.repo.count("/debian/dists/stable/Release.gpg") != 1 {
		t.Fatalf("hits = %v", b.repo.hits)
	}
}

func TestSignatureFailures(t *testing.T) {
	t.Parallel()
	other := newGoKey(t)
	tests := []struct {
		name    string
		sign    func(b *bundle) func(*testing.T, []byte) map[string][]byte
		wantErr error
	}{
		{"unsigned", func(*bundle) func(*testing.T, []byte) map[string][]byte { return nil }, distrorepo.ErrSignature},
		{"unknown key", func(*bundle) func(*testing.T, []byte) map[string][]byte { return other.signer }, distrorepo.ErrSignature},
		{"tampered InRelease", func(b *bundle) func(*testing.T, []byte) map[string][]byte {
			return func(t *testing.T, rel []byte) map[string][]byte {
				m := b.key.signer(false)(t, rel)
				m["InRelease"] = bytes.Replace(m["InRelease"], []byte("Label: Test"), []byte("Label: Evil"), 1)
				return m
			}
		}, distrorepo.ErrSignature},
		{"tampered Release with detached signature", func(b *bundle) func(*testing.T, []byte) map[string][]byte {
			return func(t *testing.T, rel []byte) map[string][]byte {
				m := b.key.signer(true)(t, bytes.Replace(rel, []byte("Label: Test"), []byte("Label: Evil"), 1))
				return m
			}
		}, distrorepo.ErrSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.repo.publish(suiteSpec{name: "stable", debs: helloDebs(t, "1"), sign: tc.sign(b)})
			_, _, err := b.index(t, b.cfg, "stable")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			for _, want := range []string{"repository " + b.repo.URI() + " stable", "--allow-unsigned-repo", "--keyring"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if n := b.repo.countPrefix("/debian/pool/"); n != 0 {
				t.Errorf("%d package downloads from a refused repository", n)
			}
			cfg := b.cfg
			cfg.AllowUnsigned = true
			_, ix, err := b.index(t, cfg, "stable")
			if err != nil {
				t.Fatalf("with AllowUnsigned: %v", err)
			}
			if ix.Suites()[0].Signed || len(ix.Packages("hello")) != 1 {
				t.Fatalf("with AllowUnsigned: signed=%v hello=%v", ix.Suites()[0].Signed, ix.Packages("hello"))
			}
		})
	}
}

func TestReleaseDates(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name        string
		date, until time.Time
		wantErr     error
	}{
		{"valid", now.Add(-time.Hour), now.Add(24 * time.Hour), nil},
		{"expired Valid-Until", now.Add(-48 * time.Hour), now.Add(-time.Hour), distrorepo.ErrExpired},
		{"Date in the future", now.Add(48 * time.Hour), time.Time{}, distrorepo.ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.repo.publish(suiteSpec{name: "stable", debs: helloDebs(t, "1"), date: tc.date, validUntil: tc.until, sign: b.key.signer(false)})
			_, _, err := b.index(t, b.cfg, "stable")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestCorruptedDebIsRefusedAndNotCached(t *testing.T) {
	t.Parallel()
	b := setup(t)
	paths := b.repo.publish(suiteSpec{name: "stable", debs: helloDebs(t, "1"), sign: b.key.signer(false)})
	c, ix, err := b.index(t, b.cfg, "stable")
	if err != nil {
		t.Fatal(err)
	}
	// Flip one byte of the served .deb, keeping its size.
	raw, err := os.ReadFile(paths["hello"])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(paths["hello"], raw, 0o644); err != nil {
		t.Fatal(err)
	}
	p := ix.Packages("hello")[0]
	_, err = c.Fetch(context.Background(), p)
	if !errors.Is(err, distrorepo.ErrChecksum) {
		t.Fatalf("err = %v, want ErrChecksum", err)
	}
	if _, err := os.Stat(filepath.Join(b.cfg.CacheDir, "sha256", p.SHA256[:2], p.SHA256)); !os.IsNotExist(err) {
		t.Fatalf("corrupt package cached: %v", err)
	}
	left, _ := os.ReadDir(filepath.Join(b.cfg.CacheDir, "tmp"))
	if len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
	// Changelog reads go through the same check.
	if _, err := c.Changelog(context.Background(), ix, p); !errors.Is(err, distrorepo.ErrChecksum) {
		t.Fatalf("changelog err = %v, want ErrChecksum", err)
	}
}

func TestCachedPackageIsReusedAndRechecked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.repo.publish(suiteSpec{name: "stable", debs: helloDebs(t, "1"), sign: b.key.signer(false)})
	c, ix, err := b.index(t, b.cfg, "stable")
	if err != nil {
		t.Fatal(err)
	}
	p := ix.Packages("hello")[0]
	for i := 0; i < 3; i++ {
		f, err := c.Fetch(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if n := b.repo.count("/debian/" + p.Filename); n != 1 {
		t.Fatalf("%d downloads of %s, want 1", n, p.Filename)
	}
	// Damage the cached copy: the next Fetch notices and downloads again.
	cached := filepath.Join(b.cfg.CacheDir, "sha256", p.SHA256[:2], p.SHA256)
	if err := os.WriteFile(cached, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := c.Fetch(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if n := b.repo.count("/debian/" + p.Filename); n != 2 {
		t.Fatalf("%d downloads after cache damage, want 2", n)
	}
}

func TestByHash(t *testing.T) {
	t.Parallel()
	for _, byHash := range []bool{true, false} {
		name := map[bool]string{true: "advertised", false: "not advertised"}[byHash]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.repo.publish(suiteSpec{name: "stable", debs: helloDebs(t, "1"), byHash: byHash, sign: b.key.signer(false)})
			if _, _, err := b.index(t, b.cfg, "stable"); err != nil {
				t.Fatal(err)
			}
			hashed := b.repo.countPrefix("/debian/dists/stable/main/binary-amd64/by-hash/SHA256/")
			plain := b.repo.countPrefix("/debian/dists/stable/main/binary-amd64/Packages")
			if byHash && (hashed != 1 || plain != 0) {
				t.Fatalf("by-hash fetches %d, plain %d; want 1, 0", hashed, plain)
			}
			if !byHash && (hashed != 0 || plain != 1) {
				t.Fatalf("by-hash fetches %d, plain %d; want 0, 1", hashed, plain)
			}
		})
	}
}

func TestMirrorRewrite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.repo.publish(suiteSpec{name: "stable", debs: helloDebs(t, "1"), sign: b.key.signer(false)})
	cfg := b.cfg
	cfg.Mirrors = []distrorepo.Mirror{{From: "http://archive.invalid/debian", To: b.repo.URI()}}
	cfg.Repositories = []distrorepo.Source{{URI: "http://archive.invalid/debian", Suite: "stable", Components: []string{"main"}}}
	c, ix, err := b.index(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := ix.Packages("hello")[0]
	if !strings.HasPrefix(p.URL(), "http://archive.invalid/debian/") {
		t.Errorf("package URL %s does not keep the configured URI", p.URL())
	}
	f, err := c.Fetch(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, path := range []string{"/debian/dists/stable/InRelease", "/debian/dists/stable/main/binary-amd64/Packages.gz", "/debian/" + p.Filename} {
		if n := b.repo.count(path); n != 1 {
			t.Errorf("mirror served %s %d times, want 1", path, n)
		}
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.repo.publish(suiteSpec{name: "stable", debs: helloDebs(t, "1"), sign: b.key.signer(false)})
	failures := map[string]int{}
	b.repo.setFail(func(w http.ResponseWriter, r *http.Request) bool {
		if failures[r.URL.Path] < 2 {
			failures[r.URL.Path]++
			code := http.StatusServiceUnavailable
			if strings.HasSuffix(r.URL.Path, ".gz") {
				code = http.StatusTooManyRequests
			}
			w.WriteHeader(code)
			return true
		}
		return false
	})
	if _, _, err := b.index(t, b.cfg, "stable"); err != nil {
		t.Fatal(err)
	}
	if n := b.repo.count("/debian/dists/stable/InRelease"); n != 3 {
		t.Fatalf("InRelease requested %d times, want 3", n)
	}
	// A permanent failure stops after Retries and names the URL.
	b.repo.setFail(func(w http.ResponseWriter, r *http.Request) bool { w.WriteHeader(http.StatusBadGateway); return true })
	cfg := b.cfg
	cfg.CacheDir = t.TempDir()
	cfg.Retries = 2
	_, _, err := b.index(t, cfg, "stable")
	if err == nil || !strings.Contains(err.Error(), "HTTP 502") || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Fatalf("err = %v", err)
	}
}

func TestIndexIsReusedWithinTTL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.repo.publish(suiteSpec{name: "stable", debs: helloDebs(t, "1"), sign: b.key.signer(false)})
	now := time.Now()
	cfg := b.cfg
	cfg.Now = func() time.Time { return now }
	cfg.Repositories = []distrorepo.Source{b.source("stable")}
	c, err := distrorepo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := c.Sources(nil, testOS, "amd64")
	for i := 0; i < 3; i++ {
		if _, err := c.Index(context.Background(), set); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.repo.count("/debian/dists/stable/InRelease"); n != 1 {
		t.Fatalf("InRelease fetched %d times within the TTL, want 1", n)
	}
	now = now.Add(distrorepo.DefaultIndexTTL + time.Second)
	if _, err := c.Index(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	if n := b.repo.count("/debian/dists/stable/InRelease"); n != 2 {
		t.Fatalf("InRelease fetched %d times after the TTL, want 2", n)
	}
	// A new client (a new run) on the same cache dir reads the index from
	// the decompressed copy in the cache.
	c2, err := distrorepo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := c2.Index(context.Background(), set)
	if err != nil || len(ix.Packages("hello")) != 1 {
		t.Fatalf("index from cache: %v, %v", ix, err)
	}
	// The Packages file itself was downloaded once.
	if n := b.repo.countPrefix("/debian/dists/stable/main/binary-amd64/Packages"); n != 1 {
		t.Fatalf("Packages fetched %d times, want 1", n)
	}
	// A damaged decompressed copy is noticed and the index fetched again.
	plain := ix.Suites()[0].Release.SHA256["main/binary-amd64/Packages"].SHA256
	cached := filepath.Join(cfg.CacheDir, "sha256", plain[:2], plain)
	orig, err := os.ReadFile(cached)
	if err != nil {
		t.Fatalf("decompressed index not cached: %v", err)
	}
	damaged := bytes.Replace(orig, []byte("Package: hello\n"), []byte("Package: hellx\n"), 1)
	if err := os.WriteFile(cached, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	c3, _ := distrorepo.New(cfg)
	ix, err = c3.Index(context.Background(), set)
	if err != nil || len(ix.Packages("hello")) != 1 || len(ix.Packages("hellx")) != 0 {
		t.Fatalf("index after cache damage: %v, %v", ix.All(), err)
	}
	// It was rebuilt from the cached Packages.gz, without the network.
	if again, err := os.ReadFile(cached); err != nil || !bytes.Equal(again, orig) {
		t.Fatalf("decompressed index not restored: %v", err)
	}
	if n := b.repo.countPrefix("/debian/dists/stable/main/binary-amd64/Packages"); n != 1 {
		t.Fatalf("Packages fetched %d times after damage, want 1", n)
	}
}

func TestImageKeysAndSources(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.repo.publish(suiteSpec{name: "stable", debs: helloDebs(t, "1"), sign: b.key.signer(false)})
	pub, err := os.ReadFile(b.key.pubKey)
	if err != nil {
		t.Fatal(err)
	}
	other := newGoKey(t)
	otherPub, _ := os.ReadFile(other.pubKey)
	inline := "Types: deb\nURIs: " + b.repo.URI() + "\nSuites: stable\nComponents: main\nSigned-By:\n"
	for _, l := range strings.Split(strings.TrimSpace(string(pub)), "\n") {
		if l == "" {
			l = "."
		}
		inline += " " + l + "\n"
	}
	tests := []struct {
		name    string
		files   fstest.MapFS
		wantErr bool
	}{
		{"trusted.gpg.d", fstest.MapFS{
			"etc/apt/sources.list":              {Data: []byte("deb " + b.repo.URI() + " stable main\n")},
			"etc/apt/trusted.gpg.d/repo.asc":    {Data: pub},
			"etc/apt/trusted.gpg.d/ignored.txt": {Data: []byte("junk")},
		}, false},
		{"signed-by path", fstest.MapFS{
			"etc/apt/sources.list.d/repo.list": {Data: []byte("deb [signed-by=/usr/share/keyrings/repo.asc arch=amd64] " + b.repo.URI() + " stable main\n")},
			"usr/share/keyrings/repo.asc":      {Data: pub},
			"etc/apt/trusted.gpg.d/other.asc":  {Data: otherPub},
		}, false},
		{"inline deb822 key", fstest.MapFS{
			"etc/apt/sources.list.d/repo.sources": {Data: []byte(inline)},
		}, false},
		{"signed-by names a key that did not sign", fstest.MapFS{
			"etc/apt/sources.list.d/repo.list": {Data: []byte("deb [signed-by=/usr/share/keyrings/other.asc] " + b.repo.URI() + " stable main\n")},
			"usr/share/keyrings/other.asc":     {Data: otherPub},
			"etc/apt/trusted.gpg.d/repo.asc":   {Data: pub},
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := b.cfg
			cfg.Keyrings = nil // only the image's keys
			cfg.CacheDir = t.TempDir()
			c, err := distrorepo.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			set, err := c.Sources(tc.files, testOS, "amd64")
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Sources()) != 1 {
				t.Fatalf("sources = %v, warnings %v", set.Sources(), set.Warnings)
			}
			_, err = c.Index(context.Background(), set)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, distrorepo.ErrSignature) {
				t.Fatalf("err = %v, want ErrSignature", err)
			}
		})
	}
}

func TestFlatRepository(t *testing.T) {
	t.Parallel()
	b := setup(t)
	flat := filepath.Join(b.repo.dir, "flat")
	if err := os.MkdirAll(flat, 0o755); err != nil {
		t.Fatal(err)
	}
	debtest.Build(t, flat, helloDebs(t, "2")[0])
	cmd := exec.Command("dpkg-scanpackages", ".")
	cmd.Dir = flat
	pkgs, err := cmd.Output()
	if err != nil {
		t.Fatalf("dpkg-scanpackages: %v", err)
	}
	if err := os.WriteFile(filepath.Join(flat, "Packages"), pkgs, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pkgs)
	release := fmt.Sprintf("Origin: flat\nDate: %s\nSHA256:\n %s %d Packages\n", time.Now().UTC().Format(time.RFC1123), hex.EncodeToString(sum[:]), len(pkgs))
	for name, data := range b.key.signer(false)(t, []byte(release)) {
		if err := os.WriteFile(filepath.Join(flat, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := b.cfg
	cfg.Repositories = []distrorepo.Source{{URI: b.repo.srv.URL + "/flat", Suite: "./"}}
	c, ix, err := b.index(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ps := ix.Packages("hello")
	if len(ps) != 1 || ps[0].Suite.Pocket != distrorepo.PocketOther {
		t.Fatalf("hello = %v", ps)
	}
	f, err := c.Fetch(context.Background(), ps[0])
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestConcurrentFetchesShareTheCache(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.repo.publish(suiteSpec{name: "stable", debs: helloDebs(t, "1"), sign: b.key.signer(false)})
	_, ix, err := b.index(t, b.cfg, "stable")
	if err != nil {
		t.Fatal(err)
	}
	p := ix.Packages("hello")[0]
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			// Separate clients stand for separate processes on one cache.
			c, err := distrorepo.New(b.cfg)
			if err != nil {
				errs <- err
				return
			}
			f, err := c.Fetch(context.Background(), p)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				errs <- err
				return
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 {
				errs <- fmt.Errorf("read sha256 %s, want %s", got, p.SHA256)
				return
			}
			errs <- nil
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	left, _ := os.ReadDir(filepath.Join(b.cfg.CacheDir, "tmp"))
	if len(left) != 0 {
		t.Fatalf("temp files left: %d", len(left))
	}
}
