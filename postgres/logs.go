package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/logpack"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// readBatch is how many appends ReadLogs fetches per query. They are held, compressed, while
// fn runs, so that no query or connection stays open on fn's pace.
const readBatch = 8

// AppendLogs stores entries as one row: a logpack blob, compressed before the statement is
// sent. Positions are 1, 2, ... per run, taken from the run's log counter by the same
// statement that inserts the row: the counter's row lock makes concurrent appends (from any
// replica) take distinct positions and commit in position order, so a reader never sees a
// position before the ones below it. An empty call writes nothing. ENotFound when the run
// does not exist.
func (s *Store) AppendLogs(ctx context.Context, runID string, entries []hashike.LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	if !storable(runID) {
		return hashike.Errorf(hashike.ENotFound, "no run %q", runID)
	}
	op := "append logs of run " + runID
	blob, err := logpack.Encode(nil, entries)
	if err != nil {
		return &hashike.Error{Code: hashike.EInvalid, Message: op, Err: err}
	}
	var tag pgconn.CommandTag
	for range maxAttempts {
		tag, err = s.pool.Exec(ctx, `WITH pos AS (UPDATE runs SET log_seq = log_seq + 1 WHERE id = $1 RETURNING log_seq)
			INSERT INTO run_logs (run_id, seq, entries, data) SELECT $1, log_seq, $2, $3 FROM pos`,
			runID, len(entries), blob)
		if !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return dbErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return hashike.Errorf(hashike.ENotFound, "no run %s", runID)
	}
	return nil
}

// ReadLogs passes fn the entries appended after position after, up to those stored when it
// started, and returns the position of the last append it read in full (after, when there
// was nothing new). Appends are fetched a few at a time and fn runs between queries, so no
// statement or transaction stays open while fn runs. When fn fails, the returned position is
// that of the last append fn saw in full, and the error is fn's: reading again from there may
// repeat entries of the append that was cut short. ENotFound when the run does not exist.
func (s *Store) ReadLogs(ctx context.Context, runID string, after int64, fn func(hashike.LogEntry) error) (int64, error) {
	if !storable(runID) {
		return after, hashike.Errorf(hashike.ENotFound, "no run %q", runID)
	}
	op := "read logs of run " + runID
	var last int64
	err := s.pool.QueryRow(ctx, `SELECT log_seq FROM runs WHERE id = $1`, runID).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return after, hashike.Errorf(hashike.ENotFound, "no run %s", runID)
	}
	if err != nil {
		return after, dbErr(op, err)
	}
	type appended struct {
		seq  int64
		data []byte
	}
	next := after
	for next < last {
		rows, err := s.pool.Query(ctx, `SELECT seq, data FROM run_logs WHERE run_id = $1 AND seq > $2 AND seq <= $3
			ORDER BY seq LIMIT $4`, runID, next, last, readBatch)
		if err != nil {
			return next, dbErr(op, err)
		}
		batch, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (appended, error) {
			var a appended
			err := row.Scan(&a.seq, &a.data)
			return a, err
		})
		if err != nil {
			return next, dbErr(op, err)
		}
		if len(batch) == 0 {
			break
		}
		for _, a := range batch {
			if err := logpack.Decode(a.data, fn); err != nil {
				if errors.Is(err, logpack.ErrCorrupt) {
					return next, fmt.Errorf("postgres: %s, position %d: %w", op, a.seq, err)
				}
				return next, err // fn's own
			}
			next = a.seq
		}
	}
	return next, nil
}
