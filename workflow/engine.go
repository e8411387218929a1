package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Engine runs the workflow tasks on River and answers questions about their
// runs. Several engines may share one PostgreSQL database.
type Engine struct {
	cfg     Config
	db      Database
	store   Store
	client  queue
	metrics *metrics

	reschedule chan struct{}
	stopping   atomic.Bool

	mu            sync.Mutex
	stopScheduler context.CancelFunc
	schedulerDone chan struct{}

	// onSchedulerPass and onJobDone, when set by tests before Start, are
	// called after each scheduler pass and after each job attempt.
	onSchedulerPass func()
	onJobDone       func()
}

// New migrates db and returns an engine that is not yet started.
func New(ctx context.Context, db Database, cfg Config) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := db.validate(); err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		return nil, err
	}
	store := db.Store()
	e := &Engine{cfg: cfg, db: db, store: store, metrics: newMetrics(store), reschedule: make(chan struct{}, 1)}
	workers := river.NewWorkers()
	river.AddWorker[TriggerArgs](workers, &triggerWorker{e: e})
	river.AddWorker[ScanArgs](workers, &scanWorker{e: e})
	river.AddWorker[PatchArgs](workers, &patchWorker{e: e})
	client, err := db.newClient(&river.Config{
		ID:                   cfg.ID,
		Logger:               cfg.Logger,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		MaxAttempts:          cfg.MaxAttempts,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(river.FetchCooldownDefault, cfg.PollInterval),
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		RetryPolicy:          retryPolicy{delay: cfg.RetryDelay},
		Workers:              workers,
	})
	if err != nil {
		return nil, fmt.Errorf("creating river client: %w", err)
	}
	e.client = client
	return e, nil
}

type retryPolicy struct{ delay time.Duration }

var _ river.ClientRetryPolicy = retryPolicy{}

// NextRetry implements river.ClientRetryPolicy: attempt n waits n×delay.
func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(max(time.Millisecond, time.Duration(job.Attempt)*p.delay))
}

func (e *Engine) now() time.Time { return e.cfg.Clock.Now() }

// Store returns the engine's run store.
func (e *Engine) Store() Store { return e.store }

// Collector returns the engine's Prometheus metrics.
func (e *Engine) Collector() prometheus.Collector { return e.metrics }

// Start starts the workers and, with a Catalog, the scheduler. They run
// until Stop.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("starting river client: %w", err)
	}
	if e.cfg.Catalog == nil {
		return nil
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	e.mu.Lock()
	e.stopScheduler, e.schedulerDone = cancel, done
	e.mu.Unlock()
	go func() {
		defer close(done)
		e.schedule(sctx)
	}()
	return nil
}

// Stop stops the scheduler and the workers. Running jobs may finish until
// ctx is done; then they are canceled and put back in the queue without
// using up an attempt, for this or another engine to run again.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	cancel, done := e.stopScheduler, e.schedulerDone
	e.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	e.stopping.Store(true)
	err := e.client.Stop(ctx)
	if err == nil {
		return nil
	}
	if ctx.Err() == nil {
		return fmt.Errorf("stopping workers: %w", err)
	}
	hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer hcancel()
	if err := e.client.StopAndCancel(hctx); err != nil {
		return fmt.Errorf("stopping workers: %w", err)
	}
	return nil
}

// Reschedule tells the scheduler the catalog changed (a workflow was
// created, updated or deleted).
func (e *Engine) Reschedule() {
	select {
	case e.reschedule <- struct{}{}:
	default:
	}
}

// RunImmediately starts a new cycle of workflow now, without moving its
// schedule, and returns the cycle's trigger run.
func (e *Engine) RunImmediately(ctx context.Context, workflow string) (Run, error) {
	now := e.now()
	id := "run-" + now.UTC().Format("20060102T150405.000000000Z")
	return e.startCycle(ctx, Cycle{Workflow: workflow, ID: id, CreatedAt: now})
}

