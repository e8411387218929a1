package workflow

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const wfKey = "reg.test"

type testBundle struct {
	e       *Engine
	db      Database
	sel     *fakeSelector
	scan    *fakeScanner
	patch   *fakePatcher
	catalog *fakeCatalog
	clock   *FakeClock
	done    chan struct{}
}

type setupOpts struct {
	db      Database
	catalog *fakeCatalog
	clock   *FakeClock
	sel     *fakeSelector
	scan    *fakeScanner
	patch   *fakePatcher
	config  func(*Config)
}

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// setup builds an engine on a fresh SQLite database (or o.db) with fakes,
// not started.
func setup(t *testing.T, o setupOpts) *testBundle {
	t.Helper()
	if o.db == (Database{}) {
		o.db = newSQLite(t)
	}
	if o.clock == nil {
		o.clock = NewFakeClock(t0)
	}
	if o.sel == nil {
		o.sel = &fakeSelector{targets: targets(3)}
	}
	if o.scan == nil {
		o.scan = newFakeScanner()
	}
	if o.patch == nil {
		o.patch = newFakePatcher()
	}
	cfg := Config{
		Selector: o.sel, Scanner: o.scan, Patcher: o.patch, Clock: o.clock,
		PollInterval: 20 * time.Millisecond, RetryDelay: time.Millisecond, JobTimeout: time.Minute,
	}
	if o.catalog != nil {
		cfg.Catalog = o.catalog
	}
	if o.config != nil {
		o.config(&cfg)
	}
	e, err := New(context.Background(), o.db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &testBundle{e: e, db: o.db, sel: o.sel, scan: o.scan, patch: o.patch, catalog: o.catalog, clock: o.clock, done: make(chan struct{}, 1)}
	e.onJobDone = b.signal
	e.onSchedulerPass = b.signal
	return b
}

func (b *testBundle) signal() {
	select {
	case b.done <- struct{}{}:
	default:
	}
}

func (b *testBundle) start(t *testing.T) {
	t.Helper()
	if err := b.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.e.Stop(ctx)
	})
}

