// Package pgstore is the PostgreSQL backend of store (pgx): several
// patchloop processes on different machines share one database. Importing
// it registers the "postgres" and "postgresql" schemes with store.Open.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patchloop/patchloop/store"
)

func init() {
	open := func(ctx context.Context, u *url.URL, cfg store.Config) (store.Store, error) {
		return Open(ctx, u.String(), cfg)
	}
	store.Register("postgres", open)
	store.Register("postgresql", open)
}

// Store is a store.Store in a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at location (postgres://user:pass@host/db,
// pgx's parameters such as pool_max_conns and search_path allowed), checks
// it answers and applies pending migrations.
func Open(ctx context.Context, location string, cfg store.Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	pc, err := pgxpool.ParseConfig(location)
	if err != nil {
		return nil, fmt.Errorf("parsing postgres url: %w", errors.New(redactErr(err, location)))
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting: %w", err)
	}
	if err := migrate(ctx, pool, cfg.Now().UnixMicro()); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrating: %w", err)
	}
	return &Store{pool: pool, now: cfg.Now}, nil
}

// redactErr keeps a password in url out of err's text.
func redactErr(err error, location string) string {
	msg := err.Error()
	if u, perr := url.Parse(location); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

const workflowColumns = `registry, type, schedule, schedule_set_at, policy, policy_digest, created_at, updated_at`

func scanWorkflow(row pgx.Row) (*store.Workflow, error) {
	var (
		w                   store.Workflow
		setAt, created, upd int64
	)
	if err := row.Scan(&w.Registry, &w.Type, &w.Schedule, &setAt, &w.Policy, &w.PolicyDigest, &created, &upd); err != nil {
		return nil, err
	}
	if w.Policy == nil {
		w.Policy = []byte{}
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
	row := s.pool.QueryRow(ctx, `INSERT INTO patchloop_workflow (`+workflowColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+workflowColumns,
		p.Registry, p.Type, p.Schedule, p.ScheduleSetAt.UnixMicro(), policy, p.PolicyDigest, now, now)
	w, err := scanWorkflow(row)
	if err != nil {
		return nil, interpret(err, "creating workflow", p.Registry, p.Type)
	}
	return w, nil
}

// WorkflowGet reads one workflow.
func (s *Store) WorkflowGet(ctx context.Context, p *store.WorkflowGetParams) (*store.Workflow, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+workflowColumns+` FROM patchloop_workflow WHERE registry = $1 AND type = $2`, p.Registry, p.Type)
	w, err := scanWorkflow(row)
	if err != nil {
		return nil, interpret(err, "reading workflow", p.Registry, p.Type)
	}
	return w, nil
}

// WorkflowList lists workflows by registry, then type.
func (s *Store) WorkflowList(ctx context.Context, p *store.WorkflowListParams) ([]*store.Workflow, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+workflowColumns+` FROM patchloop_workflow
		WHERE ($1 = '' OR registry = $1) AND ($2 = '' OR type = $2)
		ORDER BY registry COLLATE "C", type COLLATE "C"`, p.Registry, p.Type)
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
	sets := []string{"updated_at = $1"}
	args := []any{s.now().UnixMicro()}
	add := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	if p.Schedule != nil {
		add("schedule", *p.Schedule)
	}
	if p.ScheduleSetAt != nil {
		add("schedule_set_at", p.ScheduleSetAt.UnixMicro())
	}
	if p.Policy != nil {
		add("policy", p.Policy)
	}
	if p.PolicyDigest != nil {
		add("policy_digest", *p.PolicyDigest)
	}
	args = append(args, p.Registry, p.Type)
	q := fmt.Sprintf(`UPDATE patchloop_workflow SET %s WHERE registry = $%d AND type = $%d RETURNING %s`,
		strings.Join(sets, ", "), len(args)-1, len(args), workflowColumns)
	w, err := scanWorkflow(s.pool.QueryRow(ctx, q, args...))
	if err != nil {
		return nil, interpret(err, "updating workflow", p.Registry, p.Type)
	}
	return w, nil
}

// WorkflowDelete removes one workflow.
func (s *Store) WorkflowDelete(ctx context.Context, p *store.WorkflowDeleteParams) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM patchloop_workflow WHERE registry = $1 AND type = $2`, p.Registry, p.Type)
	if err != nil {
		return interpret(err, "deleting workflow", p.Registry, p.Type)
	}
	if tag.RowsAffected() == 0 {
		return interpret(pgx.ErrNoRows, "deleting workflow", p.Registry, p.Type)
	}
	return nil
}

// interpret maps PostgreSQL errors to the store's sentinels.
func interpret(err error, op, registry, typ string) error {
	what := fmt.Sprintf("%s %s/%s", op, registry, typ)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return fmt.Errorf("%s: %w", what, store.ErrExists)
	}
	return fmt.Errorf("%s: %w", what, err)
}
