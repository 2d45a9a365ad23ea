package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/logpack"
	sqlite3 "modernc.org/sqlite/lib"
)

// AppendLogs stores entries as one row: a logpack blob, compressed before the write lock is
// taken. Positions are the rows' numbers, 1, 2, ...; an empty call writes nothing. ENotFound
// when the run does not exist.
func (s *Store) AppendLogs(ctx context.Context, runID string, entries []hashike.LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	op := "append logs of run " + runID
	blob, err := logpack.Encode(nil, entries)
	if err != nil {
		return &hashike.Error{Code: hashike.EInvalid, Message: op, Err: err}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(op, err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO run_logs (run_id, seq, entries, data)
		SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM run_logs WHERE run_id = ?`,
		runID, len(entries), blob, runID)
	if constraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
		return hashike.Errorf(hashike.ENotFound, "no run %s", runID)
	}
	if err != nil {
		return dbErr(op, err)
	}
	if err := tx.Commit(); err != nil {
		return dbErr(op, err)
	}
	return nil
}

// ReadLogs passes fn the entries appended after position after, up to those stored when it
// started, and returns the position of the last append it read in full (after, when there
// was nothing new). Rows are read one at a time, so no read transaction stays open while fn
// runs and memory stays at one batch. When fn fails, the returned position is that of the
// last append fn saw in full, and the error is fn's: reading again from there may repeat
// entries of the append that was cut short. ENotFound when the run does not exist.
func (s *Store) ReadLogs(ctx context.Context, runID string, after int64, fn func(hashike.LogEntry) error) (int64, error) {
	op := "read logs of run " + runID
	var exists bool
	var last sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?),
		(SELECT MAX(seq) FROM run_logs WHERE run_id = ?)`, runID, runID).Scan(&exists, &last)
	if err != nil {
		return after, dbErr(op, err)
	}
	if !exists {
		return after, hashike.Errorf(hashike.ENotFound, "no run %s", runID)
	}
	next := after
	for next < last.Int64 {
		if err := ctx.Err(); err != nil {
			return next, err
		}
		var seq int64
		var blob []byte
		err := s.r.QueryRowContext(ctx, `SELECT seq, data FROM run_logs WHERE run_id = ? AND seq > ?
			ORDER BY seq LIMIT 1`, runID, next).Scan(&seq, &blob)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return next, dbErr(op, err)
		}
		if err := logpack.Decode(blob, fn); err != nil {
			if errors.Is(err, logpack.ErrCorrupt) {
				return next, fmt.Errorf("sqlite: %s, position %d: %w", op, seq, err)
			}
			return next, err // fn's own
		}
		next = seq
	}
	return next, nil
}
