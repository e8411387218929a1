package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/patch"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/scan"
	"github.com/patchloop/patchloop/version"
	"github.com/patchloop/patchloop/vulndb"
	"github.com/patchloop/patchloop/workflow"
)

// Patcher builds the patch of an original image and pushes it under the
// cycle's next patch tag.
type Patcher struct{ p *Pipeline }

var _ workflow.Patcher = (*Patcher)(nil)

// ErrTagTaken is returned when an incremental patch tag already holds an
// image that this cycle did not push: it is never overwritten.
var ErrTagTaken = errors.New("patch tag already exists")

// Patch implements workflow.Patcher: it scans the original (by the digest
// the trigger saw), plans the upgrade of every package with a fix, builds
// the layer, stamps the cycle and pushes.
func (pt *Patcher) Patch(ctx context.Context, req workflow.PatchRequest, log io.Writer) (workflow.PatchResult, error) {
	p := pt.p
	if req.NextTag == "" {
		return workflow.PatchResult{}, fmt.Errorf("%s:%s has no next patch tag (999 incremental patches exist): %w", req.Repository, req.Tag, workflow.ErrPermanent)
	}
	c, err := p.client(req.Registry)
	if err != nil {
		return workflow.PatchResult{}, err
	}
	origTag, err := c.Tag(req.Repository, req.Tag)
	if err != nil {
		return workflow.PatchResult{}, err
	}
	next, err := c.Tag(req.Repository, req.NextTag)
	if err != nil {
		return workflow.PatchResult{}, err
	}
	var orig name.Reference = origTag
	if req.OriginalDigest != "" {
		h, err := v1.NewHash(req.OriginalDigest)
		if err != nil {
			return workflow.PatchResult{}, fmt.Errorf("original digest %q: %w", req.OriginalDigest, workflow.ErrPermanent)
		}
		if orig, err = c.Digest(req.Repository, h); err != nil {
			return workflow.PatchResult{}, err
		}
	}
	if req.Convention != "floating" {
		// An incremental tag is written once: refuse to overwrite one this
		// cycle did not push (Pushed already looked for our own).
		taken, err := c.Exists(ctx, next)
		if err != nil {
			return workflow.PatchResult{}, err
		}
		if taken {
			return workflow.PatchResult{}, fmt.Errorf("%s: %w, not overwritten", next, ErrTagTaken)
		}
	}
	desc, err := c.Get(ctx, orig)
	if err != nil {
		return workflow.PatchResult{}, err
	}
	if desc.MediaType.IsIndex() {
		return workflow.PatchResult{}, fmt.Errorf("%s is a multi-platform index: only single-platform images are patched by workflows so far: %w", origTag, workflow.ErrPermanent)
	}
	base, err := desc.Image()
	if err != nil {
		return workflow.PatchResult{}, fmt.Errorf("reading image %s: %w", origTag, err)
	}
	if _, _, ok, err := patch.OriginalOf(base); err != nil {
		return workflow.PatchResult{}, fmt.Errorf("reading %s: %w", origTag, err)
	} else if ok {
		return workflow.PatchResult{}, fmt.Errorf("%s: %w: %w", origTag, patch.ErrPatchedBase, workflow.ErrPermanent)
	}

	fmt.Fprintf(log, "scanning the original %s@%s\n", origTag, desc.Digest)
	res, err := p.scan(ctx, req.Registry, orig)
	if err != nil {
		return workflow.PatchResult{}, err
	}
	if len(res.Images) != 1 {
		return workflow.PatchResult{}, fmt.Errorf("scan of %s gave %d images, want 1", origTag, len(res.Images))
	}
	simg := res.Images[0]
	fixable := vulndb.Fixable(simg.Findings)
	if len(fixable) == 0 {
		return workflow.PatchResult{}, fmt.Errorf("the original %s has no fixable vulnerability although its scan tag had: %w", origTag, workflow.ErrPermanent)
	}
	built, err := p.build(ctx, base, simg, fixable, log)
	if err != nil {
		return workflow.PatchResult{}, err
	}
	defer func() { _ = os.Remove(built.layer.Path) }()

	out, err := patch.Image(patch.ImageParams{Base: base, BaseName: origTag.String(), Layer: built.layer, Report: built.report, CVEs: built.fixed, Created: p.cfg.Now()})
	if err != nil {
		return workflow.PatchResult{}, err
	}
	m, err := out.Manifest()
	if err != nil {
		return workflow.PatchResult{}, fmt.Errorf("reading patched manifest: %w", err)
	}
	anns := map[string]string{AnnotationWorkflow: req.Workflow, AnnotationCycle: req.Cycle}
	for k, v := range m.Annotations {
		anns[k] = v
	}
	stamped, ok := mutate.Annotations(out, anns).(v1.Image)
	if !ok {
		return workflow.PatchResult{}, errors.New("annotating patched image: not an image")
	}
	fmt.Fprintf(log, "pushing %s\n", next)
	dg, err := c.WriteImage(ctx, next, stamped)
	if err != nil {
		return workflow.PatchResult{}, err
	}
	return workflow.PatchResult{Tag: next.String(), Digest: dg.String(), FixedCVEs: built.fixed}, nil
}

