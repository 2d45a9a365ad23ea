package sqlite

import (
	"context"
	"database/sql"
	"sort"
	"time"

	"github.com/hashike/hashike"
)

// ReadBacklog implements hashike.Backlog with three reads, each over a small index: the queue
// items (queued runs only), runs_active (the active runs only) and deliveries_due (the
// outbox). None reads the run history.
func (s *Store) ReadBacklog(ctx context.Context, now time.Time) (hashike.BacklogStats, error) {
	const op = "read backlog"
	at, err := formatTime(now)
	if err != nil {
		return hashike.BacklogStats{}, err
	}
	byName := map[string]*hashike.QueueBacklog{}
	queue := func(name string) *hashike.QueueBacklog {
		q, ok := byName[name]
		if !ok {
			q = &hashike.QueueBacklog{Queue: name}
			byName[name] = q
		}
		return q
	}
	rows, err := s.r.QueryContext(ctx, `SELECT name, paused FROM queues`)
	if err != nil {
		return hashike.BacklogStats{}, dbErr(op, err)
	}
	for rows.Next() {
		var name string
		var paused bool
		if err := rows.Scan(&name, &paused); err != nil {
			rows.Close()
			return hashike.BacklogStats{}, dbErr(op, err)
		}
		queue(name).Paused = paused
	}
	if err := closeRows(rows); err != nil {
		return hashike.BacklogStats{}, dbErr(op, err)
	}

	// A due item became due at its not-before time, else at its enqueue; an item's
	// not_before is '' when it has none.
	rows, err = s.r.QueryContext(ctx, `SELECT queue, COUNT(*),
			COALESCE(SUM(not_before = '' OR not_before <= ?1), 0),
			MIN(CASE WHEN not_before = '' OR not_before <= ?1 THEN MAX(enqueued_at, not_before) END)
		FROM queue_items GROUP BY queue`, at)
	if err != nil {
		return hashike.BacklogStats{}, dbErr(op, err)
	}
	for rows.Next() {
		var name string
		var queued, due int
		var oldest sql.NullString
		if err := rows.Scan(&name, &queued, &due, &oldest); err != nil {
			rows.Close()
			return hashike.BacklogStats{}, dbErr(op, err)
		}
		q := queue(name)
		q.Queued, q.Due = queued, due
		if oldest.Valid {
			t, err := parseTime(oldest.String)
			if err != nil {
				rows.Close()
				return hashike.BacklogStats{}, dbErr(op, err)
			}
			q.OldestDue = &t
		}
	}
	if err := closeRows(rows); err != nil {
		return hashike.BacklogStats{}, dbErr(op, err)
	}

	rows, err = s.r.QueryContext(ctx, `SELECT queue, state, COUNT(*) FROM runs INDEXED BY runs_active
		WHERE queue != '' AND state IN ('pending', 'running', 'stopping') GROUP BY queue, state`)
	if err != nil {
		return hashike.BacklogStats{}, dbErr(op, err)
	}
	for rows.Next() {
		var name, state string
		var n int
		if err := rows.Scan(&name, &state, &n); err != nil {
			rows.Close()
			return hashike.BacklogStats{}, dbErr(op, err)
		}
		q := queue(name)
		if q.Active == nil {
			q.Active = map[hashike.RunState]int{}
		}
		q.Active[hashike.RunState(state)] = n
	}
	if err := closeRows(rows); err != nil {
		return hashike.BacklogStats{}, dbErr(op, err)
	}

	var out hashike.BacklogStats
	var oldest sql.NullString
	// The conditions repeat deliveries_due's WHERE clause so that SQLite uses it.
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM deliveries
		WHERE delivered_at IS NULL AND failed = 0`).Scan(&out.Outbox, &oldest); err != nil {
		return hashike.BacklogStats{}, dbErr(op, err)
	}
	if oldest.Valid {
		t, err := parseTime(oldest.String)
		if err != nil {
			return hashike.BacklogStats{}, dbErr(op, err)
		}
		out.OutboxOldest = &t
	}
	out.Queues = make([]hashike.QueueBacklog, 0, len(byName))
	for _, q := range byName {
		out.Queues = append(out.Queues, *q)
	}
	sort.Slice(out.Queues, func(i, j int) bool { return out.Queues[i].Queue < out.Queues[j].Queue })
	return out, nil
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}
