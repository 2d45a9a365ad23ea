package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/dispatch"
)

// queueSnapshotQuery lists every queue that has queued runs with its settings and, when it
// has a cap, its active runs (dispatch.Next ignores the count of a queue without one). The
// recursive part walks queue_items_order's leading column one distinct queue at a time, so
// it costs a seek per queue however many runs wait. The count repeats runs_active's WHERE
// clause so that SQLite uses it.
const queueSnapshotQuery = `
WITH RECURSIVE names (name) AS (
	SELECT MIN(queue) FROM queue_items
	UNION ALL
	SELECT (SELECT MIN(queue) FROM queue_items WHERE queue > names.name) FROM names WHERE names.name IS NOT NULL
)
SELECT n.name, COALESCE(q.max_concurrency, 0), COALESCE(q.paused, 0),
	CASE WHEN q.max_concurrency > 0
		THEN (SELECT COUNT(*) FROM runs WHERE queue = n.name AND state IN ('pending', 'running', 'stopping'))
		ELSE 0 END
FROM names n LEFT JOIN queues q ON q.name = n.name
WHERE n.name IS NOT NULL`

// queueHeadQuery returns the first runs of a queue that are due, in dispatch.Next's order
// within a queue (seq is unique, so RunID never decides).
const queueHeadQuery = `SELECT run_id, priority, enqueued_at, not_before, seq FROM queue_items
	WHERE queue = ? AND not_before <= ? ORDER BY priority DESC, enqueued_at, seq LIMIT ?`

// ClaimRuns gathers dispatch.Next's snapshot in one write transaction (BEGIN IMMEDIATE: no
// other writer, in this process or another, runs until it commits), asks dispatch.Next,
// and moves what it picked to StatePending in the same transaction. The snapshot holds, of
// each queue that is not paused, only the first min(limit, room) due runs in queue order:
// Next could not take more of that queue, and its round-robin only looks at each queue's
// next run, so it picks from them exactly what it would pick from every queued run.
func (s *Store) ClaimRuns(ctx context.Context, now time.Time, limit int, owner hashike.Owner) ([]*hashike.Run, error) {
	if limit <= 0 {
		return nil, nil
	}
	const op = "claim runs"
	at, err := formatTime(now)
	if err != nil {
		return nil, err
	}
	ownerJSON, err := json.Marshal(owner)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: owner: %w", op, err)
	}
	var stored []storedRun
	err = s.inWriteTx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		states, rooms, err := s.queueSnapshot(ctx, tx, limit)
		if err != nil {
			return dbErr(op, err)
		}
		var queued []dispatch.Queued
		head := tx.StmtContext(ctx, s.stmt.queueHead)
		for name, room := range rooms {
			if queued, err = appendHead(ctx, head, queued, name, at, room); err != nil {
				return dbErr(op, err)
			}
		}
		picked := dispatch.Next(queued, states, now, limit)
		if len(picked) == 0 {
			return nil
		}
		ids := make([]string, len(picked))
		for i, q := range picked {
			ids[i] = q.RunID
		}
		idsJSON, err := json.Marshal(ids)
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		res, err := tx.StmtContext(ctx, s.stmt.dispatch).ExecContext(ctx, string(ownerJSON), string(idsJSON))
		if err != nil {
			return dbErr(op, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(ids)) {
			// A queue item whose run is not queued: the invariant that UpdateRun keeps broke.
			return fmt.Errorf("sqlite: %s: %d of %d picked runs were queued (%v)", op, n, len(ids), err) //nolint:errorlint // err is nil when only the count is off
		}
		if _, err := tx.StmtContext(ctx, s.stmt.dispatchTransitions).ExecContext(ctx, at, string(idsJSON)); err != nil {
			return dbErr(op, err)
		}
		if _, err := tx.StmtContext(ctx, s.stmt.dequeue).ExecContext(ctx, string(idsJSON)); err != nil {
			return dbErr(op, err)
		}
		if stored, err = s.runsInTx(ctx, tx, ids, string(idsJSON)); err != nil {
			return dbErr(op, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	runs := make([]*hashike.Run, len(stored))
	for i, sr := range stored {
		if runs[i], err = sr.run(&s.specs); err != nil {
			return nil, dbErr(op, err)
		}
	}
	return runs, nil
}

// queueSnapshot returns the state of every queue with queued runs, and how many runs of each
// unpaused queue with room dispatch.Next could take at most.
func (s *Store) queueSnapshot(ctx context.Context, tx *sql.Tx, limit int) (map[string]dispatch.QueueState, map[string]int, error) {
	rows, err := tx.StmtContext(ctx, s.stmt.queueSnapshot).QueryContext(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	states := map[string]dispatch.QueueState{}
	rooms := map[string]int{}
	for rows.Next() {
		var name string
		var st dispatch.QueueState
		if err := rows.Scan(&name, &st.MaxConcurrency, &st.Paused, &st.Running); err != nil {
			return nil, nil, err
		}
		states[name] = st
		room := limit
		if st.MaxConcurrency > 0 {
			room = min(room, st.MaxConcurrency-st.Running)
		}
		if !st.Paused && room > 0 {
			rooms[name] = room
		}
	}
	return states, rooms, rows.Err()
}

// appendHead appends the first n due runs of queue to queued.
func appendHead(ctx context.Context, head *sql.Stmt, queued []dispatch.Queued, queue, now string, n int) ([]dispatch.Queued, error) {
	rows, err := head.QueryContext(ctx, queue, now, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		q := dispatch.Queued{Queue: queue}
		var enqueuedAt, notBefore string
		if err := rows.Scan(&q.RunID, &q.Priority, &enqueuedAt, &notBefore, &q.Seq); err != nil {
			return nil, err
		}
		if q.EnqueuedAt, err = parseTime(enqueuedAt); err != nil {
			return nil, fmt.Errorf("queued run %s: enqueued_at: %w", q.RunID, err)
		}
		if notBefore != "" {
			if q.NotBefore, err = parseTime(notBefore); err != nil {
				return nil, fmt.Errorf("queued run %s: not_before: %w", q.RunID, err)
			}
		}
		queued = append(queued, q)
	}
	return queued, rows.Err()
}

// runsInTx reads the runs ids (idsJSON, their JSON array) with their history, in the order of
// ids, their specs left for the caller to decode once the transaction is over.
func (s *Store) runsInTx(ctx context.Context, tx *sql.Tx, ids []string, idsJSON string) ([]storedRun, error) {
	byID := make(map[string]storedRun, len(ids))
	rows, err := tx.StmtContext(ctx, s.stmt.runsByIDs).QueryContext(ctx, idsJSON)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		sr, err := scanStored(rows)
		if err != nil {
			return nil, err
		}
		byID[sr.r.ID] = sr
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()

	rows, err = tx.StmtContext(ctx, s.stmt.historiesByIDs).QueryContext(ctx, idsJSON)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, at string
		var tr hashike.Transition
		if err := rows.Scan(&id, &tr.From, &tr.To, &at, &tr.Reason); err != nil {
			return nil, err
		}
		if tr.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("run %s: transition time: %w", id, err)
		}
		if sr, ok := byID[id]; ok {
			sr.r.History = append(sr.r.History, tr)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]storedRun, 0, len(ids))
	for _, id := range ids {
		sr, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("run %s vanished", id)
		}
		out = append(out, sr)
	}
	return out, nil
}

