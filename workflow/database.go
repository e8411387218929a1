package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Database is where River's jobs and the engine's runs live: an SQLite file
// for one machine, or PostgreSQL shared by several daemons.
type Database struct {
	sqlite *sql.DB
	pg     *pgxpool.Pool
}

// SQLite returns the Database on an SQLite handle opened with the "sqlite"
// driver (modernc.org/sqlite). River needs it limited to one open
// connection; OpenSQLite opens one that is.
func SQLite(db *sql.DB) Database { return Database{sqlite: db} }

// Postgres returns the Database on a pgx pool.
func Postgres(pool *pgxpool.Pool) Database { return Database{pg: pool} }

// OpenSQLite opens (creating if needed) the SQLite database at path in WAL
// mode with a busy timeout, limited to the single connection River's SQLite
// driver needs.
func OpenSQLite(ctx context.Context, path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening sqlite database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening sqlite database %s: %w", path, err)
	}
	return db, nil
}

// Store returns the run store on this database. For PostgreSQL it opens a
// database/sql handle on the same pool.
func (d Database) Store() *SQLStore {
	if d.pg != nil {
		return NewPostgresStore(stdlib.OpenDBFromPool(d.pg))
	}
	return NewSQLiteStore(d.sqlite)
}

func (d Database) validate() error {
	if (d.sqlite == nil) == (d.pg == nil) {
		return errors.New("database: want exactly one of SQLite or Postgres")
	}
	return nil
}

// Migrate brings River's tables and the run tables up to date.
func (d Database) Migrate(ctx context.Context) error {
	if err := d.validate(); err != nil {
		return err
	}
	if d.pg != nil {
		if err := migrateRiver(ctx, riverpgxv5.New(d.pg)); err != nil {
			return err
		}
	} else if err := migrateRiver(ctx, riversqlite.New(d.sqlite)); err != nil {
		return err
	}
	return d.Store().Migrate(ctx)
}

func migrateRiver[TTx any](ctx context.Context, drv riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		return fmt.Errorf("migrating river tables: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating river tables: %w", err)
	}
	return nil
}

// queue is the part of a River client the engine uses, so that the engine
// is not generic over the driver's transaction type.
type queue interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobCancel(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobDelete(ctx context.Context, id int64) (*rivertype.JobRow, error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
}

var (
	_ queue = (*river.Client[*sql.Tx])(nil)
	_ queue = (*river.Client[pgx.Tx])(nil)
)

func (d Database) newClient(cfg *river.Config) (queue, error) {
	if d.pg != nil {
		return river.NewClient(riverpgxv5.New(d.pg), cfg)
	}
	return river.NewClient(riversqlite.New(d.sqlite), cfg)
}

// OpenDatabase opens the database at location: postgres:// or
// postgresql:// URLs open a pgx pool (checked with a ping), anything else is
// an SQLite file path, or a sqlite:// URL of one. Close it with Close.
func OpenDatabase(ctx context.Context, location string) (Database, error) {
	switch {
	case strings.HasPrefix(location, "postgres://"), strings.HasPrefix(location, "postgresql://"):
		shown := location
		if u, err := url.Parse(location); err == nil {
			shown = u.Redacted()
		}
		pool, err := pgxpool.New(ctx, location)
		if err != nil {
			return Database{}, fmt.Errorf("opening postgres database %s: %w", shown, err)
		}
		if err := pool.Ping(ctx); err != nil {
			pool.Close()
			return Database{}, fmt.Errorf("opening postgres database %s: %w", shown, err)
		}
		return Postgres(pool), nil
	case location == "":
		return Database{}, errors.New("opening database: location is empty")
	}
	path := location
	if rest, ok := strings.CutPrefix(location, "sqlite://"); ok {
		path = rest
	}
	db, err := OpenSQLite(ctx, path)
	if err != nil {
		return Database{}, err
	}
	return SQLite(db), nil
}

// Close closes the database handle or pool.
func (d Database) Close() error {
	if d.pg != nil {
		d.pg.Close()
		return nil
	}
	if d.sqlite != nil {
		return d.sqlite.Close()
	}
	return nil
}