// waitUntil re-checks cond each time a job or scheduler pass finishes.
func waitUntil(t *testing.T, done <-chan struct{}, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !cond() {
		select {
		case <-done:
		case <-time.After(200 * time.Millisecond):
			// River finishes a job after Work returns; re-check now and then.
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// settled reports whether the workflow has runs and none is active.
func (b *testBundle) settled(t *testing.T) bool {
	t.Helper()
	runs, err := b.e.ListRuns(context.Background(), RunFilter{Workflow: wfKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Status.Active() {
			return false
		}
	}
	return len(runs) > 0
}

func (b *testBundle) runs(t *testing.T, f RunFilter) []Run {
	t.Helper()
	f.Workflow = wfKey
	runs, err := b.e.ListRuns(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// waitRun waits until run id has status st.
func (b *testBundle) waitRun(t *testing.T, id int64, st Status) {
	t.Helper()
	waitUntil(t, b.done, "run to be "+string(st), func() bool {
		r, err := b.e.GetRun(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status == st
	})
}

func byImage(runs []Run) map[string]Run {
	m := map[string]Run{}
	for _, r := range runs {
		m[r.Image] = r
	}
	return m
}

func TestEngine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("CycleSkipsCleanAndEOSLAndPatchesTheRest", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		b.scan.result["repo:t0"] = ScanResult{}
		b.scan.result["repo:t1"] = ScanResult{Fixable: true, EOSL: true}
		b.start(t)
		trig, err := b.e.RunImmediately(ctx, wfKey)
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, b.done, "cycle to settle", func() bool { return b.settled(t) && len(b.runs(t, RunFilter{Task: TaskPatch})) == 3 })
		if got, _ := b.e.GetRun(ctx, trig.ID); got.Status != StatusSucceeded || got.Result.Images != 3 {
			t.Fatalf("trigger run = %+v", got)
		}
		patches := byImage(b.runs(t, RunFilter{Task: TaskPatch}))
		if p := patches["repo:t0"]; p.Status != StatusSkipped || p.Reason != ReasonNoVulnerability {
			t.Errorf("clean image patch run = %s %q", p.Status, p.Reason)
		}
		if p := patches["repo:t1"]; p.Status != StatusSkipped || p.Reason != ReasonEOSL {
			t.Errorf("EOSL image patch run = %s %q", p.Status, p.Reason)
		}
		p := patches["repo:t2"]
		if p.Status != StatusSucceeded || p.Result.Tag != "reg.test/repo:t2-1" || len(p.Result.FixedCVEs) != 1 || p.Attempt != 1 {
			t.Errorf("vulnerable image patch run = %+v", p)
		}
		if b.patch.count("repo:t0")+b.patch.count("repo:t1") != 0 || b.patch.count("repo:t2") != 1 {
			t.Errorf("patch calls = %v", b.patch.calls)
		}
		var log bytes.Buffer
		if err := b.e.CopyLog(ctx, p.ID, &log); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"attempt 1 of 3", "patching repo:t2 into t2-1", "pushed t2-1"} {
			if !strings.Contains(log.String(), want) {
				t.Errorf("patch log lacks %q:\n%s", want, log.String())
			}
		}
		rows, err := b.e.ListImages(ctx, wfKey)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 || rows[2].Image != "repo:t2" || rows[2].LastPatchedImage != "reg.test/repo:t2-1" ||
			rows[0].PatchSkippedReason != ReasonNoVulnerability || rows[0].ScanStatus != StatusSucceeded || rows[2].WorkflowType != WorkflowType {
			t.Errorf("image rows = %+v", rows)
		}
		skipped, err := b.e.ListImages(ctx, wfKey, StatusSkipped)
		if err != nil {
			t.Fatal(err)
		}
		if len(skipped) != 2 {
			t.Errorf("rows with a Skipped run = %d, want 2", len(skipped))
		}
	})

	t.Run("TwoTriggersInOneCycleNeverDuplicate", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{sel: &fakeSelector{targets: targets(10)}})
		c := Cycle{Workflow: wfKey, ID: "slot-x", Slot: t0, CreatedAt: t0}
		r1, err := b.e.startCycle(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := b.e.startCycle(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if r1.ID != r2.ID || r1.JobID != r2.JobID {
			t.Fatalf("second trigger of the cycle made run %d job %d, first run %d job %d", r2.ID, r2.JobID, r1.ID, r1.JobID)
		}
		b.start(t)
		waitUntil(t, b.done, "cycle", func() bool {
			return b.settled(t) && len(b.runs(t, RunFilter{Task: TaskPatch, Statuses: []Status{StatusSucceeded}})) == 10
		})
		// A trigger of the same cycle after it finished queues nothing new.
		if _, err := b.e.startCycle(ctx, c); err != nil {
			t.Fatal(err)
		}
		if len(b.runs(t, RunFilter{})) != 21 {
			t.Fatalf("runs = %d, want 1 trigger + 10 scans + 10 patches", len(b.runs(t, RunFilter{})))
		}
		for _, tg := range targets(10) {
			if b.scan.count(tg.Image()) != 1 || b.patch.count(tg.Image()) != 1 {
				t.Fatalf("%s scanned %d, patched %d times", tg.Image(), b.scan.count(tg.Image()), b.patch.count(tg.Image()))
			}
		}
	})

	t.Run("RetriesUpToThreeAttempts", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		b.scan.failures["repo:t0"] = 100 // always fails
		b.patch.failures["repo:t1"] = 2  // succeeds at the third attempt
		b.patch.permanent["repo:t2"] = true
		b.start(t)
		if _, err := b.e.RunImmediately(ctx, wfKey); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, b.done, "cycle", func() bool { return b.settled(t) && len(b.runs(t, RunFilter{Task: TaskPatch})) == 2 })
		scans := byImage(b.runs(t, RunFilter{Task: TaskScan}))
		if s := scans["repo:t0"]; s.Status != StatusFailed || s.Attempt != 3 || !strings.Contains(s.Reason, "registry unavailable (scan 3)") {
			t.Errorf("always-failing scan = %s attempt %d %q", s.Status, s.Attempt, s.Reason)
		}
		if n := b.scan.count("repo:t0"); n != 3 {
			t.Errorf("scan attempts = %d, want 3", n)
		}
		patches := byImage(b.runs(t, RunFilter{Task: TaskPatch}))
		if p := patches["repo:t1"]; p.Status != StatusSucceeded || p.Attempt != 3 || p.Reason != "" {
			t.Errorf("flaky patch = %s attempt %d %q", p.Status, p.Attempt, p.Reason)
		}
		if p := patches["repo:t2"]; p.Status != StatusFailed || p.Attempt != 1 || !strings.Contains(p.Reason, "999") {
			t.Errorf("permanently failing patch = %s attempt %d %q", p.Status, p.Attempt, p.Reason)
		}
		var log bytes.Buffer
		if err := b.e.CopyLog(ctx, scans["repo:t0"].ID, &log); err != nil {
			t.Fatal(err)
		}
		if strings.Count(log.String(), "registry unavailable") != 3 {
			t.Errorf("failed scan log should hold all three attempts:\n%s", log.String())
		}
		failed, err := b.e.ListImages(ctx, wfKey, StatusFailed)
		if err != nil {
			t.Fatal(err)
		}
		if len(failed) != 2 || failed[0].ScanErrorReason == "" || failed[1].PatchErrorReason == "" {
			t.Errorf("failed rows = %+v", failed)
		}
	})

	t.Run("RegistryOutageFailsWithReasonsAndNextCycleRecovers", func(t *testing.T) {
		t.Parallel()
		sel := &fakeSelector{targets: targets(3), err: errors.New("GET https://reg.test/v2/csscpolicies/patchpolicy/manifests/v1: connection refused")}
		b := setup(t, setupOpts{sel: sel})
		for _, tg := range sel.targets {
			b.patch.failures[tg.Image()] = 3
		}
		b.start(t)
		trig, err := b.e.RunImmediately(ctx, wfKey)
		if err != nil {
			t.Fatal(err)
		}
		b.waitRun(t, trig.ID, StatusFailed)
		got, err := b.e.GetRun(ctx, trig.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Attempt != 3 || !strings.Contains(got.Reason, "connection refused") {
			t.Fatalf("trigger during the outage = attempt %d %q", got.Attempt, got.Reason)
		}
		// The policy is readable again but pushes still fail: the patches
		// fail with the push error as reason.
		sel.mu.Lock()
		sel.err = nil
		sel.mu.Unlock()
		b.clock.Advance(time.Minute)
		second, err := b.e.RunImmediately(ctx, wfKey)
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, b.done, "second cycle", func() bool {
			return len(b.runs(t, RunFilter{Cycle: second.Cycle, Task: TaskPatch, Statuses: []Status{StatusFailed}})) == 3
		})
		for _, p := range b.runs(t, RunFilter{Cycle: second.Cycle, Task: TaskPatch}) {
			if !strings.Contains(p.Reason, "registry unavailable") {
				t.Errorf("%s failed with reason %q", p.Image, p.Reason)
			}
		}
		// The registry is back: the next cycle patches everything.
		b.clock.Advance(time.Minute)
		third, err := b.e.RunImmediately(ctx, wfKey)
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, b.done, "third cycle", func() bool {
			return len(b.runs(t, RunFilter{Cycle: third.Cycle, Task: TaskPatch, Statuses: []Status{StatusSucceeded}})) == 3
		})
		rows, err := b.e.ListImages(ctx, wfKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.PatchStatus != StatusSucceeded || r.PatchErrorReason != "" || r.LastPatchedImage == "" {
				t.Errorf("row after recovery = %+v", r)
			}
		}
	})

	t.Run("RetryAfterPushReusesTheTag", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{sel: &fakeSelector{targets: targets(1)}})
		b.patch.crashAfterPush["repo:t0"] = true
		b.start(t)
		if _, err := b.e.RunImmediately(ctx, wfKey); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, b.done, "cycle", func() bool { return b.settled(t) && len(b.runs(t, RunFilter{Task: TaskPatch})) == 1 })
		p := b.runs(t, RunFilter{Task: TaskPatch})[0]
		if p.Status != StatusSucceeded || !p.Result.Reused || p.Attempt != 2 || p.Result.Tag != "reg.test/repo:t0-1" {
			t.Fatalf("patch run = %+v", p)
		}
		if n := b.patch.count("repo:t0"); n != 1 {
			t.Fatalf("patch built %d times, want 1", n)
		}
		if len(b.patch.pushed) != 1 {
			t.Fatalf("tags pushed = %v", b.patch.pushed)
		}
	})

	t.Run("CancelCycleCancelsActiveRunsAndNextCycleRuns", func(t *testing.T) {
		t.Parallel()
		scan := newFakeScanner()
		scan.block = make(chan struct{})
		scan.started = make(chan string, 100)
		b := setup(t, setupOpts{scan: scan, sel: &fakeSelector{targets: targets(6)}, config: func(c *Config) { c.Workers = 2 }})
		b.start(t)
		trig, err := b.e.RunImmediately(ctx, wfKey)
		if err != nil {
			t.Fatal(err)
		}
		<-scan.started
		<-scan.started
		b.waitRun(t, trig.ID, StatusSucceeded)
		canceled, err := b.e.CancelCycle(ctx, wfKey)
		if err != nil {
			t.Fatal(err)
		}
		if len(canceled) != 6 {
			t.Fatalf("canceled %d runs, want the 6 scans", len(canceled))
		}
		waitUntil(t, b.done, "canceled runs to stay canceled", func() bool {
			return len(b.runs(t, RunFilter{Task: TaskScan, Statuses: []Status{StatusCanceled}})) == 6
		})
		if n := len(b.runs(t, RunFilter{Task: TaskPatch})); n != 0 {
			t.Fatalf("%d patch runs after cancel", n)
		}
		scan.mu.Lock()
		scan.block, scan.started = nil, nil
		scan.mu.Unlock()
		b.clock.Advance(time.Second)
		next, err := b.e.RunImmediately(ctx, wfKey)
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, b.done, "next cycle", func() bool {
			return len(b.runs(t, RunFilter{Cycle: next.Cycle, Task: TaskPatch, Statuses: []Status{StatusSucceeded}})) == 6
		})
		if n := len(b.runs(t, RunFilter{Task: TaskScan, Statuses: []Status{StatusCanceled}})); n != 6 {
			t.Fatalf("the next cycle changed the canceled runs: %d canceled", n)
		}
	})

	t.Run("CancelDuringTheTriggerStopsIt", func(t *testing.T) {
		t.Parallel()
		sel := &fakeSelector{targets: targets(3), started: make(chan struct{}, 1)}
		b := setup(t, setupOpts{sel: sel})
		b.start(t)
		trig, err := b.e.RunImmediately(ctx, wfKey)
		if err != nil {
			t.Fatal(err)
		}
		<-sel.started
		canceled, err := b.e.CancelCycle(ctx, wfKey)
		if err != nil {
			t.Fatal(err)
		}
		if len(canceled) != 1 || canceled[0].ID != trig.ID {
			t.Fatalf("canceled = %+v, want the trigger", canceled)
		}
		// River cancels the running trigger's context; it must stay Canceled.
		waitUntil(t, b.done, "trigger's job to end", func() bool {
			var state string
			if err := b.db.sqlite.QueryRowContext(ctx, "SELECT state FROM river_job WHERE id = ?", trig.JobID).Scan(&state); err != nil {
				t.Fatal(err)
			}
			return state == "cancelled"
		})
		if r, _ := b.e.GetRun(ctx, trig.ID); r.Status != StatusCanceled {
			t.Fatalf("trigger run = %s %q", r.Status, r.Reason)
		}
		if n := len(b.runs(t, RunFilter{Task: TaskScan})); n != 0 {
			t.Fatalf("%d scans queued by a canceled trigger", n)
		}
	})

	t.Run("DeleteWorkflowRemovesRunsAndJobs", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		b.start(t)
		if _, err := b.e.RunImmediately(ctx, wfKey); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, b.done, "cycle", func() bool { return b.settled(t) && len(b.runs(t, RunFilter{Task: TaskPatch})) == 3 })
		if err := b.e.DeleteWorkflow(ctx, wfKey); err != nil {
			t.Fatal(err)
		}
		if n := len(b.runs(t, RunFilter{})); n != 0 {
			t.Fatalf("%d runs left", n)
		}
		var jobs int
		if err := b.db.sqlite.QueryRowContext(ctx, "SELECT COUNT(*) FROM river_job").Scan(&jobs); err != nil {
			t.Fatal(err)
		}
		if jobs != 0 {
			t.Fatalf("%d river jobs left", jobs)
		}
	})

	t.Run("AnEngineThatIsNotStartedQueuesForTheDaemon", func(t *testing.T) {
		t.Parallel()
		// The CLI without --server opens the same SQLite file as a running
		// daemon and only queues: two handles on one file, one running.
		path := filepath.Join(t.TempDir(), "shared.db")
		open := func() Database {
			db, err := OpenSQLite(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return SQLite(db)
		}
		daemon := setup(t, setupOpts{db: open(), sel: &fakeSelector{targets: targets(20)}})
		daemon.start(t)
		cli := setup(t, setupOpts{db: open()})
		trig, err := cli.e.RunImmediately(ctx, wfKey)
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, daemon.done, "the daemon to run the CLI's cycle", func() bool {
			return len(daemon.runs(t, RunFilter{Cycle: trig.Cycle, Task: TaskPatch, Statuses: []Status{StatusSucceeded}})) == 20
		})
		if rows, err := cli.e.ListImages(ctx, wfKey); err != nil || len(rows) != 20 {
			t.Fatalf("the CLI sees %d rows, %v", len(rows), err)
		}
	})

	t.Run("GracefulStopFinishesRunningJobs", func(t *testing.T) {
		t.Parallel()
		patch := newFakePatcher()
		patch.block = make(chan struct{})
		patch.started = make(chan string, 10)
		b := setup(t, setupOpts{patch: patch, sel: &fakeSelector{targets: targets(1)}})
		if err := b.e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := b.e.RunImmediately(ctx, wfKey); err != nil {
			t.Fatal(err)
		}
		<-patch.started
		stopped := make(chan error, 1)
		go func() { stopped <- b.e.Stop(ctx) }()
		close(patch.block)
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		p := b.runs(t, RunFilter{Task: TaskPatch})[0]
		if p.Status != StatusSucceeded {
			t.Fatalf("patch run after graceful stop = %s %q", p.Status, p.Reason)
		}
	})

	t.Run("StopPastDeadlineRequeuesWithoutUsingAnAttempt", func(t *testing.T) {
		t.Parallel()
		db := newSQLite(t)
		patch := newFakePatcher()
		patch.block = make(chan struct{})
		patch.started = make(chan string, 10)
		b := setup(t, setupOpts{db: db, patch: patch, sel: &fakeSelector{targets: targets(1)}})
		if err := b.e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := b.e.RunImmediately(ctx, wfKey); err != nil {
			t.Fatal(err)
		}
		<-patch.started
		sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if err := b.e.Stop(sctx); err != nil {
			t.Fatal(err)
		}
		p := b.runs(t, RunFilter{Task: TaskPatch})[0]
		if p.Status != StatusQueued || p.Reason != "requeued at shutdown" {
			t.Fatalf("interrupted patch run = %s %q", p.Status, p.Reason)
		}
		// A new engine on the same database picks it up.
		patch.mu.Lock()
		patch.block, patch.started = nil, nil
		patch.mu.Unlock()
		b2 := setup(t, setupOpts{db: db, patch: patch, sel: b.sel, scan: b.scan})
		b2.start(t)
		waitUntil(t, b2.done, "requeued patch", func() bool {
			return len(b2.runs(t, RunFilter{Task: TaskPatch, Statuses: []Status{StatusSucceeded}})) == 1
		})
		if p := b2.runs(t, RunFilter{Task: TaskPatch})[0]; p.Attempt != 1 {
			t.Fatalf("requeued patch used attempt %d, want 1", p.Attempt)
		}
	})
}

