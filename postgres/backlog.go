package postgres

import (
	"context"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hashike/hashike"
)

// ReadBacklog implements hashike.Backlog with three reads, each over a small index: the queue
// items (queued runs only), runs_queue_active (the active runs only) and deliveries_due (the
// outbox). None reads the run history. OldestDue is to the microsecond.
func (s *Store) ReadBacklog(ctx context.Context, now time.Time) (hashike.BacklogStats, error) {
	const op = "read backlog"
	us, ns, err := splitTime(now)
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
	var out hashike.BacklogStats
	b := &pgx.Batch{}
	b.Queue(`SELECT name, paused FROM queues`).Query(func(rows pgx.Rows) error {
		var name string
		var paused bool
		_, err := pgx.ForEachRow(rows, []any{&name, &paused}, func() error {
			queue(name).Paused = paused
			return nil
		})
		return err
	})
	// A due item became due at its not-before time, else at its enqueue.
	b.Queue(`SELECT queue, count(*),
			count(*) FILTER (WHERE not_before IS NULL OR (not_before, not_before_ns) <= ($1, $2)),
			min(GREATEST(enqueued_at, not_before)) FILTER (WHERE not_before IS NULL OR (not_before, not_before_ns) <= ($1, $2))
		FROM queue_items GROUP BY queue`, us, ns).Query(func(rows pgx.Rows) error {
		var name string
		var queued, due int64
		var oldest *time.Time
		_, err := pgx.ForEachRow(rows, []any{&name, &queued, &due, &oldest}, func() error {
			q := queue(name)
			q.Queued, q.Due = int(queued), int(due)
			if oldest != nil {
				t := oldest.UTC()
				q.OldestDue = &t
			}
			return nil
		})
		return err
	})
	b.Queue(`SELECT queue, state, count(*) FROM runs
		WHERE queue <> '' AND state IN ` + activeStates + ` GROUP BY queue, state`).Query(func(rows pgx.Rows) error {
		var name, state string
		var n int64
		_, err := pgx.ForEachRow(rows, []any{&name, &state, &n}, func() error {
			q := queue(name)
			if q.Active == nil {
				q.Active = map[hashike.RunState]int{}
			}
			q.Active[hashike.RunState(state)] = int(n)
			return nil
		})
		return err
	})
	var outbox int64
	var oldest *time.Time
	var oldestNS *int16
	b.Queue(`SELECT count(*), min(created_at), (array_agg(created_at_ns ORDER BY created_at, created_at_ns))[1]
		FROM deliveries WHERE delivered_at IS NULL AND NOT failed`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&outbox, &oldest, &oldestNS)
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return hashike.BacklogStats{}, dbErr(op, err)
	}
	out.Outbox = int(outbox)
	if oldest != nil {
		var n int16
		if oldestNS != nil {
			n = *oldestNS
		}
		t := joinTime(*oldest, n)
		out.OutboxOldest = &t
	}
	out.Queues = make([]hashike.QueueBacklog, 0, len(byName))
	for _, q := range byName {
		out.Queues = append(out.Queues, *q)
	}
	sort.Slice(out.Queues, func(i, j int) bool { return out.Queues[i].Queue < out.Queues[j].Queue })
	return out, nil
}
