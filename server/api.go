package server

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/patchloop/patchloop/workflow"
)

// Runs is the workflow engine as the API uses it; *workflow.Engine is one.
type Runs interface {
	RunImmediately(ctx context.Context, workflow string) (workflow.Run, error)
	CancelCycle(ctx context.Context, workflow string) ([]workflow.Run, error)
	ListImages(ctx context.Context, workflow string, statuses ...workflow.Status) ([]workflow.ImageRow, error)
	ListRuns(ctx context.Context, f workflow.RunFilter) ([]workflow.Run, error)
	GetRun(ctx context.Context, id int64) (workflow.Run, error)
	CopyLog(ctx context.Context, id int64, w io.Writer) error
}

var _ Runs = (*workflow.Engine)(nil)

// Workflows creates, reads, updates and deletes workflows: the store plus
// the policy artifact in the registry. Implementations return errors
// wrapping ErrInvalid for bad input, and store.ErrNotFound /
// store.ErrExists (or workflow.ErrNotFound) where they apply.
type Workflows interface {
	CreateWorkflow(ctx context.Context, spec WorkflowSpec) (WorkflowInfo, error)
	GetWorkflow(ctx context.Context, registry, typ string) (WorkflowInfo, error)
	ListWorkflows(ctx context.Context) ([]WorkflowInfo, error)
	UpdateWorkflow(ctx context.Context, spec WorkflowSpec) (WorkflowInfo, error)
	DeleteWorkflow(ctx context.Context, registry, typ string) error
}

// ErrInvalid marks an error caused by the request; the API answers 400.
var ErrInvalid = errors.New("invalid request")

// WorkflowSpec is the body of create and update.
type WorkflowSpec struct {
	// Registry is the registry host the workflow patches; it is also the
	// workflow's key for runs.
	Registry string `json:"registry"`
	// Type is the workflow type; empty means continuouspatchv1.
	Type string `json:"type,omitempty"`
	// Config is the policy file's text (JSON with comments and commas).
	// On update, empty keeps the policy.
	Config string `json:"config,omitempty"`
	// Schedule is "Nd", 1 to 30. On update, empty keeps the schedule.
	Schedule string `json:"schedule,omitempty"`
	// DryRun validates and selects without storing (create only).
	DryRun bool `json:"dry_run,omitempty"`
	// RunImmediately queues a cycle now (create and update).
	RunImmediately bool `json:"run_immediately,omitempty"`
}

// WorkflowInfo describes a workflow, or what a dry run would select.
type WorkflowInfo struct {
	Registry      string    `json:"registry"`
	Type          string    `json:"type"`
	Schedule      string    `json:"schedule,omitempty"`
	ScheduleSetAt time.Time `json:"schedule_set_at,omitzero"`
	NextRun       time.Time `json:"next_run,omitzero"`
	PolicyDigest  string    `json:"policy_digest,omitempty"`
	Policy        string    `json:"policy,omitempty"`
	// Selected lists "repository: tag" of a dry run; NotFound the named
	// tags that do not exist; Warnings the policy's warnings.
	Selected []string `json:"selected,omitempty"`
	NotFound []string `json:"not_found,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// RunID is the trigger run queued by run_immediately.
	RunID int64 `json:"run_id,omitempty"`
}

// CancelResult is the answer to cancel-run.
type CancelResult struct {
	Canceled []workflow.Run `json:"canceled"`
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
}