// PutQueue creates or replaces the queue's settings. EInvalid for a name
// dispatch.ValidQueueName refuses or a negative MaxConcurrency.
func (s *Store) PutQueue(ctx context.Context, q hashike.QueueConfig) error {
	op := "put queue " + q.Name
	if !dispatch.ValidQueueName(q.Name) {
		return hashike.Errorf(hashike.EInvalid, "%s: %q is not a queue name: 1 to %d letters, digits, '-' or '_'", op, q.Name, dispatch.MaxQueueNameLen)
	}
	if q.MaxConcurrency < 0 {
		return hashike.Errorf(hashike.EInvalid, "%s: maxConcurrency %d is negative (0 means no cap)", op, q.MaxConcurrency)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO queues (name, max_concurrency, paused) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET max_concurrency = excluded.max_concurrency, paused = excluded.paused`,
		q.Name, q.MaxConcurrency, q.Paused)
	if err != nil {
		return dbErr(op, err)
	}
	return nil
}

// ListQueues returns the queues put and those with queued or active runs, by name. It counts
// every queued and active run: it is for the API and metrics, not for every claim.
func (s *Store) ListQueues(ctx context.Context) ([]hashike.QueueInfo, error) {
	rows, err := s.r.QueryContext(ctx, `
		WITH queued (name, n) AS (SELECT queue, COUNT(*) FROM queue_items GROUP BY queue),
		active (name, n) AS (
			SELECT queue, COUNT(*) FROM runs
			WHERE queue != '' AND state IN ('pending', 'running', 'stopping') GROUP BY queue),
		names (name) AS (SELECT name FROM queues UNION SELECT name FROM queued UNION SELECT name FROM active)
		SELECT names.name, COALESCE(q.max_concurrency, 0), COALESCE(q.paused, 0),
			COALESCE(queued.n, 0), COALESCE(active.n, 0)
		FROM names
		LEFT JOIN queues q ON q.name = names.name
		LEFT JOIN queued ON queued.name = names.name
		LEFT JOIN active ON active.name = names.name
		ORDER BY names.name`)
	if err != nil {
		return nil, dbErr("list queues", err)
	}
	defer rows.Close()
	out := []hashike.QueueInfo{}
	for rows.Next() {
		var q hashike.QueueInfo
		if err := rows.Scan(&q.Name, &q.MaxConcurrency, &q.Paused, &q.Queued, &q.Active); err != nil {
			return nil, dbErr("list queues", err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list queues", err)
	}
	return out, nil
}
