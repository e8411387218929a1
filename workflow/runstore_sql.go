package workflow

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

//go:embed runstore_sqlite.sql
var sqliteRunSchema string

//go:embed runstore_postgres.sql
var postgresRunSchema string

type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// SQLStore is the Store on a database/sql handle, for SQLite
// (modernc.org/sqlite) and for PostgreSQL (pgx's stdlib adapter). Its tables
// are prefixed patchloop_run.
type SQLStore struct {
	db      *sql.DB
	dialect dialect
}

var _ Store = (*SQLStore)(nil)

// NewSQLiteStore returns the Store on an SQLite database.
func NewSQLiteStore(db *sql.DB) *SQLStore { return &SQLStore{db: db, dialect: dialectSQLite} }

// NewPostgresStore returns the Store on a PostgreSQL database.
func NewPostgresStore(db *sql.DB) *SQLStore { return &SQLStore{db: db, dialect: dialectPostgres} }

// Migrate creates the store's tables if they do not exist.
func (s *SQLStore) Migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrating run tables: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	schema := sqliteRunSchema
	if s.dialect == dialectPostgres {
		schema = postgresRunSchema
		// Serialise concurrent daemons creating the tables.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(7061746368)"); err != nil {
			return fmt.Errorf("migrating run tables: locking: %w", err)
		}
	}
	for _, stmt := range strings.Split(schema, ";") {
		if strings.TrimSpace(stripComments(stmt)) == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrating run tables: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrating run tables: %w", err)
	}
	return nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// q rewrites ? placeholders for the dialect.
