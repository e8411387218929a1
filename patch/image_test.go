package patch

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/patchloop/patchloop/internal/testutil"
)

func TestImageKeepsMediaTypesAndRecordsTheBase(t *testing.T) {
	t.Parallel()
	b := setupDemo(t)
	lf, report, err := BuildLayer(context.Background(), &Dpkg{}, LayerParams{
		Root: os.DirFS(b.orig), RootComplete: true, Upgrades: b.upgrades, Debs: DirDebs{Dir: b.debs},
	}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := testutil.StartRegistry(t)
	for _, tc := range []struct {
		name      string
		manifest  types.MediaType
		layerType types.MediaType
	}{
		{"docker v2", types.DockerManifestSchema2, types.DockerLayer},
		{"oci", types.OCIManifestSchema1, types.OCILayer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := testutil.ImageFromDir(t, b.orig) // Docker v2
			if tc.manifest == types.OCIManifestSchema1 {
				base = ociImageFromDir(t, b.orig)
			}
			img, err := Image(ImageParams{Base: base, BaseName: reg.Addr + "/demo:1", Layer: lf, Report: report, CVEs: []string{"CVE-2025-2", "CVE-2025-1"}})
			if err != nil {
				t.Fatal(err)
			}
			reg.Push(t, "demo:1-"+strings.ReplaceAll(tc.name, " ", ""), img)
			pulled, err := remote.Image(reg.Ref(t, "demo:1-"+strings.ReplaceAll(tc.name, " ", "")))
			if err != nil {
				t.Fatal(err)
			}
			m, err := pulled.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaType != tc.manifest {
				t.Errorf("manifest type %s, want %s", m.MediaType, tc.manifest)
			}
			last := m.Layers[len(m.Layers)-1]
			if last.MediaType != tc.layerType || last.Digest != lf.Digest {
				t.Errorf("patch layer %s %s, want %s %s", last.MediaType, last.Digest, tc.layerType, lf.Digest)
			}
			cf, err := pulled.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if got := cf.Config.Labels[LabelFixedCVEs]; got != "CVE-2025-1,CVE-2025-2" {
				t.Errorf("CVE label %q", got)
			}
			if got := cf.Config.Labels[LabelPatchedPackages]; got != "demo 1.0-1→1:2.0-1, libdemo1 1.0→2.0" {
				t.Errorf("packages label %q", got)
			}
			h := cf.History[len(cf.History)-1].CreatedBy
			if !strings.Contains(h, "maintainer scripts not run: demo (postinst,prerm), libdemo1 (triggers)") {
				t.Errorf("history %q", h)
			}
			name, d, ok, err := OriginalOf(pulled)
			bd, _ := base.Digest()
			if err != nil || !ok || d != bd || name != reg.Addr+"/demo:1" {
				t.Errorf("OriginalOf = %q %s %v %v, want %s", name, d, ok, err, bd)
			}
			if _, err := Image(ImageParams{Base: pulled, Layer: lf, Report: report}); !errors.Is(err, ErrPatchedBase) {
				t.Errorf("patching a patch: err = %v, want ErrPatchedBase", err)
			}
		})
	}
}
