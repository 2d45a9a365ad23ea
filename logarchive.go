package hashike

import (
	"context"
	"fmt"
	"regexp"
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

// LogSearcher searches the archived output of runs (package archive).
type LogSearcher interface {
	// SearchLogs calls fn for every archived line q selects, as they are found; an error of fn
	// stops the search and is returned. EInvalid (with Fields) for a bad query.
	SearchLogs(ctx context.Context, q LogQuery, fn func(LogMatch) error) error
}

// LogQuery selects archived lines. Zero fields select everything, except Pattern: a query
// without one is refused (it would send back the whole archive).
type LogQuery struct {
	Family    string `json:"family,omitempty"`
	Container string `json:"container,omitempty"`
	// Since and Until bound the lines' times: Since <= time < Until.
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// States keeps only the lines of runs in one of these states.
	States []RunState `json:"states,omitempty"`
	// Pattern is a regular expression (RE2 syntax, as Go's regexp) a line must match.
	Pattern string `json:"pattern"`
	// Limit stops the search after that many matches (0: no limit).
	Limit int `json:"limit,omitempty"`
}

// LogMatch is an archived line a search found: its text without the newline.
type LogMatch struct {
	RunID     string    `json:"runId"`
	Family    string    `json:"family"`
	Container string    `json:"container"`
	Time      time.Time `json:"time"`
	Stream    string    `json:"stream"`
	Line      string    `json:"line"`
}

// Validate checks q, reporting every bad field at once (EInvalid).
func (q LogQuery) Validate() error {
	var fields []FieldError
	bad := func(path, msg string, args ...any) {
		fields = append(fields, FieldError{Path: path, Severity: SeverityError, Message: fmt.Sprintf(msg, args...)})
	}
	if q.Pattern == "" {
		bad("pattern", "a pattern is required")
	} else if _, err := regexp.Compile(q.Pattern); err != nil {
		bad("pattern", "%v", err)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		bad("until", "%s is not after since (%s)", q.Until.Format(time.RFC3339), q.Since.Format(time.RFC3339))
	}
	for _, s := range q.States {
		if !s.Valid() {
			bad("state", "%q is not a run state", s)
		}
	}
	if q.Limit < 0 {
		bad("limit", "%d: want 0 (no limit) or more", q.Limit)
	}
	if len(fields) > 0 {
		return &Error{Code: EInvalid, Message: "invalid log search", Fields: fields}
	}
	return nil
}