func (s *SQLStore) q(query string) string {
	if s.dialect != dialectPostgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

const runColumns = "id, workflow, task, image, cycle, job_id, status, attempt, reason, result, created_at, started_at, finished_at"

type rowScanner interface{ Scan(dest ...any) error }

func scanRun(r rowScanner) (Run, error) {
	var (
		run                 Run
		task, status, res   string
		created, st, finish int64
	)
	if err := r.Scan(&run.ID, &run.Workflow, &task, &run.Image, &run.Cycle, &run.JobID, &status,
		&run.Attempt, &run.Reason, &res, &created, &st, &finish); err != nil {
		return Run{}, err
	}
	run.Task, run.Status = Task(task), Status(status)
	run.CreatedAt, run.StartedAt, run.FinishedAt = fromMicros(created), fromMicros(st), fromMicros(finish)
	if err := json.Unmarshal([]byte(res), &run.Result); err != nil {
		return Run{}, fmt.Errorf("decoding result of run %d: %w", run.ID, err)
	}
	return run, nil
}

// EnsureRun implements RunStore.
func (s *SQLStore) EnsureRun(ctx context.Context, key RunKey, init RunInit) (Run, error) {
	res, err := json.Marshal(init.Result)
	if err != nil {
		return Run{}, fmt.Errorf("encoding result of %s run: %w", key.Task, err)
	}
	created := init.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	now := micros(created)
	finished := int64(0)
	if !init.Status.Active() {
		finished = now
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO patchloop_run
		(workflow, task, image, cycle, job_id, status, reason, result, created_at, finished_at)
		SELECT ?, ?, ?, ?, CAST(? AS BIGINT),
			CASE WHEN EXISTS (SELECT 1 FROM patchloop_run_cycle c WHERE c.workflow = ? AND c.id = ? AND c.canceled = 1)
				THEN 'Canceled' ELSE CAST(? AS TEXT) END,
			?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT)
		WHERE 1 = 1
		ON CONFLICT (workflow, task, image, cycle) DO NOTHING`),
		key.Workflow, string(key.Task), key.Image, key.Cycle, init.JobID,
		key.Workflow, key.Cycle, string(init.Status),
		init.Reason, string(res), now, finished)
	if err != nil {
		return Run{}, fmt.Errorf("creating %s run of %s %s: %w", key.Task, key.Workflow, key.Image, err)
	}
	row := s.db.QueryRowContext(ctx, s.q("SELECT "+runColumns+
		" FROM patchloop_run WHERE workflow = ? AND task = ? AND image = ? AND cycle = ?"),
		key.Workflow, string(key.Task), key.Image, key.Cycle)
	run, err := scanRun(row)
	if err != nil {
		return Run{}, fmt.Errorf("reading %s run of %s %s: %w", key.Task, key.Workflow, key.Image, err)
	}
	return run, nil
}

// UpdateRun implements RunStore.
func (s *SQLStore) UpdateRun(ctx context.Context, id int64, u RunUpdate) (Run, error) {
	sets := []string{"reason = ?"}
	args := []any{u.Reason}
	if u.Status != "" {
		sets = append(sets, "status = ?")
		args = append(args, string(u.Status))
	}
	if u.JobID != 0 {
		sets = append(sets, "job_id = ?")
		args = append(args, u.JobID)
	}
	if u.Attempt != 0 {
		sets = append(sets, "attempt = ?")
		args = append(args, u.Attempt)
	}
	if u.Result != nil {
		res, err := json.Marshal(u.Result)
		if err != nil {
			return Run{}, fmt.Errorf("encoding result of run %d: %w", id, err)
		}
		sets = append(sets, "result = ?")
		args = append(args, string(res))
	}
	if !u.StartedAt.IsZero() {
		sets = append(sets, "started_at = ?")
		args = append(args, micros(u.StartedAt))
	}
	if !u.FinishedAt.IsZero() {
		sets = append(sets, "finished_at = ?")
		args = append(args, micros(u.FinishedAt))
	}
	args = append(args, id, string(u.Status))
	run, err := scanRun(s.db.QueryRowContext(ctx, s.q("UPDATE patchloop_run SET "+strings.Join(sets, ", ")+
		" WHERE id = ? AND (status <> 'Canceled' OR ? = 'Canceled') RETURNING "+runColumns), args...))
	if errors.Is(err, sql.ErrNoRows) {
		// Either there is no such run or it is canceled.
		run, err := s.GetRun(ctx, id)
		if err != nil {
			return Run{}, err
		}
		return run, fmt.Errorf("updating run %d: %w", id, ErrRunCanceled)
	}
	if err != nil {
		return Run{}, fmt.Errorf("updating run %d: %w", id, err)
	}
	return run, nil
}

// GetRun implements RunStore.
func (s *SQLStore) GetRun(ctx context.Context, id int64) (Run, error) {
	run, err := scanRun(s.db.QueryRowContext(ctx, s.q("SELECT "+runColumns+" FROM patchloop_run WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("reading run %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("reading run %d: %w", id, err)
	}
	return run, nil
}

// ListRuns implements RunStore.
func (s *SQLStore) ListRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.Workflow != "" {
		add("workflow = ?", f.Workflow)
	}
	if f.Task != "" {
		add("task = ?", string(f.Task))
	}
	if f.Image != "" {
		add("image = ?", f.Image)
	}
	if f.Cycle != "" {
		add("cycle = ?", f.Cycle)
	}
	if len(f.Statuses) > 0 {
		marks := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			marks[i] = "?"
			args = append(args, string(st))
		}
		where = append(where, "status IN ("+strings.Join(marks, ", ")+")")
	}
	query := "SELECT " + runColumns + " FROM patchloop_run"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC"
	if f.Top > 0 {
		query += " LIMIT " + strconv.Itoa(f.Top)
	}
	return s.queryRuns(ctx, "listing runs", query, args...)
}

func (s *SQLStore) queryRuns(ctx context.Context, what, query string, args ...any) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var runs []Run
	for rows.Next() {
		run, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		runs = append(runs, run)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return runs, nil
}

// LatestRuns implements RunStore.
func (s *SQLStore) LatestRuns(ctx context.Context, workflow string, task Task, succeeded bool) ([]Run, error) {
	inner := "SELECT MAX(id) FROM patchloop_run WHERE workflow = ? AND task = ?"
	args := []any{workflow, string(task)}
	if succeeded {
		inner += " AND status = 'Succeeded'"
	}
	inner += " GROUP BY image"
	return s.queryRuns(ctx, "listing latest "+string(task)+" runs of "+workflow,
		"SELECT "+runColumns+" FROM patchloop_run WHERE id IN ("+inner+") ORDER BY image", args...)
}

// CountRuns implements RunStore.
func (s *SQLStore) CountRuns(ctx context.Context) ([]RunCount, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT task, status, COUNT(*) FROM patchloop_run GROUP BY task, status ORDER BY task, status")
	if err != nil {
		return nil, fmt.Errorf("counting runs: %w", err)
	}
	defer rows.Close()
	var out []RunCount
	for rows.Next() {
		var c RunCount
		var task, status string
		if err := rows.Scan(&task, &status, &c.N); err != nil {
			return nil, fmt.Errorf("counting runs: %w", err)
		}
		c.Task, c.Status = Task(task), Status(status)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting runs: %w", err)
	}
	return out, nil
}

// DeleteWorkflowRuns implements RunStore.
func (s *SQLStore) DeleteWorkflowRuns(ctx context.Context, workflow string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("deleting runs of %s: %w", workflow, err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, stmt := range []string{
		"DELETE FROM patchloop_run_log WHERE run_id IN (SELECT id FROM patchloop_run WHERE workflow = ?)",
		"DELETE FROM patchloop_run WHERE workflow = ?",
		"DELETE FROM patchloop_run_cycle WHERE workflow = ?",
	} {
		if _, err := tx.ExecContext(ctx, s.q(stmt), workflow); err != nil {
			return fmt.Errorf("deleting runs of %s: %w", workflow, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("deleting runs of %s: %w", workflow, err)
	}
	return nil
}

// AppendLog implements RunLogs.
func (s *SQLStore) AppendLog(ctx context.Context, id int64, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, s.q("INSERT INTO patchloop_run_log (run_id, data) VALUES (?, ?)"), id, p); err != nil {
		return fmt.Errorf("appending to log of run %d: %w", id, err)
	}
	return nil
}

// CopyLog implements RunLogs. It reads the log in pages so that a long log
// never holds the database or memory for long.
func (s *SQLStore) CopyLog(ctx context.Context, id int64, w io.Writer) error {
	if _, err := s.GetRun(ctx, id); err != nil {
		return err
	}
	const page = 64
	var after int64
	for {
		type chunk struct {
			id   int64
			data []byte
		}
		rows, err := s.db.QueryContext(ctx, s.q("SELECT id, data FROM patchloop_run_log WHERE run_id = ? AND id > ? ORDER BY id LIMIT "+strconv.Itoa(page)), id, after)
		if err != nil {
			return fmt.Errorf("reading log of run %d: %w", id, err)
		}
		var chunks []chunk
		for rows.Next() {
			var c chunk
			if err := rows.Scan(&c.id, &c.data); err != nil {
				rows.Close()
				return fmt.Errorf("reading log of run %d: %w", id, err)
			}
			chunks = append(chunks, c)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("reading log of run %d: %w", id, err)
		}
		for _, c := range chunks {
			if _, err := w.Write(c.data); err != nil {
				return fmt.Errorf("writing log of run %d: %w", id, err)
			}
			after = c.id
		}
		if len(chunks) < page {
			return nil
		}
	}
}

const cycleColumns = "workflow, id, slot, created_at, canceled"

func scanCycle(r rowScanner) (Cycle, error) {
	var (
		c                 Cycle
		slot, created, cn int64
	)
	if err := r.Scan(&c.Workflow, &c.ID, &slot, &created, &cn); err != nil {
		return Cycle{}, err
	}
	c.Slot, c.CreatedAt, c.Canceled = fromMicros(slot), fromMicros(created), cn != 0
	return c, nil
}

// EnsureCycle implements Cycles.
func (s *SQLStore) EnsureCycle(ctx context.Context, c Cycle) (Cycle, error) {
	created := c.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO patchloop_run_cycle (workflow, id, slot, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (workflow, id) DO NOTHING`),
		c.Workflow, c.ID, micros(c.Slot), micros(created)); err != nil {
		return Cycle{}, fmt.Errorf("recording cycle %s of %s: %w", c.ID, c.Workflow, err)
	}
	return s.GetCycle(ctx, c.Workflow, c.ID)
}

