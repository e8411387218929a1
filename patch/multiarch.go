package patch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/scan"
	"github.com/patchloop/patchloop/version"
	"github.com/patchloop/patchloop/vulndb"
)

// platformPatcher builds the patch of each platform of one request.
type platformPatcher struct {
	req     Request
	scratch string
	created time.Time
}

// platformBuild is one platform's outcome: its original descriptor (kept
// as is when nothing changed), and the patched image and its layer file.
type platformBuild struct {
	desc    v1.Descriptor
	result  PlatformResult
	layer   *LayerFile
	patched v1.Image
}

// errSkip marks a platform of an index that passes through unchanged.
var errSkip = errors.New("skipped")

// single patches a single-platform image; an image the engine cannot patch
// is an error.
func (pp *platformPatcher) single(ctx context.Context, o *original) (*platformBuild, error) {
	img, err := o.desc.Image()
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", o.ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config of %s: %w", o.ref, err)
	}
	p := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	b := &platformBuild{desc: o.desc.Descriptor, result: PlatformResult{Platform: p, Original: o.desc.Digest}}
	if err := pp.build(ctx, o, img, b); err != nil {
		if errors.Is(err, errSkip) {
			return nil, fmt.Errorf("%s: %s: %w", o.name, b.result.Skipped, ErrUnsupported)
		}
		return nil, err
	}
	return b, nil
}

// index patches every linux platform of an index, one after the other
// (each downloads its own architecture's packages); the others pass
// through unchanged.
func (pp *platformPatcher) index(ctx context.Context, o *original) ([]*platformBuild, error) {
	idx, err := o.desc.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", o.ref, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", o.ref, err)
	}
	var out []*platformBuild
	for _, d := range m.Manifests {
		b := &platformBuild{desc: d, result: PlatformResult{Original: d.Digest}}
		if d.Platform != nil {
			b.result.Platform = *d.Platform
		}
		out = append(out, b)
		switch {
		case !d.MediaType.IsImage():
			b.result.Skipped = fmt.Sprintf("manifest type %s is not an image", d.MediaType)
			continue
		case d.Platform == nil || d.Platform.OS != "linux":
			b.result.Skipped = "not a linux image"
			continue
		case d.Annotations["vnd.docker.reference.type"] != "":
			b.result.Skipped = "attestation"
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return out, fmt.Errorf("reading %s of %s: %w", platformString(*d.Platform), o.ref, err)
		}
		if err := pp.build(ctx, o, img, b); err != nil && !errors.Is(err, errSkip) {
			return out, fmt.Errorf("patching %s of %s: %w", platformString(*d.Platform), o.name, err)
		}
	}
	return out, nil
}

