package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashike/hashike"
	"github.com/jackc/pgx/v5"
)

// runInsert lists the columns CreateRun writes, with their types, in the order of
// (*runRow).insertArgs.
var runInsert = []struct{ col, typ string }{
	{"id", "text"}, {"family", "text"}, {"backend", "text"}, {"state", "text"}, {"spec", "json"},
	{"digest", "text"}, {"cpu", "bigint"}, {"memory_mib", "bigint"}, {"idempotency_key", "text"},
	{"stop_cause", "text"}, {"exit", "json"}, {"task", "json"}, {"owner", "json"},
	{"created_at", "timestamptz"}, {"created_at_ns", "smallint"},
	{"started_at", "timestamptz"}, {"started_at_ns", "smallint"},
	{"finished_at", "timestamptz"}, {"finished_at_ns", "smallint"},
	{"job", "text"}, {"job_version", "integer"}, {"queue", "text"}, {"priority", "integer"},
	{"not_before", "timestamptz"}, {"not_before_ns", "smallint"}, {"payload", "bytea"},
	{"attempt", "integer"}, {"root_id", "text"}, {"retry_of", "text"}, {"trigger", "text"},
	{"scheduled_at", "timestamptz"}, {"scheduled_at_ns", "smallint"}, {"settled", "boolean"},
	{"usage", "json"},
}

// insertArgs are the run's values for the columns of runInsert.
func (w *runRow) insertArgs() []any {
	return []any{w.r.ID, w.r.Family, w.r.Backend, w.state, string(w.spec),
		w.r.Digest, w.cpu, w.memoryMiB, w.key,
		w.stopCause, jsonText(w.exit), jsonText(w.task), jsonText(w.owner),
		w.createdAt, w.createdNs,
		w.startedAt, w.startedNs,
		w.finishedAt, w.finishedNs,
		w.r.Job, w.r.JobVersion, w.r.Queue, w.r.Priority,
		w.notBefore, w.notBeforeNs, w.r.Payload,
		w.r.Attempt, w.r.RootID, w.r.RetryOf, w.r.Trigger,
		w.scheduled, w.schedNs, w.r.Settled, jsonText(w.usage)}
}

// createRuns inserts runs, their first transitions and the queue items of the queued ones,
// and returns the IDs of the runs it inserted: a run whose ID or idempotency key is taken
// (by a stored run or one before it in the same statement) is skipped (ON CONFLICT DO
// NOTHING, which waits for a concurrent insert of the same key to commit or roll back), and
// so are its transition and item, which take their rows from the runs' RETURNING. The runs
// come as one array per column; their queue items are numbered (seq) in that order.
// createRun is the same for one run, with plain parameters.
var createRuns, createRun = func() (string, string) {
	cols, arrays, values := make([]string, len(runInsert)), make([]string, len(runInsert)), make([]string, len(runInsert))
	for i, c := range runInsert {
		cols[i] = c.col
		arrays[i] = fmt.Sprintf("$%d::%s[]", i+1, c.typ)
		values[i] = fmt.Sprintf("$%d", i+1)
	}
	const rest = `
		ON CONFLICT DO NOTHING
		RETURNING id, state, created_at, created_at_ns, queue, priority, not_before, not_before_ns),
	transition AS (
		INSERT INTO run_transitions (run_id, seq, from_state, to_state, at, at_ns, reason)
		SELECT id, 1, '', state, created_at, created_at_ns, '' FROM run),
	item AS (
		INSERT INTO queue_items (run_id, queue, priority, enqueued_at, enqueued_at_ns, not_before, not_before_ns)
		SELECT id, queue, priority, created_at, created_at_ns, not_before, not_before_ns FROM run WHERE state = 'queued')
	SELECT id FROM run`
	head := `WITH run AS (
		INSERT INTO runs (` + strings.Join(cols, ", ") + `)
		`
	return head + `SELECT * FROM unnest(` + strings.Join(arrays, ", ") + `)` + rest,
		head + `VALUES (` + strings.Join(values, ", ") + `)` + rest
}()

// Coalescing creates. An enqueue is one statement, but a statement's fixed cost (opening the
// runs table and its ten indexes, the commit) is most of its cost: one statement writing 8
// runs takes about a third of the database's CPU per run of 8 statements writing one each.
// So CreateRun hands its run to one of a few creator goroutines the Store owns, and a
// creator writes every run waiting when it comes for work in one statement (a transaction of
// its own). A lone CreateRun is written alone, at once: nothing waits for a batch to fill.
const (
	creators       = 2
	maxCreateBatch = 64
)

