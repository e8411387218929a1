// Package runstoretest is the conformance suite every workflow.Store
// implementation must pass.
package runstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/patchloop/patchloop/workflow"
)

// Run runs the suite; open returns a fresh, migrated, empty store.
func Run(t *testing.T, open func(t *testing.T) workflow.Store) {
	ctx := context.Background()
	key := func(task workflow.Task, image, cycle string) workflow.RunKey {
		return workflow.RunKey{Workflow: "reg.example", Task: task, Image: image, Cycle: cycle}
	}
	queued := workflow.RunInit{Status: workflow.StatusQueued, JobID: 7}

	t.Run("EnsureRunCreatesOnceAndKeepsTheFirst", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		k := key(workflow.TaskScan, "python:3.11", "c1")
		first, err := s.EnsureRun(ctx, k, queued)
		if err != nil {
			t.Fatal(err)
		}
		if first.ID == 0 || first.Status != workflow.StatusQueued || first.JobID != 7 || first.RunKey != k {
			t.Fatalf("created run = %+v", first)
		}
		again, err := s.EnsureRun(ctx, k, workflow.RunInit{Status: workflow.StatusSkipped, Reason: "x", JobID: 9})
		if err != nil {
			t.Fatal(err)
		}
		if again.ID != first.ID || again.Status != workflow.StatusQueued || again.JobID != 7 {
			t.Fatalf("second EnsureRun changed the run: %+v", again)
		}
		other, err := s.EnsureRun(ctx, key(workflow.TaskPatch, "python:3.11", "c1"), queued)
		if err != nil {
			t.Fatal(err)
		}
		if other.ID == first.ID {
			t.Fatal("patch run shares the scan run's id")
		}
	})

	t.Run("EnsureRunConcurrentCallersGetOneRun", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		k := key(workflow.TaskScan, "ubuntu:jammy", "c1")
		var wg sync.WaitGroup
		ids := make([]int64, 8)
		errs := make([]error, 8)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.EnsureRun(ctx, k, queued)
				ids[i], errs[i] = r.ID, err
			}()
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if ids[i] != ids[0] {
				t.Fatalf("concurrent EnsureRun returned ids %v", ids)
			}
		}
	})

	t.Run("RunInCanceledCycleIsCreatedCanceled", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if _, err := s.EnsureCycle(ctx, workflow.Cycle{Workflow: "reg.example", ID: "c1"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CancelCycle(ctx, "reg.example", "c1"); err != nil {
			t.Fatal(err)
		}
		r, err := s.EnsureRun(ctx, key(workflow.TaskScan, "a:1", "c1"), queued)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != workflow.StatusCanceled {
			t.Fatalf("status = %s, want Canceled", r.Status)
		}
		r2, err := s.EnsureRun(ctx, key(workflow.TaskScan, "a:1", "c2"), queued)
		if err != nil {
			t.Fatal(err)
		}
		if r2.Status != workflow.StatusQueued {
			t.Fatalf("run of another cycle: status = %s, want Queued", r2.Status)
		}
	})

	t.Run("UpdateRunAppliesFieldsAndRefusesCanceledRuns", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		r, err := s.EnsureRun(ctx, key(workflow.TaskPatch, "a:1", "c1"), queued)
		if err != nil {
			t.Fatal(err)
		}
		started := time.Date(2026, 11, 27, 10, 0, 0, 123000, time.UTC)
		res := workflow.RunResult{Tag: "a:1-1", Digest: "sha256:ab", FixedCVEs: []string{"CVE-2024-1", "CVE-2024-2"}}
		got, err := s.UpdateRun(ctx, r.ID, workflow.RunUpdate{Status: workflow.StatusSucceeded, Attempt: 2, Result: &res, StartedAt: started, FinishedAt: started.Add(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != workflow.StatusSucceeded || got.Attempt != 2 || got.Result.Tag != "a:1-1" ||
			len(got.Result.FixedCVEs) != 2 || !got.StartedAt.Equal(started) || !got.FinishedAt.Equal(started.Add(time.Second)) {
			t.Fatalf("updated run = %+v", got)
		}
		if _, err := s.UpdateRun(ctx, r.ID, workflow.RunUpdate{Status: workflow.StatusCanceled}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateRun(ctx, r.ID, workflow.RunUpdate{Status: workflow.StatusRunning}); !errors.Is(err, workflow.ErrRunCanceled) {
			t.Fatalf("update of canceled run: err = %v, want ErrRunCanceled", err)
		}
		if _, err := s.UpdateRun(ctx, 99999, workflow.RunUpdate{Status: workflow.StatusRunning}); !errors.Is(err, workflow.ErrNotFound) {
			t.Fatalf("update of missing run: err = %v, want ErrNotFound", err)
		}
		if _, err := s.GetRun(ctx, 99999); !errors.Is(err, workflow.ErrNotFound) {
			t.Fatalf("get of missing run: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("ListRunsFiltersAndOrdersNewestFirst", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		var ids []int64
		for i := range 6 {
			task := workflow.TaskScan
			if i%2 == 1 {
				task = workflow.TaskPatch
			}
			r, err := s.EnsureRun(ctx, key(task, fmt.Sprintf("img:%d", i), "c1"), queued)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
			if i >= 4 {
				if _, err := s.UpdateRun(ctx, r.ID, workflow.RunUpdate{Status: workflow.StatusFailed, Reason: "boom"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		all, err := s.ListRuns(ctx, workflow.RunFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 6 || all[0].ID != ids[5] || all[5].ID != ids[0] {
			t.Fatalf("ListRuns order: got %d runs, first %d", len(all), all[0].ID)
		}
		patches, err := s.ListRuns(ctx, workflow.RunFilter{Task: workflow.TaskPatch})
		if err != nil {
			t.Fatal(err)
		}
		if len(patches) != 3 {
			t.Fatalf("patch runs = %d, want 3", len(patches))
		}
		failed, err := s.ListRuns(ctx, workflow.RunFilter{Statuses: []workflow.Status{workflow.StatusFailed}, Top: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(failed) != 1 || failed[0].ID != ids[5] || failed[0].Reason != "boom" {
			t.Fatalf("failed top 1 = %+v", failed)
		}
		counts, err := s.CountRuns(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int64{}
		for _, c := range counts {
			n[string(c.Task)+"/"+string(c.Status)] = c.N
		}
		if n["cssc-scan-image/Queued"] != 2 || n["cssc-scan-image/Failed"] != 1 || n["cssc-patch-image/Queued"] != 2 || n["cssc-patch-image/Failed"] != 1 {
			t.Fatalf("counts = %v", n)
		}
	})

	t.Run("LatestRunsPicksNewestPerImage", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for _, c := range []string{"c1", "c2", "c3"} {
			for _, img := range []string{"a:1", "b:2"} {
				r, err := s.EnsureRun(ctx, key(workflow.TaskPatch, img, c), queued)
				if err != nil {
					t.Fatal(err)
				}
				st := workflow.StatusSucceeded
				if c == "c3" {
					st = workflow.StatusFailed
				}
				res := workflow.RunResult{Tag: img + "-" + c}
				if _, err := s.UpdateRun(ctx, r.ID, workflow.RunUpdate{Status: st, Result: &res}); err != nil {
					t.Fatal(err)
				}
			}
		}
		latest, err := s.LatestRuns(ctx, "reg.example", workflow.TaskPatch, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(latest) != 2 || latest[0].Image != "a:1" || latest[0].Cycle != "c3" || latest[1].Cycle != "c3" {
			t.Fatalf("latest = %+v", latest)
		}
		ok, err := s.LatestRuns(ctx, "reg.example", workflow.TaskPatch, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(ok) != 2 || ok[0].Result.Tag != "a:1-c2" || ok[1].Result.Tag != "b:2-c2" {
			t.Fatalf("latest succeeded = %+v", ok)
		}
	})

	t.Run("LogsAppendInOrderAcrossPages", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		r, err := s.EnsureRun(ctx, key(workflow.TaskScan, "a:1", "c1"), queued)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		for i := range 150 {
			line := fmt.Appendf(nil, "line %d\n", i)
			want.Write(line)
			if err := s.AppendLog(ctx, r.ID, line); err != nil {
				t.Fatal(err)
			}
		}
		var got bytes.Buffer
		if err := s.CopyLog(ctx, r.ID, &got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("log differs: got %d bytes, want %d", got.Len(), want.Len())
		}
		if err := s.CopyLog(ctx, 99999, &got); !errors.Is(err, workflow.ErrNotFound) {
			t.Fatalf("log of missing run: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("CyclesLatestAndScheduled", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if _, err := s.LatestCycle(ctx, "reg.example", false); !errors.Is(err, workflow.ErrNotFound) {
			t.Fatalf("latest of none: err = %v", err)
		}
		t0 := time.Date(2026, 1, 7, 10, 0, 0, 0, time.UTC)
		for _, c := range []workflow.Cycle{
			{Workflow: "reg.example", ID: "slot-1", Slot: t0, CreatedAt: t0},
			{Workflow: "reg.example", ID: "slot-2", Slot: t0.AddDate(0, 0, 7), CreatedAt: t0.AddDate(0, 0, 7)},
			{Workflow: "reg.example", ID: "run-1", CreatedAt: t0.AddDate(0, 0, 8)},
			{Workflow: "other", ID: "slot-9", Slot: t0.AddDate(0, 1, 0), CreatedAt: t0.AddDate(0, 1, 0)},
		} {
			if _, err := s.EnsureCycle(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		again, err := s.EnsureCycle(ctx, workflow.Cycle{Workflow: "reg.example", ID: "slot-1", Slot: t0.AddDate(1, 0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if !again.Slot.Equal(t0) {
			t.Fatalf("EnsureCycle overwrote the slot: %v", again.Slot)
		}
		latest, err := s.LatestCycle(ctx, "reg.example", false)
		if err != nil || latest.ID != "run-1" {
			t.Fatalf("latest = %+v, %v", latest, err)
		}
		sched, err := s.LatestCycle(ctx, "reg.example", true)
		if err != nil || sched.ID != "slot-2" || !sched.Slot.Equal(t0.AddDate(0, 0, 7)) {
			t.Fatalf("latest scheduled = %+v, %v", sched, err)
		}
		if err := s.CancelCycle(ctx, "reg.example", "nope"); !errors.Is(err, workflow.ErrNotFound) {
			t.Fatalf("cancel of missing cycle: err = %v", err)
		}
	})

	t.Run("DeleteWorkflowRunsLeavesOthers", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		mine, err := s.EnsureRun(ctx, key(workflow.TaskScan, "a:1", "c1"), queued)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AppendLog(ctx, mine.ID, []byte("x\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EnsureCycle(ctx, workflow.Cycle{Workflow: "reg.example", ID: "c1"}); err != nil {
			t.Fatal(err)
		}
		theirs, err := s.EnsureRun(ctx, workflow.RunKey{Workflow: "other", Task: workflow.TaskScan, Image: "a:1", Cycle: "c1"}, queued)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWorkflowRuns(ctx, "reg.example"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetRun(ctx, mine.ID); !errors.Is(err, workflow.ErrNotFound) {
			t.Fatalf("deleted run still there: %v", err)
		}
		if _, err := s.GetCycle(ctx, "reg.example", "c1"); !errors.Is(err, workflow.ErrNotFound) {
			t.Fatalf("deleted cycle still there: %v", err)
		}
		if _, err := s.GetRun(ctx, theirs.ID); err != nil {
			t.Fatalf("other workflow's run: %v", err)
		}
	})
}
