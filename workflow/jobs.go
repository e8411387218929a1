package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// TriggerArgs are the arguments of cssc-trigger-workflow: one per workflow
// per cycle.
type TriggerArgs struct {
	Workflow string `json:"workflow" river:"unique"`
	Cycle    string `json:"cycle" river:"unique"`
}

// Kind implements river.JobArgs.
func (TriggerArgs) Kind() string { return string(TaskTrigger) }

// ScanArgs are the arguments of cssc-scan-image: one per image per cycle.
type ScanArgs struct {
	Workflow string `json:"workflow" river:"unique"`
	Cycle    string `json:"cycle" river:"unique"`
	Image    string `json:"image" river:"unique"`
	Target   Target `json:"target"`
}

// Kind implements river.JobArgs.
func (ScanArgs) Kind() string { return string(TaskScan) }

// PatchArgs are the arguments of cssc-patch-image: one per image per cycle.
type PatchArgs struct {
	Workflow string   `json:"workflow" river:"unique"`
	Cycle    string   `json:"cycle" river:"unique"`
	Image    string   `json:"image" river:"unique"`
	Target   Target   `json:"target"`
	CVEs     []string `json:"cves,omitempty"`
}

// Kind implements river.JobArgs.
func (PatchArgs) Kind() string { return string(TaskPatch) }

// ErrPermanent marks a task error that retrying cannot fix (for example the
// 999th incremental patch); the run fails at once.
var ErrPermanent = errors.New("permanent")

// errCycleGone stops a job whose cycle was canceled or whose workflow was deleted.
var errCycleGone = errors.New("cycle canceled")

// Skip reasons, as ACR words them.
const (
	ReasonNoVulnerability = "no vulnerability found"
	ReasonEOSL            = "EOSL"
)

type triggerWorker struct {
	river.WorkerDefaults[TriggerArgs]
	e *Engine
}

type scanWorker struct {
	river.WorkerDefaults[ScanArgs]
	e *Engine
}

type patchWorker struct {
	river.WorkerDefaults[PatchArgs]
	e *Engine
}

var (
	_ river.Worker[TriggerArgs] = (*triggerWorker)(nil)
	_ river.Worker[ScanArgs]    = (*scanWorker)(nil)
	_ river.Worker[PatchArgs]   = (*patchWorker)(nil)
)

func (w *triggerWorker) Timeout(*river.Job[TriggerArgs]) time.Duration { return w.e.cfg.JobTimeout }
func (w *scanWorker) Timeout(*river.Job[ScanArgs]) time.Duration       { return w.e.cfg.JobTimeout }
func (w *patchWorker) Timeout(*river.Job[PatchArgs]) time.Duration     { return w.e.cfg.JobTimeout }

// Work selects the images of the workflow and queues one scan per image.
func (w *triggerWorker) Work(ctx context.Context, job *river.Job[TriggerArgs]) error {
	a := job.Args
	key := RunKey{Workflow: a.Workflow, Task: TaskTrigger, Cycle: a.Cycle}
	return w.e.runJob(ctx, key, job.JobRow, func(ctx context.Context, log io.Writer) (RunResult, error) {
		sel, err := w.e.cfg.Selector.Select(ctx, a.Workflow, log)
		if err != nil {
			return RunResult{}, fmt.Errorf("selecting images of %s: %w", a.Workflow, err)
		}
		for _, nf := range sel.NotFound {
			fmt.Fprintf(log, "not found: %s\n", nf)
		}
		fmt.Fprintf(log, "selected %d images\n", len(sel.Targets))
		for _, t := range sel.Targets {
			if err := ctx.Err(); err != nil {
				return RunResult{}, err
			}
			args := ScanArgs{Workflow: a.Workflow, Cycle: a.Cycle, Image: t.Image(), Target: t}
			runKey := RunKey{Workflow: a.Workflow, Task: TaskScan, Image: t.Image(), Cycle: a.Cycle}
			if _, err := w.e.queueTask(ctx, args, runKey); err != nil {
				return RunResult{}, err
			}
			fmt.Fprintf(log, "queued scan of %s (scan %s, next %s)\n", t.Image(), t.ScanTag, t.NextTag)
		}
		return RunResult{Images: len(sel.Targets), NotFound: sel.NotFound}, nil
	})
}

