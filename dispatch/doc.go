// Package dispatch holds hashike's pure queue and retry policies: which queued runs to start
// now (Next), and whether and when to try a finished run again (Decide). The stores' claim
// (sqlite, postgres) gathers the queued runs and each queue's state and calls Next with
// `now`; the server calls Decide with a run's outcome, its job's history, `now` and a random
// source, and applies the answer. Nothing here reads the clock, sleeps or does I/O.
//
// The simulator (package sim) does not run this code. It models hashike's queue as a single
// first-in, first-out queue whose tasks are retried whenever RunTask's RESOURCE:* failure may
// have cleared: no queues, priorities, concurrency caps or retry strategies (a task stopped
// by an interruption is rerun, up to sim.Config.MaxAttempts). A workload of one queue at
// one priority orders as Next would; Next sorts every queued run at each call, where the
// simulator's per-shape queues keep a backlog of tens of thousands of tasks cheap to retry
// at every change of capacity.
//
// # Retries
//
// RetryStrategy speaks AWS Batch's vocabulary (attempts, evaluateOnExit with onExitCode,
// onReason, onStatusReason and a RETRY or EXIT action; the JSON field names are Batch's), adds
// barbeque's backoff (base delay, max delay, jitter), and keeps infrastructure retries apart
// from application retries, as flotilla's NEEDS_RETRY does. Decide applies these rules, in
// this order:
//
//  1. A run that has not ended, that succeeded, or that was canceled (SIGINT, SIGTERM,
//     `hashike stop`) is never retried: someone asked it to stop.
//  2. The failure is classified (Classify). Infrastructure: the run was lost, or it ended
//     start_failed without a container exit code (image pull failure, capacity timeout,
//     a task that never started). Everything else that failed is an application failure:
//     failed (including OOM-killed) and timed_out, and start_failed when a container exit
//     code is known (the program ran).
//  3. The evaluateOnExit rules are tried in order; the first rule whose every given
//     condition matches wins. EXIT ends the job. RETRY retries it if the failure's kind has
//     attempts left. The rules see infrastructure failures too, so onReason
//     "CannotPullContainerError*" with EXIT stops retrying a missing image.
//  4. When no rule matches, the run is retried if the failure's kind has attempts left, as
//     Batch does.
//
// The two kinds have separate budgets. Attempts (1-10; 0 means 1) counts the tries that may
// end in an application failure, the first one included, as Batch's attempts does.
// InfrastructureAttempts (1-10; 0 means DefaultInfrastructureAttempts) counts the tries that
// may end in an infrastructure failure. An infrastructure failure never uses up an
// application attempt, so a job with attempts 1 still survives a lost host.
//
// Patterns are globs: `*` matches any run of characters (including none, including `/`), `?`
// matches exactly one character, everything else matches itself, case-sensitively. Batch only
// documents exact text with an optional trailing `*`; every such pattern means the same here.
// onExitCode is matched against the container exit code in decimal and never matches when
// the run has no exit code; onReason against the container's reason
// ("CannotPullContainerError: ..."); onStatusReason against the task's stopped reason
// ("Host EC2 (instance i-0123) terminated."). An empty condition is not checked.
//
// The delay before retry n of a kind (n = 1 for its first retry) is
// min(maxDelay, baseDelay * 2^(n-1)), then jittered: "none" (the default) keeps it, "full"
// takes rnd*delay, "equal" takes delay/2 + rnd*delay/2. maxDelay 0 means no cap.
//
// # Queues
//
// Next picks the runs to dispatch now. A run is eligible when its NotBefore has passed and its
// queue is not paused and has room (MaxConcurrency minus Running; MaxConcurrency 0 means no
// cap). Within a queue, runs go by priority (higher first), then first in, first out by
// EnqueuedAt, then Seq. Priorities do not compete across queues: queues take turns, one run
// each per round, and within a round the queue whose next run has waited longest goes first.
// So every queue with work gets a share of a small limit, and no queue starves across calls:
// a queue's next run only grows older until it is dispatched.
package dispatch
