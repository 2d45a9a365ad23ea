package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashike/hashike"
	"github.com/jackc/pgx/v5"
)

// splitTime returns t as the instant truncated to its microsecond, which timestamptz keeps
// exactly, and the nanoseconds below it. Times outside years 0 to 9999 are EInvalid, as in
// the SQLite store.
func splitTime(t time.Time) (time.Time, int16, error) {
	u := t.UTC()
	if y := u.Year(); y < 0 || y > 9999 {
		return time.Time{}, 0, hashike.Errorf(hashike.EInvalid, "time %s is outside years 0 to 9999", t)
	}
	us := u.Truncate(time.Microsecond)
	return us, int16(u.Sub(us)), nil
}

func joinTime(us time.Time, ns int16) time.Time {
	return us.UTC().Add(time.Duration(ns))
}

// nullTime is splitTime for an optional time: nil pointers for NULL.
func nullTime(t *time.Time) (*time.Time, *int16, error) {
	if t == nil {
		return nil, nil, nil
	}
	us, ns, err := splitTime(*t)
	if err != nil {
		return nil, nil, err
	}
	return &us, &ns, nil
}

func joinNullTime(us *time.Time, ns *int16) *time.Time {
	if us == nil {
		return nil
	}
	var n int16
	if ns != nil {
		n = *ns
	}
	t := joinTime(*us, n)
	return &t
}