// CancelCycle implements Cycles.
func (s *SQLStore) CancelCycle(ctx context.Context, workflow, id string) error {
	res, err := s.db.ExecContext(ctx, s.q("UPDATE patchloop_run_cycle SET canceled = 1 WHERE workflow = ? AND id = ?"), workflow, id)
	if err != nil {
		return fmt.Errorf("canceling cycle %s of %s: %w", id, workflow, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("canceling cycle %s of %s: %w", id, workflow, ErrNotFound)
	}
	return nil
}

// GetCycle implements Cycles.
func (s *SQLStore) GetCycle(ctx context.Context, workflow, id string) (Cycle, error) {
	c, err := scanCycle(s.db.QueryRowContext(ctx, s.q("SELECT "+cycleColumns+
		" FROM patchloop_run_cycle WHERE workflow = ? AND id = ?"), workflow, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Cycle{}, fmt.Errorf("reading cycle %s of %s: %w", id, workflow, ErrNotFound)
	}
	if err != nil {
		return Cycle{}, fmt.Errorf("reading cycle %s of %s: %w", id, workflow, err)
	}
	return c, nil
}

// LatestCycle implements Cycles.
func (s *SQLStore) LatestCycle(ctx context.Context, workflow string, scheduled bool) (Cycle, error) {
	query := "SELECT " + cycleColumns + " FROM patchloop_run_cycle WHERE workflow = ? ORDER BY created_at DESC, id DESC LIMIT 1"
	if scheduled {
		query = "SELECT " + cycleColumns + " FROM patchloop_run_cycle WHERE workflow = ? AND slot <> 0 ORDER BY slot DESC LIMIT 1"
	}
	c, err := scanCycle(s.db.QueryRowContext(ctx, s.q(query), workflow))
	if errors.Is(err, sql.ErrNoRows) {
		return Cycle{}, fmt.Errorf("reading latest cycle of %s: %w", workflow, ErrNotFound)
	}
	if err != nil {
		return Cycle{}, fmt.Errorf("reading latest cycle of %s: %w", workflow, err)
	}
	return c, nil
}
