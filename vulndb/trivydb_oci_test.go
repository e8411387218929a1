package vulndb_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/vulndb"
)

type ociBundle struct {
	reg     *testutil.Registry
	blobGET *atomic.Int64
	dbDir   string
}

func setupOCI(t *testing.T) ociBundle {
	t.Helper()
	var blobGET atomic.Int64
	reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				blobGET.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	}))
	dbDir := t.TempDir()
	buildTrivyDB(t, dbDir, []trivyEntry{
		{"debian 12", "openssl", "CVE-2024-0001", map[string]any{"FixedVersion": "3.0.13-1~deb12u1"}},
	}, nil, nil)
	return ociBundle{reg: reg, blobGET: &blobGET, dbDir: dbDir}
}

func TestTrivyDBArtifactRoundTripsThroughRegistry(t *testing.T) {
	t.Parallel()
	b := setupOCI(t)
	ctx := context.Background()
	art, err := vulndb.TrivyDBArtifact(b.dbDir)
	if err != nil {
		t.Fatal(err)
	}
	ref := b.reg.Ref(t, "aquasecurity/trivy-db:2")
	if err := remote.Write(ref, art); err != nil {
		t.Fatal(err)
	}

	// The manifest has Trivy's media types.
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		MediaType string
		Config    struct{ MediaType string }
		Layers    []struct{ MediaType string }
	}
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != string(types.OCIManifestSchema1) || m.Config.MediaType != string(vulndb.TrivyDBConfigMediaType) ||
		len(m.Layers) != 1 || m.Layers[0].MediaType != string(vulndb.TrivyDBLayerMediaType) {
		t.Fatalf("manifest %s", desc.Manifest)
	}

	cache := t.TempDir()
	dir, err := vulndb.PullTrivyDB(ctx, ref, cache)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{vulndb.TrivyDBFile, vulndb.TrivyMetadataFile} {
		if fileSHA(t, filepath.Join(dir, f)) != fileSHA(t, filepath.Join(b.dbDir, f)) {
			t.Errorf("%s differs after the round trip", f)
		}
	}
	db, err := vulndb.OpenTrivyDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Find(ctx, bookworm, bookwormPkgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 { // libssl3 and openssl share the source
		t.Errorf("findings %+v, want libssl3 and openssl", got)
	}

	// A second pull of the same digest only reads the manifest.
	before := b.blobGET.Load()
	dir2, err := vulndb.PullTrivyDB(ctx, ref, cache)
	if err != nil {
		t.Fatal(err)
	}
	if dir2 != dir || b.blobGET.Load() != before {
		t.Errorf("second pull: dir %s (first %s), %d more blob GETs", dir2, dir, b.blobGET.Load()-before)
	}
}