type built struct {
	layer  *patch.LayerFile
	report *patch.LayerReport
	fixed  []string
}

// build plans the upgrade of fixable's packages and writes the layer.
func (p *Pipeline) build(ctx context.Context, base v1.Image, simg *scan.Image, fixable []vulndb.Finding, log io.Writer) (*built, error) {
	fam := simg.OS.Family
	planner, err := patch.PlannerFor(fam)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, workflow.ErrPermanent)
	}
	inst, err := patch.InstallerFor(fam)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, workflow.ErrPermanent)
	}
	cmp := version.For(fam)
	if cmp == nil || p.cfg.Repos == nil {
		return nil, fmt.Errorf("no package archive for %s packages: %w", fam, workflow.ErrPermanent)
	}
	fixes, err := fixesOf(fixable, cmp)
	if err != nil {
		return nil, err
	}
	var opts []image.Option
	if p.cfg.Cache != nil {
		opts = append(opts, image.WithCache(p.cfg.Cache))
	}
	meta, err := image.Extract(ctx, base, scan.Selector(), opts...)
	if err != nil {
		return nil, fmt.Errorf("reading the package database: %w", err)
	}
	arch := simg.Platform.Architecture
	if simg.Platform.Variant != "" && arch == "arm" {
		arch = "armhf"
	}
	set, err := p.cfg.Repos.Sources(meta, simg.OS, arch)
	if err != nil {
		return nil, err
	}
	ix, err := p.cfg.Repos.Index(ctx, set)
	if err != nil {
		return nil, err
	}
	plan, err := planner.Plan(ctx, meta, patch.PlanRequest{Fixes: fixes, Index: ix, Arch: arch})
	if err != nil {
		return nil, err
	}
	if len(plan.Upgrades) == 0 {
		return nil, fmt.Errorf("no package has a newer version in the archive: %w", workflow.ErrPermanent)
	}
	for _, u := range plan.Upgrades {
		fmt.Fprintf(log, "upgrade %s %s -> %s (%s)\n", u.Name, u.OldVersion, u.NewVersion, u.Reason)
	}
	db, err := image.Extract(ctx, base, image.SelectPaths(inst.Paths()...), opts...)
	if err != nil {
		return nil, fmt.Errorf("reading the package database: %w", err)
	}
	extra, err := inst.ExtraPaths(db, plan.Upgrades)
	if err != nil {
		return nil, err
	}
	root, err := image.Extract(ctx, base, image.SelectPaths(append(inst.Paths(), extra...)...), opts...)
	if err != nil {
		return nil, fmt.Errorf("reading the files the upgrade replaces: %w", err)
	}
	lf, report, err := patch.BuildLayer(ctx, inst, patch.LayerParams{
		Root:     root,
		Upgrades: plan.Upgrades,
		Debs:     patch.RepoDebs{Repo: p.cfg.Repos, Index: ix},
	}, p.cfg.ScratchDir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "layer %s: %d entries, %d bytes of files\n", lf.Digest, report.Entries, report.Bytes)
	for _, s := range report.ScriptsNotRun {
		fmt.Fprintf(log, "maintainer scripts not run: %s (%s)\n", s.Package, strings.Join(s.Scripts, ","))
	}
	fixed, err := fixedBy(fixable, plan.Upgrades, cmp)
	if err != nil {
		_ = os.Remove(lf.Path)
		return nil, err
	}
	return &built{layer: lf, report: report, fixed: fixed}, nil
}

