package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashike/hashike"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// UpdateRun applies u to the run with exactly this ID in one transaction that locks the run's
// row first (SELECT ... FOR UPDATE), so the transition and owner checks see the run as it is
// when the update is written, whichever replica wrote last: two round trips, BEGIN with the
// locks, then the writes, the read of the result and COMMIT (see inConnTx). It returns the
// run as stored afterwards. Besides the hashike.Store contract: a state change needs u.At
// (EInvalid without it, as the Store does not read the clock); u.State equal to the current
// state is a transition like any other, and no transition leads from a state to itself
// (EConflict); SetOwner with ClearOwner is EInvalid; Reason without a state change is
// ignored. A run leaving StateQueued leaves its queue (its queue item is deleted) in the same
// transaction; u.NotBefore moves a queued run's not-before time, its queue item's too
// (EConflict when the run is not queued).
//
// Concurrent updates of different runs share a transaction (see updaters): each is checked
// and written as it would be alone, and they commit together. An UpdateRun whose ctx ends
// while its update is being written returns ctx's error, and the update may have been
// written.
func (s *Store) UpdateRun(ctx context.Context, id string, u hashike.RunUpdate) (*hashike.Run, error) {
	p, err := newRunUpdate(id, u)
	if err != nil {
		return nil, err
	}
	if u.NotBefore == nil {
		// Only a queued run's not-before time moves: such an update is never grouped.
		res, err := s.groupUpdate(ctx, p)
		switch {
		case err != nil:
			return nil, err
		case res.run != nil:
			return res.run, nil
		case res.w != nil:
			out, err := res.w.run(&s.specs)
			return out, dbErr(p.op, err)
		}
	}
	return s.updateAlone(ctx, p)
}

// runUpdate is an UpdateRun's input, checked and encoded: the columns it sets whatever the
// stored row holds, and the times it records.
type runUpdate struct {
	id, op      string
	u           hashike.RunUpdate
	sets        []string
	args        []any
	at          time.Time // the transition's, with a state change
	atNs        int16
	notBefore   time.Time // with u.NotBefore
	notBeforeNs int16
}

func newRunUpdate(id string, u hashike.RunUpdate) (*runUpdate, error) {
	p := &runUpdate{id: id, op: "update run " + id, u: u}
	if err := u.Validate(); err != nil {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: p.op, Err: err}
	}
	if !storable(id) {
		return nil, hashike.Errorf(hashike.ENotFound, "no run %q", id)
	}
	if u.Task != nil {
		v, err := nullJSON(u.Task)
		if err != nil {
			return nil, fmt.Errorf("postgres: %s: task: %w", p.op, err)
		}
		p.set("task", v)
	}
	if u.Exit != nil {
		v, err := nullJSON(u.Exit)
		if err != nil {
			return nil, fmt.Errorf("postgres: %s: exit: %w", p.op, err)
		}
		p.set("exit", v)
	}
	if u.StartedAt != nil {
		us, ns, err := nullTime(u.StartedAt)
		if err != nil {
			return nil, err
		}
		p.set("started_at", us)
		p.set("started_at_ns", ns)
	}
	if u.FinishedAt != nil {
		us, ns, err := nullTime(u.FinishedAt)
		if err != nil {
			return nil, err
		}
		p.set("finished_at", us)
		p.set("finished_at_ns", ns)
	}
	if u.SetOwner != nil {
		v, err := nullJSON(u.SetOwner)
		if err != nil {
			return nil, fmt.Errorf("postgres: %s: owner: %w", p.op, err)
		}
		p.set("owner", v)
	}
	if u.ClearOwner {
		p.set("owner", nil)
	}
	if u.Usage != nil {
		v, err := nullJSON(u.Usage)
		if err != nil {
			return nil, fmt.Errorf("postgres: %s: usage: %w", p.op, err)
		}
		p.set("usage", v)
	}
	if u.Settled {
		p.set("settled", true)
	}
	if u.NotBefore != nil {
		var err error
		if p.notBefore, p.notBeforeNs, err = splitTime(*u.NotBefore); err != nil {
			return nil, err
		}
		p.set("not_before", p.notBefore)
		p.set("not_before_ns", p.notBeforeNs)
	}
	if u.State != "" {
		var err error
		if p.at, p.atNs, err = splitTime(u.At); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *runUpdate) set(col string, v any) {
	p.args = append(p.args, v)
	p.sets = append(p.sets, fmt.Sprintf("%s = $%d", col, len(p.args)))
}

// selectLocked locks a run's row and reads what an update is checked against.
const selectLocked = `SELECT state, stop_cause, owner FROM runs WHERE id = $1 FOR UPDATE`

