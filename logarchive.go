package hashike

import (
	"context"
	"time"
)

// LogArchiveIndex is the database's index of the runs' archived output (package archive writes
// the segments to an ObjectStore): which segments a run has, and how far into the run's stored
// output (the LogStore position) the archive reaches. The SQLite and PostgreSQL stores implement
// it; storetest.RunLogArchiveIndex is its conformance suite.
type LogArchiveIndex interface {
	// AddLogSegments records segs, segments of run runID, and then the run's archive state: when
	// through > 0, that the archive covers the run's stored output up to LogStore position
	// through, whose lines number throughLine; with complete, that the archive is complete (no
	// more output will come). All of it in one transaction. A segment whose (run, container,
	// seq) is recorded already is left as it is, so a caller that crashed may add the same
	// segments again. through never moves back and complete is never unset. ENotFound when the
	// run does not exist.
	AddLogSegments(ctx context.Context, runID string, segs []LogSegment, through, throughLine int64, complete bool) error
	// LogArchive returns the run's archive: its segments by container then seq, and its state.
	// A run with nothing archived has a zero LogArchive (no error); ENotFound when the run does
	// not exist.
	LogArchive(ctx context.Context, runID string) (LogArchive, error)
	// UnarchivedRuns returns the IDs of the runs that ended (terminal state) before before and
	// whose archive is not complete, oldest end first, at most limit.
	UnarchivedRuns(ctx context.Context, before time.Time, limit int) ([]string, error)
}

// LogArchive is what the index knows of a run's archived output.
type LogArchive struct {
	RunID    string
	Segments []LogSegment
	// Through is the LogStore position up to which the run's output is archived (0: none),
	// ThroughLine the number of lines (entries) up to it.
	Through     int64
	ThroughLine int64
	// Complete: the whole output of the ended run is archived.
	Complete bool
}

// LogSegment is one archived object of a run's output: some lines of one container, in order.
// It is stored twice, under TaskKey (per task) and ServiceKey (per service).
type LogSegment struct {
	Container string
	// Seq numbers the container's segments of the run: 1, 2, ...
	Seq        int
	TaskKey    string
	ServiceKey string
	// FirstLine and LastLine are run-wide line numbers (0-based, in the order the run's lines
	// were stored) of the segment's first and last line: reading a run back merges its
	// containers' segments by them.
	FirstLine, LastLine int64
	FirstAt, LastAt     time.Time
	Lines               int64
	// Bytes is the object's (compressed) size; TextBytes the size of the output it holds.
	Bytes, TextBytes int64
}
