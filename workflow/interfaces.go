package workflow

import (
	"context"
	"encoding/json"
	"io"
	"time"
)

// Target is one selected image of a workflow cycle, with the tags the scan
// and the patch use. It is computed once per cycle by the trigger and
// carried unchanged through the scan and patch jobs and their retries.
type Target struct {
	// Registry is the registry host, e.g. "myregistry.example:5000".
	Registry string `json:"registry"`
	// Repository and Tag name the original image.
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	// OriginalDigest is the digest of the original tag when selected.
	OriginalDigest string `json:"original_digest"`
	// ScanTag is the tag to scan: the latest patch tag, or Tag if there is none.
	ScanTag string `json:"scan_tag"`
	// NextTag is the tag a patch pushes: Tag-N+1 (incremental) or
	// Tag-patched (floating).
	NextTag string `json:"next_tag"`
	// Convention is "incremental" or "floating".
	Convention string `json:"convention,omitempty"`
}

// Image is "repository:tag" of the original image, the key runs are kept under.
func (t Target) Image() string { return t.Repository + ":" + t.Tag }

// Selection is what a trigger selected.
type Selection struct {
	Targets []Target
	// NotFound lists "repository:tag" that the policy names and that do
	// not exist; they are reported, not failed.
	NotFound []string
}

// Selector reads a workflow's policy artifact from its registry and selects
// the images to patch, computing each image's scan and next patch tag.
type Selector interface {
	Select(ctx context.Context, workflow string, log io.Writer) (Selection, error)
}

// ScanResult is what a scan found.
type ScanResult struct {
	// Fixable is true when at least one OS-package vulnerability has a fix.
	Fixable bool
	// EOSL is true when the distribution is past its end of support.
	EOSL bool
	// CVEs are the fixable vulnerabilities.
	CVEs []string
	// Report is the scan report, as JSON.
	Report json.RawMessage
}

// Scanner scans t's ScanTag for OS-package vulnerabilities.
type Scanner interface {
	Scan(ctx context.Context, t Target, log io.Writer) (ScanResult, error)
}

// PatchRequest asks for one patch of a cycle.
type PatchRequest struct {
	Target
	// Workflow and Cycle identify the cycle; a patcher records Cycle on the
	// image it pushes so that Pushed can recognise it.
	Workflow string
	Cycle    string
	// CVEs are the fixable vulnerabilities the scan found.
	CVEs []string
}

// PatchResult is what a patch pushed.
type PatchResult struct {
	// Tag is the full reference pushed, Digest its manifest digest.
	Tag    string
	Digest string
	// FixedCVEs are the vulnerabilities the patch fixed.
	FixedCVEs []string
}

// Patcher patches an original image and pushes the patched image.
type Patcher interface {
	// Patch builds the patch of req.Tag (the original, never a patch tag)
	// and pushes it as req.NextTag.
	Patch(ctx context.Context, req PatchRequest, log io.Writer) (PatchResult, error)
	// Pushed reports the image at req.NextTag when it was pushed by a patch
	// of req.OriginalDigest in req.Cycle, so that a retry after a crash
	// between push and record reuses it instead of patching again.
	Pushed(ctx context.Context, req PatchRequest) (PatchResult, bool, error)
}

// ScheduledWorkflow is a workflow as the scheduler sees it.
type ScheduledWorkflow struct {
	Key string
	// Since is when the schedule was set; no slot at or before it runs.
	Since time.Time
	// Next returns the first slot strictly after t.
	Next func(after time.Time) time.Time
}

// Catalog lists the workflows the scheduler runs.
type Catalog interface {
	ScheduledWorkflows(ctx context.Context) ([]ScheduledWorkflow, error)
}