// queueWrites checks the update against the run as stored (locked by this transaction) and
// queues its writes: the transition, with a state change, and the row's new values.
func (p *runUpdate) queueWrites(b *pgx.Batch, state, stopCause string, owner []byte) error {
	var cur *hashike.Owner
	if owner != nil {
		if err := json.Unmarshal(owner, &cur); err != nil {
			return fmt.Errorf("stored owner: %w", err)
		}
	}
	setStopCause, err := p.u.Check(p.id, hashike.RunState(state), hashike.StopCause(stopCause), cur)
	if err != nil {
		return err
	}
	if p.u.NotBefore != nil && hashike.RunState(state) != hashike.StateQueued {
		return hashike.Errorf(hashike.EConflict, "run %s is %s: only a queued run's not-before time can move", p.id, state)
	}
	sets, args := slices.Clip(p.sets), slices.Clip(p.args)
	set := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	if setStopCause {
		set("stop_cause", string(p.u.StopCause))
	}
	if p.u.State != "" {
		set("state", string(p.u.State))
		// The row lock makes MAX(seq) + 1 this transaction's alone.
		b.Queue(`INSERT INTO run_transitions (run_id, seq, from_state, to_state, at, at_ns, reason)
			SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6 FROM run_transitions WHERE run_id = $1`,
			p.id, state, string(p.u.State), p.at, p.atNs, p.u.Reason)
	}
	if len(sets) > 0 {
		args = append(args, p.id)
		b.Queue(fmt.Sprintf(`UPDATE runs SET %s WHERE id = $%d`, strings.Join(sets, ", "), len(args)), args...)
	}
	return nil
}

