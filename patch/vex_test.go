package patch

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	gcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/openvex/go-vex/pkg/vex"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/pkgdb"
)

// TestAttachVEX attaches an OpenVEX document to an image on a registry
// without the referrers API (the CNCF distribution registry: the
// sha256-<hex> tag-schema fallback) and on one with it
// (go-containerregistry's registry with referrers on: no fallback tag),
// and reads it back through go-containerregistry's referrers client.
func TestAttachVEX(t *testing.T) {
	t.Parallel()
	dist := testutil.StartRegistry(t)
	api := httptest.NewServer(gcrregistry.New(gcrregistry.WithReferrersSupport(true), gcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(api.Close)
	for _, tc := range []struct {
		name     string
		host     string
		fallback bool
	}{
		{"distribution v3: tag-schema fallback", dist.Addr, true},
		{"referrers API", strings.TrimPrefix(api.URL, "http://"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			repo, err := name.NewRepository(tc.host+"/app", name.Insecure)
			must(t, err)
			img, err := random.Image(64, 1)
			must(t, err)
			dg, err := img.Digest()
			must(t, err)
			must(t, remote.Write(repo.Tag("1.0-1"), img))
			desc, err := partial.Descriptor(img)
			must(t, err)

			doc, err := NewVEX(VEXParams{
				Image:     repo.Digest(dg.String()),
				Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
				Platforms: []PlatformResult{{
					OS:        pkgdb.OS{ID: "debian", VersionID: "12"},
					Plan:      &Plan{Upgrades: []Upgrade{{Name: "libssl3", Arch: "amd64", OldVersion: "3.0.15-1~deb12u1", NewVersion: "3.0.17-1~deb12u2"}}},
					FixedCVEs: []string{"CVE-2025-0002", "CVE-2025-0001"},
				}},
			})
			must(t, err)
			w, err := NewRemoteWriter()
			must(t, err)
			ad, err := AttachVEX(ctx, w, repo, *desc, doc)
			must(t, err)

			idx, err := remote.Referrers(repo.Digest(dg.String()))
			must(t, err)
			im, err := idx.IndexManifest()
			must(t, err)
			// go-containerregistry's registry reports the config media type
			// as the artifact type; the fallback index carries ours.
			if len(im.Manifests) != 1 || im.Manifests[0].Digest != ad || (tc.fallback && im.Manifests[0].ArtifactType != VEXMediaType) {
				t.Fatalf("referrers %+v, want %s", im.Manifests, ad)
			}
			tags, err := remote.List(repo)
			must(t, err)
			hasFallback := false
			for _, tg := range tags {
				hasFallback = hasFallback || tg == "sha256-"+dg.Hex
			}
			if hasFallback != tc.fallback {
				t.Errorf("fallback tag present %v, want %v (tags %v)", hasFallback, tc.fallback, tags)
			}
			art, err := remote.Image(repo.Digest(ad.String()))
			must(t, err)
			m, err := art.Manifest()
			must(t, err)
			if m.ArtifactType != VEXMediaType || m.Subject == nil || m.Subject.Digest != dg || m.Config.MediaType != "application/vnd.oci.empty.v1+json" || m.Config.Size != 2 {
				t.Errorf("artifact manifest %+v", m)
			}
			ls, err := art.Layers()
			must(t, err)
			rc, err := ls[0].Compressed()
			must(t, err)
			b, err := io.ReadAll(rc)
			rc.Close()
			must(t, err)
			got, err := vex.Parse(b)
			must(t, err)
			if len(got.Statements) != 2 || got.Statements[0].Vulnerability.Name != "CVE-2025-0001" || got.Statements[1].Status != vex.StatusFixed {
				t.Fatalf("statements %+v", got.Statements)
			}
			p := got.Statements[0].Products[0]
			// As packageurl-go spells it: the version path-escaped, the
			// qualifier query-escaped.
			if want := "pkg:oci/app@sha256:" + dg.Hex + "?repository_url=" + url.QueryEscape(tc.host+"/app"); p.ID != want {
				t.Errorf("product %s, want %s", p.ID, want)
			}
			if len(p.Subcomponents) != 1 || !strings.HasPrefix(p.Subcomponents[0].ID, "pkg:deb/debian/libssl3@3.0.17-1~deb12u2?") {
				t.Errorf("subcomponents %+v", p.Subcomponents)
			}
		})
	}
}