// Work scans the latest patch tag (or the original) and records a skipped
// patch or queues one.
func (w *scanWorker) Work(ctx context.Context, job *river.Job[ScanArgs]) error {
	a := job.Args
	key := RunKey{Workflow: a.Workflow, Task: TaskScan, Image: a.Image, Cycle: a.Cycle}
	return w.e.runJob(ctx, key, job.JobRow, func(ctx context.Context, log io.Writer) (RunResult, error) {
		t := a.Target
		fmt.Fprintf(log, "scanning %s/%s:%s\n", t.Registry, t.Repository, t.ScanTag)
		start := time.Now()
		res, err := w.e.cfg.Scanner.Scan(ctx, t, log)
		w.e.metrics.scanSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			return RunResult{}, fmt.Errorf("scanning %s:%s: %w", t.Repository, t.ScanTag, err)
		}
		out := RunResult{ScannedRef: t.Repository + ":" + t.ScanTag, Report: res.Report, CVEs: res.CVEs}
		patchKey := RunKey{Workflow: a.Workflow, Task: TaskPatch, Image: a.Image, Cycle: a.Cycle}
		skip := ""
		switch {
		case res.EOSL:
			skip = ReasonEOSL
		case !res.Fixable:
			skip = ReasonNoVulnerability
		}
		if skip != "" {
			fmt.Fprintf(log, "patch skipped: %s\n", skip)
			_, err := w.e.store.EnsureRun(ctx, patchKey, RunInit{Status: StatusSkipped, Reason: skip, CreatedAt: w.e.now()})
			return out, err
		}
		fmt.Fprintf(log, "%d fixable vulnerabilities: queueing patch to %s\n", len(res.CVEs), t.NextTag)
		if err := w.e.cycleLive(ctx, a.Workflow, a.Cycle); err != nil {
			return out, err
		}
		_, err = w.e.queueTask(ctx, PatchArgs{Workflow: a.Workflow, Cycle: a.Cycle, Image: a.Image, Target: t, CVEs: res.CVEs}, patchKey)
		return out, err
	})
}

// Work patches the original tag and pushes the next patch tag, reusing a
// push that an earlier attempt of this cycle made.
func (w *patchWorker) Work(ctx context.Context, job *river.Job[PatchArgs]) error {
	a := job.Args
	key := RunKey{Workflow: a.Workflow, Task: TaskPatch, Image: a.Image, Cycle: a.Cycle}
	return w.e.runJob(ctx, key, job.JobRow, func(ctx context.Context, log io.Writer) (RunResult, error) {
		req := PatchRequest{Target: a.Target, Workflow: a.Workflow, Cycle: a.Cycle, CVEs: a.CVEs}
		start := time.Now()
		defer func() { w.e.metrics.patchSeconds.Observe(time.Since(start).Seconds()) }()
		// Every attempt looks first: an attempt interrupted by a crash or a
		// shutdown may have pushed before it could record the push.
		prev, ok, err := w.e.cfg.Patcher.Pushed(ctx, req)
		if err != nil {
			return RunResult{}, fmt.Errorf("looking for an earlier push of %s:%s: %w", a.Target.Repository, a.Target.NextTag, err)
		}
		if ok {
			fmt.Fprintf(log, "an earlier attempt already pushed %s (%s); recording it\n", prev.Tag, prev.Digest)
			w.e.metrics.patched(len(prev.FixedCVEs))
			return RunResult{Tag: prev.Tag, Digest: prev.Digest, FixedCVEs: prev.FixedCVEs, Reused: true}, nil
		}
		fmt.Fprintf(log, "patching %s:%s into %s\n", a.Target.Repository, a.Target.Tag, a.Target.NextTag)
		res, err := w.e.cfg.Patcher.Patch(ctx, req, log)
		if err != nil {
			return RunResult{}, fmt.Errorf("patching %s:%s: %w", a.Target.Repository, a.Target.Tag, err)
		}
		fmt.Fprintf(log, "pushed %s (%s), fixed %d vulnerabilities\n", res.Tag, res.Digest, len(res.FixedCVEs))
		w.e.metrics.patched(len(res.FixedCVEs))
		return RunResult{Tag: res.Tag, Digest: res.Digest, FixedCVEs: res.FixedCVEs}, nil
	})
}

// queueTask inserts a job, unique per image per cycle, and its Queued run.
func (e *Engine) queueTask(ctx context.Context, args river.JobArgs, key RunKey) (Run, error) {
	res, err := e.client.Insert(ctx, args, e.insertOpts())
	if err != nil {
		return Run{}, fmt.Errorf("queueing %s of %s: %w", key.Task, describe(key), err)
	}
	run, err := e.store.EnsureRun(ctx, key, RunInit{JobID: res.Job.ID, Status: StatusQueued, CreatedAt: e.now()})
	if err != nil {
		return Run{}, err
	}
	return run, nil
}

func describe(k RunKey) string {
	if k.Image == "" {
		return k.Workflow + " cycle " + k.Cycle
	}
	return k.Workflow + " " + k.Image + " cycle " + k.Cycle
}

