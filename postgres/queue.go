package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/dispatch"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// claimLock is the advisory lock key that serializes ClaimRuns across every Store on the
// database: "hashikeq" in ASCII.
//
// Row locks alone (FOR UPDATE SKIP LOCKED) would make each claim exactly-once, but not keep a
// queue's MaxConcurrency: two replicas claiming at once would each count the queue's active
// runs before the other's claim commits, and each fill the same free slots. Nor could they
// pick what dispatch.Next picks, which needs every queue's head at once. SERIALIZABLE would
// catch the race only to abort and retry the loser, which under steady claiming is most of
// the time. One lock taken first in every claim transaction orders the claims: each sees
// the runs claimed (and their queue items deleted) by those before it, since the lock is
// released only once the holder's commit is visible, and the lock is taken by its own
// statement, before the statement whose snapshot reads the queues (each statement of a
// batch still gets its own snapshot). A claim holds it for a few milliseconds (two round
// trips, the Go policy between them), so claims from every replica together still dispatch
// tens of thousands of runs a second; creating runs and updating them never take it.
const claimLock = 0x68617368696b6571

// activeStates are the states MaxConcurrency counts, as they appear in the partial index
// runs_queue_active's predicate and in the queries it serves.
const activeStates = `('pending', 'running', 'stopping')`

// claimCandidates lists, for every queue with runs waiting, its settings, its active runs
// (counted only when it has a cap, the only case dispatch.Next needs them) and its first
// runs eligible at $1/$2 in dispatch order: at most $3, fewer when the cap leaves less room,
// none when the queue is paused. dispatch.Next takes at most min(limit, room) runs of a queue,
// in that order, and orders queues by their first runs, so it picks from these what it would
// pick from every queued run. The queues are found by a loose index scan of queue_items_order
// (one probe per queue, however many runs wait).
const claimCandidates = `WITH RECURSIVE names AS (
		(SELECT queue FROM queue_items ORDER BY queue LIMIT 1)
		UNION ALL
		SELECT (SELECT i.queue FROM queue_items i WHERE i.queue > n.queue ORDER BY i.queue LIMIT 1)
		FROM names n WHERE n.queue IS NOT NULL
	),
	settings AS (
		SELECT n.queue, COALESCE(q.max_concurrency, 0) AS cap, COALESCE(q.paused, false) AS paused
		FROM names n LEFT JOIN queues q ON q.name = n.queue
		WHERE n.queue IS NOT NULL
	),
	counted AS (
		SELECT s.queue, s.cap, s.paused,
			CASE WHEN s.cap > 0 AND NOT s.paused THEN
				(SELECT count(*) FROM runs r WHERE r.queue = s.queue AND r.queue <> '' AND r.state IN ` + activeStates + `)
			ELSE 0 END AS active
		FROM settings s
	)
	SELECT c.queue, c.cap, c.paused, c.active,
		i.run_id, i.priority, i.enqueued_at, i.enqueued_at_ns, i.not_before, i.not_before_ns, i.seq
	FROM counted c CROSS JOIN LATERAL (
		SELECT i.run_id, i.priority, i.enqueued_at, i.enqueued_at_ns, i.not_before, i.not_before_ns, i.seq
		FROM queue_items i
		WHERE i.queue = c.queue AND (i.not_before IS NULL OR (i.not_before, i.not_before_ns) <= ($1, $2))
		ORDER BY i.priority DESC, i.enqueued_at, i.enqueued_at_ns, i.seq
		LIMIT CASE WHEN c.paused THEN 0
			WHEN c.cap > 0 THEN LEAST($3, GREATEST(c.cap - c.active, 0))
			ELSE $3 END
	) i`

