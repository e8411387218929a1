package workflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// newSQLite returns a fresh SQLite database in the test's temp dir.
func newSQLite(t testing.TB) Database {
	t.Helper()
	db, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "patchloop.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return SQLite(db)
}

// postgresURL returns PATCHLOOP_TEST_POSTGRES or skips the test.
func postgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("PATCHLOOP_TEST_POSTGRES")
	if u == "" {
		t.Skip("PATCHLOOP_TEST_POSTGRES is not set")
	}
	return u
}

// newPostgresSchema creates a fresh schema and returns its name; it is
// dropped when the test ends.
func newPostgresSchema(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, postgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "patchloop_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	return schema
}

// newPostgresPool opens a pool whose search_path is schema.
func newPostgresPool(t testing.TB, schema string) Database {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(postgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return Postgres(pool)
}

func newPostgres(t testing.TB) Database { return newPostgresPool(t, newPostgresSchema(t)) }
