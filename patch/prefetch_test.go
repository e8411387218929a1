package patch

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// failingDebs is a DebSource that refuses every package, as a source
// whose checksum check fails does.
type failingDebs struct{ err error }

func (f failingDebs) OpenDeb(context.Context, string, string, string) (io.ReadCloser, error) {
	return nil, f.err
}

// TestPrefetchGivesTheSameLayer builds the demo upgrade (xz packages
// built by dpkg-deb) from the package files directly and through the
// prefetching source: the layers are byte for byte the same, and the
// scratch directory is empty afterwards.
func TestPrefetchGivesTheSameLayer(t *testing.T) {
	b := setupDemo(t)
	ctx := context.Background()
	params := func(d DebSource) LayerParams {
		return LayerParams{Root: os.DirFS(b.orig), RootComplete: true, Upgrades: b.upgrades, Debs: d}
	}
	want, _, err := BuildLayer(ctx, &Dpkg{}, params(DirDebs{Dir: b.debs}), t.TempDir())
	must(t, err)
	scratch := t.TempDir()
	pf := newPrefetch(ctx, DirDebs{Dir: b.debs}, b.upgrades, scratch)
	got, _, err := BuildLayer(ctx, &Dpkg{}, params(pf), t.TempDir())
	must(t, err)
	for k, j := range pf.jobs {
		if j.path == "" {
			t.Errorf("%s was not transcoded, so the layer came from the source", k)
		}
	}
	pf.Close()
	if got.Digest != want.Digest || got.DiffID != want.DiffID {
		t.Errorf("prefetched layer %s (diff %s), want %s (diff %s)", got.Digest, got.DiffID, want.Digest, want.DiffID)
	}
	if left, _ := filepath.Glob(filepath.Join(scratch, "*")); len(left) > 0 {
		t.Errorf("prefetch left %v", left)
	}

	t.Run("a source error surfaces unchanged", func(t *testing.T) {
		bad := errors.New("sha256 mismatch")
		pf := newPrefetch(ctx, failingDebs{bad}, b.upgrades, t.TempDir())
		defer pf.Close()
		if _, _, err := BuildLayer(ctx, &Dpkg{}, params(pf), t.TempDir()); !errors.Is(err, bad) {
			t.Errorf("err %v, want %v", err, bad)
		}
	})
}