// updateAlone is UpdateRun in a transaction of its own.
func (s *Store) updateAlone(ctx context.Context, p *runUpdate) (*hashike.Run, error) {
	var out *hashike.Run
	err := s.inConnTx(ctx, p.op, func(conn *pgxpool.Conn) error {
		var (
			state, stopCause string
			owner            []byte
		)
		// Locks in the order ClaimRuns takes them: the run's queue item first, when the update
		// may touch it (deleted now with a state change, which takes a queued run out of its
		// queue; moved with a NotBefore; if the update is refused, the rollback undoes it),
		// then the run.
		var locks pgx.Batch
		locks.Queue(begin)
		switch {
		case p.u.State != "":
			locks.Queue(`DELETE FROM queue_items WHERE run_id = $1`, p.id)
		case p.u.NotBefore != nil:
			// The run stays queued (if it is): its item moves with it.
			locks.Queue(`UPDATE queue_items SET not_before = $2, not_before_ns = $3 WHERE run_id = $1`, p.id, p.notBefore, p.notBeforeNs)
		}
		locks.Queue(selectLocked, p.id)
		if err := runBatch(ctx, conn, &locks, locks.Len()-1, &state, &stopCause, &owner); errors.Is(err, pgx.ErrNoRows) {
			return hashike.Errorf(hashike.ENotFound, "no run %s", p.id)
		} else if err != nil {
			return err
		}
		var writes pgx.Batch
		if err := p.queueWrites(&writes, state, stopCause, owner); err != nil {
			return err
		}
		writes.Queue(`SELECT `+runColumns+`, `+historyColumns+` FROM runs r `+historyJoin+` WHERE r.id = $1`, p.id)
		writes.Queue(commit)
		w := runRow{withHistory: true}
		if err := runBatch(ctx, conn, &writes, writes.Len()-2, w.dest()...); err != nil {
			return err
		}
		var err error
		out, err = w.run(&s.specs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Grouped updates. A run's life in the server is two updates (its start and its end), each
// a transaction of its own: most of the database's work per run, and most of it the fixed
// cost of a transaction (its statements' round trips, the commit's WAL flush). So UpdateRun
// hands its update to one of a few updater goroutines the Store owns, as CreateRun does its
// run (see creators), and an updater writes every update waiting when it comes for work in
// one transaction and two round trips however many updates: BEGIN with one statement locking
// the rows, then each update's writes, one read of the runs and COMMIT. A lone update is
// written alone, at once. With a batch of 8 (the server's throughput benchmark), the
// database spends a third less CPU per run.
//
// A group locks only runs that are not queued, in ID order: a queued run's update takes its
// queue item (deleted or moved) before its row, as ClaimRuns does, and is written alone by
// its caller once the group committed, as is an update of a run the group holds already.
// Groups lock their rows in one order and claims lock no row of a run that is not queued,
// so neither deadlocks the other.
const (
	updaters       = 2
	maxUpdateBatch = 64
)

// updateReq is an UpdateRun handed to an updater; done gets its outcome.
type updateReq struct {
	ctx  context.Context
	p    *runUpdate
	done chan updateResult // buffered: an updater never waits for the caller
}

// updateResult is an update's outcome: the run as stored (written alone: run; in a group: w,
// decoded by the caller), a refusal, or none of these: the update was not written, and the
// caller writes it alone.
type updateResult struct {
	run *hashike.Run
	w   *runRow
	err error
}

// groupUpdate hands p to an updater and returns its outcome once written: nothing (a zero
// updateResult) when p is left to the caller to write alone.
func (s *Store) groupUpdate(ctx context.Context, p *runUpdate) (updateResult, error) {
	req := &updateReq{ctx: ctx, p: p, done: make(chan updateResult, 1)}
	select {
	case s.updates <- req:
	case <-s.stop:
		return updateResult{}, errClosed
	case <-ctx.Done():
		return updateResult{}, fmt.Errorf("postgres: %s: %w", p.op, ctx.Err())
	}
	select {
	case res := <-req.done:
		return res, res.err
	case <-ctx.Done():
		return updateResult{}, fmt.Errorf("postgres: %s: %w", p.op, ctx.Err())
	}
}

// updateBatch writes a batch of updates and tells each caller its outcome: a lone update in
// a transaction of its own, several in one. Callers that gave up are left out. The updates
// of runs the group could not lock (queued, or not found) or already has, and every update
// of a group that failed, are left to their callers to write alone. The transactions run
// under the Store's context, not a caller's: one caller giving up must not fail the others.
func (s *Store) updateBatch(batch []*updateReq) {
	ctx := s.stopCtx
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- updateResult{err: dbErr(r.p.op, err)}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 1 {
		out, err := s.updateAlone(ctx, live[0].p)
		if err != nil && ctx.Err() != nil {
			err = errClosed
		}
		live[0].done <- updateResult{run: out, err: err}
		return
	}
	slices.SortStableFunc(live, func(a, b *updateReq) int { return strings.Compare(a.p.id, b.p.id) })
	group := live[:0]
	for i, r := range live {
		if i > 0 && live[i-1].p.id == r.p.id {
			r.done <- updateResult{}
			continue
		}
		group = append(group, r)
	}
	outcomes, err := s.writeGroup(ctx, group)
	for i, r := range group {
		switch {
		case err != nil && ctx.Err() != nil:
			r.done <- updateResult{err: errClosed}
		case err != nil:
			r.done <- updateResult{}
		default:
			r.done <- outcomes[i]
		}
	}
}

// writeGroup writes the updates of group (distinct runs, in ID order) in one transaction and
// returns their outcomes, in order. An error fails the whole group, which is rolled back.
func (s *Store) writeGroup(ctx context.Context, group []*updateReq) ([]updateResult, error) {
	ids := make([]string, len(group))
	for i, r := range group {
		ids[i] = r.p.id
	}
	outcomes := make([]updateResult, len(group))
	err := s.connTx(ctx, func(conn *pgxpool.Conn) error {
		var locks pgx.Batch
		locks.Queue(begin)
		locks.Queue(byIndex)
		locks.Queue(`SELECT id, state, stop_cause, owner FROM runs
			WHERE id = ANY($1::text[]) AND state <> 'queued' ORDER BY id FOR UPDATE`, ids)
		br := conn.SendBatch(ctx, &locks)
		type stored struct {
			state, stopCause string
			owner            []byte
		}
		rows := map[string]stored{}
		_, err := br.Exec()
		if err == nil {
			_, err = br.Exec()
		}
		if err == nil {
			var q pgx.Rows
			if q, err = br.Query(); err == nil {
				for q.Next() {
					var id string
					var st stored
					if err = q.Scan(&id, &st.state, &st.stopCause, &st.owner); err != nil {
						break
					}
					rows[id] = st
				}
				q.Close()
				if err == nil {
					err = q.Err()
				}
			}
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}

		var writes pgx.Batch
		var written []string
		for i, r := range group {
			st, ok := rows[r.p.id]
			if !ok {
				continue // queued or not found: written alone
			}
			if err := r.p.queueWrites(&writes, st.state, st.stopCause, st.owner); err != nil {
				outcomes[i].err = err
				continue
			}
			written = append(written, r.p.id)
		}
		statements := writes.Len()
		writes.Queue(`SELECT `+runColumns+`, `+historyColumns+` FROM runs r `+historyJoin+` WHERE r.id = ANY($1::text[])`, written)
		writes.Queue(commit)
		br = conn.SendBatch(ctx, &writes)
		for range statements {
			if _, err = br.Exec(); err != nil {
				break
			}
		}
		got := map[string]*runRow{}
		if err == nil {
			var q pgx.Rows
			if q, err = br.Query(); err == nil {
				for q.Next() {
					w := &runRow{withHistory: true}
					if err = q.Scan(w.dest()...); err != nil {
						break
					}
					got[w.r.ID] = w
				}
				q.Close()
				if err == nil {
					err = q.Err()
				}
			}
		}
		if err == nil {
			_, err = br.Exec()
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		for i, r := range group {
			if outcomes[i].err == nil {
				outcomes[i].w = got[r.p.id] // nil for a run not locked: written alone
			}
		}
		return nil
	})
	return outcomes, err
}
