package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/hashike/hashike"
	"github.com/jackc/pgx/v5"
)

var _ hashike.LogArchiveIndex = (*Store)(nil)

// terminal are the terminal states, as the queries take them.
var terminal = []string{string(hashike.StateSucceeded), string(hashike.StateFailed), string(hashike.StateStartFailed),
	string(hashike.StateTimedOut), string(hashike.StateCanceled), string(hashike.StateLost)}

// AddLogSegments records the segments and the run's archive state in one transaction (see
// hashike.LogArchiveIndex). ON CONFLICT DO NOTHING lets two replicas archiving the same run
// both succeed with one copy of each segment.
func (s *Store) AddLogSegments(ctx context.Context, runID string, segs []hashike.LogSegment, through, throughLine int64, complete bool) error {
	if !storable(runID) {
		return hashike.Errorf(hashike.ENotFound, "no run %q", runID)
	}
	for _, g := range segs {
		if !storable(g.Container) || !storable(g.TaskKey) || !storable(g.ServiceKey) {
			return hashike.Errorf(hashike.EInvalid, "log segment %s/%d: names must be UTF-8 without NUL", g.Container, g.Seq)
		}
	}
	op := "add log segments of run " + runID
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		for _, g := range segs {
			if _, err := tx.Exec(ctx, `INSERT INTO run_log_segments (run_id, container, seq, task_key, service_key,
				first_line, last_line, first_at, last_at, lines, bytes, text_bytes)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
				runID, g.Container, g.Seq, g.TaskKey, g.ServiceKey, g.FirstLine, g.LastLine,
				g.FirstAt.UnixNano(), g.LastAt.UnixNano(), g.Lines, g.Bytes, g.TextBytes); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO run_log_archives AS a (run_id, through, through_line, complete)
			VALUES ($1, $2, $3, $4) ON CONFLICT (run_id) DO UPDATE SET
				through_line = CASE WHEN excluded.through > a.through THEN excluded.through_line ELSE a.through_line END,
				through = GREATEST(a.through, excluded.through),
				complete = a.complete OR excluded.complete`, runID, through, throughLine, complete)
		return err
	})
}

// LogArchive reads the run's archive index (see hashike.LogArchiveIndex).
func (s *Store) LogArchive(ctx context.Context, runID string) (hashike.LogArchive, error) {
	a := hashike.LogArchive{}
	if !storable(runID) {
		return a, hashike.Errorf(hashike.ENotFound, "no run %q", runID)
	}
	op := "read the log archive of run " + runID
	var through, throughLine *int64
	var complete *bool
	err := s.pool.QueryRow(ctx, `SELECT a.through, a.through_line, a.complete FROM runs r
		LEFT JOIN run_log_archives a ON a.run_id = r.id WHERE r.id = $1`, runID).Scan(&through, &throughLine, &complete)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, hashike.Errorf(hashike.ENotFound, "no run %s", runID)
	}
	if err != nil {
		return a, dbErr(op, err)
	}
	a.RunID = runID
	if through != nil {
		a.Through, a.ThroughLine, a.Complete = *through, *throughLine, *complete
	}
	rows, err := s.pool.Query(ctx, `SELECT container, seq, task_key, service_key, first_line, last_line,
		first_at, last_at, lines, bytes, text_bytes FROM run_log_segments WHERE run_id = $1 ORDER BY container, seq`, runID)
	if err != nil {
		return a, dbErr(op, err)
	}
	a.Segments, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (hashike.LogSegment, error) {
		var g hashike.LogSegment
		var first, last int64
		err := row.Scan(&g.Container, &g.Seq, &g.TaskKey, &g.ServiceKey, &g.FirstLine, &g.LastLine,
			&first, &last, &g.Lines, &g.Bytes, &g.TextBytes)
		g.FirstAt, g.LastAt = time.Unix(0, first), time.Unix(0, last)
		return g, err
	})
	if len(a.Segments) == 0 {
		a.Segments = nil
	}
	return a, dbErr(op, err)
}

// UnarchivedRuns lists ended runs whose archive is not complete (see hashike.LogArchiveIndex).
func (s *Store) UnarchivedRuns(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	us, ns, err := splitTime(before)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT r.id FROM runs r LEFT JOIN run_log_archives a ON a.run_id = r.id
		WHERE r.state = ANY($1) AND r.finished_at IS NOT NULL AND (r.finished_at, r.finished_at_ns) < ($2, $3)
			AND (a.complete IS NULL OR NOT a.complete)
		ORDER BY r.finished_at, r.finished_at_ns, r.id LIMIT $4`, terminal, us, ns, limit)
	if err != nil {
		return nil, dbErr("list unarchived runs", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, dbErr("list unarchived runs", err)
}
