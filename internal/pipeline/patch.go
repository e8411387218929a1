package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/patchloop/patchloop/patch"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/workflow"
)

// Patcher builds the patch of an original image and pushes it under the
// cycle's next patch tag.
type Patcher struct{ p *Pipeline }

var _ workflow.Patcher = (*Patcher)(nil)

// ErrTagTaken is returned when an incremental patch tag already holds an
// image that this cycle did not push: it is never overwritten.
var ErrTagTaken = patch.ErrTagTaken

// Patch implements workflow.Patcher: patch.Run on the original tag (every
// linux platform of an index), fixing what the vulnerability source finds,
// pushed under the cycle's next tag with the cycle's annotations.
func (pt *Patcher) Patch(ctx context.Context, req workflow.PatchRequest, log io.Writer) (workflow.PatchResult, error) {
	p := pt.p
	if req.NextTag == "" {
		return workflow.PatchResult{}, fmt.Errorf("%s:%s has no next patch tag (999 incremental patches exist): %w", req.Repository, req.Tag, workflow.ErrPermanent)
	}
	c, err := p.client(req.Registry)
	if err != nil {
		return workflow.PatchResult{}, err
	}
	orig, err := c.Tag(req.Repository, req.Tag)
	if err != nil {
		return workflow.PatchResult{}, err
	}
	next, err := c.Tag(req.Repository, req.NextTag)
	if err != nil {
		return workflow.PatchResult{}, err
	}
	if req.Convention != "floating" {
		// An incremental tag is written once: refuse to overwrite one this
		// cycle did not push (Pushed already looked for our own).
		taken, err := c.Exists(ctx, next)
		if err != nil {
			return workflow.PatchResult{}, err
		}
		if taken {
			return workflow.PatchResult{}, fmt.Errorf("%s: %w, not overwritten: %w", next, ErrTagTaken, workflow.ErrPermanent)
		}
	}
	if p.cfg.Repos == nil {
		return workflow.PatchResult{}, fmt.Errorf("patching %s: no package archive configured: %w", orig, workflow.ErrPermanent)
	}
	w, err := p.writer(req.Registry)
	if err != nil {
		return workflow.PatchResult{}, err
	}
	fmt.Fprintf(log, "patching the original %s\n", orig)
	res, err := patch.Run(ctx, patch.Request{
		Image:       orig,
		Registry:    c,
		Writer:      w,
		Repos:       p.cfg.Repos,
		Source:      p.cfg.Source,
		Tag:         req.NextTag,
		Annotations: map[string]string{AnnotationWorkflow: req.Workflow, AnnotationCycle: req.Cycle},
		Cache:       p.cfg.Cache,
		ScratchDir:  p.cfg.ScratchDir,
		Now:         p.cfg.Now,
	})
	if err != nil {
		if errors.Is(err, patch.ErrUnsupported) || errors.Is(err, patch.ErrUnsatisfiable) {
			err = fmt.Errorf("%w: %w", err, workflow.ErrPermanent)
		}
		return workflow.PatchResult{}, err
	}
	if req.OriginalDigest != "" && res.OriginalDigest.String() != req.OriginalDigest {
		fmt.Fprintf(log, "note: %s moved to %s since the cycle selected it (%s)\n", orig, res.OriginalDigest, req.OriginalDigest)
	}
	for _, pl := range res.Platforms {
		if pl.Skipped != "" {
			fmt.Fprintf(log, "%s/%s: skipped: %s\n", pl.Platform.OS, pl.Platform.Architecture, pl.Skipped)
			continue
		}
		if pl.Plan != nil {
			for _, u := range pl.Plan.Upgrades {
				fmt.Fprintf(log, "%s/%s: upgrade %s %s -> %s (%s)\n", pl.Platform.OS, pl.Platform.Architecture, u.Name, u.OldVersion, u.NewVersion, u.Reason)
			}
		}
		if pl.Layer != nil {
			for _, s := range pl.Layer.ScriptsNotRun {
				fmt.Fprintf(log, "maintainer scripts not run: %s (%s)\n", s.Package, strings.Join(s.Scripts, ","))
			}
		}
	}
	if res.UpToDate {
		return workflow.PatchResult{}, fmt.Errorf("the original %s has nothing to upgrade although its scan tag had fixable vulnerabilities: %w", orig, workflow.ErrPermanent)
	}
	if res.VEXDigest != (v1.Hash{}) {
		fmt.Fprintf(log, "OpenVEX document attached as referrer %s\n", res.VEXDigest)
	}
	return workflow.PatchResult{Tag: res.Tag, Digest: res.Digest.String(), FixedCVEs: res.FixedCVEs}, nil
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
	var m struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return workflow.PatchResult{}, false, fmt.Errorf("parsing manifest of %s: %w", next, err)
	}
	if m.Annotations[AnnotationCycle] != req.Cycle || m.Annotations[AnnotationWorkflow] != req.Workflow {
		return workflow.PatchResult{}, false, nil
	}
	if req.OriginalDigest != "" && m.Annotations[patch.AnnotationBaseDigest] != req.OriginalDigest {
		return workflow.PatchResult{}, false, nil
	}
	if desc.MediaType.IsIndex() {
		return workflow.PatchResult{Tag: next.String(), Digest: desc.Digest.String()}, true, nil
	}
	img, err := desc.Image()
	if err != nil {
		return workflow.PatchResult{}, false, fmt.Errorf("reading %s: %w", next, err)
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
