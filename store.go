package hashike

import (
	"context"
	"time"
)

// Store keeps the run history: runs, their state transitions and their logs. It is the two
// roles RunStore and LogStore of one database; each consumer takes only the role it uses.
// Implementations run storetest's conformance suites (Run, and RunLogs for the LogStore role).
type Store interface {
	RunStore
	LogStore

	// Close releases the store.
	Close() error
}

// RunStore keeps the runs and their state transitions.
type RunStore interface {
	// CreateRun records run (in StatePending, or StateQueued for a run of the server that
	// waits in run.Queue, with its first Transition). When
	// run.IdempotencyKey is set and a run with that key exists, nothing is written and the
	// existing run is returned with created=false. ID collisions are EConflict.
	CreateRun(ctx context.Context, run *Run) (existing *Run, created bool, err error)

	// GetRun returns a run with its History. id may be a unique prefix of a run ID (as
	// Docker accepts container ID prefixes): ENotFound when none matches, EConflict when
	// several do.
	GetRun(ctx context.Context, id string) (*Run, error)

	// ListRuns returns runs newest first.
	ListRuns(ctx context.Context, f RunFilter) ([]*Run, error)

	// UpdateRun applies u to the run atomically. A state change must be legal per
	// Transitions (else EConflict, nothing written) and is recorded as a Transition with
	// u.At and u.Reason. With u.IfOwner set, the update applies only while the stored owner
	// equals *u.IfOwner (nil matching a run without owner), else EConflict: that is how a
	// process takes over a run whose owner died without racing another. u.IfStopCause is the
	// same for the stored stop cause. A refused update writes nothing.
	UpdateRun(ctx context.Context, id string, u RunUpdate) (*Run, error)
}

// LogStore keeps the runs' output. The database stores (SQLite, PostgreSQL) keep it in a table;
// package archive reads it back from the object store once the database's copy is gone.
type LogStore interface {
	// AppendLogs stores entries after those already stored for the run, in order. It keeps
	// nothing of entries after it returns: the caller reuses their Data.
	AppendLogs(ctx context.Context, runID string, entries []LogEntry) error

	// ReadLogs calls fn for every stored entry of the run after position after (0: from the
	// start), in the order they were appended, and returns the position to pass next time to
	// read only what was appended since.
	ReadLogs(ctx context.Context, runID string, after int64, fn func(LogEntry) error) (next int64, err error)
}

// RunFilter selects runs for ListRuns. Zero fields select everything.
type RunFilter struct {
	States []RunState
	Family string
	Since  time.Time // created at or after
	// Active selects only non-terminal runs (for reconciliation).
	Active bool
	// Job, Queue and RootID select a registered job's runs, a queue's runs, and the tries of
	// one enqueued run (oldest first is the caller's to sort: ListRuns stays newest first).
	Job    string
	Queue  string
	RootID string
	// Unsettled selects terminal runs of registered jobs that are not Settled.
	Unsettled bool
	// Before pages: only runs listed after the run with this ID (older, or created at the
	// same instant with a smaller ID). ENotFound when no run has that ID.
	Before string
	Limit  int
	// TaskIDs selects the runs whose task (TaskRef.ID: an ECS task ARN) is one of them: the
	// runs on an instance being taken away.
	TaskIDs []string
	// OldestFirst lists the oldest runs first (with Limit, the Limit oldest): demand for
	// capacity is read oldest first. It does not page: with Before it is EInvalid.
	OldestFirst bool
}

// RunUpdate is a change to a run. Nil/zero fields are left as they are.
type RunUpdate struct {
	At     time.Time
	State  RunState // "" keeps the state
	Reason string   // recorded with the transition
	Task   *TaskRef
	Exit   *ExitStatus
	// StopCause is set only if the run has none yet (the first cause wins).
	StopCause  StopCause
	StartedAt  *time.Time
	FinishedAt *time.Time
	// SetOwner replaces the owner (with ClearOwner, removes it).
	SetOwner   *Owner
	ClearOwner bool
	// IfOwner, when non-nil, is a precondition on the current owner (see UpdateRun).
	IfOwner *OwnerMatch
	// IfStopCause, when non-nil, is a precondition on the run's stop cause (EConflict when
	// it has another): a supervisor records a run's end, which depends on the cause, without
	// reading the run again first.
	IfStopCause *StopCause
	// Settled marks the run settled (see Run.Settled); it is never unset.
	Settled bool
	// Usage replaces the run's resource usage summary.
	Usage *ResourceUsage
	// NotBefore moves a queued run's not-before time (EConflict unless the run is queued):
	// how the server releases a fire it held back.
	NotBefore *time.Time
}

// OwnerMatch is a precondition on a run's owner: Owner nil means "has no owner".
type OwnerMatch struct {
	Owner *Owner
}
