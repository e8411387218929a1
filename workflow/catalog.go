package workflow

import (
	"context"
	"fmt"
	"time"

	"github.com/patchloop/patchloop/schedule"
	"github.com/patchloop/patchloop/store"
)

// StoreCatalog is the Catalog of the workflows kept in a store, each on its
// schedule and keyed by its registry. A workflow whose schedule does not
// parse is skipped, not fatal: the others keep running.
type StoreCatalog struct {
	Store store.Store
	// OnSkip, if set, hears about each skipped workflow.
	OnSkip func(registry string, err error)
}

var _ Catalog = StoreCatalog{}

// ScheduledWorkflows implements Catalog.
func (c StoreCatalog) ScheduledWorkflows(ctx context.Context) ([]ScheduledWorkflow, error) {
	list, err := c.Store.WorkflowList(ctx, &store.WorkflowListParams{Type: store.TypeContinuousPatchV1})
	if err != nil {
		return nil, fmt.Errorf("listing workflows to schedule: %w", err)
	}
	out := make([]ScheduledWorkflow, 0, len(list))
	for _, wf := range list {
		sch, err := schedule.Parse(wf.Schedule)
		if err != nil {
			if c.OnSkip != nil {
				c.OnSkip(wf.Registry, err)
			}
			continue
		}
		set := wf.ScheduleSetAt
		out = append(out, ScheduledWorkflow{
			Key:   wf.Registry,
			Since: set,
			Next:  func(after time.Time) time.Time { return sch.Next(set, after) },
		})
	}
	return out, nil
}