func (e *Engine) insertOpts() *river.InsertOpts {
	return &river.InsertOpts{MaxAttempts: e.cfg.MaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// cycleLive returns errCycleGone when the cycle was canceled or its
// workflow deleted.
func (e *Engine) cycleLive(ctx context.Context, workflow, cycle string) error {
	c, err := e.store.GetCycle(ctx, workflow, cycle)
	if errors.Is(err, ErrNotFound) || err == nil && c.Canceled {
		return errCycleGone
	}
	return err
}

// runJob records one attempt of a task run around work: the run is Started
// when the attempt begins and Running while work runs, its log is stored as
// it is written, and it ends Succeeded, Failed (last attempt or permanent
// error) or Queued again (attempts left, or requeued at shutdown).
func (e *Engine) runJob(ctx context.Context, key RunKey, job *rivertype.JobRow,
	work func(ctx context.Context, log io.Writer) (RunResult, error)) error {
	if e.onJobDone != nil {
		defer e.onJobDone()
	}
	if err := e.cycleLive(ctx, key.Workflow, key.Cycle); err != nil {
		if errors.Is(err, errCycleGone) {
			e.cancelRun(ctx, key)
			return river.JobCancel(err)
		}
		return err
	}
	run, err := e.store.EnsureRun(ctx, key, RunInit{JobID: job.ID, Status: StatusQueued, CreatedAt: e.now()})
	if err != nil {
		return err
	}
	switch run.Status {
	case StatusCanceled:
		return river.JobCancel(errCycleGone)
	case StatusSucceeded, StatusFailed, StatusSkipped:
		// A crash after the record and before River's completion.
		return nil
	}
	if _, err := e.store.UpdateRun(ctx, run.ID, RunUpdate{Status: StatusStarted, JobID: job.ID, Attempt: job.Attempt, StartedAt: e.now()}); err != nil {
		return e.stopOnCancel(err)
	}
	log := newRunLog(e.store, run.ID)
	fmt.Fprintf(log, "%s attempt %d of %d\n", key.Task, job.Attempt, job.MaxAttempts)
	if _, err := e.store.UpdateRun(ctx, run.ID, RunUpdate{Status: StatusRunning, Attempt: job.Attempt}); err != nil {
		_ = log.Close()
		return e.stopOnCancel(err)
	}
	res, werr := work(ctx, log)
	if werr != nil {
		fmt.Fprintf(log, "attempt %d: %v\n", job.Attempt, werr)
	}
	if err := log.Close(); err != nil {
		e.cfg.Logger.Warn("storing run log", "run", run.ID, "err", err)
	}
	// Record the outcome even when the job's context is done.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if werr == nil {
		_, err := e.store.UpdateRun(rctx, run.ID, RunUpdate{Status: StatusSucceeded, Result: &res, FinishedAt: e.now()})
		if err == nil {
			e.metrics.finished(key.Task, StatusSucceeded)
		}
		return e.stopOnCancel(err)
	}
	if errors.Is(werr, errCycleGone) {
		e.cancelRun(rctx, key)
		return river.JobCancel(werr)
	}
	if e.stopping.Load() && ctx.Err() != nil {
		// Shutdown interrupted the attempt: requeue it without using up an attempt.
		if _, err := e.store.UpdateRun(rctx, run.ID, RunUpdate{Status: StatusQueued, Reason: "requeued at shutdown"}); err != nil {
			return e.stopOnCancel(err)
		}
		return river.JobSnooze(0)
	}
	final := job.Attempt >= job.MaxAttempts || errors.Is(werr, ErrPermanent)
	u := RunUpdate{Status: StatusQueued, Reason: werr.Error(), Result: &res}
	if final {
		u.Status, u.FinishedAt = StatusFailed, e.now()
	}
	if _, err := e.store.UpdateRun(rctx, run.ID, u); err != nil {
		return e.stopOnCancel(err)
	}
	if final {
		e.metrics.finished(key.Task, StatusFailed)
		if errors.Is(werr, ErrPermanent) {
			return river.JobCancel(werr)
		}
	}
	return werr
}

// stopOnCancel turns "the run was canceled under us" into River's cancel.
func (e *Engine) stopOnCancel(err error) error {
	if errors.Is(err, ErrRunCanceled) {
		return river.JobCancel(err)
	}
	return err
}

// cancelRun marks the run of key Canceled, creating it if it does not
// exist yet and its cycle still does.
func (e *Engine) cancelRun(ctx context.Context, key RunKey) {
	runs, err := e.store.ListRuns(ctx, RunFilter{Workflow: key.Workflow, Task: key.Task, Image: key.Image, Cycle: key.Cycle})
	if err != nil || len(runs) == 0 {
		return
	}
	if runs[0].Status.Active() {
		_, _ = e.store.UpdateRun(ctx, runs[0].ID, RunUpdate{Status: StatusCanceled, Reason: "canceled", FinishedAt: e.now()})
	}
}
