package hashike

import (
	"context"
	"time"
)

// Backlog is the ServerStore role that metrics read: where the work stands now, across
// every replica. Its reads touch the live runs only (the queue, the active runs and the
// notification outbox, each behind its own index), never the run history, so that they stay
// cheap however many ended runs the database keeps.
type Backlog interface {
	// ReadBacklog returns the backlog as of now (which decides which queued runs are due).
	ReadBacklog(ctx context.Context, now time.Time) (BacklogStats, error)
}

// BacklogStats is a snapshot of the server's work in progress.
type BacklogStats struct {
	// Queues lists every queue with queued or active runs, or configured (ListQueues's set),
	// ordered by name.
	Queues []QueueBacklog
	// Outbox counts the notifications waiting to be delivered: neither delivered nor given
	// up. OutboxOldest is the CreatedAt of the oldest of them (nil: none).
	Outbox       int
	OutboxOldest *time.Time
}

// QueueBacklog is one queue's part of the backlog.
type QueueBacklog struct {
	Queue  string
	Paused bool
	// Queued counts the runs in StateQueued; Due those of them whose not-before time has come
	// (the others were delayed or are retries in their backoff).
	Queued int
	Due    int
	// OldestDue is when the longest-waiting due run became due: its not-before time, else
	// its enqueue time (nil: none is due). now minus it is the queue's oldest age.
	OldestDue *time.Time
	// Active counts the queue's runs in StatePending, StateRunning and StateStopping, by
	// state; absent states have none.
	Active map[RunState]int
}
