package patch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/openvex/go-vex/pkg/vex"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/policy"
	"github.com/patchloop/patchloop/version"
	"github.com/patchloop/patchloop/vulndb"
)

// Registry reads what Run needs from a registry; *registry.Client
// implements it.
type Registry interface {
	// Get fetches the manifest at ref; the result streams layers lazily.
	Get(ctx context.Context, ref name.Reference) (*remote.Descriptor, error)
	// Tags lists the tags of a repository of this registry (path only,
	// "team/app").
	Tags(ctx context.Context, repo string) ([]string, error)
	// Exists reports whether ref resolves to a manifest.
	Exists(ctx context.Context, ref name.Reference) (bool, error)
}

// Repos reaches a family's package archives: the source set of an image
// and its index, and the verified package files. *distrorepo.Client
// implements it.
type Repos interface {
	distrorepo.Repo
	// Sources resolves the repositories and keys of an image.
	Sources(fsys fs.FS, osr pkgdb.OS, arch string) (*distrorepo.SourceSet, error)
}

var _ Repos = (*distrorepo.Client)(nil)

// ImageSource is a vulnerability source that needs the image it judges
// (vulndb.Repos: the image's apt sources); Run binds it to each platform.
type ImageSource interface {
	ForImage(fsys fs.FS, arch string) vulndb.Source
}

// Request says what Run patches and where it pushes.
type Request struct {
	// Image is the image to patch, by tag or digest: a single image or a
	// multi-platform index. An image that is itself a patch is replaced by
	// its original (from its base annotations), so patches never stack.
	Image name.Reference
	// Registry reads manifests and tags, Writer pushes. Required (Writer
	// only when not DryRun).
	Registry Registry
	Writer   Writer
	// Repos is the package archive client. Required.
	Repos Repos
	// What to fix, exactly one of: Source (a vulnerability source that
	// every platform is matched against: its fixable findings are
	// fixed), Report (a Trivy JSON report; its fixable findings apply to
	// every platform that has the package installed), or All (every
	// package with a newer candidate).
	Source vulndb.Source
	Report *vulndb.Report
	All    bool
	// Tag is the tag to push; empty derives it from the original's tag by
	// Convention (default incremental: the highest existing -N plus one;
	// floating: -patched).
	Tag        string
	Convention policy.Convention
	// DryRun plans every platform and pushes nothing: Result.Platforms
	// hold the plans.
	DryRun bool
	// Annotations are added to the pushed manifest (the index for a
	// multi-platform image), beside the base annotations.
	Annotations map[string]string
	// NoReferrer skips attaching the OpenVEX document as a referrer;
	// Result.VEX is still filled in.
	NoReferrer bool
	// VEXAuthor is the author of the OpenVEX document. Default "patchloop".
	VEXAuthor string
	// Cache keeps per-layer extraction results. Nil reads layers afresh.
	Cache *image.Cache
	// ScratchDir receives the patch layers until they are pushed. Default
	// os.TempDir().
	ScratchDir string
	// Now stamps the history entry and the VEX document. Default time.Now.
	Now func() time.Time
}

// PlatformResult is what Run did to one platform image.
type PlatformResult struct {
	Platform v1.Platform `json:"platform"`
	// Original is the digest of the platform's original image; Patched of
	// the patched one (zero when the platform passed through unchanged or
	// on a dry run).
	Original v1.Hash `json:"original"`
	Patched  v1.Hash `json:"patched,omitzero"`
	// OS is the detected distribution (empty when Skipped before reading).
	OS pkgdb.OS `json:"os,omitzero"`
	// Plan is the upgrade; nil when the platform was skipped.
	Plan *Plan `json:"plan,omitempty"`
	// Layer says what the patch layer holds (nil on a dry run or when
	// nothing was upgraded).
	Layer *LayerReport `json:"layer,omitempty"`
	// FixedCVEs are the vulnerability ids the upgrades fix on this
	// platform, sorted.
	FixedCVEs []string `json:"fixed_cves,omitempty"`
	// Skipped says why a platform of an index passed through unchanged
	// ("windows/amd64 is not linux", "no package to fix").
	Skipped string `json:"skipped,omitempty"`
}

// Result is what Run did.
type Result struct {
	// Original names the image the patch was built on, by tag when known,
	// and OriginalDigest pins it.
	Original       string  `json:"original"`
	OriginalDigest v1.Hash `json:"original_digest"`
	// Tag is the full reference pushed (or, on a dry run, that would be
	// pushed); empty when UpToDate. Digest is the pushed manifest.
	Tag    string  `json:"tag,omitempty"`
	Digest v1.Hash `json:"digest,omitzero"`
	// UpToDate is true when no platform had anything to upgrade: nothing
	// was pushed.
	UpToDate  bool             `json:"up_to_date"`
	DryRun    bool             `json:"dry_run,omitempty"`
	Platforms []PlatformResult `json:"platforms"`
	// FixedCVEs is the union of the platforms' fixed ids, sorted.
	FixedCVEs []string `json:"fixed_cves,omitempty"`
	// ScriptsNotRun lists, per platform, the maintainer scripts that were
	// not run (also in each platform's Layer).
	ScriptsNotRun []ScriptsNotRun `json:"scripts_not_run,omitempty"`
	// VEX is the OpenVEX document of the fixed ids (nil when none was
	// fixed or on a dry run) and VEXDigest the referrer manifest attached
	// to the pushed image (zero when not attached).
	VEX       *vex.VEX `json:"vex,omitempty"`
	VEXDigest v1.Hash  `json:"vex_digest,omitzero"`
}