// claimPicked moves the runs $1 (in dispatch order) from queued to pending with owner $2,
// records their transition at $3/$4, deletes their queue items, and returns them in that
// order. The queue items drive it: a run is claimed only if this statement deletes its item,
// which holds while the run is queued and only then. A run that stopped being queued since
// the candidates were read (canceled) has lost its item, and the DELETE, which rechecks each
// row it locks, skips it. The item's lock is taken before the run's, in the order UpdateRun
// takes them, so the two cannot deadlock. Going by the item rather than by runs.state also
// keeps the planner on the runs' primary key: a state condition lets stale statistics (a
// burst of enqueues) pick a hash join over every queued run. The items are joined to the
// IDs rather than tested with run_id = ANY($1), which the planner may turn into a scan of
// every item comparing it with every ID.
//
// The runs come back without their history: a queued run has only its creation transition,
// and none is added while it stays queued, so the caller knows it and appends the one this
// statement records (number 2), which the statement's own snapshot could not read anyway.
const claimPicked = `WITH item AS (
		DELETE FROM queue_items q USING unnest($1::text[]) AS p(id) WHERE q.run_id = p.id RETURNING q.run_id
	),
	claimed AS (
		UPDATE runs r SET state = 'pending', owner = $2
		FROM item i
		WHERE r.id = i.run_id
		RETURNING ` + runColumns + `
	),
	transition AS (
		INSERT INTO run_transitions (run_id, seq, from_state, to_state, at, at_ns, reason)
		SELECT c.id, 2, 'queued', 'pending', $3, $4, 'dispatched' FROM claimed c
	)
	SELECT ` + runColumns + ` FROM claimed r ORDER BY array_position($1::text[], r.id::text)`