// fixesOf asks for each package with a fix, at the highest fixed version
// any of its findings needs.
func fixesOf(fs []vulndb.Finding, cmp version.Comparer) ([]patch.Fix, error) {
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
	out := make([]patch.Fix, 0, len(need))
	for n, v := range need {
		out = append(out, patch.Fix{Name: n, MinVersion: v})
	}
	slices.SortFunc(out, func(a, b patch.Fix) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// fixedBy returns the ids of the findings whose package the upgrades bring
// to at least the fixed version.
func fixedBy(fs []vulndb.Finding, ups []patch.Upgrade, cmp version.Comparer) ([]string, error) {
	newv := map[string]string{}
	for _, u := range ups {
		newv[u.Name] = u.NewVersion
	}
	var out []vulndb.Finding
	for _, f := range fs {
		v, ok := newv[f.PkgName]
		if !ok {
			continue
		}
		c, err := cmp.Compare(v, f.FixedVersion)
		if err != nil {
			return nil, fmt.Errorf("comparing %s versions: %w", f.PkgName, err)
		}
		if c >= 0 {
			out = append(out, f)
		}
	}
	ids := fixedIDs(out)
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// Pushed implements workflow.Patcher: the image at NextTag counts when it
// carries this cycle's annotation and was built on OriginalDigest.
func (pt *Patcher) Pushed(ctx context.Context, req workflow.PatchRequest) (workflow.PatchResult, bool, error) {
	if req.NextTag == "" {
		return workflow.PatchResult{}, false, nil
	}
	c, err := pt.p.client(req.Registry)
	if err != nil {
		return workflow.PatchResult{}, false, err
	}
	next, err := c.Tag(req.Repository, req.NextTag)
	if err != nil {
		return workflow.PatchResult{}, false, err
	}
	desc, err := c.Get(ctx, next)
	if errors.Is(err, registry.ErrNotFound) {
		return workflow.PatchResult{}, false, nil
	}
	if err != nil {
		return workflow.PatchResult{}, false, err
	}
	if desc.MediaType.IsIndex() {
		return workflow.PatchResult{}, false, nil
	}
	img, err := desc.Image()
	if err != nil {
		return workflow.PatchResult{}, false, fmt.Errorf("reading %s: %w", next, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return workflow.PatchResult{}, false, fmt.Errorf("reading manifest of %s: %w", next, err)
	}
	if m.Annotations[AnnotationCycle] != req.Cycle || m.Annotations[AnnotationWorkflow] != req.Workflow {
		return workflow.PatchResult{}, false, nil
	}
	if req.OriginalDigest != "" && m.Annotations[patch.AnnotationBaseDigest] != req.OriginalDigest {
		return workflow.PatchResult{}, false, nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return workflow.PatchResult{}, false, fmt.Errorf("reading config of %s: %w", next, err)
	}
	var fixed []string
	if s := cf.Config.Labels[patch.LabelFixedCVEs]; s != "" {
		fixed = strings.Split(s, ",")
	}
	return workflow.PatchResult{Tag: next.String(), Digest: desc.Digest.String(), FixedCVEs: fixed}, true, nil
}