// createReq is a CreateRun's run, handed to a creator; done gets its outcome.
type createReq struct {
	ctx  context.Context
	w    *runRow
	done chan createResult // buffered: a creator never waits for the caller
}

type createResult struct {
	inserted bool // false: the ID or the key was taken, nothing was written
	err      error
}

// startWorkers starts the creator and updater goroutines; Close stops them.
func (s *Store) startWorkers() {
	s.creates = make(chan *createReq)
	s.updates = make(chan *updateReq)
	s.stop = make(chan struct{})
	s.stopCtx, s.cancelStop = context.WithCancel(context.Background())
	for range creators {
		s.workers.Go(func() { batches(s.stop, s.creates, maxCreateBatch, s.createBatch) })
	}
	for range updaters {
		s.workers.Go(func() { batches(s.stop, s.updates, maxUpdateBatch, s.updateBatch) })
	}
}

// batches calls write with what comes in, until stop is closed: the first request it
// receives, with every other that is waiting by then, up to most. write has the batch only
// for the call.
func batches[T any](stop <-chan struct{}, in <-chan T, most int, write func([]T)) {
	batch := make([]T, 0, most)
	for {
		select {
		case <-stop:
			return
		case r := <-in:
			batch = append(batch[:0], r)
		}
	more:
		for len(batch) < most {
			select {
			case r := <-in:
				batch = append(batch, r)
			default:
				break more
			}
		}
		write(batch)
		clear(batch)
	}
}

