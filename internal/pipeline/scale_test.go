package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/internal/demo"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/workflow"
)

// realClock is the wall clock in UTC.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now().UTC() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// TestScaleCycle is the scale benchmark (scripts/bench-workflow): a
// registry of 1,000 original tags in 20 repositories sharing 3 real
// Debian bases; all but 10 already have a clean -1 patch. One full cycle
// of the real pipeline must take under 60 s, and under 50 ms per image
// that needs nothing. It runs with PATCHLOOP_BENCH=1 (and without -short).
func TestScaleCycle(t *testing.T) {
	testutil.RequireSlow(t)
	if os.Getenv("PATCHLOOP_BENCH") == "" {
		t.Skip("PATCHLOOP_BENCH is not set (scripts/bench-workflow sets it)")
	}
	const repos, perRepo, unpatched = 20, 50, 10
	ctx := context.Background()
	const workers = 8
	b := setupWith(t, realClock{}, workers)
	reg := testutil.StartRegistry(t)
	c, err := registry.New(reg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	archive, err := distrorepo.New(distrorepo.Config{CacheDir: filepath.Join(testutil.CacheDir(), "distrorepo")})
	if err != nil {
		t.Fatal(err)
	}
	// Three bases with different package sets, each patched once by the
	// real patcher (through a one-image cycle) to get its clean patch.
	seeds := [][]string{nil, {"libexpat1"}, {"libssl3"}}
	type base struct{ orig, patched v1.Image }
	var bases []base
	prep := time.Now()
	for i, s := range seeds {
		built, err := demo.Build(ctx, demo.Config{Repos: archive, ScratchDir: t.TempDir(), Seeds: s})
		if err != nil {
			t.Fatal(err)
		}
		repo := fmt.Sprintf("seed%d", i)
		reg.Push(t, repo+":orig", built.Image)
		bases = append(bases, base{orig: built.Image})
	}
	b.policy(t, reg, `{"version": "v1", "repositories": [{"repository": "seed0", "tags": ["*"], "enabled": true},
		{"repository": "seed1", "tags": ["*"], "enabled": true}, {"repository": "seed2", "tags": ["*"], "enabled": true}]}`, "")
	seedCycle := b.runNow(t, reg.Addr)
	for _, r := range b.waitCycle(t, reg.Addr, seedCycle.Cycle) {
		if r.Task == workflow.TaskPatch && r.Status != workflow.StatusSucceeded {
			t.Fatalf("seed patch %+v", r)
		}
	}
	for i := range bases {
		ref, err := c.Tag(fmt.Sprintf("seed%d", i), "orig-1")
		if err != nil {
			t.Fatal(err)
		}
		if bases[i].patched, err = c.Image(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for r := range repos {
		names = append(names, fmt.Sprintf("app%02d", r))
		for i := range perRepo {
			k := r*perRepo + i
			bs := bases[k%len(bases)]
			tag := fmt.Sprintf("%d.%d", k/10, k%10)
			reg.Push(t, names[r]+":"+tag, bs.orig)
			if k >= unpatched {
				reg.Push(t, names[r]+":"+tag+"-1", bs.patched)
			}
		}
	}
	t.Logf("prepared %d original tags (%d patched and clean) on %d bases in %s", repos*perRepo, repos*perRepo-unpatched, len(bases), time.Since(prep).Round(time.Second))

	// The benchmark registry's own policy replaces the seed policy.
	var entries []string
	for _, n := range names {
		entries = append(entries, fmt.Sprintf(`{"repository": %q, "tags": ["*"], "enabled": true}`, n))
	}
	b.policy(t, reg, `{"version": "v1", "tag-convention": "incremental", "repositories": [`+strings.Join(entries, ",")+`]}`, "")
	start := time.Now()
	cyc := b.runNow(t, reg.Addr)
	runs := b.waitCycle(t, reg.Addr, cyc.Cycle)
	wall := time.Since(start)

	var cleanScans []time.Duration
	patched, skipped, failed := 0, 0, 0
	scans := byTask(runs, workflow.TaskScan)
	for im, p := range byTask(runs, workflow.TaskPatch) {
		switch p.Status {
		case workflow.StatusSucceeded:
			patched++
		case workflow.StatusSkipped:
			skipped++
			s := scans[im]
			cleanScans = append(cleanScans, s.FinishedAt.Sub(s.StartedAt))
		default:
			failed++
			t.Errorf("%s: %s %s", im, p.Status, p.Reason)
		}
	}
	slices.Sort(cleanScans)
	images := patched + skipped + failed
	if images != repos*perRepo {
		t.Fatalf("cycle handled %d images, want %d", images, repos*perRepo)
	}
	var sum time.Duration
	for _, d := range cleanScans {
		sum += d
	}
	median := cleanScans[len(cleanScans)/2]
	p95 := cleanScans[len(cleanScans)*95/100]
	perClean := sum / time.Duration(len(cleanScans))
	t.Logf("BENCH cycle of %d images: %s wall (%d patched, %d skipped clean, %d failed), %.1f ms per image overall",
		images, wall.Round(10*time.Millisecond), patched, skipped, failed, float64(wall.Milliseconds())/float64(images))
	t.Logf("BENCH clean image scan task: median %s, p95 %s, mean %s (%d workers, SQLite)",
		median.Round(100*time.Microsecond), p95.Round(100*time.Microsecond), perClean.Round(100*time.Microsecond), workers)
	if wall > 60*time.Second {
		t.Errorf("full cycle took %s, want under 60s", wall)
	}
	if amortized := wall / time.Duration(images); amortized > 50*time.Millisecond {
		t.Errorf("%s per image, want under 50ms", amortized)
	}
}
