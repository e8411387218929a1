package pipeline_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/internal/pipeline"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/workflow"
)

// TestPushedRecognisesOnlyItsOwnCycle is the crash between push and
// record, made deterministic: a patch is pushed and not recorded; Pushed
// finds it for the same cycle and original only, and a second patch of the
// incremental tag is refused rather than overwriting it.
func TestPushedRecognisesOnlyItsOwnCycle(t *testing.T) {
	testutil.RequireSlow(t)
	bookworm, _ := images(t)
	ctx := context.Background()
	reg := testutil.StartRegistry(t)
	reg.Push(t, "python:3.11", bookworm)
	repos, err := distrorepo.New(distrorepo.Config{CacheDir: filepath.Join(testutil.CacheDir(), "distrorepo")})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := image.NewCache(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New(pipeline.Config{
		Registry: func(host string) (*registry.Client, error) { return registry.New(host) },
		Repos:    repos, Cache: cache, ScratchDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	pt := p.Patcher()
	req := workflow.PatchRequest{
		Target: workflow.Target{Registry: reg.Addr, Repository: "python", Tag: "3.11", OriginalDigest: digestOf(t, bookworm),
			ScanTag: "3.11", NextTag: "3.11-1", Convention: "incremental"},
		Workflow: reg.Addr, Cycle: "cycle-a",
	}
	if _, ok, err := pt.Pushed(ctx, req); err != nil || ok {
		t.Fatalf("Pushed before any push: %v %v", ok, err)
	}
	var log strings.Builder
	res, err := pt.Patch(ctx, req, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	got, ok, err := pt.Pushed(ctx, req)
	if err != nil || !ok || got.Digest != res.Digest || got.Tag != res.Tag || len(got.FixedCVEs) != len(res.FixedCVEs) {
		t.Fatalf("Pushed after the push = %+v %v %v, want %+v", got, ok, err, res)
	}
	other := req
	other.Cycle = "cycle-b"
	if _, ok, err := pt.Pushed(ctx, other); err != nil || ok {
		t.Fatalf("another cycle's Pushed: %v %v", ok, err)
	}
	moved := req
	moved.OriginalDigest = "sha256:" + strings.Repeat("0", 64)
	if _, ok, err := pt.Pushed(ctx, moved); err != nil || ok {
		t.Fatalf("another original's Pushed: %v %v", ok, err)
	}
	if _, err := pt.Patch(ctx, other, io.Discard); !errors.Is(err, pipeline.ErrTagTaken) || !errors.Is(err, workflow.ErrPermanent) {
		t.Fatalf("second patch of an incremental tag: %v", err)
	}
	if d, _ := pulled(t, reg, "python:3.11-1"); d.String() != res.Digest {
		t.Fatalf("3.11-1 changed to %s", d)
	}
}
