package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/openvex/go-vex/pkg/vex"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/patch"
)

// demoFixture is a local signed Debian archive where bookworm-security has
// demo 1.0-2 (which dropped a file) over bookworm's 1.0-1, a registry, and
// an image of a system with demo 1.0-1 installed by dpkg.
type demoFixture struct {
	repo    *aptRepo
	reg     *testutil.Registry
	root    string // the original system
	orig    v1.Image
	image   string // reference of the original, repo:tag
	report  string // a Trivy report naming CVE-2099-0001 in demo
	cache   string
	debs    map[string]string
	regOpts []testutil.RegistryOption
}

var (
	demoV1 = testDeb{name: "demo", version: "1.0-1", arch: "amd64", files: map[string]string{
		"/usr/bin/demo": "demo v1\n", "/usr/share/demo/a": "a v1\n", "/usr/share/demo/gone": "dropped in 1.0-2\n",
	}}
	demoV2 = testDeb{name: "demo", version: "1.0-2", arch: "amd64", files: map[string]string{
		"/usr/bin/demo": "demo v2, fixed\n", "/usr/share/demo/a": "a v2\n",
	}}
	keepDeb = testDeb{name: "keep", version: "1.0", arch: "all", files: map[string]string{"/usr/share/keep/k": "kept\n"}}
)

func newDemoFixture(t *testing.T, mt types.MediaType, regOpts ...testutil.RegistryOption) *demoFixture {
	t.Helper()
	requireTools(t, "dpkg", "dpkg-deb", "dpkg-scanpackages", "gpg", "umoci", "skopeo")
	f := &demoFixture{repo: newAptRepo(t), cache: t.TempDir(), debs: map[string]string{}}
	for k, v := range f.repo.publish("debian", "bookworm", []string{"amd64", "arm64"}, []testDeb{demoV1, keepDeb}) {
		f.debs[k] = v
	}
	f.repo.publish("debian", "bookworm-updates", []string{"amd64", "arm64"}, nil)
	for k, v := range f.repo.publish("debian-security", "bookworm-security", []string{"amd64", "arm64"}, []testDeb{demoV2}) {
		f.debs[k] = v
	}
	f.root = demoSystem(t, "amd64", f.debs["demo_1.0-1_amd64"], f.debs["keep_1.0_all"])
	f.orig = imageOf(t, f.root, "amd64", mt)
	f.reg = testutil.StartRegistry(t, regOpts...)
	f.reg.Push(t, "app:1.0", f.orig)
	f.image = f.reg.Addr + "/app:1.0"
	f.report = trivyReport(t, f.image, [4]string{"CVE-2099-0001", "demo", "1.0-1", "1.0-2"})
	return f
}

// args are the flags every patch run of the fixture needs.
func (f *demoFixture) args(extra ...string) []string {
	a := append([]string{"patch", "--cache-dir", f.cache}, f.repo.mirrorFlags()...)
	return append(a, extra...)
}

func (f *demoFixture) tags(t *testing.T) []string {
	t.Helper()
	tags, err := remote.List(f.reg.Ref(t, "app:x").Context())
	mustNil(t, err)
	slices.Sort(tags)
	return tags
}

func decodeResult(t *testing.T, out string) *patch.Result {
	t.Helper()
	var res patch.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decoding patch -o json: %v\n%s", err, out)
	}
	return &res
}

