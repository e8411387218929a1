// Package sqlitestore is the SQLite backend of store (modernc.org/sqlite,
// no cgo): one database file in WAL mode, schema from embedded migrations.
// Importing it registers the "sqlite" scheme with store.Open.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/patchloop/patchloop/store"
)

func init() {
	store.Register("sqlite", func(ctx context.Context, u *url.URL, cfg store.Config) (store.Store, error) {
		if u.Host != "" {
			return nil, fmt.Errorf("sqlite URL has host %q: write sqlite:///absolute/path", u.Host)
		}
		return Open(ctx, u.Path, cfg)
	})
}

// Store is a store.Store in one SQLite file.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed, with its directory) the database at path
// and applies pending migrations.
func Open(ctx context.Context, path string, cfg store.Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	if path == "" {
		return nil, errors.New("sqlite path is empty")
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a database file", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the store directory: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	s := &Store{db: db, now: cfg.Now}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := migrate(ctx, db, cfg.Now().UnixMicro()); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrating %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

const workflowColumns = `registry, type, schedule, schedule_set_at, policy, policy_digest, created_at, updated_at`

func scanWorkflow(row interface{ Scan(...any) error }) (*store.Workflow, error) {
	var (
		w                   store.Workflow
		setAt, created, upd int64
	)
	if err := row.Scan(&w.Registry, &w.Type, &w.Schedule, &setAt, &w.Policy, &w.PolicyDigest, &created, &upd); err != nil {
		return nil, err
	}
	w.ScheduleSetAt = fromMicro(setAt)
	w.CreatedAt = fromMicro(created)
	w.UpdatedAt = fromMicro(upd)
	return &w, nil
}

func fromMicro(us int64) time.Time { return time.UnixMicro(us).UTC() }

// WorkflowCreate inserts a workflow; an existing key gives store.ErrExists.
func (s *Store) WorkflowCreate(ctx context.Context, p *store.WorkflowCreateParams) (*store.Workflow, error) {
	now := s.now().UnixMicro()
	policy := p.Policy
	if policy == nil {
		policy = []byte{}
	}
	row := s.db.QueryRowContext(ctx, `INSERT INTO workflow (`+workflowColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+workflowColumns,
		p.Registry, p.Type, p.Schedule, p.ScheduleSetAt.UnixMicro(), policy, p.PolicyDigest, now, now)
	w, err := scanWorkflow(row)
	if err != nil {
		return nil, interpret(err, "creating workflow", p.Registry, p.Type)
	}
	return w, nil
}

// WorkflowGet reads one workflow.
func (s *Store) WorkflowGet(ctx context.Context, p *store.WorkflowGetParams) (*store.Workflow, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+workflowColumns+` FROM workflow WHERE registry = ? AND type = ?`, p.Registry, p.Type)
	w, err := scanWorkflow(row)
	if err != nil {
		return nil, interpret(err, "reading workflow", p.Registry, p.Type)
	}
	return w, nil
}

// WorkflowList lists workflows by registry, then type.
func (s *Store) WorkflowList(ctx context.Context, p *store.WorkflowListParams) ([]*store.Workflow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+workflowColumns+` FROM workflow
		WHERE (? = '' OR registry = ?) AND (? = '' OR type = ?)
		ORDER BY registry, type`, p.Registry, p.Registry, p.Type, p.Type)
	if err != nil {
		return nil, interpret(err, "listing workflows", p.Registry, p.Type)
	}
	defer rows.Close()
	var out []*store.Workflow
	for rows.Next() {
		w, err := scanWorkflow(rows)
		if err != nil {
			return nil, interpret(err, "listing workflows", p.Registry, p.Type)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, interpret(err, "listing workflows", p.Registry, p.Type)
	}
	return out, nil
}

// WorkflowUpdate changes the given fields and UpdatedAt.
func (s *Store) WorkflowUpdate(ctx context.Context, p *store.WorkflowUpdateParams) (*store.Workflow, error) {
	sets := []string{"updated_at = ?"}
	args := []any{s.now().UnixMicro()}
	if p.Schedule != nil {
		sets, args = append(sets, "schedule = ?"), append(args, *p.Schedule)
	}
	if p.ScheduleSetAt != nil {
		sets, args = append(sets, "schedule_set_at = ?"), append(args, p.ScheduleSetAt.UnixMicro())
	}
	if p.Policy != nil {
		sets, args = append(sets, "policy = ?"), append(args, p.Policy)
	}
	if p.PolicyDigest != nil {
		sets, args = append(sets, "policy_digest = ?"), append(args, *p.PolicyDigest)
	}
	args = append(args, p.Registry, p.Type)
	row := s.db.QueryRowContext(ctx, `UPDATE workflow SET `+strings.Join(sets, ", ")+`
		WHERE registry = ? AND type = ? RETURNING `+workflowColumns, args...)
	w, err := scanWorkflow(row)
	if err != nil {
		return nil, interpret(err, "updating workflow", p.Registry, p.Type)
	}
	return w, nil
}

// WorkflowDelete removes one workflow.
func (s *Store) WorkflowDelete(ctx context.Context, p *store.WorkflowDeleteParams) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM workflow WHERE registry = ? AND type = ?`, p.Registry, p.Type)
	if err != nil {
		return interpret(err, "deleting workflow", p.Registry, p.Type)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return interpret(err, "deleting workflow", p.Registry, p.Type)
	}
	if n == 0 {
		return interpret(sql.ErrNoRows, "deleting workflow", p.Registry, p.Type)
	}
	return nil
}

// interpret maps SQLite errors to the store's sentinels.
func interpret(err error, op, registry, typ string) error {
	what := fmt.Sprintf("%s %s/%s", op, registry, typ)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	var serr *sqlite.Error
	if errors.As(err, &serr) {
		switch serr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("%s: %w", what, store.ErrExists)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}
