package workflow_test

import (
	"context"
	"strings"
	"testing"

	"github.com/patchloop/patchloop/workflow"
	"github.com/patchloop/patchloop/workflow/runstoretest"
)

func TestSQLStoreSQLite(t *testing.T) {
	t.Parallel()
	runstoretest.Run(t, func(t *testing.T) workflow.Store {
		db := workflow.TestSQLite(t)
		s := db.Store()
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestSQLStorePostgres(t *testing.T) {
	t.Parallel()
	runstoretest.Run(t, func(t *testing.T) workflow.Store {
		db := workflow.TestPostgres(t)
		s := db.Store()
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestOpenDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("SQLitePathAndURL", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		for _, loc := range []string{dir + "/a.db", "sqlite://" + dir + "/b.db"} {
			db, err := workflow.OpenDatabase(ctx, loc)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("UnopenableLocationsSayWhich", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct{ loc, want string }{
			{"", "location is empty"},
			{t.TempDir() + "/missing-dir/x.db", "missing-dir/x.db"},
			{"postgres://user:secret@127.0.0.1:1/db?connect_timeout=2", "postgres database postgres://user:xxxxx@127.0.0.1:1/db"},
		} {
			_, err := workflow.OpenDatabase(ctx, c.loc)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "secret") {
				t.Errorf("OpenDatabase(%q) err = %v, want it to name %q without the password", c.loc, err, c.want)
			}
		}
	})
}