// startCycle records c and queues its trigger, unique per workflow and cycle.
func (e *Engine) startCycle(ctx context.Context, c Cycle) (Run, error) {
	if _, err := e.store.EnsureCycle(ctx, c); err != nil {
		return Run{}, err
	}
	return e.queueTask(ctx, TriggerArgs{Workflow: c.Workflow, Cycle: c.ID},
		RunKey{Workflow: c.Workflow, Task: TaskTrigger, Cycle: c.ID})
}

// CancelCycle cancels every Queued, Started or Running run of the
// workflow's current cycle and returns them. They run again in the next
// cycle. It returns ErrNotFound when the workflow has never run.
func (e *Engine) CancelCycle(ctx context.Context, workflow string) ([]Run, error) {
	c, err := e.store.LatestCycle(ctx, workflow, false)
	if err != nil {
		return nil, err
	}
	if err := e.store.CancelCycle(ctx, workflow, c.ID); err != nil {
		return nil, err
	}
	return e.cancelRuns(ctx, RunFilter{Workflow: workflow, Cycle: c.ID, Statuses: []Status{StatusQueued, StatusStarted, StatusRunning}})
}

func (e *Engine) cancelRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	runs, err := e.store.ListRuns(ctx, f)
	if err != nil {
		return nil, err
	}
	var out []Run
	for _, r := range runs {
		if r.JobID != 0 {
			if _, err := e.client.JobCancel(ctx, r.JobID); err != nil && !errors.Is(err, river.ErrNotFound) {
				return out, fmt.Errorf("canceling job %d of run %d: %w", r.JobID, r.ID, err)
			}
		}
		r, err := e.store.UpdateRun(ctx, r.ID, RunUpdate{Status: StatusCanceled, Reason: "canceled", FinishedAt: e.now()})
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// DeleteWorkflow cancels the workflow's active runs, deletes their River
// jobs and removes every run, log and cycle of the workflow.
func (e *Engine) DeleteWorkflow(ctx context.Context, workflow string) error {
	cycles, err := e.store.ListRuns(ctx, RunFilter{Workflow: workflow, Task: TaskTrigger})
	if err != nil {
		return err
	}
	for _, t := range cycles {
		if err := e.store.CancelCycle(ctx, workflow, t.Cycle); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	if _, err := e.cancelRuns(ctx, RunFilter{Workflow: workflow, Statuses: []Status{StatusQueued, StatusStarted, StatusRunning}}); err != nil {
		return err
	}
	runs, err := e.store.ListRuns(ctx, RunFilter{Workflow: workflow})
	if err != nil {
		return err
	}
	var jobs []int64
	for _, r := range runs {
		if r.JobID != 0 {
			jobs = append(jobs, r.JobID)
		}
	}
	if err := e.deleteJobs(ctx, jobs); err != nil {
		return err
	}
	if err := e.store.DeleteWorkflowRuns(ctx, workflow); err != nil {
		return err
	}
	e.Reschedule()
	return nil
}

// deleteJobsWait bounds how long DeleteWorkflow waits for canceled jobs to
// stop running so that it can delete them.
const deleteJobsWait = 10 * time.Second

// deleteJobs deletes River jobs. A running job cannot be deleted: it was
// canceled, so deleteJobs retries until it stops, for up to
// deleteJobsWait; one still running then is left to River's job cleaner.
func (e *Engine) deleteJobs(ctx context.Context, ids []int64) error {
	deadline := time.Now().Add(deleteJobsWait)
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		var running []int64
		for _, id := range ids {
			_, err := e.client.JobDelete(ctx, id)
			switch {
			case err == nil, errors.Is(err, river.ErrNotFound):
			case errors.Is(err, rivertype.ErrJobRunning):
				running = append(running, id)
			default:
				return fmt.Errorf("deleting job %d: %w", id, err)
			}
		}
		if len(running) == 0 || time.Now().After(deadline) {
			return nil
		}
		ids = running
		select {
		case <-ctx.Done():
			return fmt.Errorf("deleting jobs: %w", ctx.Err())
		case <-time.After(delay):
		}
	}
}

// ImageRow is one line of `workflow list`: an image with its latest scan
// and patch runs.
type ImageRow struct {
	Image              string    `json:"image"`
	ScanStatus         Status    `json:"scan_status,omitempty"`
	ScanDate           time.Time `json:"scan_date,omitzero"`
	ScanRunID          int64     `json:"scan_task_id,omitempty"`
	PatchStatus        Status    `json:"patch_status,omitempty"`
	PatchDate          time.Time `json:"patch_date,omitzero"`
	PatchRunID         int64     `json:"patch_task_id,omitempty"`
	LastPatchedImage   string    `json:"last_patched_image,omitempty"`
	WorkflowType       string    `json:"workflow_type"`
	PatchSkippedReason string    `json:"patch_skipped_reason,omitempty"`
	ScanErrorReason    string    `json:"scan_error_reason,omitempty"`
	PatchErrorReason   string    `json:"patch_error_reason,omitempty"`
}

func runDate(r Run) time.Time {
	if !r.FinishedAt.IsZero() {
		return r.FinishedAt
	}
	if !r.StartedAt.IsZero() {
		return r.StartedAt
	}
	return r.CreatedAt
}

// ListImages returns one row per image the workflow has scanned, sorted by
// image. With statuses, only rows whose scan or patch status is one of
// them are kept.
func (e *Engine) ListImages(ctx context.Context, workflow string, statuses ...Status) ([]ImageRow, error) {
	rows := map[string]*ImageRow{}
	row := func(image string) *ImageRow {
		r, ok := rows[image]
		if !ok {
			r = &ImageRow{Image: image, WorkflowType: WorkflowType}
			rows[image] = r
		}
		return r
	}
	scans, err := e.store.LatestRuns(ctx, workflow, TaskScan, false)
	if err != nil {
		return nil, err
	}
	for _, s := range scans {
		r := row(s.Image)
		r.ScanStatus, r.ScanDate, r.ScanRunID = s.Status, runDate(s), s.ID
		if s.Status == StatusFailed || s.Status == StatusQueued && s.Reason != "" {
			r.ScanErrorReason = s.Reason
		}
	}
	patches, err := e.store.LatestRuns(ctx, workflow, TaskPatch, false)
	if err != nil {
		return nil, err
	}
	for _, p := range patches {
		r := row(p.Image)
		r.PatchStatus, r.PatchDate, r.PatchRunID = p.Status, runDate(p), p.ID
		switch {
		case p.Status == StatusSkipped:
			r.PatchSkippedReason = p.Reason
		case p.Status == StatusFailed || p.Status == StatusQueued && p.Reason != "":
			r.PatchErrorReason = p.Reason
		}
	}
	done, err := e.store.LatestRuns(ctx, workflow, TaskPatch, true)
	if err != nil {
		return nil, err
	}
	for _, p := range done {
		row(p.Image).LastPatchedImage = p.Result.Tag
	}
	out := make([]ImageRow, 0, len(rows))
	for _, r := range rows {
		if len(statuses) > 0 && !hasStatus(statuses, r.ScanStatus) && !hasStatus(statuses, r.PatchStatus) {
			continue
		}
		out = append(out, *r)
	}
	sortRows(out)
	return out, nil
}

func hasStatus(list []Status, s Status) bool {
	for _, x := range list {
		if strings.EqualFold(string(x), string(s)) {
			return true
		}
	}
	return false
}

func sortRows(rows []ImageRow) {
	slices.SortFunc(rows, func(a, b ImageRow) int { return strings.Compare(a.Image, b.Image) })
}

// ListRuns returns the runs f selects, newest first.
func (e *Engine) ListRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	return e.store.ListRuns(ctx, f)
}

// GetRun returns one run or an error wrapping ErrNotFound.
func (e *Engine) GetRun(ctx context.Context, id int64) (Run, error) { return e.store.GetRun(ctx, id) }

// CopyLog writes run id's full log to w.
func (e *Engine) CopyLog(ctx context.Context, id int64, w io.Writer) error {
	return e.store.CopyLog(ctx, id, w)
}
