package patch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDpkgLayerRefusesBadPackages(t *testing.T) {
	t.Parallel()
	b := setupDemo(t)
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, path string)
		want    string
	}{
		{"truncated", func(t *testing.T, p string) {
			fi, err := os.Stat(p)
			must(t, err)
			must(t, os.Truncate(p, fi.Size()/2))
		}, "unpacking libdemo1 2.0"},
		{"another package under the name", func(t *testing.T, p string) {
			src := filepath.Join(b.debs, DebFileName("other", "1.0", "all"))
			data, err := os.ReadFile(src)
			must(t, err)
			must(t, os.WriteFile(p, data, 0o644))
		}, "package file is other 1.0 all, want libdemo1 2.0 amd64"},
		{"not a deb", func(t *testing.T, p string) {
			must(t, os.WriteFile(p, []byte("<html>mirror error page</html>"), 0o644))
		}, "not a debian binary package"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debs := t.TempDir()
			run(t, "", "cp", "-a", b.debs+"/.", debs)
			tc.corrupt(t, filepath.Join(debs, DebFileName("libdemo1", "2.0", "amd64")))
			out := t.TempDir()
			_, _, err := BuildLayer(context.Background(), &Dpkg{}, LayerParams{
				Root: os.DirFS(b.orig), RootComplete: true, Upgrades: b.upgrades, Debs: DirDebs{Dir: debs},
			}, out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
			if left, _ := os.ReadDir(out); len(left) != 0 {
				t.Errorf("a failed build left %d files behind", len(left))
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, _, err := BuildLayer(ctx, &Dpkg{}, LayerParams{Root: os.DirFS(b.orig), RootComplete: true, Upgrades: b.upgrades, Debs: DirDebs{Dir: b.debs}}, t.TempDir())
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}
