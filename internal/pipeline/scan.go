package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/patchloop/patchloop/scan"
	"github.com/patchloop/patchloop/vulndb"
	"github.com/patchloop/patchloop/workflow"
)

// Scanner scans a target's scan tag with the scan package.
type Scanner struct{ p *Pipeline }

var _ workflow.Scanner = (*Scanner)(nil)

// scan scans ref. Scans of one digest are shared for up to ScanReuse: the
// registry's scan.Scanner (whose memo is keyed by digest) is replaced by a
// fresh one once it is older, so a long-running daemon keeps a bounded set
// of results and never judges an image on findings older than that.
func (p *Pipeline) scan(ctx context.Context, host string, ref name.Reference) (*scan.Result, error) {
	c, err := p.client(host)
	if err != nil {
		return nil, err
	}
	opts := scan.Options{Registry: c, Source: p.cfg.Source, Cache: p.cfg.Cache, Now: p.cfg.Now}
	if p.cfg.ScanReuse < 0 {
		return scan.Scan(ctx, ref, opts)
	}
	now := time.Now()
	p.mu.Lock()
	g := p.scanners[host]
	if g == nil || now.Sub(g.at) > p.cfg.ScanReuse {
		s, err := scan.New(opts)
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		g = &scannerGen{s: s, at: now}
		p.scanners[host] = g
	}
	p.mu.Unlock()
	return g.s.Scan(ctx, ref)
}

// Scan implements workflow.Scanner.
func (s *Scanner) Scan(ctx context.Context, t workflow.Target, log io.Writer) (workflow.ScanResult, error) {
	c, err := s.p.client(t.Registry)
	if err != nil {
		return workflow.ScanResult{}, err
	}
	ref, err := c.Tag(t.Repository, t.ScanTag)
	if err != nil {
		return workflow.ScanResult{}, err
	}
	res, err := s.p.scan(ctx, t.Registry, ref)
	if err != nil {
		return workflow.ScanResult{}, err
	}
	out := workflow.ScanResult{Fixable: res.Fixable, EOSL: res.EOSL}
	var reports []*vulndb.Report
	for _, img := range res.Images {
		fixable := vulndb.Fixable(img.Findings)
		fmt.Fprintf(log, "%s %s (%s): %d packages, %d findings, %d fixable, source %s\n",
			res.Ref, img.Digest, osName(img), len(img.Packages), len(img.Findings), len(fixable), img.Source)
		if img.EOSL {
			fmt.Fprintf(log, "%s is past its end of support\n", osName(img))
		}
		for _, w := range img.Warnings {
			fmt.Fprintf(log, "warning: %s\n", w)
		}
		for _, f := range fixable {
			fmt.Fprintf(log, "  %s %s %s -> %s\n", f.VulnerabilityID, f.PkgName, f.InstalledVersion, f.FixedVersion)
		}
		out.CVEs = append(out.CVEs, fixedIDs(fixable)...)
		reports = append(reports, img.Report)
	}
	slices.Sort(out.CVEs)
	out.CVEs = slices.Compact(out.CVEs)
	var rep any = reports
	if len(reports) == 1 {
		rep = reports[0]
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return workflow.ScanResult{}, fmt.Errorf("encoding scan report of %s: %w", ref, err)
	}
	out.Report = b
	return out, nil
}

// fixedIDs are the CVE ids of findings, or the finding's own id when it
// names no CVE (a DSA without one).
func fixedIDs(fs []vulndb.Finding) []string {
	var out []string
	for _, f := range fs {
		ids := f.CVEs()
		if len(ids) == 0 {
			ids = []vulndb.ID{f.VulnerabilityID}
		}
		for _, id := range ids {
			out = append(out, id.String())
		}
	}
	return out
}

func osName(img *scan.Image) string {
	if img.OS.PrettyName != "" {
		return img.OS.PrettyName
	}
	return img.OS.ID + " " + img.OS.VersionID
}