// ClaimRuns dispatches queued runs (see hashike.ServerStore): in one transaction it takes
// claimLock, reads every queue's first eligible runs (claimCandidates), lets dispatch.Next
// pick, and moves the picked runs to StatePending with owner and the transition
// "dispatched" at now (claimPicked). Two round trips however many runs: BEGIN, byIndex, the
// lock and the read in one batch; the claim and COMMIT in another (see inConnTx). limit <= 0
// claims nothing and touches nothing.
func (s *Store) ClaimRuns(ctx context.Context, now time.Time, limit int, owner hashike.Owner) ([]*hashike.Run, error) {
	if limit <= 0 {
		return nil, nil
	}
	nowUs, nowNs, err := splitTime(now)
	if err != nil {
		return nil, err
	}
	ownerJSON, err := json.Marshal(owner)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim runs: owner: %w", err)
	}
	var out []*hashike.Run
	err = s.inConnTx(ctx, "claim runs", func(conn *pgxpool.Conn) error {
		out = nil
		var read pgx.Batch
		read.Queue(begin)
		read.Queue(byIndex)
		read.Queue(`SELECT pg_advisory_xact_lock($1)`, int64(claimLock))
		read.Queue(claimCandidates, nowUs, nowNs, limit)
		br := conn.SendBatch(ctx, &read)
		queued, queues, err := readCandidates(br)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		picked := dispatch.Next(queued, queues, now, limit)

		var write pgx.Batch
		if len(picked) > 0 {
			ids := make([]string, len(picked))
			for i, p := range picked {
				ids[i] = p.RunID
			}
			write.Queue(claimPicked, ids, string(ownerJSON), nowUs, nowNs)
		}
		write.Queue(commit)
		br = conn.SendBatch(ctx, &write)
		var claimed []*hashike.Run
		if len(picked) > 0 {
			claimed, err = readClaimed(br, joinTime(nowUs, nowNs), &s.specs)
		}
		if err == nil {
			_, err = br.Exec()
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		out = claimed
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readClaimed reads claimPicked's runs and gives each its history: its creation (queued, at
// CreatedAt) and the transition the claim recorded at.
func readClaimed(br pgx.BatchResults, at time.Time, specs *hashike.SpecCache) ([]*hashike.Run, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	dispatched := hashike.Transition{From: hashike.StateQueued, To: hashike.StatePending, At: at, Reason: "dispatched"}
	var out []*hashike.Run
	for rows.Next() {
		var w runRow
		if err := rows.Scan(w.dest()...); err != nil {
			return nil, err
		}
		r, err := w.run(specs)
		if err != nil {
			return nil, err
		}
		r.History = []hashike.Transition{{To: hashike.StateQueued, At: r.CreatedAt}, dispatched}
		out = append(out, r)
	}
	return out, rows.Err()
}

// readCandidates reads the batch of BEGIN, byIndex, the claim lock and claimCandidates into
// dispatch.Next's input.
func readCandidates(br pgx.BatchResults) ([]dispatch.Queued, map[string]dispatch.QueueState, error) {
	for range 3 {
		if _, err := br.Exec(); err != nil {
			return nil, nil, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var queued []dispatch.Queued
	queues := map[string]dispatch.QueueState{}
	for rows.Next() {
		var (
			q             dispatch.Queued
			st            dispatch.QueueState
			enq           time.Time
			enqNs         int16
			notBefore     *time.Time
			notBeforeNs   *int16
			capacity, act int64
		)
		if err := rows.Scan(&q.Queue, &capacity, &st.Paused, &act, &q.RunID, &q.Priority,
			&enq, &enqNs, &notBefore, &notBeforeNs, &q.Seq); err != nil {
			return nil, nil, err
		}
		st.MaxConcurrency, st.Running = int(capacity), int(act)
		q.EnqueuedAt = joinTime(enq, enqNs)
		if t := joinNullTime(notBefore, notBeforeNs); t != nil {
			q.NotBefore = *t
		}
		queued = append(queued, q)
		queues[q.Queue] = st
	}
	return queued, queues, rows.Err()
}

// PutQueue creates or replaces a queue's settings. EInvalid for a name dispatch does not
// accept or a negative MaxConcurrency.
func (s *Store) PutQueue(ctx context.Context, q hashike.QueueConfig) error {
	if !dispatch.ValidQueueName(q.Name) {
		return hashike.Errorf(hashike.EInvalid, "put queue: %q is not a queue name: 1 to %d letters, digits, - or _", q.Name, dispatch.MaxQueueNameLen)
	}
	if q.MaxConcurrency < 0 {
		return hashike.Errorf(hashike.EInvalid, "put queue %s: maxConcurrency must not be negative (0 means no cap)", q.Name)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO queues (name, max_concurrency, paused) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET max_concurrency = EXCLUDED.max_concurrency, paused = EXCLUDED.paused`,
		q.Name, q.MaxConcurrency, q.Paused)
	return dbErr("put queue "+q.Name, err)
}

// ListQueues returns the queues that were put or have runs queued or active, by name (as
// bytes), with their counts, all read from one snapshot.
func (s *Store) ListQueues(ctx context.Context) ([]hashike.QueueInfo, error) {
	rows, err := s.pool.Query(ctx, `WITH waiting AS (
			SELECT queue, count(*) AS n FROM queue_items GROUP BY queue
		),
		active AS (
			SELECT queue, count(*) AS n FROM runs WHERE queue <> '' AND state IN `+activeStates+` GROUP BY queue
		),
		names AS (
			SELECT name FROM queues UNION SELECT queue FROM waiting UNION SELECT queue FROM active
		)
		SELECT n.name, COALESCE(q.max_concurrency, 0), COALESCE(q.paused, false), COALESCE(w.n, 0), COALESCE(a.n, 0)
		FROM names n
		LEFT JOIN queues q ON q.name = n.name
		LEFT JOIN waiting w ON w.queue = n.name
		LEFT JOIN active a ON a.queue = n.name
		ORDER BY n.name COLLATE "C"`)
	if err != nil {
		return nil, dbErr("list queues", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (hashike.QueueInfo, error) {
		var q hashike.QueueInfo
		var queued, active int64
		err := row.Scan(&q.Name, &q.MaxConcurrency, &q.Paused, &queued, &active)
		q.Queued, q.Active = int(queued), int(active)
		return q, err
	})
	if err != nil {
		return nil, dbErr("list queues", err)
	}
	return out, nil
}