// ErrTagTaken is returned when the incremental tag a patch is pushed
// under already exists: it is never overwritten.
var ErrTagTaken = errors.New("patch tag already exists")

// Run patches an image and pushes it: it resolves the original (a patched
// image's base), plans each linux platform's upgrade against its own
// architecture's archive, builds one layer per platform on top of the
// original, pushes blobs and manifests by digest, checks the target tag
// is still free (incremental convention) and writes the tag last, then
// attaches an OpenVEX document of the fixed vulnerabilities as a referrer.
// When nothing applies, Result.UpToDate is true and nothing is pushed.
func Run(ctx context.Context, req Request) (*Result, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	now := req.Now
	if now == nil {
		now = time.Now
	}
	scratch := req.ScratchDir
	if scratch == "" {
		scratch = os.TempDir()
	}
	orig, err := resolveOriginal(ctx, req.Registry, req.Image)
	if err != nil {
		return nil, err
	}
	res := &Result{Original: orig.name, OriginalDigest: orig.desc.Digest, DryRun: req.DryRun}

	var built []*platformBuild
	defer func() {
		for _, b := range built {
			if b != nil && b.layer != nil {
				_ = os.Remove(b.layer.Path)
			}
		}
	}()
	pp := platformPatcher{req: req, scratch: scratch, created: now()}
	if orig.desc.MediaType.IsIndex() {
		built, err = pp.index(ctx, orig)
	} else {
		var b *platformBuild
		if b, err = pp.single(ctx, orig); err == nil {
			built = []*platformBuild{b}
		}
	}
	if err != nil {
		return nil, err
	}
	changed := false
	var cves []string
	for _, b := range built {
		res.Platforms = append(res.Platforms, b.result)
		cves = append(cves, b.result.FixedCVEs...)
		if b.result.Plan != nil && len(b.result.Plan.Upgrades) > 0 {
			changed = true
		}
		if b.result.Layer != nil {
			res.ScriptsNotRun = append(res.ScriptsNotRun, b.result.Layer.ScriptsNotRun...)
		}
	}
	slices.Sort(cves)
	res.FixedCVEs = slices.Compact(cves)
	if !changed {
		res.UpToDate = true
		return res, nil
	}
	tag, err := patchTag(ctx, req, orig)
	if err != nil {
		return nil, err
	}
	res.Tag = tag.String()
	if req.DryRun {
		return res, nil
	}
	top, err := pushPatched(ctx, req, orig, tag, built)
	if err != nil {
		return nil, err
	}
	res.Digest = top.Digest
	for i, b := range built {
		if b.patched != nil {
			if res.Platforms[i].Patched, err = b.patched.Digest(); err != nil {
				return nil, fmt.Errorf("computing patched digest: %w", err)
			}
		}
	}
	if len(res.FixedCVEs) == 0 {
		return res, nil
	}
	doc, err := NewVEX(VEXParams{
		Image:     tag.Context().Digest(top.Digest.String()),
		Author:    req.VEXAuthor,
		Timestamp: now(),
		Platforms: res.Platforms,
	})
	if err != nil {
		return nil, err
	}
	res.VEX = doc
	if !req.NoReferrer {
		d, err := AttachVEX(ctx, req.Writer, tag.Context(), *top, doc)
		if err != nil {
			return nil, fmt.Errorf("patched image %s@%s pushed, but %w", tag, top.Digest, err)
		}
		res.VEXDigest = d
	}
	return res, nil
}

func (r *Request) check() error {
	if r.Image == nil || r.Registry == nil || r.Repos == nil {
		return errors.New("patch request: Image, Registry and Repos are required")
	}
	if r.Writer == nil && !r.DryRun {
		return errors.New("patch request: Writer is required unless DryRun")
	}
	n := 0
	for _, set := range []bool{r.Source != nil, r.Report != nil, r.All} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("patch request: set exactly one of Source, Report and All")
	}
	if r.Tag != "" && r.Convention != "" {
		return errors.New("patch request: Tag and Convention exclude each other")
	}
	if r.Tag != "" && !policy.ValidTag(r.Tag) {
		return fmt.Errorf("patch request: tag %q is not a valid tag", r.Tag)
	}
	if r.Convention != "" {
		if _, err := policy.ParseConvention(string(r.Convention)); err != nil {
			return fmt.Errorf("patch request: %w", err)
		}
	}
	return nil
}

