package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Task names a kind of task run; each is one River job kind.
type Task string

// The three tasks of a continuous-patching workflow.
const (
	TaskTrigger Task = "cssc-trigger-workflow"
	TaskScan    Task = "cssc-scan-image"
	TaskPatch   Task = "cssc-patch-image"
)

// ParseTask returns the task named s.
func ParseTask(s string) (Task, error) {
	switch t := Task(strings.ToLower(strings.TrimSpace(s))); t {
	case TaskTrigger, TaskScan, TaskPatch:
		return t, nil
	}
	return "", fmt.Errorf("parsing task name %q: want %s, %s or %s", s, TaskTrigger, TaskScan, TaskPatch)
}

// Status is the state of a task run.
type Status string

// The run statuses, as ACR names them.
const (
	StatusQueued    Status = "Queued"
	StatusStarted   Status = "Started"
	StatusRunning   Status = "Running"
	StatusSucceeded Status = "Succeeded"
	StatusFailed    Status = "Failed"
	StatusCanceled  Status = "Canceled"
	StatusSkipped   Status = "Skipped"
)

var allStatuses = []Status{StatusQueued, StatusStarted, StatusRunning, StatusSucceeded, StatusFailed, StatusCanceled, StatusSkipped}

// ParseStatus returns the status named s, ignoring case.
func ParseStatus(s string) (Status, error) {
	for _, st := range allStatuses {
		if strings.EqualFold(strings.TrimSpace(s), string(st)) {
			return st, nil
		}
	}
	return "", fmt.Errorf("parsing run status %q: want one of Queued, Started, Running, Succeeded, Failed, Canceled, Skipped", s)
}

// Active reports whether a run in this status may still do work, which is
// what cancel-run cancels.
func (s Status) Active() bool {
	return s == StatusQueued || s == StatusStarted || s == StatusRunning
}

// WorkflowType is the only workflow type, as ACR names it.
const WorkflowType = "continuouspatchv1"

// RunKey identifies a run: there is at most one run per task, image and
// cycle of a workflow. Image is empty for triggers.
type RunKey struct {
	Workflow string `json:"workflow"`
	Task     Task   `json:"task"`
	Image    string `json:"image,omitempty"`
	Cycle    string `json:"cycle"`
}

// RunResult is what a run produced.
type RunResult struct {
	// ScannedRef is the reference a scan looked at (latest patch tag or original).
	ScannedRef string `json:"scanned_ref,omitempty"`
	// Report is the scanner's report, as JSON.
	Report json.RawMessage `json:"report,omitempty"`
	// CVEs are the fixable vulnerabilities a scan found.
	CVEs []string `json:"cves,omitempty"`
	// Tag and Digest name the image a patch pushed.
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest,omitempty"`
	// FixedCVEs are the vulnerabilities a patch fixed.
	FixedCVEs []string `json:"fixed_cves,omitempty"`
	// Reused is true when a patch found its tag already pushed in this
	// cycle by an earlier attempt and recorded it instead of pushing again.
	Reused bool `json:"reused,omitempty"`
	// Images is the number of images a trigger queued scans for.
	Images int `json:"images,omitempty"`
	// NotFound lists tags the policy names that do not exist.
	NotFound []string `json:"not_found,omitempty"`
}

// Run is one task run.
type Run struct {
	ID int64 `json:"id"`
	RunKey
	// JobID is the River job doing the run, 0 for runs without a job
	// (a patch skipped by its scan).
	JobID      int64     `json:"job_id,omitempty"`
	Status     Status    `json:"status"`
	Attempt    int       `json:"attempt"`
	Reason     string    `json:"reason,omitempty"`
	Result     RunResult `json:"result"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// RunInit is the state a run is created in.
type RunInit struct {
	JobID  int64
	Status Status
	Reason string
	Result RunResult
	// CreatedAt defaults to the current time.
	CreatedAt time.Time
}

// RunUpdate changes a run. Zero fields are left alone, except Reason, which
// is always written (a retry that succeeds clears the reason).
type RunUpdate struct {
	Status     Status
	JobID      int64
	Attempt    int
	Reason     string
	Result     *RunResult
	StartedAt  time.Time
	FinishedAt time.Time
}

// RunFilter selects runs. Zero fields match everything.
type RunFilter struct {
	Workflow string
	Task     Task
	Image    string
	Cycle    string
	Statuses []Status
	// Top keeps the newest Top runs; 0 keeps all.
	Top int
}

// RunCount is the number of runs of one task in one status.
type RunCount struct {
	Task   Task   `json:"task"`
	Status Status `json:"status"`
	N      int64  `json:"n"`
}

// Cycle is one execution of a workflow: a scheduled slot or a run-now.
type Cycle struct {
	Workflow string `json:"workflow"`
	ID       string `json:"id"`
	// Slot is the scheduled time for a scheduled cycle, zero for run-now.
	Slot      time.Time `json:"slot,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	Canceled  bool      `json:"canceled"`
}

// ErrNotFound is returned when a run or cycle does not exist.
var ErrNotFound = errors.New("not found")

// ErrRunCanceled is returned by UpdateRun when the run was canceled, so the
// update was not applied.
var ErrRunCanceled = errors.New("run canceled")

// RunStore records task runs. It is the persistence the engine consumes.
type RunStore interface {
	// EnsureRun creates the run for key in the state init, or returns the
	// run that already exists for key unchanged. A run created in a
	// canceled cycle is created Canceled.
	EnsureRun(ctx context.Context, key RunKey, init RunInit) (Run, error)
	// UpdateRun applies u to run id. It returns ErrRunCanceled, changing
	// nothing, when the run is Canceled and u does not re-queue it.
	UpdateRun(ctx context.Context, id int64, u RunUpdate) (Run, error)
	// GetRun returns run id or ErrNotFound.
	GetRun(ctx context.Context, id int64) (Run, error)
	// ListRuns returns the runs f selects, newest first.
	ListRuns(ctx context.Context, f RunFilter) ([]Run, error)
	// LatestRuns returns, for each image of the workflow, its newest run of
	// task, and when succeeded is true its newest Succeeded run instead.
	LatestRuns(ctx context.Context, workflow string, task Task, succeeded bool) ([]Run, error)
	// CountRuns counts runs by task and status.
	CountRuns(ctx context.Context) ([]RunCount, error)
	// DeleteWorkflowRuns removes every run, log and cycle of a workflow.
	DeleteWorkflowRuns(ctx context.Context, workflow string) error
}

// RunLogs keeps the log of each run, written as it is produced.
type RunLogs interface {
	// AppendLog adds p to the end of run id's log.
	AppendLog(ctx context.Context, id int64, p []byte) error
	// CopyLog writes run id's whole log to w.
	CopyLog(ctx context.Context, id int64, w io.Writer) error
}

// Cycles records the cycles of each workflow.
type Cycles interface {
	// EnsureCycle records c if no cycle with its workflow and ID exists
	// and returns the stored cycle.
	EnsureCycle(ctx context.Context, c Cycle) (Cycle, error)
	// CancelCycle marks a cycle canceled.
	CancelCycle(ctx context.Context, workflow, id string) error
	// GetCycle returns one cycle or ErrNotFound.
	GetCycle(ctx context.Context, workflow, id string) (Cycle, error)
	// LatestCycle returns the newest cycle of a workflow, or, when
	// scheduled is true, the one with the latest slot; ErrNotFound if none.
	LatestCycle(ctx context.Context, workflow string, scheduled bool) (Cycle, error)
}

// Store is everything the engine persists besides River's own tables.
type Store interface {
	RunStore
	RunLogs
	Cycles
}
