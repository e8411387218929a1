// Package testutil holds the shared helpers that tests use to reach real
// parts: the in-process distribution registry, images pushed to it, and
// cached debootstrap root filesystems.
package testutil

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/patchloop/patchloop/internal/regserver"
)

// Registry is a real distribution registry served in-process for one test.
type Registry struct {
	*regserver.Server
}

// RegistryOption changes how StartRegistry configures the server.
type RegistryOption func(*regserver.Config)

// WithHandlerWrap wraps the registry's HTTP handler, for fault injection.
func WithHandlerWrap(wrap func(http.Handler) http.Handler) RegistryOption {
	return func(c *regserver.Config) { c.Wrap = wrap }
}

// WithCatalogPageSize sets the number of repositories per catalog page.
func WithCatalogPageSize(n int) RegistryOption {
	return func(c *regserver.Config) { c.CatalogPageSize = n }
}

// StartRegistry starts the CNCF distribution registry on a random loopback
// port with filesystem storage in a temporary directory. It is stopped when
// the test ends.
func StartRegistry(t testing.TB, opts ...RegistryOption) *Registry {
	t.Helper()
	cfg := regserver.Config{Dir: t.TempDir()}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := regserver.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("starting registry: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &Registry{Server: srv}
}

// Ref parses "repo:tag" or "repo@digest" against this registry.
func (r *Registry) Ref(t testing.TB, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(r.Addr+"/"+s, name.Insecure)
	if err != nil {
		t.Fatalf("parsing reference %q: %v", s, err)
	}
	return ref
}

// Push writes img to "repo:tag" in this registry.
func (r *Registry) Push(t testing.TB, s string, img v1.Image) {
	t.Helper()
	if err := remote.Write(r.Ref(t, s), img); err != nil {
		t.Fatalf("pushing %s: %v", s, err)
	}
}

// PushRandom pushes a small random image to each "repo:tag" given and
// returns the image.
func (r *Registry) PushRandom(t testing.TB, refs ...string) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatalf("random image: %v", err)
	}
	for _, s := range refs {
		r.Push(t, s, img)
	}
	return img
}
