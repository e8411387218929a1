package workflow_test

import (
	"context"
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
