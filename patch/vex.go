package patch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/openvex/go-vex/pkg/vex"

	"github.com/patchloop/patchloop/pkgdb"
)

// VEXMediaType is the media type and artifact type of an OpenVEX
// document.
const VEXMediaType = "application/vnd.openvex+json"

// DefaultVEXAuthor is the author of the OpenVEX documents Run makes when
// the request names none.
const DefaultVEXAuthor = "patchloop"

// VEXParams are the inputs of NewVEX.
type VEXParams struct {
	// Image is the patched image by digest.
	Image name.Digest
	// Author defaults to DefaultVEXAuthor.
	Author    string
	Timestamp time.Time
	// Platforms give the fixed ids (and, for the statement, the packages
	// upgraded on each platform).
	Platforms []PlatformResult
}

// ImagePURL is the package URL of an image in a registry:
// pkg:oci/<name>@<digest>?repository_url=<registry>/<repository>.
func ImagePURL(d name.Digest) string {
	repo := d.Context()
	base := repo.RepositoryStr()
	if i := lastSlash(base); i >= 0 {
		base = base[i+1:]
	}
	q := url.Values{"repository_url": {repo.RegistryStr() + "/" + repo.RepositoryStr()}}
	return "pkg:oci/" + base + "@" + url.PathEscape(d.DigestStr()) + "?" + q.Encode()
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

// NewVEX is the OpenVEX document stating each fixed vulnerability as
// "fixed" in the patched image, with the upgraded packages as
// subcomponents.
func NewVEX(p VEXParams) (*vex.VEX, error) {
	author := p.Author
	if author == "" {
		author = DefaultVEXAuthor
	}
	ts := p.Timestamp.UTC()
	doc := vex.New()
	doc.Author = author
	doc.AuthorRole = "patcher"
	doc.Tooling = "patchloop"
	doc.Timestamp = &ts
	doc.Version = 1
	purl := ImagePURL(p.Image)
	fixedOn := map[string][]vex.Subcomponent{}
	var ids []string
	for _, pr := range p.Platforms {
		var subs []vex.Subcomponent
		if pr.Plan != nil {
			for _, u := range pr.Plan.Upgrades {
				subs = append(subs, vex.Subcomponent{Component: vex.Component{ID: debPURL(pr.OS, u)}})
			}
		}
		for _, id := range pr.FixedCVEs {
			if _, ok := fixedOn[id]; !ok {
				ids = append(ids, id)
			}
			fixedOn[id] = append(fixedOn[id], subs...)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		subs := fixedOn[id]
		slices.SortFunc(subs, func(a, b vex.Subcomponent) int { return cmpString(a.ID, b.ID) })
		subs = slices.CompactFunc(subs, func(a, b vex.Subcomponent) bool { return a.ID == b.ID })
		doc.Statements = append(doc.Statements, vex.Statement{
			Vulnerability: vex.Vulnerability{Name: vex.VulnerabilityID(id)},
			Products:      []vex.Product{{Component: vex.Component{ID: purl}, Subcomponents: subs}},
			Status:        vex.StatusFixed,
		})
	}
	if len(doc.Statements) == 0 {
		return nil, fmt.Errorf("making vex document for %s: no fixed vulnerability", p.Image)
	}
	id, err := doc.GenerateCanonicalID()
	if err != nil {
		return nil, fmt.Errorf("making vex document id: %w", err)
	}
	doc.ID = id
	return &doc, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// debPURL is the package URL of an upgraded package, as Trivy writes it.
func debPURL(osr pkgdb.OS, u Upgrade) string {
	q := url.Values{"arch": {u.Arch}, "distro": {osr.ID + "-" + osr.VersionID}}
	return "pkg:deb/" + osr.ID + "/" + u.Name + "@" + url.PathEscape(u.NewVersion) + "?" + q.Encode()
}

// AttachVEX pushes doc as an OCI artifact (artifactType
// application/vnd.openvex+json, empty config) whose subject is the
// patched image, so registries list it among the image's referrers; on a
// registry without the referrers API the writer keeps the sha256-<hex>
// fallback tag's index. It returns the artifact's digest.
func AttachVEX(ctx context.Context, w Writer, repo name.Repository, subject v1.Descriptor, doc *vex.VEX) (v1.Hash, error) {
	var buf bytes.Buffer
	if err := doc.ToJSON(&buf); err != nil {
		return v1.Hash{}, fmt.Errorf("encoding vex document: %w", err)
	}
	art, err := newArtifact(buf.Bytes(), subject)
	if err != nil {
		return v1.Hash{}, err
	}
	d, err := art.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("computing vex artifact digest: %w", err)
	}
	if err := w.PushDigest(ctx, repo.Digest(d.String()), art); err != nil {
		return v1.Hash{}, fmt.Errorf("attaching vex document: %w", err)
	}
	return d, nil
}

// artifact is a one-blob OCI artifact with the empty config.
type artifact struct {
	manifest []byte
	layer    v1.Layer
	config   v1.Layer
}

var _ partial.CompressedImageCore = (*artifact)(nil)

var emptyJSON = []byte("{}")

func newArtifact(blob []byte, subject v1.Descriptor) (v1.Image, error) {
	a := &artifact{layer: static.NewLayer(blob, VEXMediaType), config: static.NewLayer(emptyJSON, types.OCIEmptyJSON)}
	ld, err := partial.Descriptor(a.layer)
	if err != nil {
		return nil, fmt.Errorf("describing vex blob: %w", err)
	}
	cd, err := partial.Descriptor(a.config)
	if err != nil {
		return nil, fmt.Errorf("describing empty config: %w", err)
	}
	sub := v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  VEXMediaType,
		Config:        *cd,
		Layers:        []v1.Descriptor{*ld},
		Subject:       &sub,
	}
	if a.manifest, err = json.Marshal(m); err != nil {
		return nil, fmt.Errorf("encoding vex artifact manifest: %w", err)
	}
	img, err := partial.CompressedToImage(a)
	if err != nil {
		return nil, fmt.Errorf("making vex artifact: %w", err)
	}
	return img, nil
}

func (a *artifact) RawConfigFile() ([]byte, error)      { return emptyJSON, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range []v1.Layer{a.layer, a.config} {
		if d, err := l.Digest(); err == nil && d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("vex artifact has no blob %s", h)
}
