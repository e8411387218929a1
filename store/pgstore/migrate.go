package pgstore

import (
	"context"
	"embed"
	"fmt"

	"github.com/patchloop/patchloop/store"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the advisory lock key that serialises migrations of
// concurrent openers (the text "patchloop" folded into 63 bits).
const migrationLock = 0x7061746368_6c6f

// migrate applies every migration not yet recorded, in one transaction
// holding an advisory lock, so concurrent openers apply each exactly once.
func migrate(ctx context.Context, pool *pgxpool.Pool, nowMicro int64) error {
	ms, err := store.ReadMigrations(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return fmt.Errorf("locking migrations: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS patchloop_schema_migration (
			version    INTEGER PRIMARY KEY,
			name       TEXT    NOT NULL,
			applied_at BIGINT  NOT NULL
		)`); err != nil {
			return fmt.Errorf("creating patchloop_schema_migration: %w", err)
		}
		for _, m := range ms {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM patchloop_schema_migration WHERE version = $1`, m.Version).Scan(&n); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if n > 0 {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO patchloop_schema_migration (version, name, applied_at) VALUES ($1, $2, $3)`, m.Version, m.Name, nowMicro); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}
