// Package storetest is the conformance suite every store backend must pass.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/patchloop/patchloop/store"
)

// Clock is a settable clock for Config.Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Open opens a fresh, empty store for one test, using clock for its
// timestamps. It must close the store at test cleanup.
type Open func(t *testing.T, clock func() time.Time) store.Store

type testBundle struct {
	store store.Store
	clock *Clock
}

// Run runs the suite against the backend that open returns.
func Run(t *testing.T, open Open) {
	setup := func(t *testing.T) *testBundle {
		t.Helper()
		clock := NewClock(time.Date(2026, 1, 3, 10, 0, 0, 123456789, time.UTC))
		return &testBundle{store: open(t, clock.Now), clock: clock}
	}
	ctx := context.Background()
	params := func(reg string) *store.WorkflowCreateParams {
		return &store.WorkflowCreateParams{
			Registry:      reg,
			Type:          store.TypeContinuousPatchV1,
			Schedule:      "7d",
			ScheduleSetAt: time.Date(2026, 1, 3, 9, 30, 15, 987654321, time.FixedZone("X", 3600)),
			Policy:        []byte(`{"version":"v1"}`),
			PolicyDigest:  "sha256:aaaa",
		}
	}
	micro := func(tm time.Time) time.Time { return tm.Truncate(time.Microsecond) }

	t.Run("WorkflowCreateThenGet", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		p := params("reg.example.com")
		created, err := b.store.WorkflowCreate(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.store.WorkflowGet(ctx, &store.WorkflowGetParams{Registry: p.Registry, Type: p.Type})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []*store.Workflow{created, got} {
			if w.Registry != p.Registry || w.Type != p.Type || w.Schedule != "7d" || w.PolicyDigest != "sha256:aaaa" || !bytes.Equal(w.Policy, p.Policy) {
				t.Fatalf("workflow = %+v", w)
			}
			if !w.ScheduleSetAt.Equal(micro(p.ScheduleSetAt)) || w.ScheduleSetAt.Location() != time.UTC {
				t.Fatalf("ScheduleSetAt = %v, want %v in UTC", w.ScheduleSetAt, micro(p.ScheduleSetAt))
			}
			if !w.CreatedAt.Equal(micro(b.clock.Now())) || !w.UpdatedAt.Equal(w.CreatedAt) {
				t.Fatalf("created %v updated %v, want the clock's %v", w.CreatedAt, w.UpdatedAt, b.clock.Now())
			}
		}
	})

	t.Run("WorkflowCreateTwiceIsErrExists", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if _, err := b.store.WorkflowCreate(ctx, params("r")); err != nil {
			t.Fatal(err)
		}
		_, err := b.store.WorkflowCreate(ctx, params("r"))
		if !errors.Is(err, store.ErrExists) {
			t.Fatalf("err = %v, want ErrExists", err)
		}
		other := params("r")
		other.Type = "othertype"
		if _, err := b.store.WorkflowCreate(ctx, other); err != nil {
			t.Fatalf("same registry, other type: %v", err)
		}
	})

	t.Run("WorkflowGetMissingIsErrNotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.store.WorkflowGet(ctx, &store.WorkflowGetParams{Registry: "nope", Type: store.TypeContinuousPatchV1})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})

	t.Run("WorkflowListOrdersAndFilters", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if ws, err := b.store.WorkflowList(ctx, &store.WorkflowListParams{}); err != nil || len(ws) != 0 {
			t.Fatalf("empty list = %v, %v", ws, err)
		}
		for _, r := range []string{"c.example", "a.example", "b.example"} {
			if _, err := b.store.WorkflowCreate(ctx, params(r)); err != nil {
				t.Fatal(err)
			}
		}
		ws, err := b.store.WorkflowList(ctx, &store.WorkflowListParams{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != 3 || ws[0].Registry != "a.example" || ws[1].Registry != "b.example" || ws[2].Registry != "c.example" {
			t.Fatalf("list = %+v", ws)
		}
		ws, err = b.store.WorkflowList(ctx, &store.WorkflowListParams{Registry: "b.example"})
		if err != nil || len(ws) != 1 || ws[0].Registry != "b.example" {
			t.Fatalf("filtered list = %+v, %v", ws, err)
		}
	})

	t.Run("WorkflowUpdateChangesOnlyGivenFields", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		p := params("r")
		created, err := b.store.WorkflowCreate(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		b.clock.Advance(time.Hour)
		sched := "3d"
		got, err := b.store.WorkflowUpdate(ctx, &store.WorkflowUpdateParams{Registry: "r", Type: p.Type, Schedule: &sched})
		if err != nil {
			t.Fatal(err)
		}
		if got.Schedule != "3d" || !got.ScheduleSetAt.Equal(created.ScheduleSetAt) || !bytes.Equal(got.Policy, p.Policy) ||
			got.PolicyDigest != p.PolicyDigest || !got.CreatedAt.Equal(created.CreatedAt) || !got.UpdatedAt.Equal(micro(b.clock.Now())) {
			t.Fatalf("after schedule update: %+v", got)
		}
		b.clock.Advance(time.Hour)
		setAt := b.clock.Now()
		digest := "sha256:bbbb"
		got, err = b.store.WorkflowUpdate(ctx, &store.WorkflowUpdateParams{Registry: "r", Type: p.Type, ScheduleSetAt: &setAt, Policy: []byte(`{"v":2}`), PolicyDigest: &digest})
		if err != nil {
			t.Fatal(err)
		}
		if got.Schedule != "3d" || !got.ScheduleSetAt.Equal(micro(setAt)) || string(got.Policy) != `{"v":2}` || got.PolicyDigest != digest {
			t.Fatalf("after policy update: %+v", got)
		}
		again, err := b.store.WorkflowGet(ctx, &store.WorkflowGetParams{Registry: "r", Type: p.Type})
		if err != nil || string(again.Policy) != `{"v":2}` || !again.UpdatedAt.Equal(micro(b.clock.Now())) {
			t.Fatalf("get after update = %+v, %v", again, err)
		}
	})

	t.Run("WorkflowUpdateMissingIsErrNotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		s := "1d"
		_, err := b.store.WorkflowUpdate(ctx, &store.WorkflowUpdateParams{Registry: "nope", Type: store.TypeContinuousPatchV1, Schedule: &s})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})

	t.Run("WorkflowDelete", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, r := range []string{"a", "b"} {
			if _, err := b.store.WorkflowCreate(ctx, params(r)); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.store.WorkflowDelete(ctx, &store.WorkflowDeleteParams{Registry: "a", Type: store.TypeContinuousPatchV1}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.WorkflowGet(ctx, &store.WorkflowGetParams{Registry: "a", Type: store.TypeContinuousPatchV1}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get after delete: %v", err)
		}
		if _, err := b.store.WorkflowGet(ctx, &store.WorkflowGetParams{Registry: "b", Type: store.TypeContinuousPatchV1}); err != nil {
			t.Fatalf("other workflow gone: %v", err)
		}
		err := b.store.WorkflowDelete(ctx, &store.WorkflowDeleteParams{Registry: "a", Type: store.TypeContinuousPatchV1})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v, want ErrNotFound", err)
		}
	})

	t.Run("CanceledContextFails", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := b.store.WorkflowCreate(cctx, params("r")); err == nil {
			t.Fatal("create with a canceled context succeeded")
		}
		if _, err := b.store.WorkflowGet(ctx, &store.WorkflowGetParams{Registry: "r", Type: store.TypeContinuousPatchV1}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("canceled create left a row: %v", err)
		}
	})
}