// build plans one platform image's upgrade and, unless a dry run, writes
// its layer and the patched image into b. An image without a supported
// package database, or with nothing to fix, returns errSkip or an empty
// plan.
func (pp *platformPatcher) build(ctx context.Context, o *original, img v1.Image, b *platformBuild) error {
	req := pp.req
	var opts []image.Option
	if req.Cache != nil {
		opts = append(opts, image.WithCache(req.Cache))
	}
	meta, err := image.Extract(ctx, img, scan.Selector(), opts...)
	if err != nil {
		return fmt.Errorf("reading the package database: %w", err)
	}
	osr, pkgs, err := pkgdb.Inventory(meta)
	if errors.Is(err, pkgdb.ErrUnsupportedOS) {
		b.result.Skipped = err.Error()
		return fmt.Errorf("%w: %w", errSkip, err)
	}
	if err != nil {
		return fmt.Errorf("reading the installed packages: %w", err)
	}
	b.result.OS = osr
	planner, err := PlannerFor(osr.Family)
	if err != nil {
		b.result.Skipped = err.Error()
		return fmt.Errorf("%w: %w", errSkip, err)
	}
	inst, err := InstallerFor(osr.Family)
	if err != nil {
		b.result.Skipped = err.Error()
		return fmt.Errorf("%w: %w", errSkip, err)
	}
	cmp := version.For(osr.Family)
	if cmp == nil {
		b.result.Skipped = fmt.Sprintf("no version ordering for %s packages", osr.Family)
		return errSkip
	}
	arch := debArch(b.result.Platform)
	var fixable []vulndb.Finding
	if !req.All {
		if fixable, err = pp.findings(ctx, meta, osr, pkgs, arch); err != nil {
			return err
		}
		if len(fixable) == 0 {
			b.result.Plan = &Plan{}
			b.result.Skipped = "no fixable vulnerability"
			return nil
		}
	}
	fixes, err := fixesOf(fixable, cmp)
	if err != nil {
		return err
	}
	set, err := req.Repos.Sources(meta, osr, arch)
	if err != nil {
		return err
	}
	ix, err := req.Repos.Index(ctx, set)
	if err != nil {
		return err
	}
	plan, err := planner.Plan(ctx, meta, PlanRequest{Fixes: fixes, All: req.All, Index: ix, Arch: arch})
	if err != nil {
		return err
	}
	b.result.Plan = plan
	if b.result.FixedCVEs, err = fixedBy(fixable, plan.Upgrades, cmp); err != nil {
		return err
	}
	if len(plan.Upgrades) == 0 {
		b.result.Skipped = "every package is up to date"
		return nil
	}
	if req.DryRun {
		return nil
	}
	db, err := image.Extract(ctx, img, image.SelectPaths(inst.Paths()...), opts...)
	if err != nil {
		return fmt.Errorf("reading the package database: %w", err)
	}
	extra, err := inst.ExtraPaths(db, plan.Upgrades)
	if err != nil {
		return err
	}
	root, err := image.Extract(ctx, img, image.SelectPaths(append(inst.Paths(), extra...)...), opts...)
	if err != nil {
		return fmt.Errorf("reading the files the upgrade replaces: %w", err)
	}
	debs := newPrefetch(ctx, RepoDebs{Repo: req.Repos, Index: ix}, plan.Upgrades, pp.scratch)
	defer debs.Close()
	lf, report, err := BuildLayer(ctx, inst, LayerParams{
		Root:     root,
		Upgrades: plan.Upgrades,
		Debs:     debs,
	}, pp.scratch)
	if err != nil {
		return err
	}
	b.layer, b.result.Layer = lf, report
	b.patched, err = Image(ImageParams{
		Base: img, BaseName: o.name, Layer: lf, Report: report,
		CVEs: b.result.FixedCVEs, Created: pp.created,
	})
	return err
}

// findings are the fixable vulnerabilities of one platform image, from
// the request's source or report.
func (pp *platformPatcher) findings(ctx context.Context, meta fs.FS, osr pkgdb.OS, pkgs []pkgdb.Package, arch string) ([]vulndb.Finding, error) {
	if rep := pp.req.Report; rep != nil {
		all, err := rep.Findings()
		if err != nil {
			return nil, fmt.Errorf("reading the report's findings: %w", err)
		}
		installed := map[string]string{}
		for _, p := range pkgs {
			installed[p.Name] = p.Version
		}
		var out []vulndb.Finding
		for _, f := range vulndb.Fixable(all) {
			if _, ok := installed[f.PkgName]; ok {
				out = append(out, f)
			}
		}
		return out, nil
	}
	src := pp.req.Source
	if b, ok := src.(ImageSource); ok {
		src = b.ForImage(meta, arch)
	}
	found, err := src.Find(ctx, osr, pkgs)
	if err != nil {
		return nil, fmt.Errorf("matching the installed packages: %w", err)
	}
	return vulndb.Fixable(found), nil
}

// fixedBy returns the vulnerability ids (CVE ids where the finding has
// them) whose package the upgrades bring to at least the fixed version.
func fixedBy(fs []vulndb.Finding, ups []Upgrade, cmp version.Comparer) ([]string, error) {
	newv := map[string]string{}
	for _, u := range ups {
		newv[u.Name] = u.NewVersion
	}
	var ids []string
	for _, f := range fs {
		v, ok := newv[f.PkgName]
		if !ok {
			continue
		}
		c, err := cmp.Compare(v, f.FixedVersion)
		if err != nil {
			return nil, fmt.Errorf("comparing %s versions: %w", f.PkgName, err)
		}
		if c < 0 {
			continue
		}
		cves := f.CVEs()
		if len(cves) == 0 {
			cves = []vulndb.ID{f.VulnerabilityID}
		}
		for _, id := range cves {
			ids = append(ids, id.String())
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}
