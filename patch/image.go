package patch

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations and labels a patched image carries.
const (
	// AnnotationBaseName and AnnotationBaseDigest name the original image a
	// patch was built on (OCI image-spec pre-defined annotations).
	AnnotationBaseName   = "org.opencontainers.image.base.name"
	AnnotationBaseDigest = "org.opencontainers.image.base.digest"
	// LabelPatchedPackages lists the upgraded packages, "name old→new"
	// separated by ", ".
	LabelPatchedPackages = "io.patchloop.patched-packages"
	// LabelFixedCVEs lists the fixed vulnerability ids, separated by ",".
	LabelFixedCVEs = "io.patchloop.fixed-cves"
	// LabelBaseName and LabelBaseDigest repeat the base annotations in the
	// config, where Docker v2 manifests (which have no annotations in their
	// schema) keep them too.
	LabelBaseName   = "io.patchloop.base.name"
	LabelBaseDigest = "io.patchloop.base.digest"
)

// ErrPatchedBase is returned when asked to patch an image that is itself a
// patch: a re-patch starts from the original.
var ErrPatchedBase = errors.New("image is already a patch; patch its original")

// ImageParams are the inputs of Image.
type ImageParams struct {
	// Base is the original image, never an earlier patch.
	Base v1.Image
	// BaseName is the reference the original was pulled by
	// ("registry.example/app:1.2"), recorded in the annotations.
	BaseName string
	// Layer and Report come from BuildLayer.
	Layer  *LayerFile
	Report *LayerReport
	// CVEs are the vulnerability ids the patch fixes, for the label.
	CVEs []string
	// Created stamps the history entry. Zero leaves it empty, so the same
	// inputs give the same image.
	Created time.Time
}

// Image puts the patch layer on top of the original image: config,
// entrypoint, environment, labels and history are kept, a history entry
// names the upgrades and the maintainer scripts that did not run, labels
// list the packages and CVEs, annotations name the base, and the layer's
// media type follows the manifest's (Docker v2 or OCI). Nothing is read
// from the layer; the result is lazy like every mutate image.
func Image(p ImageParams) (v1.Image, error) {
	if p.Base == nil || p.Layer == nil || p.Report == nil {
		return nil, fmt.Errorf("patching image: base, layer and report are required")
	}
	if name, _, ok, err := OriginalOf(p.Base); err != nil {
		return nil, err
	} else if ok {
		return nil, fmt.Errorf("patching image built on %s: %w", name, ErrPatchedBase)
	}
	mt, err := p.Base.MediaType()
	if err != nil {
		return nil, fmt.Errorf("reading base media type: %w", err)
	}
	var layerType types.MediaType
	switch mt {
	case types.OCIManifestSchema1:
		layerType = types.OCILayer
	case types.DockerManifestSchema2:
		layerType = types.DockerLayer
	default:
		return nil, fmt.Errorf("base manifest type %s: %w", mt, ErrUnsupported)
	}
	baseDigest, err := p.Base.Digest()
	if err != nil {
		return nil, fmt.Errorf("computing base digest: %w", err)
	}
	layer, err := p.Layer.Layer(layerType)
	if err != nil {
		return nil, fmt.Errorf("opening patch layer: %w", err)
	}
	hist := v1.History{
		CreatedBy: HistoryLine(p.Report),
		Comment:   "patchloop",
	}
	if !p.Created.IsZero() {
		hist.Created = v1.Time{Time: p.Created.UTC()}
	}
	img, err := mutate.Append(p.Base, mutate.Addendum{Layer: layer, History: hist})
	if err != nil {
		return nil, fmt.Errorf("appending patch layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading base config: %w", err)
	}
	cfg := *cf.Config.DeepCopy()
	labels := map[string]string{}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	labels[LabelPatchedPackages] = packagesLine(p.Report.Upgrades)
	cves := append([]string(nil), p.CVEs...)
	sort.Strings(cves)
	if len(cves) > 0 {
		labels[LabelFixedCVEs] = strings.Join(cves, ",")
	} else {
		delete(labels, LabelFixedCVEs)
	}
	labels[LabelBaseName] = p.BaseName
	labels[LabelBaseDigest] = baseDigest.String()
	cfg.Labels = labels
	img, err = mutate.Config(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("setting patch labels: %w", err)
	}
	anns := map[string]string{AnnotationBaseDigest: baseDigest.String()}
	if p.BaseName != "" {
		anns[AnnotationBaseName] = p.BaseName
	}
	out, ok := mutate.Annotations(img, anns).(v1.Image)
	if !ok {
		return nil, fmt.Errorf("annotating patched image: not an image")
	}
	return out, nil
}

// OriginalOf returns the original image a patched image was built on, from
// its annotations (or, for Docker v2 manifests that lost them, its labels).
// ok is false for an image that is not a patch.
func OriginalOf(img v1.Image) (name string, digest v1.Hash, ok bool, err error) {
	m, err := img.Manifest()
	if err != nil {
		return "", v1.Hash{}, false, fmt.Errorf("reading manifest: %w", err)
	}
	name, d := m.Annotations[AnnotationBaseName], m.Annotations[AnnotationBaseDigest]
	if d == "" {
		cf, err := img.ConfigFile()
		if err != nil {
			return "", v1.Hash{}, false, fmt.Errorf("reading config: %w", err)
		}
		name, d = cf.Config.Labels[LabelBaseName], cf.Config.Labels[LabelBaseDigest]
	}
	if d == "" {
		return "", v1.Hash{}, false, nil
	}
	h, err := v1.NewHash(d)
	if err != nil {
		return "", v1.Hash{}, false, fmt.Errorf("parsing base digest %q: %w", d, err)
	}
	return name, h, true, nil
}

// HistoryLine is the created_by text of a patch layer's history entry.
func HistoryLine(r *LayerReport) string {
	var b strings.Builder
	b.WriteString("patchloop patch: upgraded " + packagesLine(r.Upgrades))
	if len(r.ScriptsNotRun) > 0 {
		var parts []string
		for _, s := range r.ScriptsNotRun {
			parts = append(parts, s.Package+" ("+strings.Join(s.Scripts, ",")+")")
		}
		b.WriteString("; maintainer scripts not run: " + strings.Join(parts, ", "))
	}
	if len(r.ConffilesKept) > 0 {
		b.WriteString("; modified conffiles kept, new versions as .dpkg-dist: " + strings.Join(r.ConffilesKept, ", "))
	}
	return b.String()
}

func packagesLine(ups []Upgrade) string {
	var parts []string
	for _, u := range ups {
		old := u.OldVersion
		if old == "" {
			old = "(new)"
		}
		parts = append(parts, u.Name+" "+old+"→"+u.NewVersion)
	}
	return strings.Join(parts, ", ")
}
