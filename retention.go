package hashike

import (
	"context"
	"time"
)

// Retention is how long what a run leaves behind is kept once the run has ended. Each field
// is a Duration or unset: an unset field inherits (a job's from the server's configuration;
// the server's means keep forever), and 0 keeps forever. Nothing is deleted unless a
// retention says so.
type Retention struct {
	// Logs is how long a run's output stays in the database after the run ended. With a log
	// archive, the output is archived before it is deleted here and stays readable there.
	Logs *Duration `json:"logs,omitempty"`
	// Archive is how long the archived copy of a run's output stays in the object store.
	Archive *Duration `json:"archive,omitempty"`
	// Runs is how long the run itself stays: its row, state transitions, logs and
	// notifications. A run is deleted only when every try of its enqueue has ended.
	Runs *Duration `json:"runs,omitempty"`
}

// Or returns r with each unset field taken from def.
func (r Retention) Or(def Retention) Retention {
	if r.Logs == nil {
		r.Logs = def.Logs
	}
	if r.Archive == nil {
		r.Archive = def.Archive
	}
	if r.Runs == nil {
		r.Runs = def.Runs
	}
	return r
}

// IsZero reports whether no field is set.
func (r Retention) IsZero() bool { return r.Logs == nil && r.Archive == nil && r.Runs == nil }

// Cutoff is the instant before which a run must have ended for d to let it go, and whether d
// lets anything go (unset or 0: keep forever).
func Cutoff(d *Duration, now time.Time) (time.Time, bool) {
	if d == nil || *d <= 0 {
		return time.Time{}, false
	}
	return now.Add(-time.Duration(*d)), true
}

// MaxPruneBatch bounds the runs one Pruning call lists or deletes, so that a delete never
// holds the database's write lock for long.
const MaxPruneBatch = 1000

// Pruning is the role of a Store that lets retention delete old runs and logs. It deletes
// only what it is given and only in bounded batches (at most MaxPruneBatch runs, one
// transaction each), so a pruner never holds a long lock. It never deletes a run that has
// not ended, nor one that `hashike server` still depends on: an ended run of a registered job
// that is not Settled, or any try of an enqueue whose tries have not all ended and settled
// (a queued, pending or running retry).
type Pruning interface {
	// ExpiredLogs lists, oldest first, at most q.Limit ended runs in q's scope that ended
	// before q.Before and whose logs the store still holds (DeleteLogs has not deleted them).
	ExpiredLogs(ctx context.Context, q ExpiryQuery) ([]RunKey, error)
	// DeleteLogs deletes the stored log entries of the given runs that have ended, and records
	// that it did (ExpiredLogs lists them no more; ReadLogs reads nothing), in one transaction.
	// Unknown runs and runs not ended are skipped. It returns how many runs' logs it deleted.
	// Idempotent. EInvalid for more than MaxPruneBatch IDs.
	DeleteLogs(ctx context.Context, runIDs []string, now time.Time) (int, error)
	// ExpiredRuns lists, oldest first, at most q.Limit runs in q's scope that ended before
	// q.Before and may be deleted (see Pruning).
	ExpiredRuns(ctx context.Context, q ExpiryQuery) ([]RunKey, error)
	// DeleteRuns deletes the given runs with their transitions, logs, notifications and
	// records of objects (RunObjects), in one transaction, and returns the IDs of those it
	// deleted: their objects in the object store may go too. It checks again that each may be
	// deleted (see Pruning) and skips those that may not and those unknown. API tokens, jobs
	// and queues are never touched. EInvalid for more than MaxPruneBatch IDs.
	DeleteRuns(ctx context.Context, runIDs []string) (deleted []string, err error)
}

// ExpiryQuery selects runs for Pruning's listings.
type ExpiryQuery struct {
	// Before is the cutoff: a run qualifies if it ended (FinishedAt) before it. Required.
	Before time.Time
	// Job limits the listing to one registered job's runs; ExceptJobs leaves those jobs' runs
	// out (runs of `hashike run`, which have no job, are never left out). Both empty: every run.
	Job        string
	ExceptJobs []string
	// After pages: only runs after this one in the listing's order (oldest first).
	After *RunKey
	// Limit is at most MaxPruneBatch; 0 means MaxPruneBatch.
	Limit int
}

// RunKey names a run in a pruning listing, and is the cursor to list the next page from.
type RunKey struct {
	ID        string    `json:"id"`
	Job       string    `json:"job,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// Validate checks q and returns its limit.
func (q ExpiryQuery) Validate() (int, error) {
	if q.Before.IsZero() {
		return 0, Errorf(EInvalid, "expiry query: before is required")
	}
	if q.Job != "" && len(q.ExceptJobs) > 0 {
		return 0, Errorf(EInvalid, "expiry query: job and exceptJobs exclude each other")
	}
	switch {
	case q.Limit < 0 || q.Limit > MaxPruneBatch:
		return 0, Errorf(EInvalid, "expiry query: limit %d is outside 0..%d", q.Limit, MaxPruneBatch)
	case q.Limit == 0:
		return MaxPruneBatch, nil
	}
	return q.Limit, nil
}

// PruneReport is what a retention pass deleted, or with DryRun would delete.
type PruneReport struct {
	DryRun bool      `json:"dryRun"`
	At     time.Time `json:"at"`
	// Scopes are the pass's listings: one per job with a retention of its own, then the rest.
	Scopes []PruneScope `json:"scopes"`
	// Logs and Runs total the scopes'.
	Logs int `json:"logs"`
	Runs int `json:"runs"`
	// ArchiveObjects and ArchiveBytes are the archived log objects deleted.
	ArchiveObjects int   `json:"archiveObjects"`
	ArchiveBytes   int64 `json:"archiveBytes"`
	// Kept counts runs left alone because their logs could not be archived (a run may count
	// twice: for its logs and for its row).
	Kept int `json:"kept,omitempty"`
	// Errors are the first errors met (a pass goes on past a run it could not archive).
	Errors []string `json:"errors,omitempty"`
}

// PruneScope is one scope's share of a PruneReport.
type PruneScope struct {
	// Job is the job whose own retention applied; empty for the default.
	Job        string     `json:"job,omitempty"`
	LogsBefore *time.Time `json:"logsBefore,omitempty"`
	RunsBefore *time.Time `json:"runsBefore,omitempty"`
	// Logs counts the runs whose logs were deleted from the database; Runs the runs deleted.
	Logs int `json:"logs"`
	Runs int `json:"runs"`
}
