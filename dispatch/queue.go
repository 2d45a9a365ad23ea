package dispatch

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/hashike/hashike"
)

// Limits of queue names and priorities.
const (
	// MaxQueueNameLen is SQS's limit, so a hashike queue can always be backed by one.
	MaxQueueNameLen = 80
	// MinPriority and MaxPriority bound Queued.Priority; 0 is the default. A fixed range keeps
	// priorities comparable between jobs written by different teams.
	MinPriority = -100
	MaxPriority = 100
)

// Queued is a run waiting in a queue.
type Queued struct {
	RunID string
	Queue string
	// Priority orders runs within their queue, higher first (MinPriority..MaxPriority).
	Priority   int
	EnqueuedAt time.Time
	// NotBefore holds the run back until then (a retry's backoff); zero means now.
	NotBefore time.Time
	// Seq breaks ties between runs enqueued at the same instant: the store's insertion order.
	Seq int64
}

// QueueState is what Next needs to know about a queue. A queue missing from Next's map is the
// zero QueueState: no cap, not paused.
type QueueState struct {
	// MaxConcurrency caps the queue's running runs; 0 means no cap.
	MaxConcurrency int
	// Running is how many of the queue's runs are dispatched and not yet ended.
	Running int
	Paused  bool
}

// Next returns the runs to dispatch now, at most limit of them (limit <= 0: none), in the
// order to dispatch them. A run is eligible when NotBefore <= now and its queue is not paused
// and has room: MaxConcurrency - Running, unless MaxConcurrency is 0. Within a queue, runs
// go by Priority (higher first), then EnqueuedAt, then Seq, then RunID. Across queues it is
// round-robin: each round takes the next run of every queue that still has eligible runs and
// room, visiting first the queue whose next run was enqueued earliest (then lower Seq, then
// queue name), so priorities never compete across queues and no queue starves.
func Next(queued []Queued, queues map[string]QueueState, now time.Time, limit int) []Queued {
	if limit <= 0 {
		return nil
	}
	byQueue := map[string][]Queued{}
	for _, q := range queued {
		if q.NotBefore.After(now) || queues[q.Queue].Paused {
			continue
		}
		byQueue[q.Queue] = append(byQueue[q.Queue], q)
	}
	type lane struct {
		name string
		runs []Queued
	}
	var lanes []*lane
	for name, runs := range byQueue {
		room := len(runs)
		if s := queues[name]; s.MaxConcurrency > 0 {
			room = min(room, max(s.MaxConcurrency-s.Running, 0))
		}
		if room == 0 {
			continue
		}
		slices.SortFunc(runs, inQueueOrder)
		lanes = append(lanes, &lane{name: name, runs: runs[:room]})
	}

	var out []Queued
	for len(lanes) > 0 && len(out) < limit {
		slices.SortFunc(lanes, func(a, b *lane) int {
			x, y := a.runs[0], b.runs[0]
			return cmp.Or(x.EnqueuedAt.Compare(y.EnqueuedAt), cmp.Compare(x.Seq, y.Seq), cmp.Compare(a.name, b.name))
		})
		rest := lanes[:0]
		for _, l := range lanes {
			if len(out) == limit {
				break
			}
			out = append(out, l.runs[0])
			if l.runs = l.runs[1:]; len(l.runs) > 0 {
				rest = append(rest, l)
			}
		}
		lanes = rest
	}
	return out
}

func inQueueOrder(a, b Queued) int {
	return cmp.Or(
		cmp.Compare(b.Priority, a.Priority),
		a.EnqueuedAt.Compare(b.EnqueuedAt),
		cmp.Compare(a.Seq, b.Seq),
		cmp.Compare(a.RunID, b.RunID),
	)
}

// ValidQueueName reports whether name can name a queue: 1 to MaxQueueNameLen ASCII letters,
// digits, hyphens and underscores (SQS's rule; names also appear in URLs and metric labels).
func ValidQueueName(name string) bool {
	if name == "" || len(name) > MaxQueueNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Validate reports every problem of a queued run at once, with paths "runId", "queue" and
// "priority".
func (q Queued) Validate() []hashike.FieldError {
	var errs []hashike.FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, hashike.FieldError{Path: path, Message: fmt.Sprintf(format, args...), Severity: hashike.SeverityError})
	}
	if q.RunID == "" {
		add("runId", "is required")
	}
	if !ValidQueueName(q.Queue) {
		add("queue", "must be 1 to %d letters, digits, - or _, got %q", MaxQueueNameLen, q.Queue)
	}
	if q.Priority < MinPriority || q.Priority > MaxPriority {
		add("priority", "must be between %d and %d, got %d", MinPriority, MaxPriority, q.Priority)
	}
	return errs
}

// Validate reports the problems of a queue's state: negative counts.
func (s QueueState) Validate() []hashike.FieldError {
	var errs []hashike.FieldError
	if s.MaxConcurrency < 0 {
		errs = append(errs, hashike.FieldError{Path: "maxConcurrency", Message: "must not be negative (0 means no cap)", Severity: hashike.SeverityError})
	}
	if s.Running < 0 {
		errs = append(errs, hashike.FieldError{Path: "running", Message: "must not be negative", Severity: hashike.SeverityError})
	}
	return errs
}
