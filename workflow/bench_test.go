package workflow

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCycleCleanImages runs whole cycles over 1,000 images whose scan
// finds nothing to fix, the common case of a steady-state registry, and
// reports the engine's overhead per image (scan and patch are doubles that
// answer at once).
func BenchmarkCycleCleanImages(b *testing.B) {
	for _, db := range []struct {
		name string
		open func(testing.TB) Database
	}{{"SQLite", newSQLite}, {"Postgres", newPostgres}} {
		b.Run(db.name, func(b *testing.B) { benchCycle(b, db.open(b), 1000) })
	}
}

func benchCycle(b *testing.B, db Database, images int) {
	ctx := context.Background()
	scan := newFakeScanner()
	sel := &fakeSelector{targets: targets(images)}
	for _, tg := range sel.targets {
		scan.result[tg.Image()] = ScanResult{}
	}
	clock := NewFakeClock(t0)
	e, err := New(ctx, db, Config{Selector: sel, Scanner: scan, Patcher: newFakePatcher(), Clock: clock,
		PollInterval: 20 * time.Millisecond, Workers: 8})
	if err != nil {
		b.Fatal(err)
	}
	var jobs atomic.Int64
	done := make(chan struct{}, 1)
	e.onJobDone = func() {
		jobs.Add(1)
		select {
		case done <- struct{}{}:
		default:
		}
	}
	if err := e.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = e.Stop(ctx) }()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clock.Advance(time.Second)
		before := jobs.Load()
		run, err := e.RunImmediately(ctx, wfKey)
		if err != nil {
			b.Fatal(err)
		}
		for jobs.Load()-before < int64(images+1) {
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				b.Fatalf("cycle stalled after %d jobs", jobs.Load()-before)
			}
		}
		b.StopTimer()
		skipped, err := e.ListRuns(ctx, RunFilter{Workflow: wfKey, Cycle: run.Cycle, Task: TaskPatch, Statuses: []Status{StatusSkipped}})
		if err != nil {
			b.Fatal(err)
		}
		if len(skipped) != images {
			b.Fatalf("cycle %s: %d skipped patches, want %d", run.Cycle, len(skipped), images)
		}
		b.StartTimer()
	}
	perImage := float64(b.Elapsed().Microseconds()) / 1000 / float64(b.N*images)
	b.ReportMetric(perImage, "ms/image")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("%s: %d images per cycle, %.2f ms per clean image\n", b.Name(), images, perImage)
}
