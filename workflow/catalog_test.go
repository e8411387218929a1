package workflow

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchloop/patchloop/schedule"
	"github.com/patchloop/patchloop/store"
	"github.com/patchloop/patchloop/store/sqlitestore"
)

func TestStoreCatalogSchedulesStoredWorkflows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The workflow store and the engine share one SQLite file.
	path := filepath.Join(t.TempDir(), "patchloop.db")
	st, err := sqlitestore.Open(ctx, path, store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	set := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	if _, err := st.WorkflowCreate(ctx, &store.WorkflowCreateParams{Registry: wfKey, Type: store.TypeContinuousPatchV1,
		Schedule: "7d", ScheduleSetAt: set, Policy: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	cat := StoreCatalog{Store: st}
	wfs, err := cat.ScheduledWorkflows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(wfs) != 1 || wfs[0].Key != wfKey || !wfs[0].Since.Equal(set) {
		t.Fatalf("scheduled workflows = %+v", wfs)
	}
	sch, err := schedule.Parse("7d")
	if err != nil {
		t.Fatal(err)
	}
	for at := set; at.Before(set.AddDate(0, 3, 0)); at = at.Add(13 * time.Hour) {
		if got, want := wfs[0].Next(at), sch.Next(set, at); !got.Equal(want) {
			t.Fatalf("Next(%s) = %s, schedule says %s", at, got, want)
		}
	}

	// Down since the schedule was set, the daemon starts on Nov 27 at
	// noon: the slots of Nov 7, 14 and 21 were missed and only the latest
	// one runs, then the next slot (Dec 1) runs on time.
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	db, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	b := setup(t, setupOpts{db: SQLite(db), clock: NewFakeClock(now), sel: &fakeSelector{targets: targets(2)}})
	b.e.cfg.Catalog = cat
	b.start(t)
	latest := sch.Next(set, now.AddDate(0, 0, -7))
	waitUntil(t, b.done, "the missed slot's cycle", func() bool {
		return len(b.runs(t, RunFilter{Task: TaskPatch, Statuses: []Status{StatusSucceeded}})) == 2
	})
	trig := b.runs(t, RunFilter{Task: TaskTrigger})
	if len(trig) != 1 || trig[0].Cycle != "slot-"+latest.Format(time.RFC3339) {
		t.Fatalf("triggers = %+v, want one for %s", trig, latest)
	}
	next := sch.Next(set, now)
	<-b.clock.Waiting()
	b.clock.Set(next)
	waitUntil(t, b.done, "the next slot's cycle", func() bool {
		return len(b.runs(t, RunFilter{Task: TaskTrigger, Cycle: "slot-" + next.Format(time.RFC3339)})) == 1
	})
}
