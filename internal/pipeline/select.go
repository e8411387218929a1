package pipeline

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/patchloop/patchloop/policy"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/workflow"
)

// Selector reads a workflow's policy artifact and selects its images. The
// workflow key is the registry host.
type Selector struct{ p *Pipeline }

var _ workflow.Selector = (*Selector)(nil)

// headJobs bounds the concurrent manifest HEADs of one selection.
const headJobs = 8

// Select implements workflow.Selector.
func (s *Selector) Select(ctx context.Context, wf string, log io.Writer) (workflow.Selection, error) {
	c, err := s.p.client(wf)
	if err != nil {
		return workflow.Selection{}, err
	}
	raw, err := c.PullPolicy(ctx, registry.PolicyTag)
	if err != nil {
		return workflow.Selection{}, err
	}
	pol, warnings, err := policy.Parse(registry.PolicyRepository+":"+registry.PolicyTag, raw)
	if err != nil {
		return workflow.Selection{}, fmt.Errorf("policy artifact of %s: %w", wf, err)
	}
	for _, w := range warnings {
		fmt.Fprintf(log, "policy warning: %v\n", w)
	}
	var repos []string
	for _, r := range pol.Repositories {
		if r.Enabled {
			repos = append(repos, r.Name)
		}
	}
	inv, err := c.Inventory(ctx, repos)
	if err != nil {
		return workflow.Selection{}, err
	}
	sel := pol.Select(inv)
	out := workflow.Selection{Targets: make([]workflow.Target, len(sel.Images))}
	for _, m := range sel.Missing {
		if m.RepositoryMissing {
			out.NotFound = append(out.NotFound, m.Repository)
		} else {
			out.NotFound = append(out.NotFound, m.Repository+":"+m.Tag)
		}
	}
	conv := pol.TagConvention.String()
	errs := make([]error, len(sel.Images))
	sem := make(chan struct{}, headJobs)
	var wg sync.WaitGroup
	for i, im := range sel.Images {
		t := workflow.Target{Registry: wf, Repository: im.Repository, Tag: im.Tag, ScanTag: im.Tag, NextTag: im.NextPatchTag, Convention: conv}
		if im.LatestPatchTag != "" {
			t.ScanTag = im.LatestPatchTag
		}
		out.Targets[i] = t
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ref, err := c.Tag(im.Repository, im.Tag)
			if err != nil {
				errs[i] = err
				return
			}
			d, err := c.Head(ctx, ref)
			if err != nil {
				errs[i] = err
				return
			}
			out.Targets[i].OriginalDigest = d.Digest.String()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return workflow.Selection{}, err
		}
	}
	return out, nil
}
