package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashike/hashike"
	"github.com/jackc/pgx/v5"
)

var _ hashike.Pruning = (*Store)(nil)

// ended is the terminal states, as SQL; runs_logs_held repeats it word for word.
const ended = `('succeeded', 'failed', 'start_failed', 'timed_out', 'canceled', 'lost')`

// deletable is what a run (r) must be for DeleteRuns beyond its age: ended, settled when it is
// a registered job's, and every try of its enqueue ended and settled, so that neither the
// reconciler nor a waiting client depends on it.
const deletable = `r.state IN ` + ended + ` AND (r.job = '' OR r.settled)
	AND (r.root_id = '' OR NOT EXISTS (SELECT 1 FROM runs a WHERE a.root_id = r.root_id AND a.root_id <> ''
		AND (a.state NOT IN ` + ended + ` OR (a.job <> '' AND NOT a.settled))))`

// ExpiredLogs lists ended runs whose logs are held (runs_logs_held), oldest first.
func (s *Store) ExpiredLogs(ctx context.Context, q hashike.ExpiryQuery) ([]hashike.RunKey, error) {
	return s.expired(ctx, "list expired logs", q, `r.logs_deleted_at IS NULL AND r.state IN `+ended)
}

// ExpiredRuns lists the runs DeleteRuns would delete, oldest first.
func (s *Store) ExpiredRuns(ctx context.Context, q hashike.ExpiryQuery) ([]hashike.RunKey, error) {
	return s.expired(ctx, "list expired runs", q, deletable)
}

func (s *Store) expired(ctx context.Context, op string, q hashike.ExpiryQuery, cond string) ([]hashike.RunKey, error) {
	limit, err := q.Validate()
	if err != nil {
		return nil, err
	}
	us, ns, err := splitTime(q.Before)
	if err != nil {
		return nil, err
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	// created_at <= finished_at: the bound on created_at lets the scan stop at the cutoff.
	b := "(" + arg(us) + "::timestamptz, " + arg(ns) + "::smallint)"
	where := []string{cond, `(r.created_at, r.created_at_ns) < ` + b,
		`(COALESCE(r.finished_at, r.created_at), COALESCE(r.finished_at_ns, r.created_at_ns)) < ` + b}
	switch {
	case q.Job != "":
		if !storable(q.Job) {
			return []hashike.RunKey{}, nil
		}
		where = append(where, `r.job = `+arg(q.Job))
	case len(q.ExceptJobs) > 0:
		var jobs []string
		for _, j := range q.ExceptJobs {
			if storable(j) {
				jobs = append(jobs, j)
			}
		}
		if len(jobs) > 0 { // a nil array would be NULL, and <> ALL(NULL) excludes every run
			where = append(where, `r.job <> ALL(`+arg(jobs)+`::text[])`)
		}
	}
	if q.After != nil {
		aus, ans, err := splitTime(q.After.CreatedAt)
		if err != nil {
			return nil, err
		}
		where = append(where, `(r.created_at, r.created_at_ns, r.id) > (`+arg(aus)+`, `+arg(ans)+`, `+arg(q.After.ID)+`)`)
	}
	rows, err := s.pool.Query(ctx, `SELECT r.id, r.job, r.created_at, r.created_at_ns FROM runs r WHERE `+
		strings.Join(where, " AND ")+` ORDER BY r.created_at, r.created_at_ns, r.id LIMIT `+arg(limit), args...)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	out := []hashike.RunKey{}
	for rows.Next() {
		var k hashike.RunKey
		var at time.Time
		var atNS int16
		if err := rows.Scan(&k.ID, &k.Job, &at, &atNS); err != nil {
			return nil, dbErr(op, err)
		}
		k.CreatedAt = joinTime(at, atNS)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	return out, nil
}

func pruneIDs(op string, ids []string) ([]string, error) {
	if len(ids) > hashike.MaxPruneBatch {
		return nil, hashike.Errorf(hashike.EInvalid, "%s: %d runs in one batch, at most %d", op, len(ids), hashike.MaxPruneBatch)
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if storable(id) { // no stored run has another ID
			out = append(out, id)
		}
	}
	return out, nil
}

// DeleteLogs deletes the logs of the given ended runs and sets their logs_deleted_at, in one
// transaction.
func (s *Store) DeleteLogs(ctx context.Context, runIDs []string, now time.Time) (int, error) {
	const op = "delete logs"
	ids, err := pruneIDs(op, runIDs)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	at, _, err := splitTime(now)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.inTx(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM run_logs WHERE run_id IN
			(SELECT id FROM runs WHERE id = ANY($1) AND state IN `+ended+`)`, ids); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE runs SET logs_deleted_at = $2
			WHERE id = ANY($1) AND state IN `+ended+` AND logs_deleted_at IS NULL`, ids, at)
		n = int(tag.RowsAffected())
		return err
	})
	return n, err
}

// DeleteRuns deletes the given runs that may be deleted with their transitions (which have no
// foreign key: see 0002_server.sql); logs and notifications go by ON DELETE CASCADE.
func (s *Store) DeleteRuns(ctx context.Context, runIDs []string) ([]string, error) {
	const op = "delete runs"
	ids, err := pruneIDs(op, runIDs)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	var deleted []string
	err = s.inTx(ctx, op, func(tx pgx.Tx) error {
		deleted = deleted[:0]
		rows, err := tx.Query(ctx, `WITH del AS (
				DELETE FROM runs WHERE id IN (SELECT r.id FROM runs r WHERE r.id = ANY($1) AND `+deletable+`)
				RETURNING id),
			tr AS (DELETE FROM run_transitions WHERE run_id IN (SELECT id FROM del)),
			ob AS (DELETE FROM run_objects WHERE run_id IN (SELECT id FROM del))
			SELECT id FROM del ORDER BY id`, ids)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			deleted = append(deleted, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}
