package workflow

import (
	"context"
	"errors"
	"time"
)

// maxSlotsPerPass bounds the walk over missed slots of one workflow.
const maxSlotsPerPass = 100_000

// schedule runs scheduler passes until ctx is done, sleeping on the clock
// until the earliest next slot, a Reschedule, or SchedulerRefresh.
func (e *Engine) schedule(ctx context.Context) {
	after := map[string]time.Time{}
	for {
		wait := e.schedulerPass(ctx, after)
		if e.onSchedulerPass != nil {
			e.onSchedulerPass()
		}
		select {
		case <-ctx.Done():
			return
		case <-e.cfg.Clock.After(wait):
		case <-e.reschedule:
		}
	}
}

// schedulerPass starts the cycle of every workflow whose slot has come and
// returns how long to wait before the next pass. after holds, per
// workflow, the last slot already handled. A workflow seen for the first
// time resumes from its latest scheduled cycle in the database, so slots
// missed while no daemon ran start one cycle, for the latest of them, not
// one per slot. Several daemons may pass over the same slot: the cycle's
// trigger is unique per workflow and slot.
func (e *Engine) schedulerPass(ctx context.Context, after map[string]time.Time) time.Duration {
	wait := e.cfg.SchedulerRefresh
	wfs, err := e.cfg.Catalog.ScheduledWorkflows(ctx)
	if err != nil {
		e.cfg.Logger.Error("listing workflows to schedule", "err", err)
		return wait
	}
	now := e.now()
	seen := make(map[string]bool, len(wfs))
	for _, wf := range wfs {
		seen[wf.Key] = true
		last, ok := after[wf.Key]
		if !ok {
			last = wf.Since
			c, err := e.store.LatestCycle(ctx, wf.Key, true)
			switch {
			case err == nil && c.Slot.After(last):
				last = c.Slot
			case err != nil && !errors.Is(err, ErrNotFound):
				e.cfg.Logger.Error("reading last scheduled cycle", "workflow", wf.Key, "err", err)
				continue
			}
		}
		if wf.Since.After(last) {
			last = wf.Since
		}
		var due time.Time
		for i := 0; i < maxSlotsPerPass; i++ {
			s := wf.Next(last)
			if s.IsZero() || !s.After(last) || s.After(now) {
				break
			}
			due, last = s, s
		}
		if !due.IsZero() {
			c := Cycle{Workflow: wf.Key, ID: "slot-" + due.UTC().Format(time.RFC3339), Slot: due, CreatedAt: now}
			if _, err := e.startCycle(ctx, c); err != nil {
				e.cfg.Logger.Error("starting scheduled cycle", "workflow", wf.Key, "cycle", c.ID, "err", err)
				continue
			}
			e.cfg.Logger.Info("started scheduled cycle", "workflow", wf.Key, "cycle", c.ID)
		}
		after[wf.Key] = last
		if next := wf.Next(now); !next.IsZero() && next.Sub(now) < wait {
			wait = next.Sub(now)
		}
	}
	for k := range after {
		if !seen[k] {
			delete(after, k)
		}
	}
	return wait
}