// TestPullTrivyDBReadsArtifactMadeByOtherTools pushes the artifact as
// Trivy's own release job makes it (tar czf, an OCI layout copied with
// skopeo) and pulls it.
func TestPullTrivyDBReadsArtifactMadeByOtherTools(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("skopeo not installed")
	}
	b := setupOCI(t)
	layout := t.TempDir()
	blobs := filepath.Join(layout, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	tgz := filepath.Join(t.TempDir(), "db.tar.gz")
	run(t, b.dbDir, "tar", "czf", tgz, vulndb.TrivyDBFile, vulndb.TrivyMetadataFile)
	layer := putBlob(t, blobs, mustRead(t, tgz))
	config := putBlob(t, blobs, []byte("{}"))
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},`+
		`"layers":[{"mediaType":%q,"digest":%q,"size":%d,"annotations":{"org.opencontainers.image.title":"db.tar.gz"}}]}`,
		types.OCIManifestSchema1, vulndb.TrivyDBConfigMediaType, config.digest, config.size,
		vulndb.TrivyDBLayerMediaType, layer.digest, layer.size)
	man := putBlob(t, blobs, []byte(manifest))
	index := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":%q,"digest":%q,"size":%d,"annotations":{"org.opencontainers.image.ref.name":"2"}}]}`,
		types.OCIManifestSchema1, man.digest, man.size)
	writeFile(t, filepath.Join(layout, "index.json"), index)
	writeFile(t, filepath.Join(layout, "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`)
	run(t, "", "skopeo", "copy", "--dest-tls-verify=false", "oci:"+layout+":2", "docker://"+b.reg.Addr+"/mirror/trivy-db:2")

	dir, err := vulndb.PullTrivyDB(context.Background(), b.reg.Ref(t, "mirror/trivy-db:2"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if fileSHA(t, filepath.Join(dir, vulndb.TrivyDBFile)) != fileSHA(t, filepath.Join(b.dbDir, vulndb.TrivyDBFile)) {
		t.Error("trivy.db differs")
	}
	if _, err := vulndb.OpenTrivyDB(dir); err != nil {
		t.Error(err)
	}
}

func TestPullTrivyDBRejectsHostileLayers(t *testing.T) {
	t.Parallel()
	b := setupOCI(t)
	meta := mustRead(t, filepath.Join(b.dbDir, vulndb.TrivyMetadataFile))
	big := bytes.Repeat([]byte{0}, 4<<20) // compresses to a few KiB
	cases := []struct {
		name    string
		entries []tarEntry
		mt      types.MediaType
		want    string
	}{
		{"traversal", []tarEntry{{name: "../trivy.db", body: []byte("x")}, {name: "metadata.json", body: meta}}, vulndb.TrivyDBLayerMediaType, "no trivy.db"},
		{"absolute", []tarEntry{{name: "/trivy.db", body: []byte("x")}, {name: "metadata.json", body: meta}}, vulndb.TrivyDBLayerMediaType, "no trivy.db"},
		{"symlink", []tarEntry{{name: "trivy.db", link: "/etc/passwd"}, {name: "metadata.json", body: meta}}, vulndb.TrivyDBLayerMediaType, "not a regular file"},
		{"bomb", []tarEntry{{name: "trivy.db", body: big}, {name: "metadata.json", body: meta}}, vulndb.TrivyDBLayerMediaType, "over the"},
		{"bomb in a skipped entry", []tarEntry{{name: "junk", body: big}, {name: "trivy.db", body: []byte("x")}}, vulndb.TrivyDBLayerMediaType, "more than"},
		{"twice", []tarEntry{{name: "trivy.db", body: []byte("x")}, {name: "./trivy.db", body: []byte("y")}}, vulndb.TrivyDBLayerMediaType, "twice"},
		{"wrong media type", []tarEntry{{name: "trivy.db", body: []byte("x")}}, types.OCILayer, "no layer of media type"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
				mutate.Addendum{Layer: static.NewLayer(tgzOf(t, c.entries), c.mt), MediaType: c.mt})
			if err != nil {
				t.Fatal(err)
			}
			ref := b.reg.Ref(t, fmt.Sprintf("hostile/db:%d", i))
			if err := remote.Write(ref, img); err != nil {
				t.Fatal(err)
			}
			outer := t.TempDir()
			cache := filepath.Join(outer, "cache")
			_, err = vulndb.PullTrivyDB(context.Background(), ref, cache, vulndb.WithMaxDBSize(1<<20))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("pull: %v, want an error with %q", err, c.want)
			}
			// Nothing is left behind, inside or outside the cache.
			left, _ := filepath.Glob(filepath.Join(outer, "*"))
			inCache, _ := filepath.Glob(filepath.Join(cache, "trivy-db", "*"))
			if len(left) > 1 || len(inCache) > 0 {
				t.Errorf("left behind: %v %v", left, inCache)
			}
		})
	}
}

type tarEntry struct {
	name, link string
	body       []byte
}

func tgzOf(t testing.TB, entries []tarEntry) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type blob struct {
	digest string
	size   int
}

func putBlob(t testing.TB, dir string, b []byte) blob {
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:])
	if err := os.WriteFile(filepath.Join(dir, h), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return blob{digest: "sha256:" + h, size: len(b)}
}

func fileSHA(t testing.TB, p string) string {
	sum := sha256.Sum256(mustRead(t, p))
	return hex.EncodeToString(sum[:])
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t testing.TB, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