// createBatch writes a batch in one statement (a lone run with createRun, several with
// createRuns) and tells each caller its outcome. Callers that gave up are left out. The
// statement runs under the Store's context, not a caller's: one caller giving up must not
// fail the others. When the statement fails other than by losing a race (retried), each
// run is written on its own, so that each caller gets its own run's error.
func (s *Store) createBatch(batch []*createReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- createResult{err: err}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// A run sharing its ID with one before it in the batch (callers racing on one ID) is
	// written after the batch, on its own: which of the two was inserted would not show in
	// the RETURNING.
	ids := make(map[string]bool, len(live))
	var later []*createReq
	batch = live[:0]
	for _, r := range live {
		if ids[r.w.r.ID] {
			later = append(later, r)
			continue
		}
		ids[r.w.r.ID] = true
		batch = append(batch, r)
	}
	defer func() {
		for _, r := range later {
			inserted, err := s.insertRun(s.stopCtx, r.w)
			r.done <- createResult{inserted: inserted, err: err}
		}
	}()
	live = batch
	if len(live) == 1 {
		inserted, err := s.insertRun(s.stopCtx, live[0].w)
		live[0].done <- createResult{inserted: inserted, err: err}
		return
	}
	cols := make([][]any, len(runInsert))
	for i := range cols {
		cols[i] = make([]any, len(live))
	}
	for j, r := range live {
		for i, v := range r.w.insertArgs() {
			cols[i][j] = v
		}
	}
	args := make([]any, len(cols))
	for i := range cols {
		args[i] = cols[i]
	}
	var inserted []string
	var err error
	for range maxAttempts {
		var rows pgx.Rows
		if rows, err = s.pool.Query(s.stopCtx, createRuns, args...); err == nil {
			inserted, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if !retryable(err) || s.stopCtx.Err() != nil {
			break
		}
	}
	if err != nil {
		for _, r := range live {
			inserted, err := s.insertRun(s.stopCtx, r.w)
			r.done <- createResult{inserted: inserted, err: err}
		}
		return
	}
	clear(ids)
	for _, id := range inserted {
		ids[id] = true
	}
	for _, r := range live {
		r.done <- createResult{inserted: ids[r.w.r.ID]}
	}
}

// insertRun writes one run with createRun, retrying lost races, and reports whether it was
// inserted.
func (s *Store) insertRun(ctx context.Context, w *runRow) (bool, error) {
	var id string
	var err error
	for range maxAttempts {
		err = s.pool.QueryRow(ctx, createRun, w.insertArgs()...).Scan(&id)
		if !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// errClosed is CreateRun's error after Close.
var errClosed = &hashike.Error{Code: hashike.EUnavailable, Message: "postgres: the store is closed"}

// CreateRun records run in StatePending or StateQueued with its first transition (from "" at
// run.CreatedAt) and, for a queued run, its queue item, and returns the run as stored. Its
// History is ignored. With an IdempotencyKey that a stored run already has, it returns that
// run and created=false, writing nothing. An empty Payload is stored as none and comes back
// nil.
//
// The run, its transition and its queue item are written by one statement, which may write
// the runs of concurrent CreateRun calls too (see creators); each run is inserted or skipped
// on its own. The run returned is the one written, read back from the values sent (as
// GetRun would decode them), not from the database. When the insert was skipped, the run
// holding the key is read: concurrent creates with one key, from any replica, make one run,
// and every caller gets that run. A CreateRun whose ctx ends while its run is being written
// returns ctx's error, and the run may have been created: creating it again with the same
// idempotency key tells.
func (s *Store) CreateRun(ctx context.Context, run *hashike.Run) (*hashike.Run, bool, error) {
	if err := run.ValidateNew(); err != nil {
		return nil, false, err
	}
	op := "create run " + run.ID
	w, err := newRunRow(run)
	if err != nil {
		return nil, false, err
	}
	req := &createReq{ctx: ctx, w: w, done: make(chan createResult, 1)}
	var res createResult
	select {
	case s.creates <- req:
	case <-s.stop:
		return nil, false, errClosed
	case <-ctx.Done():
		return nil, false, fmt.Errorf("postgres: %s: %w", op, ctx.Err())
	}
	select {
	case res = <-req.done:
	case <-ctx.Done():
		return nil, false, fmt.Errorf("postgres: %s: %w", op, ctx.Err())
	}
	if res.err != nil {
		if errors.Is(res.err, context.Canceled) && s.stopCtx.Err() != nil {
			return nil, false, errClosed
		}
		return nil, false, dbErr(op, res.err)
	}
	if !res.inserted {
		// The ID or the key is taken, by a committed run: the insert waited for it.
		if w.key != nil {
			existing, err := s.getRun(ctx, "r.idempotency_key = $1", *w.key)
			if err == nil {
				return existing, false, nil
			}
			if hashike.ErrorCodeOf(err) != hashike.ENotFound {
				return nil, false, dbErr(op, err)
			}
		}
		return nil, false, hashike.Errorf(hashike.EConflict, "run %s exists", run.ID)
	}
	w.withHistory = true
	w.froms, w.tos, w.ats, w.atNs, w.reasons = []string{""}, []string{w.state}, []time.Time{w.createdAt}, []int16{w.createdNs}, []string{""}
	out, err := w.run(&s.specs)
	if err != nil {
		return nil, false, dbErr(op, err)
	}
	return out, true, nil
}

// newRunRow encodes a new run's columns.
func newRunRow(run *hashike.Run) (*runRow, error) {
	op := "create run " + run.ID
	state := run.State
	if state == "" {
		state = hashike.StatePending
	}
	w := &runRow{state: string(state), stopCause: string(run.StopCause),
		cpu: int64(run.Resources.CPU), memoryMiB: int64(run.Resources.MemoryMiB)}
	w.r = hashike.Run{ID: run.ID, Family: run.Family, Backend: run.Backend, Digest: run.Digest,
		Job: run.Job, JobVersion: run.JobVersion, Queue: run.Queue, Priority: run.Priority,
		Attempt: run.Attempt, RootID: run.RootID, RetryOf: run.RetryOf, Trigger: run.Trigger,
		Settled: run.Settled}
	if len(run.Payload) > 0 {
		w.r.Payload = run.Payload
	}
	var err error
	if w.spec, err = json.Marshal(run.Spec); err != nil {
		return nil, fmt.Errorf("postgres: %s: spec: %w", op, err)
	}
	if w.exit, err = jsonOf(run.Exit); err != nil {
		return nil, fmt.Errorf("postgres: %s: exit: %w", op, err)
	}
	if w.task, err = jsonOf(run.Task); err != nil {
		return nil, fmt.Errorf("postgres: %s: task: %w", op, err)
	}
	if w.owner, err = jsonOf(run.Owner); err != nil {
		return nil, fmt.Errorf("postgres: %s: owner: %w", op, err)
	}
	if w.usage, err = jsonOf(run.Usage); err != nil {
		return nil, fmt.Errorf("postgres: %s: usage: %w", op, err)
	}
	if w.createdAt, w.createdNs, err = splitTime(run.CreatedAt); err != nil {
		return nil, err
	}
	if w.startedAt, w.startedNs, err = nullTime(run.StartedAt); err != nil {
		return nil, err
	}
	if w.finishedAt, w.finishedNs, err = nullTime(run.FinishedAt); err != nil {
		return nil, err
	}
	if w.notBefore, w.notBeforeNs, err = nullTime(run.NotBefore); err != nil {
		return nil, err
	}
	if w.scheduled, w.schedNs, err = nullTime(run.ScheduledAt); err != nil {
		return nil, err
	}
	if run.IdempotencyKey != "" {
		w.key = &run.IdempotencyKey
	}
	return w, nil
}