func TestPatchCommand(t *testing.T) {
	t.Parallel()
	f := newDemoFixture(t, types.DockerManifestSchema2)
	h := newHarness(t)
	vexPath := filepath.Join(t.TempDir(), "patch.vex.json")

	r := h.ok("", f.args(f.image, "--report", f.report, "--vex", vexPath, "-o", "json")...)
	res := decodeResult(t, r.stdout)
	if want := f.reg.Addr + "/app:1.0-1"; res.Tag != want {
		t.Fatalf("pushed %q, want %q", res.Tag, want)
	}
	pulled, err := remote.Image(f.reg.Ref(t, "app:1.0-1"))
	mustNil(t, err)
	root := unpackRef(t, f.reg.Addr+"/app:1.0-1")

	t.Run("the upgrade is what dpkg says and dpkg finds nothing wrong", func(t *testing.T) {
		if out := sh(t, "dpkg", "--root="+root, "--audit"); strings.TrimSpace(out) != "" {
			t.Errorf("dpkg --audit: %s", out)
		}
		if out := sh(t, "dpkg", "--root="+root, "--verify", "demo"); strings.TrimSpace(out) != "" {
			t.Errorf("dpkg --verify demo: %s", out)
		}
		got := sh(t, "dpkg-query", "--root="+root, "-W", "-f=${Package} ${Version} ${db:Status-Abbrev}\n")
		if want := "demo 1.0-2 ii \nkeep 1.0 ii \n"; got != want {
			t.Errorf("dpkg-query:\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("the file the new version dropped is gone after extraction", func(t *testing.T) {
		if _, err := os.Lstat(filepath.Join(root, "usr/share/demo/gone")); !os.IsNotExist(err) {
			t.Errorf("usr/share/demo/gone: %v, want it deleted by a whiteout", err)
		}
		b, err := os.ReadFile(filepath.Join(root, "usr/bin/demo"))
		mustNil(t, err)
		if string(b) != "demo v2, fixed\n" {
			t.Errorf("usr/bin/demo = %q", b)
		}
	})
	t.Run("the image keeps the original's config and media types and names its base", func(t *testing.T) {
		mt, err := pulled.MediaType()
		mustNil(t, err)
		if mt != types.DockerManifestSchema2 {
			t.Errorf("media type %s, want Docker v2 kept", mt)
		}
		m, err := pulled.Manifest()
		mustNil(t, err)
		for _, l := range m.Layers {
			if l.MediaType != types.DockerLayer {
				t.Errorf("layer media type %s", l.MediaType)
			}
		}
		cf, err := pulled.ConfigFile()
		mustNil(t, err)
		ocf, err := f.orig.ConfigFile()
		mustNil(t, err)
		if !slices.Equal(cf.Config.Entrypoint, ocf.Config.Entrypoint) || !slices.Equal(cf.Config.Env, ocf.Config.Env) || cf.Config.Labels["org.example.kept"] != "yes" {
			t.Errorf("config changed: %+v", cf.Config)
		}
		if len(cf.History) != len(ocf.History)+1 || !strings.Contains(cf.History[len(cf.History)-1].CreatedBy, "demo 1.0-1→1.0-2") {
			t.Errorf("history %+v", cf.History)
		}
		if cf.Config.Labels[patch.LabelFixedCVEs] != "CVE-2099-0001" || !strings.Contains(cf.Config.Labels[patch.LabelPatchedPackages], "demo 1.0-1→1.0-2") {
			t.Errorf("labels %v", cf.Config.Labels)
		}
		od, err := f.orig.Digest()
		mustNil(t, err)
		name, dg, ok, err := patch.OriginalOf(pulled)
		mustNil(t, err)
		if !ok || dg != od || name != f.image {
			t.Errorf("OriginalOf = %q %v %v, want %s@%s", name, dg, ok, f.image, od)
		}
		if ol, _ := f.orig.Layers(); len(m.Layers) != len(ol)+1 {
			t.Errorf("%d layers, want %d", len(m.Layers), len(ol)+1)
		}
	})
	t.Run("the OpenVEX document states the fix for the pushed digest and is attached as a referrer", func(t *testing.T) {
		b, err := os.ReadFile(vexPath)
		mustNil(t, err)
		doc, err := vex.Parse(b)
		mustNil(t, err)
		dg, err := pulled.Digest()
		mustNil(t, err)
		purl := patch.ImagePURL(f.reg.Ref(t, "app@"+dg.String()).(name.Digest))
		if len(doc.Statements) != 1 {
			t.Fatalf("statements %+v", doc.Statements)
		}
		s := doc.Statements[0]
		if s.Vulnerability.Name != "CVE-2099-0001" || s.Status != vex.StatusFixed || len(s.Products) != 1 || s.Products[0].ID != purl {
			t.Errorf("statement %+v, want CVE-2099-0001 fixed in %s", s, purl)
		}
		idx, err := remote.Referrers(f.reg.Ref(t, "app@"+dg.String()).(name.Digest))
		mustNil(t, err)
		im, err := idx.IndexManifest()
		mustNil(t, err)
		if len(im.Manifests) != 1 || im.Manifests[0].ArtifactType != patch.VEXMediaType || im.Manifests[0].Digest != res.VEXDigest {
			t.Fatalf("referrers %+v, want the vex artifact %s", im.Manifests, res.VEXDigest)
		}
		art, err := remote.Image(f.reg.Ref(t, "app@"+res.VEXDigest.String()))
		mustNil(t, err)
		ls, err := art.Layers()
		mustNil(t, err)
		rc, err := ls[0].Compressed()
		mustNil(t, err)
		attached, err := io.ReadAll(rc)
		rc.Close()
		mustNil(t, err)
		if string(attached) != string(b) {
			t.Errorf("attached document differs from --vex file:\n%s\n%s", attached, b)
		}
		// distribution v3 has no referrers API: the tag-schema fallback
		// holds the list.
		if !slices.Contains(f.tags(t), "sha256-"+dg.Hex) {
			t.Errorf("no referrers fallback tag sha256-%s in %v", dg.Hex, f.tags(t))
		}
	})
	t.Run("a re-patch starts from the original and takes the next incremental tag", func(t *testing.T) {
		r := h.ok("", f.args(f.reg.Addr+"/app:1.0-1", "--report", f.report, "-o", "json")...)
		res2 := decodeResult(t, r.stdout)
		if want := f.reg.Addr + "/app:1.0-2"; res2.Tag != want {
			t.Errorf("re-patch pushed %q, want %q", res2.Tag, want)
		}
		od, _ := f.orig.Digest()
		if res2.OriginalDigest != od || res2.Original != f.image {
			t.Errorf("re-patch built on %s@%s, want %s@%s", res2.Original, res2.OriginalDigest, f.image, od)
		}
		img, err := remote.Image(f.reg.Ref(t, "app:1.0-2"))
		mustNil(t, err)
		ls, _ := img.Layers()
		ol, _ := f.orig.Layers()
		if len(ls) != len(ol)+1 {
			t.Errorf("re-patch has %d layers, want %d (patch layers never stack)", len(ls), len(ol)+1)
		}
	})
	t.Run("floating and explicit tags", func(t *testing.T) {
		h.ok("", f.args(f.image, "--report", f.report, "--tag-convention", "floating")...)
		h.ok("", f.args(f.image, "--report", f.report, "--tag", "mine")...)
		tags := f.tags(t)
		for _, want := range []string{"1.0-patched", "mine"} {
			if !slices.Contains(tags, want) {
				t.Errorf("tags %v lack %s", tags, want)
			}
		}
	})
	t.Run("dry run prints the plan and pushes nothing", func(t *testing.T) {
		before := f.tags(t)
		r := h.ok("", f.args(f.image, "--report", f.report, "--dry-run")...)
		if !strings.Contains(r.stdout, "demo") || !strings.Contains(r.stdout, "1.0-2") || !strings.Contains(r.stdout, "dry run: would push "+f.reg.Addr+"/app:1.0-3") {
			t.Errorf("dry run output:\n%s", r.stdout)
		}
		if after := f.tags(t); !slices.Equal(before, after) {
			t.Errorf("dry run changed tags %v → %v", before, after)
		}
	})
	t.Run("nothing to fix exits 0 saying already up to date", func(t *testing.T) {
		before := f.tags(t)
		empty := trivyReport(t, f.image)
		r := h.ok("", f.args(f.image, "--report", empty)...)
		if !strings.Contains(r.stdout, "already up to date") {
			t.Errorf("output %q", r.stdout)
		}
		if after := f.tags(t); !slices.Equal(before, after) {
			t.Errorf("up-to-date run changed tags %v → %v", before, after)
		}
	})
	t.Run("past 999 incremental patches the command refuses", func(t *testing.T) {
		f.reg.PushRandom(t, "app:1.0-999")
		before := f.tags(t)
		r := h.fail("", f.args(f.image, "--report", f.report)...)
		if !strings.Contains(r.stderr, "no more than 999 patches") {
			t.Errorf("stderr %q", r.stderr)
		}
		if after := f.tags(t); !slices.Equal(before, after) {
			t.Errorf("tags changed %v → %v", before, after)
		}
	})
	t.Run("--all upgrades without a report", func(t *testing.T) {
		r := h.ok("", f.args(f.image, "--all", "--tag", "all", "-o", "json")...)
		res := decodeResult(t, r.stdout)
		if len(res.Platforms) != 1 || res.Platforms[0].Plan == nil || len(res.Platforms[0].Plan.Upgrades) != 1 || res.Platforms[0].Plan.Upgrades[0].NewVersion != "1.0-2" {
			t.Errorf("--all result %+v", res.Platforms)
		}
		if res.VEX != nil {
			t.Errorf("--all without findings fixed nothing known, yet a VEX document was made")
		}
	})
}

// TestPatchNeverOverwritesAnIncrementalTag hides an existing 1.0-1 from
// the tag list, so the patch picks it, and checks that the check made just
// before the tag is written refuses to overwrite it.
func TestPatchNeverOverwritesAnIncrementalTag(t *testing.T) {
	t.Parallel()
	hide := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/tags/list") {
				rec := &captureWriter{header: http.Header{}}
				next.ServeHTTP(rec, r)
				var l struct {
					Name string   `json:"name"`
					Tags []string `json:"tags"`
				}
				if err := json.Unmarshal(rec.body, &l); err == nil {
					l.Tags = slices.DeleteFunc(l.Tags, func(s string) bool { return s == "1.0-1" })
					for k, v := range rec.header {
						if k != "Content-Length" {
							w.Header()[k] = v
						}
					}
					_ = json.NewEncoder(w).Encode(l)
					return
				}
				w.WriteHeader(rec.code)
				_, _ = w.Write(rec.body)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	f := newDemoFixture(t, types.OCIManifestSchema1, testutil.WithHandlerWrap(hide))
	other := f.reg.PushRandom(t, "app:1.0-1")
	od, _ := other.Digest()
	h := newHarness(t)
	r := h.fail("", f.args(f.image, "--report", f.report)...)
	if !strings.Contains(r.stderr, "already exists") || !strings.Contains(r.stderr, "1.0-1") {
		t.Errorf("stderr %q, want the tag refused", r.stderr)
	}
	d, err := remote.Head(f.reg.Ref(t, "app:1.0-1"))
	mustNil(t, err)
	if d.Digest != od {
		t.Errorf("app:1.0-1 now %s, want the earlier image %s", d.Digest, od)
	}
}

type captureWriter struct {
	header http.Header
	code   int
	body   []byte
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	c.body = append(c.body, b...)
	return len(b), nil
}
func (c *captureWriter) WriteHeader(code int) { c.code = code }

// TestPatchRegistryFailingMidPush injects 500s and connection resets into
// blob and manifest uploads: no new tag appears, and a rerun succeeds.
func TestPatchRegistryFailingMidPush(t *testing.T) {
	t.Parallel()
	var mode atomic.Int32 // 0: healthy, 1: blob uploads fail, 2: manifest puts by digest fail
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch m := mode.Load(); {
			case m == 1 && strings.Contains(r.URL.Path, "/blobs/uploads/") && r.Method != http.MethodPost:
				// The upload session opens; its data is cut off.
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, err := hj.Hijack(); err == nil {
						_ = c.(*net.TCPConn).SetLinger(0)
						_ = c.Close()
						return
					}
				}
				http.Error(w, "injected", http.StatusInternalServerError)
				return
			case m == 2 && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256:"):
				http.Error(w, "injected", http.StatusInternalServerError)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	f := newDemoFixture(t, types.OCIManifestSchema1, testutil.WithHandlerWrap(wrap))
	h := newHarness(t)
	before := f.tags(t)
	for _, m := range []int32{1, 2} {
		mode.Store(m)
		r := h.fail("", f.args(f.image, "--report", f.report)...)
		if after := f.tags(t); !slices.Equal(before, after) {
			t.Fatalf("failed push (mode %d) left tags %v → %v", m, before, after)
		}
		t.Logf("mode %d: %s", m, oneLine(t, r.stderr))
		if strings.Contains(r.stderr, "_state=") {
			t.Errorf("mode %d: the error shows the upload session's state token: %s", m, r.stderr)
		}
	}
	mode.Store(0)
	r := h.ok("", f.args(f.image, "--report", f.report, "-o", "json")...)
	if res := decodeResult(t, r.stdout); res.Tag != f.reg.Addr+"/app:1.0-1" {
		t.Errorf("rerun pushed %s", res.Tag)
	}
	root := unpackRef(t, f.reg.Addr+"/app:1.0-1")
	if out := sh(t, "dpkg", "--root="+root, "--verify", "demo"); strings.TrimSpace(out) != "" {
		t.Errorf("dpkg --verify demo after rerun: %s", out)
	}
}

// TestPatchRefusesBadArchives: a .deb whose bytes do not match the index,
// and an InRelease signed by a key nobody trusts, are refused and nothing
// is pushed.
func TestPatchRefusesBadArchives(t *testing.T) {
	t.Parallel()
	t.Run("corrupted package", func(t *testing.T) {
		f := newDemoFixture(t, types.OCIManifestSchema1)
		p := f.debs["demo_1.0-2_amd64"]
		f.repo.setFail(func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasSuffix(r.URL.Path, filepath.Base(p)) {
				return false
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return false
			}
			b[len(b)/2] ^= 0xff
			_, _ = w.Write(b)
			return true
		})
		r := newHarness(t).fail("", f.args(f.image, "--report", f.report)...)
		if !strings.Contains(strings.ToLower(r.stderr), "checksum") && !strings.Contains(strings.ToLower(r.stderr), "sha256") {
			t.Errorf("stderr %q, want a checksum mismatch", r.stderr)
		}
		if tags := f.tags(t); !slices.Equal(tags, []string{"1.0"}) {
			t.Errorf("tags %v after a refused package", tags)
		}
	})
	t.Run("bad InRelease signature", func(t *testing.T) {
		f := newDemoFixture(t, types.OCIManifestSchema1)
		// Re-sign the security suite's Release with a second key that is
		// not given to patchloop.
		other := newAptRepo(t)
		in := filepath.Join(f.repo.dir, "debian-security/dists/bookworm-security/InRelease")
		mustNil(t, os.Remove(in))
		sh(t, "gpg", "--homedir", other.home, "--batch", "--output", in, "--clearsign", filepath.Join(f.repo.dir, "debian-security/dists/bookworm-security/Release"))
		r := newHarness(t).fail("", f.args(f.image, "--report", f.report)...)
		if !strings.Contains(strings.ToLower(r.stderr), "sign") {
			t.Errorf("stderr %q, want the signature refused", r.stderr)
		}
		if tags := f.tags(t); !slices.Equal(tags, []string{"1.0"}) {
			t.Errorf("tags %v after a refused archive", tags)
		}
	})
}

func TestPatchRejectsBadFlags(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, args := range [][]string{
		{"patch", "r.example/a:1", "--all", "--report", "x.json"},
		{"patch", "r.example/a:1", "--tag", "x", "--tag-convention", "floating"},
		{"patch", "r.example/a:1", "--tag-convention", "sometimes"},
		{"patch", "r.example/a:1", "--tag", "bad tag"},
		{"patch", "r.example/a:1", "--mirror", "nonsense"},
	} {
		r := h.fail("", args...)
		if r.code != 2 && r.code != 1 {
			t.Errorf("%v: exit %d", args, r.code)
		}
		if strings.Count(strings.TrimSpace(r.stderr), "\n") > 2 {
			t.Errorf("%v: stderr %q", args, r.stderr)
		}
	}
}

// TestPatchMultiPlatformIndex patches an OCI index of amd64 and arm64
// images natively (each with its own architecture's packages, no
// emulation) and passes a platform it cannot patch through unchanged.
func TestPatchMultiPlatformIndex(t *testing.T) {
	t.Parallel()
	f := newDemoFixture(t, types.OCIManifestSchema1)
	arm := func(d testDeb) testDeb { d.arch = "arm64"; return d }
	armDebs := f.repo.publish("debian", "bookworm", []string{"amd64", "arm64"}, []testDeb{arm(demoV1)})
	f.repo.publish("debian-security", "bookworm-security", []string{"amd64", "arm64"}, []testDeb{arm(demoV2)})
	armRoot := demoSystem(t, "arm64", armDebs["demo_1.0-1_arm64"], f.debs["keep_1.0_all"])
	armImg := imageOf(t, armRoot, "arm64", types.OCIManifestSchema1)
	other := f.reg.PushRandom(t, "other:1")

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx,
		mutate.IndexAddendum{Add: f.orig, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: armImg, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}, Annotations: map[string]string{"org.example.child": "kept"}}},
	)
	idx = mutate.Annotations(idx, map[string]string{"org.example.index": "kept"}).(v1.ImageIndex)
	mustNil(t, remote.WriteIndex(f.reg.Ref(t, "multi:1.0"), idx))
	origIM, err := idx.IndexManifest()
	mustNil(t, err)
	origDigest, err := idx.Digest()
	mustNil(t, err)

	r := newHarness(t).ok("", f.args(f.reg.Addr+"/multi:1.0", "--report", f.report, "-o", "json")...)
	res := decodeResult(t, r.stdout)
	if res.Tag != f.reg.Addr+"/multi:1.0-1" || len(res.Platforms) != 3 {
		t.Fatalf("result %+v", res)
	}
	pidx, err := remote.Index(f.reg.Ref(t, "multi:1.0-1"))
	mustNil(t, err)
	im, err := pidx.IndexManifest()
	mustNil(t, err)
	if im.MediaType != types.OCIImageIndex || im.Annotations["org.example.index"] != "kept" || im.Annotations[patch.AnnotationBaseDigest] != origDigest.String() {
		t.Errorf("patched index media type %s, annotations %v", im.MediaType, im.Annotations)
	}
	if len(im.Manifests) != 3 {
		t.Fatalf("patched index has %d manifests", len(im.Manifests))
	}
	for i := range 2 {
		if im.Manifests[i].Digest == origIM.Manifests[i].Digest || !reflectPlatformEqual(im.Manifests[i].Platform, origIM.Manifests[i].Platform) {
			t.Errorf("manifest %d: %+v, want patched with the original platform %+v", i, im.Manifests[i], origIM.Manifests[i].Platform)
		}
	}
	got, _ := json.Marshal(im.Manifests[2])
	want, _ := json.Marshal(origIM.Manifests[2])
	if string(got) != string(want) {
		t.Errorf("unpatchable platform changed:\n%s\nwant\n%s", got, want)
	}
	if res.Platforms[2].Skipped == "" || res.Platforms[2].Plan != nil {
		t.Errorf("s390x result %+v, want skipped", res.Platforms[2])
	}

	t.Run("a re-patch of the patched index starts from the original index", func(t *testing.T) {
		r := newHarness(t).ok("", f.args(f.reg.Addr+"/multi:1.0-1", "--report", f.report, "-o", "json")...)
		res2 := decodeResult(t, r.stdout)
		if res2.Tag != f.reg.Addr+"/multi:1.0-2" || res2.OriginalDigest != origDigest {
			t.Errorf("re-patch pushed %s built on %s, want multi:1.0-2 on %s", res2.Tag, res2.OriginalDigest, origDigest)
		}
		if res2.Platforms[0].Patched != res.Platforms[0].Patched {
			t.Errorf("same original and packages gave %s, then %s", res.Platforms[0].Patched, res2.Platforms[0].Patched)
		}
	})
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch+" files and dpkg database, read without running anything", func(t *testing.T) {
			dir := t.TempDir()
			sh(t, "skopeo", "copy", "--quiet", "--src-tls-verify=false", "--override-arch", arch, "docker://"+f.reg.Addr+"/multi:1.0-1", "oci:"+filepath.Join(dir, "oci")+":x")
			sh(t, "umoci", "unpack", "--image", filepath.Join(dir, "oci")+":x", filepath.Join(dir, "bundle"))
			root := filepath.Join(dir, "bundle", "rootfs")
			got := sh(t, "dpkg-query", "--root="+root, "-W", "-f=${Package}:${Architecture} ${Version} ${db:Status-Abbrev}\n", "demo")
			if want := "demo:" + arch + " 1.0-2 ii \n"; got != want {
				t.Errorf("dpkg-query: %q, want %q", got, want)
			}
			if out := sh(t, "dpkg", "--root="+root, "--verify", "demo"); strings.TrimSpace(out) != "" {
				t.Errorf("dpkg --verify demo: %s", out)
			}
			if _, err := os.Lstat(filepath.Join(root, "usr/share/demo/gone")); !os.IsNotExist(err) {
				t.Errorf("usr/share/demo/gone still there: %v", err)
			}
		})
	}
}

func reflectPlatformEqual(a, b *v1.Platform) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equals(*b)
}