// original is the image a patch is built on.
type original struct {
	// name is the reference the user knows it by (a tag when known).
	name string
	// tag is the original tag, when known.
	tag  *name.Tag
	ref  name.Digest
	desc *remote.Descriptor
}

// resolveOriginal fetches ref and, when it is itself a patch, its
// original.
func resolveOriginal(ctx context.Context, reg Registry, ref name.Reference) (*original, error) {
	desc, err := reg.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	baseName, baseDigest, patched, err := baseOf(desc)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	o := &original{name: ref.String()}
	if t, ok := ref.(name.Tag); ok {
		o.tag = &t
	}
	if !patched {
		o.ref = ref.Context().Digest(desc.Digest.String())
		o.desc = desc
		return o, nil
	}
	// A patch: start again from its original, in the same repository.
	o.ref = ref.Context().Digest(baseDigest.String())
	o.tag = nil
	o.name = o.ref.String()
	if baseName != "" {
		if t, err := name.NewTag(baseName, name.WeakValidation); err == nil && t.Context().RepositoryStr() == ref.Context().RepositoryStr() {
			t = ref.Context().Tag(t.TagStr())
			o.tag, o.name = &t, t.String()
		}
	}
	if o.desc, err = reg.Get(ctx, o.ref); err != nil {
		return nil, fmt.Errorf("fetching the original of patched image %s: %w", ref, err)
	}
	if _, _, again, err := baseOf(o.desc); err != nil {
		return nil, fmt.Errorf("reading %s: %w", o.ref, err)
	} else if again {
		return nil, fmt.Errorf("original %s of %s: %w", o.ref, ref, ErrPatchedBase)
	}
	return o, nil
}

// baseOf reads the base annotations of an image or index.
func baseOf(desc *remote.Descriptor) (string, v1.Hash, bool, error) {
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return "", v1.Hash{}, false, err
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return "", v1.Hash{}, false, err
		}
		d := m.Annotations[AnnotationBaseDigest]
		if d == "" {
			return "", v1.Hash{}, false, nil
		}
		h, err := v1.NewHash(d)
		if err != nil {
			return "", v1.Hash{}, false, fmt.Errorf("parsing base digest %q: %w", d, err)
		}
		return m.Annotations[AnnotationBaseName], h, true, nil
	}
	if !desc.MediaType.IsImage() {
		return "", v1.Hash{}, false, fmt.Errorf("manifest type %s: %w", desc.MediaType, ErrUnsupported)
	}
	img, err := desc.Image()
	if err != nil {
		return "", v1.Hash{}, false, err
	}
	return OriginalOf(img)
}

// patchTag is the tag the patch is pushed under.
func patchTag(ctx context.Context, req Request, o *original) (name.Tag, error) {
	repo := o.ref.Context()
	if req.Tag != "" {
		return repo.Tag(req.Tag), nil
	}
	if o.tag == nil {
		return name.Tag{}, fmt.Errorf("%s is named by digest: give the tag to push explicitly", o.name)
	}
	existing, err := req.Registry.Tags(ctx, repo.RepositoryStr())
	if err != nil {
		return name.Tag{}, err
	}
	next, err := policy.NextPatchTag(req.Convention, o.tag.TagStr(), existing)
	if err != nil {
		return name.Tag{}, err
	}
	return repo.Tag(next), nil
}

// incremental reports whether the request pushes under an incremental
// patch tag, which is never overwritten.
func (r *Request) incremental() bool {
	return r.Tag == "" && (r.Convention == "" || r.Convention == policy.Incremental)
}

// debArch is the Debian architecture name of an OCI platform.
func debArch(p v1.Platform) string {
	switch p.Architecture {
	case "386":
		return "i386"
	case "arm":
		if p.Variant == "v5" || p.Variant == "v6" {
			return "armel"
		}
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	case "mips64le":
		return "mips64el"
	}
	return p.Architecture
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// fixesOf asks for each package with a fix at the highest fixed version
// any of its findings needs.
func fixesOf(fs []vulndb.Finding, cmp version.Comparer) ([]Fix, error) {
	need := map[string]string{}
	for _, f := range fs {
		cur, ok := need[f.PkgName]
		if !ok {
			need[f.PkgName] = f.FixedVersion
			continue
		}
		c, err := cmp.Compare(f.FixedVersion, cur)
		if err != nil {
			return nil, fmt.Errorf("comparing fixed versions of %s: %w", f.PkgName, err)
		}
		if c > 0 {
			need[f.PkgName] = f.FixedVersion
		}
	}
	out := make([]Fix, 0, len(need))
	for n, v := range need {
		out = append(out, Fix{Name: n, MinVersion: v})
	}
	slices.SortFunc(out, func(a, b Fix) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
