package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashike/hashike"
	sqlite3 "modernc.org/sqlite/lib"
)

// timeLayout is fixed-width, so that stored times sort as text in instant order.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) (string, error) {
	u := t.UTC()
	if y := u.Year(); y < 0 || y > 9999 {
		return "", hashike.Errorf(hashike.EInvalid, "time %s is outside years 0 to 9999", t)
	}
	return u.Format(timeLayout), nil
}

func parseTime(s string) (time.Time, error) {
	return time.Parse(timeLayout, s)
}

const runColumns = `id, family, backend, state, spec, digest, cpu, memory_mib, idempotency_key,
	stop_cause, exit, task, owner, created_at, started_at, finished_at,
	job, job_version, queue, priority, not_before, payload, attempt, root_id, retry_of, triggered_by,
	scheduled_at, settled, usage`

// runValues is the placeholders of runColumns.
const runValues = `?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?`

type scanner interface{ Scan(dest ...any) error }

func (s *Store) scanRun(row scanner) (*hashike.Run, error) {
	sr, err := scanStored(row)
	if err != nil {
		return nil, err
	}
	return sr.run(&s.specs)
}

// storedRun is a run as scanned but for its spec, which run decodes: decoding a spec is most
// of a read's cost, and a write transaction should not hold the one write connection for it.
type storedRun struct {
	r    *hashike.Run
	spec string
}

// run decodes the spec (through specs) into the run and returns it.
func (sr storedRun) run(specs *hashike.SpecCache) (*hashike.Run, error) {
	spec, err := specs.Decode([]byte(sr.spec))
	if err != nil {
		return nil, fmt.Errorf("run %s: spec: %w", sr.r.ID, err)
	}
	sr.r.Spec = spec
	return sr.r, nil
}

func scanStored(row scanner) (storedRun, error) {
	var (
		r                      hashike.Run
		spec                   string
		key, exit, task, owner sql.NullString
		usage                  sql.NullString
		createdAt              string
		startedAt, finishedAt  sql.NullString
		notBefore, scheduledAt sql.NullString
		state, stopCause       string
	)
	if err := row.Scan(&r.ID, &r.Family, &r.Backend, &state, &spec, &r.Digest, &r.Resources.CPU,
		&r.Resources.MemoryMiB, &key, &stopCause, &exit, &task, &owner, &createdAt, &startedAt, &finishedAt,
		&r.Job, &r.JobVersion, &r.Queue, &r.Priority, &notBefore, (*[]byte)(&r.Payload), &r.Attempt, &r.RootID, &r.RetryOf,
		&r.Trigger, &scheduledAt, &r.Settled, &usage); err != nil {
		return storedRun{}, err
	}
	r.State = hashike.RunState(state)
	r.StopCause = hashike.StopCause(stopCause)
	r.IdempotencyKey = key.String
	for _, j := range []struct {
		col  sql.NullString
		dst  any
		name string
	}{{exit, &r.Exit, "exit"}, {task, &r.Task, "task"}, {owner, &r.Owner, "owner"}, {usage, &r.Usage, "usage"}} {
		if j.col.Valid {
			if err := json.Unmarshal([]byte(j.col.String), j.dst); err != nil {
				return storedRun{}, fmt.Errorf("run %s: %s: %w", r.ID, j.name, err)
			}
		}
	}
	var err error
	if r.CreatedAt, err = parseTime(createdAt); err != nil {
		return storedRun{}, fmt.Errorf("run %s: created_at: %w", r.ID, err)
	}
	if r.StartedAt, err = parseNullTime(startedAt); err != nil {
		return storedRun{}, fmt.Errorf("run %s: started_at: %w", r.ID, err)
	}
	if r.FinishedAt, err = parseNullTime(finishedAt); err != nil {
		return storedRun{}, fmt.Errorf("run %s: finished_at: %w", r.ID, err)
	}
	if r.NotBefore, err = parseNullTime(notBefore); err != nil {
		return storedRun{}, fmt.Errorf("run %s: not_before: %w", r.ID, err)
	}
	if r.ScheduledAt, err = parseNullTime(scheduledAt); err != nil {
		return storedRun{}, fmt.Errorf("run %s: scheduled_at: %w", r.ID, err)
	}
	return storedRun{r: &r, spec: spec}, nil
}

func parseNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// nullJSON encodes v, or NULL when v is a nil pointer.
func nullJSON[T any](v *T) (sql.NullString, error) {
	if v == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func nullTime(t *time.Time) (sql.NullString, error) {
	if t == nil {
		return sql.NullString{}, nil
	}
	s, err := formatTime(*t)
	return sql.NullString{String: s, Valid: err == nil}, err
}

// CreateRun records run in StatePending, or StateQueued with its queue item, with its first
// transition (from "" at run.CreatedAt) and returns the run as stored. run.State must be "",
// StatePending or StateQueued (with a Queue); its History is ignored. With an IdempotencyKey
// that a stored run already has, it returns that run and created=false, writing nothing; the
// check and the insert share one write transaction, so concurrent creates with one key (from
// any process) make one run. A created run that is returned shares run's Spec, Payload and
// pointers: the caller must not change them afterwards.
func (s *Store) CreateRun(ctx context.Context, run *hashike.Run) (*hashike.Run, bool, error) {
	if err := run.ValidateNew(); err != nil {
		return nil, false, err
	}
	state := hashike.StatePending
	if run.State == hashike.StateQueued {
		state = hashike.StateQueued
	}
	spec, err := json.Marshal(run.Spec)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: create run %s: spec: %w", run.ID, err)
	}
	exit, err := nullJSON(run.Exit)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: create run %s: exit: %w", run.ID, err)
	}
	task, err := nullJSON(run.Task)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: create run %s: task: %w", run.ID, err)
	}
	owner, err := nullJSON(run.Owner)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: create run %s: owner: %w", run.ID, err)
	}
	usage, err := nullJSON(run.Usage)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: create run %s: usage: %w", run.ID, err)
	}
	createdAt, err := formatTime(run.CreatedAt)
	if err != nil {
		return nil, false, err
	}
	var times [4]sql.NullString
	for i, t := range []*time.Time{run.StartedAt, run.FinishedAt, run.NotBefore, run.ScheduledAt} {
		if times[i], err = nullTime(t); err != nil {
			return nil, false, err
		}
	}
	key := sql.NullString{String: run.IdempotencyKey, Valid: run.IdempotencyKey != ""}

	op := "create run " + run.ID
	var existing *storedRun
	err = s.inWriteTx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		if key.Valid {
			sr, err := s.runInTx(ctx, tx, s.stmt.runByKey, key)
			if err == nil {
				existing = &sr // nothing written
				return nil
			}
			if hashike.ErrorCodeOf(err) != hashike.ENotFound {
				return dbErr(op, err)
			}
		}
		res, err := tx.StmtContext(ctx, s.stmt.insertRun).ExecContext(ctx,
			run.ID, run.Family, run.Backend, string(state), string(spec), run.Digest,
			run.Resources.CPU, run.Resources.MemoryMiB, key, string(run.StopCause), exit, task, owner,
			createdAt, times[0], times[1],
			run.Job, run.JobVersion, run.Queue, run.Priority, times[2], run.Payload, run.Attempt, run.RootID,
			run.RetryOf, run.Trigger, times[3], run.Settled, usage)
		if constraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
			return hashike.Errorf(hashike.EConflict, "run %s exists", run.ID)
		}
		if err != nil {
			return dbErr(op, err)
		}
		if _, err := tx.StmtContext(ctx, s.stmt.insertFirstTransition).ExecContext(ctx, run.ID, string(state), createdAt); err != nil {
			return dbErr(op, err)
		}
		if state == hashike.StateQueued {
			seq, err := res.LastInsertId()
			if err != nil {
				return dbErr(op, err)
			}
			if _, err := tx.StmtContext(ctx, s.stmt.insertQueueItem).ExecContext(ctx,
				run.ID, seq, run.Queue, run.Priority, createdAt, times[2].String); err != nil {
				return dbErr(op, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if existing != nil {
		r, err := existing.run(&s.specs)
		if err != nil {
			return nil, false, dbErr(op, err)
		}
		return r, false, nil
	}
	// What was stored is what was given: reading it back would decode the spec again, a
	// third of an enqueue's time.
	created := *run
	created.State = state
	created.History = []hashike.Transition{{To: state, At: run.CreatedAt}}
	return &created, true, nil
}

// runInTx returns the run that the prepared query (runByID or runByKey) selects, with its
// history, or an ENotFound error.
func (s *Store) runInTx(ctx context.Context, tx *sql.Tx, query *sql.Stmt, arg any) (storedRun, error) {
	sr, err := scanStored(tx.StmtContext(ctx, query).QueryRowContext(ctx, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return sr, hashike.Errorf(hashike.ENotFound, "no such run")
	}
	if err != nil {
		return sr, err
	}
	rows, err := tx.StmtContext(ctx, s.stmt.history).QueryContext(ctx, sr.r.ID)
	if err != nil {
		return sr, err
	}
	if sr.r.History, err = scanHistory(rows, sr.r.ID); err != nil {
		return sr, err
	}
	return sr, nil
}

// scanHistory reads rows of (from_state, to_state, at, reason) and closes them.
func scanHistory(rows *sql.Rows, id string) ([]hashike.Transition, error) {
	defer rows.Close()
	var h []hashike.Transition
	for rows.Next() {
		var tr hashike.Transition
		var at string
		if err := rows.Scan(&tr.From, &tr.To, &at, &tr.Reason); err != nil {
			return nil, err
		}
		var err error
		if tr.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("run %s: transition time: %w", id, err)
		}
		h = append(h, tr)
	}
	return h, rows.Err()
}

const historyQuery = `SELECT from_state, to_state, at, reason FROM run_transitions WHERE run_id = ? ORDER BY seq`

// GetRun returns the run whose ID is id or, failing that, the only one whose ID starts with
// id, with its History.
func (s *Store) GetRun(ctx context.Context, id string) (*hashike.Run, error) {
	if id == "" {
		return nil, hashike.Errorf(hashike.ENotFound, "no run ID given")
	}
	op := "get run " + id
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) // one snapshot for run and history
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer tx.Rollback()

	// IDs starting with id form one contiguous range of the index, beginning at the first ID
	// >= id; the first two IDs there tell a unique match from an ambiguous one.
	rows, err := tx.StmtContext(ctx, s.read.runIDs).QueryContext(ctx, id)
	if err != nil {
		return nil, dbErr(op, err)
	}
	var matches []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return nil, dbErr(op, err)
		}
		if strings.HasPrefix(m, id) {
			matches = append(matches, m)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	switch {
	case len(matches) == 0:
		return nil, hashike.Errorf(hashike.ENotFound, "no run %s", id)
	case len(matches) > 1 && matches[0] != id:
		return nil, hashike.Errorf(hashike.EConflict, "run ID prefix %s is ambiguous: it matches %s, %s and maybe more", id, matches[0], matches[1])
	}
	sr, err := scanStored(tx.StmtContext(ctx, s.read.runByID).QueryRowContext(ctx, matches[0]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hashike.Errorf(hashike.ENotFound, "no run %s", id)
	}
	if err != nil {
		return nil, dbErr(op, err)
	}
	hist, err := tx.StmtContext(ctx, s.read.history).QueryContext(ctx, sr.r.ID)
	if err != nil {
		return nil, dbErr(op, err)
	}
	if sr.r.History, err = scanHistory(hist, sr.r.ID); err != nil {
		return nil, dbErr(op, err)
	}
	tx.Rollback() // the snapshot is no longer needed: free the connection before decoding
	r, err := sr.run(&s.specs)
	if err != nil {
		return nil, dbErr(op, err)
	}
	return r, nil
}

// ListRuns returns the runs f selects, newest (by CreatedAt, then ID) first. Their History is
// not loaded: GetRun has it.
func (s *Store) ListRuns(ctx context.Context, f hashike.RunFilter) ([]*hashike.Run, error) {
	var where []string
	var args []any
	if len(f.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(f.States))+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if f.Active {
		var active []any
		for _, st := range hashike.RunStates {
			if !st.Terminal() {
				active = append(active, string(st))
			}
		}
		where = append(where, "state IN ("+placeholders(len(active))+")")
		args = append(args, active...)
	}
	if f.Family != "" {
		where = append(where, "family = ?")
		args = append(args, f.Family)
	}
	if !f.Since.IsZero() {
		since, err := formatTime(f.Since)
		if err != nil {
			return nil, err
		}
		where = append(where, "created_at >= ?")
		args = append(args, since)
	}
	// The conditions below repeat the partial indexes' WHERE clauses (0002_server.sql) so
	// that SQLite can use them.
	for _, c := range []struct{ col, v string }{{"job", f.Job}, {"queue", f.Queue}, {"root_id", f.RootID}} {
		if c.v != "" {
			where = append(where, c.col+" = ? AND "+c.col+" != ''")
			args = append(args, c.v)
		}
	}
	if len(f.TaskIDs) > 0 {
		where = append(where, "task IS NOT NULL AND json_extract(task, '$.id') IN ("+placeholders(len(f.TaskIDs))+")")
		for _, id := range f.TaskIDs {
			args = append(args, id)
		}
	}
	if f.Unsettled {
		where = append(where, unsettled)
	}
	if f.Before != "" {
		var createdAt string
		err := s.r.QueryRowContext(ctx, `SELECT created_at FROM runs WHERE id = ?`, f.Before).Scan(&createdAt)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, hashike.Errorf(hashike.ENotFound, "list runs before %s: no such run", f.Before)
		}
		if err != nil {
			return nil, dbErr("list runs", err)
		}
		// A run's created_at never changes, so the cursor needs no transaction around both
		// queries (should retention delete the cursor's run in between, the page is still
		// the one after it).
		where = append(where, "(created_at, id) < (?, ?)")
		args = append(args, createdAt, f.Before)
	}
	q := `SELECT ` + runColumns + ` FROM runs`
	if f.Unsettled {
		q += ` INDEXED BY runs_unsettled`
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.OldestFirst {
		if f.Before != "" {
			return nil, hashike.Errorf(hashike.EInvalid, "list runs: oldest first does not page (before %s)", f.Before)
		}
		q += ` ORDER BY created_at, id`
	} else {
		q += ` ORDER BY created_at DESC, id DESC`
	}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr("list runs", err)
	}
	defer rows.Close()
	var out []*hashike.Run
	for rows.Next() {
		r, err := s.scanRun(rows)
		if err != nil {
			return nil, dbErr("list runs", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list runs", err)
	}
	return out, nil
}

// unsettled selects ended runs of registered jobs not settled: runs_unsettled's condition.
const unsettled = `job != '' AND settled = 0 AND state IN ('succeeded', 'failed', 'start_failed', 'timed_out', 'canceled', 'lost')`

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// UpdateRun applies u to the run with exactly this ID in one write transaction and returns
// the run as stored afterwards. Besides the hashike.Store contract: a state change needs u.At
// (EInvalid without it, as the Store does not read the clock); u.State equal to the current
// state is a transition like any other, and no transition leads from a state to itself
// (EConflict); SetOwner with ClearOwner is EInvalid; Reason without a state change is ignored.
// A queued run that changes state leaves its queue; u.NotBefore moves a queued run's
// not-before time, in the queue too (EConflict when the run is not queued).
func (s *Store) UpdateRun(ctx context.Context, id string, u hashike.RunUpdate) (*hashike.Run, error) {
	op := "update run " + id
	if err := u.Validate(); err != nil {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: op, Err: err}
	}
	var sets []string
	var args []any
	set := func(col string, v any) {
		sets = append(sets, col+" = ?")
		args = append(args, v)
	}
	if u.Task != nil {
		v, err := nullJSON(u.Task)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: task: %w", op, err)
		}
		set("task", v)
	}
	if u.Exit != nil {
		v, err := nullJSON(u.Exit)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: exit: %w", op, err)
		}
		set("exit", v)
	}
	if u.StartedAt != nil {
		v, err := nullTime(u.StartedAt)
		if err != nil {
			return nil, err
		}
		set("started_at", v)
	}
	if u.FinishedAt != nil {
		v, err := nullTime(u.FinishedAt)
		if err != nil {
			return nil, err
		}
		set("finished_at", v)
	}
	if u.SetOwner != nil {
		v, err := nullJSON(u.SetOwner)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: owner: %w", op, err)
		}
		set("owner", v)
	}
	if u.ClearOwner {
		set("owner", nil)
	}
	if u.Usage != nil {
		v, err := nullJSON(u.Usage)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: usage: %w", op, err)
		}
		set("usage", v)
	}
	if u.Settled {
		set("settled", 1)
	}
	var at string
	if u.State != "" {
		var err error
		if at, err = formatTime(u.At); err != nil {
			return nil, err
		}
	}
	var notBefore string
	if u.NotBefore != nil {
		var err error
		if notBefore, err = formatTime(*u.NotBefore); err != nil {
			return nil, err
		}
		set("not_before", notBefore)
	}
	// The columns set are known but for the stop cause, which depends on the stored one: the
	// statement with it and the one without are compiled (once each) before the transaction,
	// which holds the only write connection.
	var updateWithStopCause, updateWithoutStopCause *sql.Stmt
	statement := func(stopCause bool) (*sql.Stmt, error) {
		cols := slices.Clone(sets)
		if stopCause {
			cols = append(cols, "stop_cause = ?")
		}
		if u.State != "" {
			cols = append(cols, "state = ?")
		}
		return s.updates.get(ctx, s.w, `UPDATE runs SET `+strings.Join(cols, ", ")+` WHERE id = ?`)
	}
	if len(sets) > 0 || u.State != "" {
		var err error
		if updateWithoutStopCause, err = statement(false); err != nil {
			return nil, dbErr(op, err)
		}
	}
	if u.StopCause != hashike.StopNone {
		var err error
		if updateWithStopCause, err = statement(true); err != nil {
			return nil, dbErr(op, err)
		}
	}

	var sr storedRun
	err := s.inWriteTx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		var (
			state, stopCause string
			owner            sql.NullString
		)
		err := tx.StmtContext(ctx, s.stmt.runState).QueryRowContext(ctx, id).Scan(&state, &stopCause, &owner)
		if errors.Is(err, sql.ErrNoRows) {
			return hashike.Errorf(hashike.ENotFound, "no run %s", id)
		}
		if err != nil {
			return dbErr(op, err)
		}
		var cur *hashike.Owner
		if owner.Valid {
			if err := json.Unmarshal([]byte(owner.String), &cur); err != nil {
				return fmt.Errorf("sqlite: %s: stored owner: %w", op, err)
			}
		}
		setStopCause, err := u.Check(id, hashike.RunState(state), hashike.StopCause(stopCause), cur)
		if err != nil {
			return err
		}
		if setStopCause {
			set("stop_cause", string(u.StopCause))
		}
		if u.NotBefore != nil {
			if hashike.RunState(state) != hashike.StateQueued {
				return hashike.Errorf(hashike.EConflict, "run %s is %s: only a queued run's not-before time can move", id, state)
			}
			if u.State == "" { // else the run leaves the queue below
				if _, err := tx.StmtContext(ctx, s.stmt.moveQueueItem).ExecContext(ctx, notBefore, id); err != nil {
					return dbErr(op, err)
				}
			}
		}
		if u.State != "" {
			set("state", string(u.State))
			if hashike.RunState(state) == hashike.StateQueued {
				// Every move from queued leaves the queue.
				if _, err := tx.StmtContext(ctx, s.stmt.deleteQueueItem).ExecContext(ctx, id); err != nil {
					return dbErr(op, err)
				}
			}
			if _, err := tx.StmtContext(ctx, s.stmt.appendTransition).ExecContext(ctx,
				id, state, string(u.State), at, u.Reason, id); err != nil {
				return dbErr(op, err)
			}
		}
		if len(sets) > 0 {
			update := updateWithoutStopCause
			if setStopCause {
				update = updateWithStopCause
			}
			if _, err := tx.StmtContext(ctx, update).ExecContext(ctx, append(args, id)...); err != nil {
				return dbErr(op, err)
			}
		}
		if sr, err = s.runInTx(ctx, tx, s.stmt.runByID, id); err != nil {
			return dbErr(op, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r, err := sr.run(&s.specs)
	if err != nil {
		return nil, dbErr(op, err)
	}
	return r, nil
}
