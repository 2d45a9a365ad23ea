package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/hashike/hashike"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ hashike.LogArchiveIndex = (*Store)(nil)

// terminalStates is the SQL list of the terminal states.
func terminalStates() string {
	var q []string
	for _, s := range []hashike.RunState{hashike.StateSucceeded, hashike.StateFailed, hashike.StateStartFailed,
		hashike.StateTimedOut, hashike.StateCanceled, hashike.StateLost} {
		q = append(q, "'"+string(s)+"'")
	}
	return strings.Join(q, ", ")
}

// AddLogSegments records the segments and the run's archive state in one write transaction
// (see hashike.LogArchiveIndex).
func (s *Store) AddLogSegments(ctx context.Context, runID string, segs []hashike.LogSegment, through, throughLine int64, complete bool) error {
	op := "add log segments of run " + runID
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(op, err)
	}
	defer tx.Rollback()
	for _, g := range segs {
		_, err := tx.ExecContext(ctx, `INSERT INTO run_log_segments (run_id, container, seq, task_key, service_key,
			first_line, last_line, first_at, last_at, lines, bytes, text_bytes)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			runID, g.Container, g.Seq, g.TaskKey, g.ServiceKey, g.FirstLine, g.LastLine,
			g.FirstAt.UnixNano(), g.LastAt.UnixNano(), g.Lines, g.Bytes, g.TextBytes)
		if constraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
			return hashike.Errorf(hashike.ENotFound, "no run %s", runID)
		}
		if err != nil {
			return dbErr(op, err)
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO run_log_archives (run_id, through, through_line, complete)
		VALUES (?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET
			through_line = CASE WHEN excluded.through > through THEN excluded.through_line ELSE through_line END,
			through = MAX(through, excluded.through),
			complete = MAX(complete, excluded.complete)`, runID, through, throughLine, complete)
	if constraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
		return hashike.Errorf(hashike.ENotFound, "no run %s", runID)
	}
	if err != nil {
		return dbErr(op, err)
	}
	return dbErr2(op, tx.Commit())
}

func dbErr2(op string, err error) error {
	if err != nil {
		return dbErr(op, err)
	}
	return nil
}

// LogArchive reads the run's archive index (see hashike.LogArchiveIndex).
func (s *Store) LogArchive(ctx context.Context, runID string) (hashike.LogArchive, error) {
	op := "read the log archive of run " + runID
	a := hashike.LogArchive{}
	var exists bool
	var through, throughLine sql.NullInt64
	var complete sql.NullBool
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?),
		(SELECT through FROM run_log_archives WHERE run_id = ?),
		(SELECT through_line FROM run_log_archives WHERE run_id = ?),
		(SELECT complete FROM run_log_archives WHERE run_id = ?)`, runID, runID, runID, runID).
		Scan(&exists, &through, &throughLine, &complete)
	if err != nil {
		return a, dbErr(op, err)
	}
	if !exists {
		return a, hashike.Errorf(hashike.ENotFound, "no run %s", runID)
	}
	a.RunID, a.Through, a.ThroughLine, a.Complete = runID, through.Int64, throughLine.Int64, complete.Bool
	rows, err := s.r.QueryContext(ctx, `SELECT container, seq, task_key, service_key, first_line, last_line,
		first_at, last_at, lines, bytes, text_bytes FROM run_log_segments WHERE run_id = ? ORDER BY container, seq`, runID)
	if err != nil {
		return a, dbErr(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var g hashike.LogSegment
		var first, last int64
		if err := rows.Scan(&g.Container, &g.Seq, &g.TaskKey, &g.ServiceKey, &g.FirstLine, &g.LastLine,
			&first, &last, &g.Lines, &g.Bytes, &g.TextBytes); err != nil {
			return a, dbErr(op, err)
		}
		g.FirstAt, g.LastAt = time.Unix(0, first), time.Unix(0, last)
		a.Segments = append(a.Segments, g)
	}
	return a, dbErr2(op, rows.Err())
}

// UnarchivedRuns lists ended runs whose archive is not complete (see hashike.LogArchiveIndex).
func (s *Store) UnarchivedRuns(ctx context.Context, before time.Time, limit int) ([]string, error) {
	const op = "list unarchived runs"
	if limit <= 0 {
		return nil, nil
	}
	b, err := formatTime(before)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT r.id FROM runs r LEFT JOIN run_log_archives a ON a.run_id = r.id
		WHERE r.state IN (`+terminalStates()+`) AND r.finished_at IS NOT NULL AND r.finished_at < ?
			AND (a.complete IS NULL OR a.complete = 0)
		ORDER BY r.finished_at, r.id LIMIT ?`, b, limit)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, dbErr(op, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	return ids, nil
}
