package pipeline_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/image"
	"github.com/patchloop/patchloop/internal/pipeline"
	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/patch"
	"github.com/patchloop/patchloop/policy"
	"github.com/patchloop/patchloop/registry"
	"github.com/patchloop/patchloop/store"
	"github.com/patchloop/patchloop/store/sqlitestore"
	"github.com/patchloop/patchloop/workflow"
)

// fastRetries keeps fault tests quick; the shape is the default's.
var fastRetries = registry.Backoff{Duration: 5 * time.Millisecond, Factor: 2, Steps: 3}

// testBundle is one engine running the real pipeline on one SQLite file,
// with a fake scheduler clock.
type testBundle struct {
	ctx    context.Context
	store  store.Store
	engine *workflow.Engine
	clock  *workflow.FakeClock // nil on a real clock
	now    func() time.Time
}

var t0 = time.Date(2026, 11, 3, 9, 30, 0, 0, time.UTC)

func setup(t *testing.T) *testBundle { return setupWith(t, workflow.NewFakeClock(t0), 4) }

// setupWith runs the engine with workers on clock (a FakeClock for
// scheduling tests; the benchmark wants real run durations).
func setupWith(t *testing.T, clock workflow.Clock, workers int) *testBundle {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "patchloop.db")
	st, err := sqlitestore.Open(ctx, path, store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	db, err := workflow.OpenDatabase(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	repos, err := distrorepo.New(distrorepo.Config{CacheDir: filepath.Join(testutil.CacheDir(), "distrorepo")})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := image.NewCache(filepath.Join(dir, "layers"), 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New(pipeline.Config{
		Registry: func(host string) (*registry.Client, error) {
			return registry.New(host, registry.WithRetryBackoff(fastRetries))
		},
		Repos:      repos,
		Cache:      cache,
		ScratchDir: t.TempDir(),
		Now:        clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := workflow.New(ctx, db, workflow.Config{
		Selector: p.Selector(), Scanner: p.Scanner(), Patcher: p.Patcher(),
		Catalog:      workflow.StoreCatalog{Store: st},
		Workers:      workers,
		JobTimeout:   5 * time.Minute,
		RetryDelay:   20 * time.Millisecond,
		PollInterval: 50 * time.Millisecond,
		Clock:        clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		_ = eng.Stop(sctx)
	})
	fc, _ := clock.(*workflow.FakeClock)
	return &testBundle{ctx: ctx, store: st, engine: eng, clock: fc, now: clock.Now}
}

// policy pushes the policy artifact to reg (what workflow create does
// first); with schedule, the workflow is also recorded for the scheduler.
func (b *testBundle) policy(t *testing.T, reg *testutil.Registry, text, schedule string) {
	t.Helper()
	c, err := registry.New(reg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	dg, err := c.PushPolicy(b.ctx, registry.PolicyTag, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if schedule == "" {
		return
	}
	if _, err := b.store.WorkflowCreate(b.ctx, &store.WorkflowCreateParams{
		Registry: reg.Addr, Type: store.TypeContinuousPatchV1, Schedule: schedule,
		ScheduleSetAt: b.now(), Policy: []byte(text), PolicyDigest: dg.String(),
	}); err != nil {
		t.Fatal(err)
	}
	b.engine.Reschedule()
}

// runNow starts a cycle now and moves the fake clock on, so the next
// cycle gets another id.
func (b *testBundle) runNow(t *testing.T, wf string) workflow.Run {
	t.Helper()
	r, err := b.engine.RunImmediately(b.ctx, wf)
	if err != nil {
		t.Fatal(err)
	}
	if b.clock != nil {
		b.clock.Advance(time.Second)
	} else {
		time.Sleep(time.Millisecond) // cycle ids are the start time
	}
	return r
}

// waitCycle waits until cycle has a finished trigger and no active run.
func (b *testBundle) waitCycle(t *testing.T, wf, cycle string) []workflow.Run {
	t.Helper()
	deadline := time.Now().Add(6 * time.Minute)
	for {
		runs, err := b.engine.ListRuns(b.ctx, workflow.RunFilter{Workflow: wf, Cycle: cycle})
		if err != nil {
			t.Fatal(err)
		}
		done := len(runs) > 0
		for _, r := range runs {
			if r.Status.Active() {
				done = false
			}
		}
		if done {
			return runs
		}
		if time.Now().After(deadline) {
			count := map[string]int{}
			for _, r := range runs {
				count[string(r.Task)+" "+string(r.Status)]++
			}
			t.Fatalf("cycle %s of %s not done after 6m: %v", cycle, wf, count)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// byTask picks the runs of one task, keyed by image.
func byTask(runs []workflow.Run, task workflow.Task) map[string]workflow.Run {
	out := map[string]workflow.Run{}
	for _, r := range runs {
		if r.Task == task {
			out[r.Image] = r
		}
	}
	return out
}

func tags(t *testing.T, reg *testutil.Registry, repo string) []string {
	t.Helper()
	c, err := registry.New(reg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.Tags(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	// OpenVEX referrers of the patches live under sha256-… fallback tags.
	list = slices.DeleteFunc(list, policy.IsReferrersTag)
	slices.Sort(list)
	return list
}

// pulled reads the manifest annotations and the original named by a tag.
func pulled(t *testing.T, reg *testutil.Registry, s string) (v1.Hash, map[string]string) {
	t.Helper()
	desc, err := remote.Get(reg.Ref(t, s))
	if err != nil {
		t.Fatal(err)
	}
	img, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return desc.Digest, m.Annotations
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// images are the debootstrap minbase images of bookworm and jammy: their
// packages are the release's, which the security suites supersede. Their
// layer files live in t's temporary directory.
func images(t *testing.T) (bookworm, jammy v1.Image) {
	t.Helper()
	return testutil.ImageFromDir(t, testutil.Rootfs(t, testutil.Bookworm)), testutil.ImageFromDir(t, testutil.Rootfs(t, testutil.Jammy))
}

// TestEndToEnd runs whole cycles of the real pipeline on the in-process
// registry with debootstrap images.
func TestEndToEnd(t *testing.T) {
	testutil.RequireSlow(t)
	bookworm, jammy := images(t)
	b := setup(t)

	t.Run("IncrementalPolicyOverSeveralRepositoriesThenAScheduledCycle", func(t *testing.T) {
		reg := testutil.StartRegistry(t)
		reg.Push(t, "python:3.11", bookworm)
		reg.Push(t, "python:3.12", bookworm)
		// An earlier patch of 3.12 that is still vulnerable: the next is -2.
		reg.Push(t, "python:3.12-1", bookworm)
		// The other convention's tag is not a patch here: ignored.
		reg.Push(t, "python:3.12-patched", bookworm)
		reg.Push(t, "ubuntu:jammy-20240111", jammy)
		b.policy(t, reg, `{"version": "v1", "tag-convention": "incremental", "repositories": [
			{"repository": "python", "tags": ["3.11", "3.12"], "enabled": true},
			{"repository": "ubuntu", "tags": ["jammy-20240111", "jammy-20240125"], "enabled": true}]}`, "1d")

		first := b.runNow(t, reg.Addr)
		runs := b.waitCycle(t, reg.Addr, first.Cycle)
		trigger := byTask(runs, workflow.TaskTrigger)[""]
		if trigger.Status != workflow.StatusSucceeded || trigger.Result.Images != 3 || !slices.Equal(trigger.Result.NotFound, []string{"ubuntu:jammy-20240125"}) {
			t.Fatalf("trigger %+v", trigger)
		}
		patches := byTask(runs, workflow.TaskPatch)
		want := map[string]string{"python:3.11": "3.11-1", "python:3.12": "3.12-2", "ubuntu:jammy-20240111": "jammy-20240111-1"}
		for im, next := range want {
			p := patches[im]
			repo, _, _ := strings.Cut(im, ":")
			if p.Status != workflow.StatusSucceeded || p.Result.Tag != reg.Addr+"/"+repo+":"+next || len(p.Result.FixedCVEs) == 0 {
				t.Fatalf("patch of %s: %+v", im, p)
			}
			dg, anns := pulled(t, reg, repo+":"+next)
			if dg.String() != p.Result.Digest || anns[pipeline.AnnotationCycle] != first.Cycle || anns[pipeline.AnnotationWorkflow] != reg.Addr {
				t.Fatalf("%s: digest %s annotations %v, run %+v", next, dg, anns, p.Result)
			}
			orig := bookworm
			if repo == "ubuntu" {
				orig = jammy
			}
			if anns[patch.AnnotationBaseDigest] != digestOf(t, orig) {
				t.Fatalf("%s built on %s", next, anns[patch.AnnotationBaseDigest])
			}
		}
		if got := tags(t, reg, "python"); !slices.Equal(got, []string{"3.11", "3.11-1", "3.12", "3.12-1", "3.12-2", "3.12-patched"}) {
			t.Fatalf("python tags %v", got)
		}

		t.Run("LogsHoldTheWholeRun", func(t *testing.T) {
			var sb strings.Builder
			if err := b.engine.CopyLog(b.ctx, patches["python:3.11"].ID, &sb); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"patching the original", "upgrade ", "pushed "} {
				if !strings.Contains(sb.String(), want) {
					t.Fatalf("patch log lacks %q:\n%s", want, sb.String())
				}
			}
		})

		// The scheduled slot: the latest patches are clean, so skipped.
		wfs, err := workflow.StoreCatalog{Store: b.store}.ScheduledWorkflows(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var slot time.Time
		for _, w := range wfs {
			if w.Key == reg.Addr {
				slot = w.Next(b.clock.Now())
			}
		}
		b.clock.Set(slot)
		var second workflow.Run
		deadline := time.Now().Add(time.Minute)
		for second.ID == 0 {
			trig, err := b.engine.ListRuns(b.ctx, workflow.RunFilter{Workflow: reg.Addr, Task: workflow.TaskTrigger})
			if err != nil {
				t.Fatal(err)
			}
			if len(trig) == 2 {
				second = trig[0]
			} else if time.Now().After(deadline) {
				t.Fatalf("no scheduled cycle at %s: %+v", slot, trig)
			}
			time.Sleep(50 * time.Millisecond)
		}
		runs = b.waitCycle(t, reg.Addr, second.Cycle)
		for im := range want {
			p := byTask(runs, workflow.TaskPatch)[im]
			if p.Status != workflow.StatusSkipped || p.Reason != workflow.ReasonNoVulnerability {
				t.Fatalf("second cycle, %s: %+v", im, p)
			}
		}
		if got := tags(t, reg, "python"); len(got) != 6 {
			t.Fatalf("the clean cycle pushed: %v", got)
		}
		rows, err := b.engine.ListImages(b.ctx, reg.Addr)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 || rows[0].Image != "python:3.11" || rows[0].LastPatchedImage != reg.Addr+"/python:3.11-1" ||
			rows[0].PatchStatus != workflow.StatusSkipped || rows[0].PatchSkippedReason != workflow.ReasonNoVulnerability {
			t.Fatalf("workflow list rows %+v", rows)
		}
	})

	t.Run("FloatingOverwritesThePatchedTag", func(t *testing.T) {
		reg := testutil.StartRegistry(t)
		reg.Push(t, "python:3.11", bookworm)
		reg.Push(t, "python:3.11-patched", bookworm)
		reg.Push(t, "python:3.11-1", bookworm) // the other convention's: not touched
		b.policy(t, reg, `{"version": "v1", "tag-convention": "floating", "repositories": [
			{"repository": "python", "tags": ["*"], "enabled": true}]}`, "")
		first := b.runNow(t, reg.Addr)
		runs := b.waitCycle(t, reg.Addr, first.Cycle)
		p := byTask(runs, workflow.TaskPatch)["python:3.11"]
		if p.Status != workflow.StatusSucceeded || p.Result.Tag != reg.Addr+"/python:3.11-patched" {
			t.Fatalf("patch %+v", p)
		}
		dg, anns := pulled(t, reg, "python:3.11-patched")
		if dg.String() == digestOf(t, bookworm) || dg.String() != p.Result.Digest || anns[pipeline.AnnotationCycle] != first.Cycle {
			t.Fatalf("3.11-patched not overwritten by the patch: %s %v", dg, anns)
		}
		if got := tags(t, reg, "python"); !slices.Equal(got, []string{"3.11", "3.11-1", "3.11-patched"}) {
			t.Fatalf("tags %v", got)
		}
		if d, _ := pulled(t, reg, "python:3.11-1"); d.String() != digestOf(t, bookworm) {
			t.Fatal("3.11-1 was changed")
		}
		// The patch's OpenVEX referrer tag is not an image to patch.
		second := b.runNow(t, reg.Addr)
		runs = b.waitCycle(t, reg.Addr, second.Cycle)
		if tr := byTask(runs, workflow.TaskTrigger)[""]; tr.Result.Images != 1 {
			t.Fatalf("second cycle selected %d images", tr.Result.Images)
		}
		if p := byTask(runs, workflow.TaskPatch)["python:3.11"]; p.Status != workflow.StatusSkipped {
			t.Fatalf("second cycle: %+v", p)
		}
	})

	t.Run("RegistryOutageFailsWithReasonsAndTheNextCycleRecovers", func(t *testing.T) {
		var down atomic.Bool
		reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// Down for layer downloads only: the trigger lists and
				// resolves, then every scan fails.
				if down.Load() && strings.Contains(r.URL.Path, "/blobs/") && !strings.Contains(r.URL.Path, "csscpolicies") {
					http.Error(w, "maintenance", http.StatusServiceUnavailable)
					return
				}
				h.ServeHTTP(w, r)
			})
		}))
		reg.Push(t, "python:3.11", bookworm)
		b.policy(t, reg, `{"version": "v1", "repositories": [{"repository": "python", "tags": ["3.11"], "enabled": true}]}`, "")
		down.Store(true)
		first := b.runNow(t, reg.Addr)
		runs := b.waitCycle(t, reg.Addr, first.Cycle)
		scan := byTask(runs, workflow.TaskScan)["python:3.11"]
		if scan.Status != workflow.StatusFailed || scan.Attempt != 3 || !strings.Contains(scan.Reason, "503") && !strings.Contains(scan.Reason, "unavailable") {
			t.Fatalf("scan during the outage: %+v", scan)
		}
		failed, err := b.engine.ListImages(b.ctx, reg.Addr, workflow.StatusFailed)
		if err != nil {
			t.Fatal(err)
		}
		if len(failed) != 1 || failed[0].ScanErrorReason == "" {
			t.Fatalf("list --run-status failed: %+v", failed)
		}
		listed, err := b.engine.ListRuns(b.ctx, workflow.RunFilter{Workflow: reg.Addr, Statuses: []workflow.Status{workflow.StatusFailed}})
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) != 1 || listed[0].ID != scan.ID {
			t.Fatalf("failed runs %+v", listed)
		}
		if got := tags(t, reg, "python"); len(got) != 1 {
			t.Fatalf("pushed during the outage: %v", got)
		}
		down.Store(false)
		second := b.runNow(t, reg.Addr)
		runs = b.waitCycle(t, reg.Addr, second.Cycle)
		if p := byTask(runs, workflow.TaskPatch)["python:3.11"]; p.Status != workflow.StatusSucceeded || !strings.HasSuffix(p.Result.Tag, ":3.11-1") {
			t.Fatalf("after the outage: %+v", p)
		}
	})

	t.Run("CancelRunStopsTheCycleAndTheNextHandlesTheImage", func(t *testing.T) {
		var hold atomic.Bool
		release := make(chan struct{})
		var once sync.Once
		entered := make(chan struct{}, 100)
		reg := testutil.StartRegistry(t, testutil.WithHandlerWrap(func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if hold.Load() && strings.Contains(r.URL.Path, "/python/blobs/") {
					entered <- struct{}{}
					select {
					case <-release:
					case <-r.Context().Done():
						return
					}
				}
				h.ServeHTTP(w, r)
			})
		}))
		defer once.Do(func() { close(release) })
		reg.Push(t, "python:3.11", bookworm)
		b.policy(t, reg, `{"version": "v1", "repositories": [{"repository": "python", "tags": ["3.11"], "enabled": true}]}`, "")
		hold.Store(true)
		first := b.runNow(t, reg.Addr)
		select {
		case <-entered:
		case <-time.After(2 * time.Minute):
			t.Fatal("the scan never reached the registry")
		}
		canceled, err := b.engine.CancelCycle(b.ctx, reg.Addr)
		if err != nil {
			t.Fatal(err)
		}
		if len(canceled) != 1 || canceled[0].Task != workflow.TaskScan || canceled[0].Status != workflow.StatusCanceled {
			t.Fatalf("canceled %+v", canceled)
		}
		hold.Store(false)
		once.Do(func() { close(release) })
		runs := b.waitCycle(t, reg.Addr, first.Cycle)
		for _, r := range runs {
			if r.Task != workflow.TaskTrigger && r.Status != workflow.StatusCanceled {
				t.Fatalf("after cancel-run: %+v", r)
			}
		}
		if got := tags(t, reg, "python"); len(got) != 1 {
			t.Fatalf("a canceled cycle pushed: %v", got)
		}
		second := b.runNow(t, reg.Addr)
		runs = b.waitCycle(t, reg.Addr, second.Cycle)
		if p := byTask(runs, workflow.TaskPatch)["python:3.11"]; p.Status != workflow.StatusSucceeded {
			t.Fatalf("next cycle: %+v", p)
		}
	})

	t.Run("DeleteRemovesArtifactsRunsAndJobs", func(t *testing.T) {
		reg := testutil.StartRegistry(t)
		reg.Push(t, "python:3.11", bookworm)
		b.policy(t, reg, `{"version": "v1", "repositories": [{"repository": "python", "tags": ["3.11"], "enabled": true}]}`, "7d")
		first := b.runNow(t, reg.Addr)
		b.waitCycle(t, reg.Addr, first.Cycle)
		c, err := registry.New(reg.Addr)
		if err != nil {
			t.Fatal(err)
		}
		// What `workflow delete` does.
		if _, err := c.DeletePolicies(b.ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.engine.DeleteWorkflow(b.ctx, reg.Addr); err != nil {
			t.Fatal(err)
		}
		if err := b.store.WorkflowDelete(b.ctx, &store.WorkflowDeleteParams{Registry: reg.Addr, Type: store.TypeContinuousPatchV1}); err != nil {
			t.Fatal(err)
		}
		runs, err := b.engine.ListRuns(b.ctx, workflow.RunFilter{Workflow: reg.Addr})
		if err != nil || len(runs) != 0 {
			t.Fatalf("runs after delete: %v %+v", err, runs)
		}
		if _, err := c.PullPolicy(b.ctx, registry.PolicyTag); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("policy after delete: %v", err)
		}
		if _, err := b.engine.CancelCycle(b.ctx, reg.Addr); !errors.Is(err, workflow.ErrNotFound) {
			t.Fatalf("cycles after delete: %v", err)
		}
	})
}