func TestScheduler(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("MissedSlotsRunOnceAtStartThenOnSchedule", func(t *testing.T) {
		t.Parallel()
		db := newSQLite(t)
		now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		cat := &fakeCatalog{wfs: []ScheduledWorkflow{{Key: wfKey, Since: now.AddDate(0, 0, -10), Next: daily10}}}
		b := setup(t, setupOpts{db: db, catalog: cat, clock: NewFakeClock(now), sel: &fakeSelector{targets: targets(2)}})
		b.start(t)
		waitUntil(t, b.done, "missed slot's cycle", func() bool {
			return b.settled(t) && len(b.runs(t, RunFilter{Task: TaskPatch})) == 2
		})
		trig := b.runs(t, RunFilter{Task: TaskTrigger})
		if len(trig) != 1 || trig[0].Cycle != "slot-2026-11-27T10:00:00Z" {
			t.Fatalf("triggers after 10 missed slots = %+v", trig)
		}
		// A restarted daemon does not run the slot again.
		ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := b.e.Stop(ctx2); err != nil {
			t.Fatal(err)
		}
		b2 := setup(t, setupOpts{db: db, catalog: cat, clock: b.clock, sel: b.sel, scan: b.scan, patch: b.patch})
		passes := make(chan struct{}, 100)
		b2.e.onSchedulerPass = func() { passes <- struct{}{}; b2.signal() }
		b2.start(t)
		<-passes
		if n := len(b2.runs(t, RunFilter{Task: TaskTrigger})); n != 1 {
			t.Fatalf("restart made %d triggers, want still 1", n)
		}
		// The next slot comes on the fake clock.
		<-b2.clock.Waiting()
		b2.clock.Set(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
		waitUntil(t, b2.done, "next slot's cycle", func() bool {
			return len(b2.runs(t, RunFilter{Task: TaskPatch, Cycle: "slot-2026-11-28T10:00:00Z", Statuses: []Status{StatusSucceeded}})) == 2
		})
		if n := len(b2.runs(t, RunFilter{Task: TaskTrigger})); n != 2 {
			t.Fatalf("triggers = %d, want 2", n)
		}
	})

	t.Run("NoSlotBeforeTheScheduleWasSet", func(t *testing.T) {
		t.Parallel()
		now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		cat := &fakeCatalog{wfs: []ScheduledWorkflow{{Key: wfKey, Since: now.Add(-time.Hour), Next: daily10}}}
		b := setup(t, setupOpts{catalog: cat, clock: NewFakeClock(now)})
		passes := make(chan struct{}, 100)
		b.e.onSchedulerPass = func() { passes <- struct{}{} }
		b.start(t)
		<-passes
		if n := len(b.runs(t, RunFilter{})); n != 0 {
			t.Fatalf("%d runs before the first slot", n)
		}
	})
}

func TestEnginePostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("TwoEnginesSplitA200ImageCycle", func(t *testing.T) {
		t.Parallel()
		schema := newPostgresSchema(t)
		sel := &fakeSelector{targets: targets(200)}
		scan := newFakeScanner()
		p1, p2 := newFakePatcher(), newFakePatcher()
		fast := func(c *Config) { c.PollInterval = 50 * time.Millisecond }
		b1 := setup(t, setupOpts{db: newPostgresPool(t, schema), sel: sel, scan: scan, patch: p1, config: fast})
		b2 := setup(t, setupOpts{db: newPostgresPool(t, schema), sel: sel, scan: scan, patch: p2, config: fast})
		b2.e.onJobDone = b1.signal
		b1.start(t)
		b2.start(t)
		c := Cycle{Workflow: wfKey, ID: "slot-pg", Slot: t0, CreatedAt: t0}
		// Both daemons trigger the same slot.
		if _, err := b1.e.startCycle(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := b2.e.startCycle(ctx, c); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, b1.done, "200 patches", func() bool {
			return len(b1.runs(t, RunFilter{Task: TaskPatch, Statuses: []Status{StatusSucceeded}})) == 200
		})
		for _, tg := range targets(200) {
			if n := p1.count(tg.Image()) + p2.count(tg.Image()); n != 1 {
				t.Fatalf("%s patched %d times", tg.Image(), n)
			}
			if n := scan.count(tg.Image()); n != 1 {
				t.Fatalf("%s scanned %d times", tg.Image(), n)
			}
		}
		if p1.total() == 0 || p2.total() == 0 {
			t.Fatalf("work not split: engine 1 patched %d, engine 2 %d", p1.total(), p2.total())
		}
		t.Logf("engine 1 patched %d images, engine 2 %d", p1.total(), p2.total())
		if n := len(b1.runs(t, RunFilter{Task: TaskTrigger})); n != 1 {
			t.Fatalf("trigger runs = %d", n)
		}
	})

	t.Run("TwoSchedulersTriggerASlotOnce", func(t *testing.T) {
		t.Parallel()
		schema := newPostgresSchema(t)
		now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		cat := &fakeCatalog{wfs: []ScheduledWorkflow{{Key: wfKey, Since: now.AddDate(0, 0, -3), Next: daily10}}}
		clock := NewFakeClock(now)
		sel, scan, patch := &fakeSelector{targets: targets(5)}, newFakeScanner(), newFakePatcher()
		var bs []*testBundle
		for range 2 {
			b := setup(t, setupOpts{db: newPostgresPool(t, schema), catalog: cat, clock: clock, sel: sel, scan: scan, patch: patch})
			bs = append(bs, b)
		}
		bs[1].e.onJobDone = bs[0].signal
		bs[1].e.onSchedulerPass = bs[0].signal
		for _, b := range bs {
			b.start(t)
		}
		waitUntil(t, bs[0].done, "missed slot's cycle", func() bool {
			return len(bs[0].runs(t, RunFilter{Task: TaskPatch, Statuses: []Status{StatusSucceeded}})) == 5
		})
		clock.Set(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
		waitUntil(t, bs[0].done, "next slot's cycle", func() bool {
			return len(bs[0].runs(t, RunFilter{Task: TaskPatch, Statuses: []Status{StatusSucceeded}})) == 10
		})
		trig := bs[0].runs(t, RunFilter{Task: TaskTrigger})
		if len(trig) != 2 || trig[0].Cycle != "slot-2026-11-28T10:00:00Z" || trig[1].Cycle != "slot-2026-11-27T10:00:00Z" {
			t.Fatalf("triggers = %+v", trig)
		}
		for _, tg := range targets(5) {
			if n := patch.count(tg.Image()); n != 2 {
				t.Fatalf("%s patched %d times over two cycles", tg.Image(), n)
			}
		}
	})

	t.Run("CycleAndCancel", func(t *testing.T) {
		t.Parallel()
		scan := newFakeScanner()
		scan.block = make(chan struct{})
		scan.started = make(chan string, 100)
		b := setup(t, setupOpts{db: newPostgres(t), scan: scan})
		b.start(t)
		trig, err := b.e.RunImmediately(ctx, wfKey)
		if err != nil {
			t.Fatal(err)
		}
		<-scan.started
		b.waitRun(t, trig.ID, StatusSucceeded)
		canceled, err := b.e.CancelCycle(ctx, wfKey)
		if err != nil {
			t.Fatal(err)
		}
		if len(canceled) != 3 {
			t.Fatalf("canceled %d, want 3", len(canceled))
		}
		if err := b.e.DeleteWorkflow(ctx, wfKey); err != nil {
			t.Fatal(err)
		}
		if n := len(b.runs(t, RunFilter{})); n != 0 {
			t.Fatalf("%d runs after delete", n)
		}
		if _, err := b.e.CancelCycle(ctx, wfKey); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cancel after delete: err = %v, want ErrNotFound", err)
		}
	})
}