// storable reports whether PostgreSQL text can hold s: no NUL byte, valid UTF-8. No stored
// run has an ID (or family) that is not, so a lookup by one finds nothing rather than
// failing.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// nullJSON encodes v as JSON text, or nil (NULL) when v is a nil pointer.
func nullJSON[T any](v *T) (*string, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

const runColumns = `r.id, r.family, r.backend, r.state, r.spec, r.digest, r.cpu, r.memory_mib,
	r.idempotency_key, r.stop_cause, r.exit, r.task, r.owner, r.created_at, r.created_at_ns,
	r.started_at, r.started_at_ns, r.finished_at, r.finished_at_ns,
	r.job, r.job_version, r.queue, r.priority, r.not_before, r.not_before_ns, r.payload,
	r.attempt, r.root_id, r.retry_of, r.trigger, r.scheduled_at, r.scheduled_at_ns, r.settled, r.usage`

// historyColumns are the run's transitions as arrays in seq order, from the lateral join
// historyJoin: one statement reads a run and its history from one snapshot.
const (
	historyColumns = `h.froms, h.tos, h.ats, h.at_ns, h.reasons`
	historyJoin    = `CROSS JOIN LATERAL (SELECT array_agg(t.from_state ORDER BY t.seq) AS froms,
		array_agg(t.to_state ORDER BY t.seq) AS tos, array_agg(t.at ORDER BY t.seq) AS ats,
		array_agg(t.at_ns ORDER BY t.seq) AS at_ns, array_agg(t.reason ORDER BY t.seq) AS reasons
		FROM run_transitions t WHERE t.run_id = r.id) h`
)

// runRow holds a scanned row until it is turned into a hashike.Run.
type runRow struct {
	r                     hashike.Run
	state, stopCause      string
	spec                  []byte
	cpu, memoryMiB        int64
	key                   *string
	exit, task, owner     []byte
	usage                 []byte
	createdAt             time.Time
	createdNs             int16
	startedAt, finishedAt *time.Time
	startedNs, finishedNs *int16
	notBefore, scheduled  *time.Time
	notBeforeNs, schedNs  *int16
	withHistory           bool
	froms, tos, reasons   []string
	ats                   []time.Time
	atNs                  []int16
}

func (w *runRow) dest() []any {
	d := []any{&w.r.ID, &w.r.Family, &w.r.Backend, &w.state, &w.spec, &w.r.Digest, &w.cpu, &w.memoryMiB,
		&w.key, &w.stopCause, &w.exit, &w.task, &w.owner, &w.createdAt, &w.createdNs,
		&w.startedAt, &w.startedNs, &w.finishedAt, &w.finishedNs,
		&w.r.Job, &w.r.JobVersion, &w.r.Queue, &w.r.Priority, &w.notBefore, &w.notBeforeNs, &w.r.Payload,
		&w.r.Attempt, &w.r.RootID, &w.r.RetryOf, &w.r.Trigger, &w.scheduled, &w.schedNs, &w.r.Settled, &w.usage}
	if w.withHistory {
		d = append(d, &w.froms, &w.tos, &w.ats, &w.atNs, &w.reasons)
	}
	return d
}

// run decodes the row into a run, its spec through specs.
func (w *runRow) run(specs *hashike.SpecCache) (*hashike.Run, error) {
	r := &w.r
	r.State = hashike.RunState(w.state)
	r.StopCause = hashike.StopCause(w.stopCause)
	r.Resources = hashike.Resources{CPU: int(w.cpu), MemoryMiB: int(w.memoryMiB)}
	if w.key != nil {
		r.IdempotencyKey = *w.key
	}
	spec, err := specs.Decode(w.spec)
	if err != nil {
		return nil, fmt.Errorf("run %s: spec: %w", r.ID, err)
	}
	r.Spec = spec
	for _, j := range []struct {
		col  []byte
		dst  any
		name string
	}{{w.exit, &r.Exit, "exit"}, {w.task, &r.Task, "task"}, {w.owner, &r.Owner, "owner"}, {w.usage, &r.Usage, "usage"}} {
		if j.col != nil {
			if err := json.Unmarshal(j.col, j.dst); err != nil {
				return nil, fmt.Errorf("run %s: %s: %w", r.ID, j.name, err)
			}
		}
	}
	r.CreatedAt = joinTime(w.createdAt, w.createdNs)
	r.StartedAt = joinNullTime(w.startedAt, w.startedNs)
	r.FinishedAt = joinNullTime(w.finishedAt, w.finishedNs)
	r.NotBefore = joinNullTime(w.notBefore, w.notBeforeNs)
	r.ScheduledAt = joinNullTime(w.scheduled, w.schedNs)
	if len(r.Payload) == 0 {
		r.Payload = nil
	}
	if w.withHistory {
		n := len(w.tos)
		if len(w.froms) != n || len(w.ats) != n || len(w.atNs) != n || len(w.reasons) != n {
			return nil, fmt.Errorf("run %s: history arrays of different lengths", r.ID)
		}
		r.History = make([]hashike.Transition, n)
		for i := range n {
			r.History[i] = hashike.Transition{From: hashike.RunState(w.froms[i]), To: hashike.RunState(w.tos[i]),
				At: joinTime(w.ats[i], w.atNs[i]), Reason: w.reasons[i]}
		}
	}
	return r, nil
}

// getRun returns the one run matching where (on runs r), with its history, or an ENotFound
// error.
func (s *Store) getRun(ctx context.Context, where string, args ...any) (*hashike.Run, error) {
	w := runRow{withHistory: true}
	err := s.pool.QueryRow(ctx, `SELECT `+runColumns+`, `+historyColumns+` FROM runs r `+historyJoin+` WHERE `+where, args...).Scan(w.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hashike.Errorf(hashike.ENotFound, "no such run")
	}
	if err != nil {
		return nil, err
	}
	return w.run(&s.specs)
}

// jsonOf encodes v as JSON, or nil when v is a nil pointer.
func jsonOf[T any](v *T) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// jsonText is a JSON document as a parameter of a json column: nil for NULL.
func jsonText(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

// GetRun returns the run whose ID is id or, failing that, the only one whose ID starts with
// id, with its History. The run and its history come from one statement, so one snapshot.
func (s *Store) GetRun(ctx context.Context, id string) (*hashike.Run, error) {
	if id == "" {
		return nil, hashike.Errorf(hashike.ENotFound, "no run ID given")
	}
	if !storable(id) {
		return nil, hashike.Errorf(hashike.ENotFound, "no run %q", id)
	}
	op := "get run " + id
	r, err := s.getRun(ctx, "r.id = $1", id)
	if err == nil {
		return r, nil
	}
	if hashike.ErrorCodeOf(err) != hashike.ENotFound {
		return nil, dbErr(op, err)
	}
	// IDs compare as bytes (COLLATE "C"), so those starting with id form one contiguous range
	// of the primary key, beginning at the first ID >= id; the first two tell a unique match
	// from an ambiguous one. Retention may delete the match in between: then it is not found.
	rows, err := s.pool.Query(ctx, `SELECT id FROM runs WHERE id >= $1 ORDER BY id LIMIT 2`, id)
	if err != nil {
		return nil, dbErr(op, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, dbErr(op, err)
	}
	var matches []string
	for _, m := range ids {
		if strings.HasPrefix(m, id) {
			matches = append(matches, m)
		}
	}
	switch len(matches) {
	case 0:
		return nil, hashike.Errorf(hashike.ENotFound, "no run %s", id)
	case 2:
		return nil, hashike.Errorf(hashike.EConflict, "run ID prefix %s is ambiguous: it matches %s, %s and maybe more", id, matches[0], matches[1])
	}
	r, err = s.getRun(ctx, "r.id = $1", matches[0])
	if err != nil {
		if hashike.ErrorCodeOf(err) == hashike.ENotFound {
			return nil, hashike.Errorf(hashike.ENotFound, "no run %s", id)
		}
		return nil, dbErr(op, err)
	}
	return r, nil
}

// ListRuns returns the runs f selects, newest (by CreatedAt, then ID) first. Their History is
// not loaded: GetRun has it. f.Before is an exact ID.
func (s *Store) ListRuns(ctx context.Context, f hashike.RunFilter) ([]*hashike.Run, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		where = append(where, "r.state = ANY("+arg(states)+")")
	}
	if f.Active {
		var active []string
		for _, st := range hashike.RunStates {
			if !st.Terminal() {
				active = append(active, string(st))
			}
		}
		where = append(where, "r.state = ANY("+arg(active)+")")
	}
	if f.Family != "" {
		if !storable(f.Family) {
			return nil, nil
		}
		where = append(where, "r.family = "+arg(f.Family))
	}
	if !f.Since.IsZero() {
		us, ns, err := splitTime(f.Since)
		if err != nil {
			return nil, err
		}
		where = append(where, "(r.created_at, r.created_at_ns) >= ("+arg(us)+", "+arg(ns)+")")
	}
	for _, eq := range []struct{ col, v string }{{"r.job", f.Job}, {"r.queue", f.Queue}, {"r.root_id", f.RootID}} {
		if eq.v == "" {
			continue
		}
		if !storable(eq.v) {
			return nil, nil
		}
		// The partial indexes hold the rows where the column is not ''.
		where = append(where, eq.col+" = "+arg(eq.v)+" AND "+eq.col+" <> ''")
	}
	if len(f.TaskIDs) > 0 {
		var ids []string
		for _, id := range f.TaskIDs {
			if storable(id) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return nil, nil
		}
		where = append(where, "r.task IS NOT NULL AND r.task->>'id' = ANY("+arg(ids)+")")
	}
	if f.Unsettled {
		where = append(where, `r.job <> '' AND NOT r.settled
			AND r.state IN ('succeeded', 'failed', 'start_failed', 'timed_out', 'canceled', 'lost')`)
	}
	if f.Before != "" {
		if !storable(f.Before) {
			return nil, hashike.Errorf(hashike.ENotFound, "list runs before %q: no such run", f.Before)
		}
		var at time.Time
		var ns int16
		err := s.pool.QueryRow(ctx, `SELECT created_at, created_at_ns FROM runs WHERE id = $1`, f.Before).Scan(&at, &ns)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, hashike.Errorf(hashike.ENotFound, "list runs before %s: no such run", f.Before)
		}
		if err != nil {
			return nil, dbErr("list runs", err)
		}
		where = append(where, "(r.created_at, r.created_at_ns, r.id) < ("+arg(at)+", "+arg(ns)+", "+arg(f.Before)+")")
	}
	q := `SELECT ` + runColumns + ` FROM runs r`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.OldestFirst {
		if f.Before != "" {
			return nil, hashike.Errorf(hashike.EInvalid, "list runs: oldest first does not page (before %s)", f.Before)
		}
		q += ` ORDER BY r.created_at, r.created_at_ns, r.id`
	} else {
		q += ` ORDER BY r.created_at DESC, r.created_at_ns DESC, r.id DESC`
	}
	if f.Limit > 0 {
		q += ` LIMIT ` + arg(f.Limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, dbErr("list runs", err)
	}
	defer rows.Close()
	var out []*hashike.Run
	for rows.Next() {
		var w runRow
		if err := rows.Scan(w.dest()...); err != nil {
			return nil, dbErr("list runs", err)
		}
		r, err := w.run(&s.specs)
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
