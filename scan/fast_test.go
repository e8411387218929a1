package scan_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/scan"
	"github.com/patchloop/patchloop/vulndb"
)

func fastClient(t *testing.T, reg *testutil.Registry) *registry.Client {
	t.Helper()
	c, err := registry.New(reg.Addr, registry.WithRetryBackoff(registry.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 2}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUnsupportedImagesAreErrorsNotClean(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	c := fastClient(t, reg)
	noOS, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	reg.Push(t, "random:1", noOS)
	win := windowsImage(t)
	reg.Push(t, "win:1", win)
	pushIndex(t, c, reg.Ref(t, "win:index"), mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: win, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "windows", Architecture: "amd64"}}}))
	for _, ref := range []string{"random:1", "win:1", "win:index"} {
		t.Run(ref, func(t *testing.T) {
			res, err := scan.Scan(context.Background(), reg.Ref(t, ref), scan.Options{Registry: c})
			if !errors.Is(err, scan.ErrUnsupported) {
				t.Errorf("scan %s: result %v, error %v; want ErrUnsupported", ref, res, err)
			}
		})
	}
}

func TestRegistryFailureIsAnError(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failing.Load() && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				http.Error(w, "injected", http.StatusInternalServerError)
				return
			}
			h.ServeHTTP(w, r)
		})
	}))
	reg.PushRandom(t, "broken:1")
	failing.Store(true)
	s, err := scan.New(scan.Options{Registry: fastClient(t, reg)})
	if err != nil {
		t.Fatal(err)
	}
	refs := []name.Reference{reg.Ref(t, "broken:1"), reg.Ref(t, "broken:1")}
	results, errs := s.ScanAll(context.Background(), refs, 2)
	for i := range refs {
		if errs[i] == nil || results[i] != nil {
			t.Errorf("ref %d: result %v, error %v; want an error", i, results[i], errs[i])
		}
	}
}

// TestReposUnreachableArchiveIsAnError points the repos source at a
// mirror that fails: the scan must fail, not come back clean.
func TestReposUnreachableArchiveIsAnError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c, err := distrorepo.New(distrorepo.Config{
		CacheDir: t.TempDir(),
		Retries:  -1,
		Mirrors: []distrorepo.Mirror{
			{From: distrorepo.DebianMirror, To: srv.URL + "/debian"},
			{From: distrorepo.DebianSecurity, To: srv.URL + "/debian-security"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	osr := pkgdb.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Family: pkgdb.Deb}
	pkgs := []pkgdb.Package{{Name: "apt", Version: "2.6.1", Arch: "amd64", SourceName: "apt", SourceVersion: "2.6.1"}}
	fs, err := vulndb.NewRepos(c).Find(context.Background(), osr, pkgs)
	if err == nil {
		t.Fatalf("findings %v and no error from an archive that answers 503", fs)
	}
	if _, err := vulndb.NewRepos(c).Find(context.Background(), pkgdb.OS{ID: "alpine", VersionID: "3.20", Family: pkgdb.APK}, nil); !errors.Is(err, vulndb.ErrUnsupportedOS) {
		t.Errorf("alpine: %v, want ErrUnsupportedOS", err)
	}
}

// TestScanAllScansEachDigestOnce scans eight references to two tags of
// one small image (the host's real dpkg status and os-release) four at a
// time: the config and layer are downloaded once, and every result holds
// the inventory.
func TestScanAllScansEachDigestOnce(t *testing.T) {
	t.Parallel()
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		t.Skip("the host has no dpkg database")
	}
	osr, err := os.ReadFile("/etc/os-release")
	if err != nil {
		t.Skip("the host has no os-release")
	}
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "etc/os-release"), osr)
	mustWrite(t, filepath.Join(dir, "var/lib/dpkg/status"), status)
	var blobs blobCounter
	reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(blobs.wrap))
	img := testutil.ImageFromDir(t, dir)
	reg.Push(t, "host:a", img)
	reg.Push(t, "host:b", img)
	s, err := scan.New(scan.Options{Registry: fastClient(t, reg)})
	if err != nil {
		t.Fatal(err)
	}
	var refs []name.Reference
	for i := range 8 {
		refs = append(refs, reg.Ref(t, "host:"+string(rune('a'+i%2))))
	}
	before := blobs.n.Load()
	results, errs := s.ScanAll(context.Background(), refs, 4)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := blobs.n.Load() - before; n != 2 {
		t.Errorf("%d blob downloads, want 2 (config and layer once)", n)
	}
	for i, r := range results {
		if len(r.Images) != 1 || len(r.Images[0].Packages) == 0 || r.Images[0].Report.ArtifactName != refs[i].String() {
			t.Errorf("result %d: %+v", i, r)
		}
	}
}
