package sqlitestore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchloop/patchloop/store"
	"github.com/patchloop/patchloop/store/sqlitestore"
	"github.com/patchloop/patchloop/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock func() time.Time) store.Store {
		s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"), store.Config{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nested", "dir", "p.db")
	s, err := sqlitestore.Open(ctx, path, store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WorkflowCreate(ctx, &store.WorkflowCreateParams{Registry: "r", Type: store.TypeContinuousPatchV1, Schedule: "1d", ScheduleSetAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlitestore.Open(ctx, path, store.Config{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if _, err := s.WorkflowGet(ctx, &store.WorkflowGetParams{Registry: "r", Type: store.TypeContinuousPatchV1}); err != nil {
		t.Fatalf("workflow lost on reopen: %v", err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("no WAL file beside the database: %v", err)
	}
}

func TestConcurrentOpenersAndWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := sqlitestore.Open(ctx, path, store.Config{})
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			_, err = s.WorkflowCreate(ctx, &store.WorkflowCreateParams{Registry: string(rune('a' + i)), Type: store.TypeContinuousPatchV1, Schedule: "1d", ScheduleSetAt: time.Now()})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s, err := sqlitestore.Open(ctx, path, store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ws, err := s.WorkflowList(ctx, &store.WorkflowListParams{})
	if err != nil || len(ws) != 8 {
		t.Fatalf("%d workflows, %v; want 8", len(ws), err)
	}
}

func TestOpenURLs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for _, loc := range []string{filepath.Join(dir, "a.db"), "sqlite://" + filepath.Join(dir, "b.db")} {
		s, err := store.Open(ctx, loc, store.Config{})
		if err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
		s.Close()
	}
	for loc, want := range map[string]string{
		"postgres://u:hunter2@db/patchloop": `no "postgres" backend`,
		"mysql://x/y":                       `no "mysql" backend`,
		dir:                                 "is a directory",
		"sqlite://host/x.db":                "sqlite:///absolute/path",
		"":                                  "empty",
	} {
		_, err := store.Open(ctx, loc, store.Config{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("open %q: err = %v, want it to say %q", loc, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("open %q: error shows the password: %v", loc, err)
		}
	}
	// A file where the directory should be.
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(ctx, filepath.Join(blocker, "p.db"), store.Config{}); err == nil {
		t.Error("opening under a regular file succeeded")
	}
}

func TestPathWithSpecialCharacters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "my dir#1?x=y", "p%20q.db")
	s, err := sqlitestore.Open(ctx, path, store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.WorkflowCreate(ctx, &store.WorkflowCreateParams{Registry: "r", Type: store.TypeContinuousPatchV1, Schedule: "1d", ScheduleSetAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database is not at the path given: %v", err)
	}
}
