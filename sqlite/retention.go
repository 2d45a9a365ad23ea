package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashike/hashike"
)

var _ hashike.Pruning = (*Store)(nil)

// ended is the terminal states, as SQL; runs_logs_held repeats it word for word.
const ended = `('succeeded', 'failed', 'start_failed', 'timed_out', 'canceled', 'lost')`

// deletable is what a run (r) must be for DeleteRuns beyond its age: ended, settled when it is
// a registered job's, and every try of its enqueue ended and settled, so that neither the
// reconciler nor a waiting client depends on it. The unary + keeps SQLite from reading r
// through runs_state (every ended run) rather than by ID or created_at.
const deletable = `+r.state IN ` + ended + ` AND (r.job = '' OR r.settled = 1)
	AND (r.root_id = '' OR NOT EXISTS (SELECT 1 FROM runs a WHERE a.root_id = r.root_id AND a.root_id != ''
		AND (a.state NOT IN ` + ended + ` OR (a.job != '' AND a.settled = 0))))`

// ExpiredLogs lists ended runs whose logs are held, through runs_logs_held, oldest first.
func (s *Store) ExpiredLogs(ctx context.Context, q hashike.ExpiryQuery) ([]hashike.RunKey, error) {
	return s.expired(ctx, "list expired logs", q,
		`runs r INDEXED BY runs_logs_held`, `r.logs_deleted_at IS NULL AND r.state IN `+ended)
}

// ExpiredRuns lists the runs DeleteRuns would delete, oldest first.
func (s *Store) ExpiredRuns(ctx context.Context, q hashike.ExpiryQuery) ([]hashike.RunKey, error) {
	return s.expired(ctx, "list expired runs", q, `runs r INDEXED BY runs_created_at`, deletable)
}

func (s *Store) expired(ctx context.Context, op string, q hashike.ExpiryQuery, from, cond string) ([]hashike.RunKey, error) {
	limit, err := q.Validate()
	if err != nil {
		return nil, err
	}
	before, err := formatTime(q.Before)
	if err != nil {
		return nil, err
	}
	// created_at <= finished_at: the bound on created_at lets the scan stop at the cutoff.
	where := []string{cond, `r.created_at < ?`, `COALESCE(r.finished_at, r.created_at) < ?`}
	args := []any{before, before}
	switch {
	case q.Job != "":
		where = append(where, `r.job = ?`)
		args = append(args, q.Job)
	case len(q.ExceptJobs) > 0:
		jobs, err := json.Marshal(q.ExceptJobs)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", op, err)
		}
		where = append(where, `r.job NOT IN (SELECT value FROM json_each(?))`)
		args = append(args, string(jobs))
	}
	if q.After != nil {
		after, err := formatTime(q.After.CreatedAt)
		if err != nil {
			return nil, err
		}
		where = append(where, `(r.created_at, r.id) > (?, ?)`)
		args = append(args, after, q.After.ID)
	}
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, `SELECT r.id, r.job, r.created_at FROM `+from+
		` WHERE `+strings.Join(where, " AND ")+` ORDER BY r.created_at, r.id LIMIT ?`, args...)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	out := []hashike.RunKey{}
	for rows.Next() {
		var k hashike.RunKey
		var created string
		if err := rows.Scan(&k.ID, &k.Job, &created); err != nil {
			return nil, dbErr(op, err)
		}
		if k.CreatedAt, err = parseTime(created); err != nil {
			return nil, fmt.Errorf("sqlite: %s: run %s: %w", op, k.ID, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	return out, nil
}

func pruneIDs(op string, ids []string) (string, error) {
	if len(ids) > hashike.MaxPruneBatch {
		return "", hashike.Errorf(hashike.EInvalid, "%s: %d runs in one batch, at most %d", op, len(ids), hashike.MaxPruneBatch)
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return "", fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return string(b), nil
}

// DeleteLogs deletes the logs of the given ended runs and sets their logs_deleted_at, in one
// write transaction. Runs are found by ID (+state: not through runs_state, which would read
// every ended run).
func (s *Store) DeleteLogs(ctx context.Context, runIDs []string, now time.Time) (int, error) {
	const op = "delete logs"
	ids, err := pruneIDs(op, runIDs)
	if err != nil || len(runIDs) == 0 {
		return 0, err
	}
	at, err := formatTime(now)
	if err != nil {
		return 0, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, dbErr(op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM run_logs WHERE run_id IN
		(SELECT id FROM runs WHERE id IN (SELECT value FROM json_each(?)) AND +state IN `+ended+`)`, ids); err != nil {
		return 0, dbErr(op, err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE runs SET logs_deleted_at = ?
		WHERE id IN (SELECT value FROM json_each(?)) AND +state IN `+ended+` AND logs_deleted_at IS NULL`, at, ids)
	if err != nil {
		return 0, dbErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, dbErr(op, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, dbErr(op, err)
	}
	return int(n), nil
}

// DeleteRuns deletes the given runs that may be deleted; their transitions, logs,
// notifications and queue entries go with them (ON DELETE CASCADE), their records of objects
// (which may precede the run, so have no foreign key) in the same transaction.
func (s *Store) DeleteRuns(ctx context.Context, runIDs []string) ([]string, error) {
	const op = "delete runs"
	ids, err := pruneIDs(op, runIDs)
	if err != nil || len(runIDs) == 0 {
		return nil, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `DELETE FROM runs WHERE id IN
		(SELECT r.id FROM runs r WHERE r.id IN (SELECT value FROM json_each(?)) AND `+deletable+`)
		RETURNING id`, ids)
	if err != nil {
		return nil, dbErr(op, err)
	}
	var deleted []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, dbErr(op, err)
		}
		deleted = append(deleted, id)
	}
	if err := rows.Close(); err != nil {
		return nil, dbErr(op, err)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	if len(deleted) > 0 {
		gone, err := json.Marshal(deleted)
		if err != nil {
			return nil, dbErr(op, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM run_objects WHERE run_id IN (SELECT value FROM json_each(?))`, string(gone)); err != nil {
			return nil, dbErr(op, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, dbErr(op, err)
	}
	slices.Sort(deleted)
	return deleted, nil
}
