package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// The fakes below stand in for the policy selector, the scanner and the
// patch engine. They exist for the engine's semantics and for fault
// injection; the real parts are wired and tested end to end elsewhere.

type fakeSelector struct {
	mu      sync.Mutex
	targets []Target
	err     error
	calls   int
	// started, when set, receives a value as each selection begins, which
	// then waits for its context to end.
	started chan struct{}
}

var _ Selector = (*fakeSelector)(nil)

func (s *fakeSelector) Select(ctx context.Context, workflow string, log io.Writer) (Selection, error) {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if started != nil {
		started <- struct{}{}
		<-ctx.Done()
		return Selection{}, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	fmt.Fprintf(log, "policy of %s selects %d images\n", workflow, len(s.targets))
	return Selection{Targets: append([]Target(nil), s.targets...)}, s.err
}

func targets(n int) []Target {
	out := make([]Target, n)
	for i := range out {
		tag := fmt.Sprintf("t%d", i)
		out[i] = Target{Registry: "reg.test", Repository: "repo", Tag: tag, ScanTag: tag, NextTag: tag + "-1",
			OriginalDigest: fmt.Sprintf("sha256:%064d", i), Convention: "incremental"}
	}
	return out
}

// fakeScanner answers per image; by default every image is fixable.
type fakeScanner struct {
	mu    sync.Mutex
	calls map[string]int
	// result per image; missing images are fixable.
	result map[string]ScanResult
	// failures per image: the first failures[image] scans fail.
	failures map[string]int
	// block, when set, makes every scan wait on it or on its context.
	block chan struct{}
	// started receives each image whose scan began, when set.
	started chan string
}

var _ Scanner = (*fakeScanner)(nil)

func newFakeScanner() *fakeScanner {
	return &fakeScanner{calls: map[string]int{}, result: map[string]ScanResult{}, failures: map[string]int{}}
}

func (s *fakeScanner) Scan(ctx context.Context, t Target, log io.Writer) (ScanResult, error) {
	s.mu.Lock()
	s.calls[t.Image()]++
	n := s.calls[t.Image()]
	res, ok := s.result[t.Image()]
	fail := s.failures[t.Image()]
	block, started := s.block, s.started
	s.mu.Unlock()
	if started != nil {
		started <- t.Image()
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ScanResult{}, ctx.Err()
		}
	}
	if n <= fail {
		return ScanResult{}, fmt.Errorf("registry unavailable (scan %d)", n)
	}
	if !ok {
		res = ScanResult{Fixable: true, CVEs: []string{"CVE-2024-0001"}}
	}
	report, _ := json.Marshal(map[string]any{"image": t.Image(), "cves": res.CVEs})
	res.Report = report
	fmt.Fprintf(log, "found %d fixable vulnerabilities\n", len(res.CVEs))
	return res, nil
}

func (s *fakeScanner) count(image string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[image]
}

// fakePatcher remembers what it pushed, per tag, with the cycle and base
// digest a real patcher records on the image.
type fakePatcher struct {
	mu     sync.Mutex
	calls  map[string]int
	pushed map[string]PatchRequest
	// failures per image: the first failures[image] patches fail.
	failures map[string]int
	// crashAfterPush per image: the first patch pushes, then fails as if
	// the process died before recording it.
	crashAfterPush map[string]bool
	permanent      map[string]bool
	block          chan struct{}
	started        chan string
}

var _ Patcher = (*fakePatcher)(nil)

func newFakePatcher() *fakePatcher {
	return &fakePatcher{calls: map[string]int{}, pushed: map[string]PatchRequest{}, failures: map[string]int{},
		crashAfterPush: map[string]bool{}, permanent: map[string]bool{}}
}

var errCrash = errors.New("process killed after push")

func (p *fakePatcher) Patch(ctx context.Context, req PatchRequest, log io.Writer) (PatchResult, error) {
	p.mu.Lock()
	p.calls[req.Image()]++
	n := p.calls[req.Image()]
	fail, crash, perm := p.failures[req.Image()], p.crashAfterPush[req.Image()], p.permanent[req.Image()]
	block, started := p.block, p.started
	p.mu.Unlock()
	if started != nil {
		started <- req.Image()
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return PatchResult{}, ctx.Err()
		}
	}
	if perm {
		return PatchResult{}, fmt.Errorf("no more than 999 patches can be created for a tag: %w", ErrPermanent)
	}
	if n <= fail {
		return PatchResult{}, fmt.Errorf("pushing: registry unavailable (patch %d)", n)
	}
	p.mu.Lock()
	p.pushed[req.Repository+":"+req.NextTag] = req
	p.mu.Unlock()
	fmt.Fprintf(log, "pushed %s\n", req.NextTag)
	if crash && n == 1 {
		return PatchResult{}, errCrash
	}
	return p.result(req), nil
}

func (p *fakePatcher) result(req PatchRequest) PatchResult {
	return PatchResult{Tag: req.Registry + "/" + req.Repository + ":" + req.NextTag,
		Digest: "sha256:" + fmt.Sprintf("%064x", len(req.NextTag)), FixedCVEs: req.CVEs}
}

func (p *fakePatcher) Pushed(ctx context.Context, req PatchRequest) (PatchResult, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev, ok := p.pushed[req.Repository+":"+req.NextTag]
	if !ok || prev.OriginalDigest != req.OriginalDigest || prev.Cycle != req.Cycle {
		return PatchResult{}, false, nil
	}
	return p.result(req), true, nil
}

func (p *fakePatcher) count(image string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[image]
}

func (p *fakePatcher) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		n += c
	}
	return n
}

// fakeCatalog serves a fixed list of workflows on a daily 10:00 UTC schedule.
type fakeCatalog struct {
	mu  sync.Mutex
	wfs []ScheduledWorkflow
}

var _ Catalog = (*fakeCatalog)(nil)

func (c *fakeCatalog) ScheduledWorkflows(ctx context.Context) ([]ScheduledWorkflow, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ScheduledWorkflow(nil), c.wfs...), nil
}

// daily10 returns the first 10:00 UTC strictly after t.
func daily10(t time.Time) time.Time {
	t = t.UTC()
	s := time.Date(t.Year(), t.Month(), t.Day(), 10, 0, 0, 0, time.UTC)
	if !s.After(t) {
		s = s.AddDate(0, 0, 1)
	}
	return s
}
