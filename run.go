package hashike

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// RunState is where a run is in its life. The legal moves are in Transitions.
type RunState string

const (
	// StateQueued: waiting in a queue of `hashike server` for a slot, capacity and its
	// not-before time; nothing is started yet.
	StateQueued RunState = "queued"
	// StatePending: recorded; the backend is creating and starting the task.
	StatePending RunState = "pending"
	// StateRunning: the task has started; its containers are running.
	StateRunning RunState = "running"
	// StateStopping: a stop was requested (timeout, signal, `hashike stop`); the containers
	// got SIGTERM and have stopTimeout to exit before they are killed.
	StateStopping RunState = "stopping"
	// StateSucceeded: the watched container exited 0.
	StateSucceeded RunState = "succeeded"
	// StateFailed: the watched container exited non-zero (or was OOM-killed).
	StateFailed RunState = "failed"
	// StateStartFailed: the task never produced an exit code for the watched container: image
	// missing, bad entrypoint, a dependency that never became ready.
	StateStartFailed RunState = "start_failed"
	// StateTimedOut: the run exceeded its timeout and was stopped.
	StateTimedOut RunState = "timed_out"
	// StateCanceled: the run was stopped by a signal or by `hashike stop`.
	StateCanceled RunState = "canceled"
	// StateLost: the task vanished while nobody watched it (containers removed, daemon state
	// lost); no exit code is known.
	StateLost RunState = "lost"
)

// ECS stop codes of a task whose instance was taken away: the job cannot be blamed.
const (
	StopCodeSpotInterruption  = "SpotInterruption"
	StopCodeTerminationNotice = "TerminationNotice"
)

// StoppedReasonInterruption starts the stopped reason of a task the autoscaler stopped
// itself (ECS StopTask) ahead of its instance's interruption, when no server stops the run
// with StopInterruption: whoever supervises the task ends its run lost all the same.
const StoppedReasonInterruption = "hashike autoscaler: instance interrupted: "

// RunStates lists every state, in life order.
var RunStates = []RunState{
	StateQueued, StatePending, StateRunning, StateStopping,
	StateSucceeded, StateFailed, StateStartFailed, StateTimedOut, StateCanceled, StateLost,
}

var terminal = []RunState{StateSucceeded, StateFailed, StateStartFailed, StateTimedOut, StateCanceled, StateLost}

// Transitions is the table of legal moves: Transitions[from][to].
var Transitions = map[RunState]map[RunState]bool{
	StateQueued:   set(StatePending, StateCanceled),
	StatePending:  set(StateRunning, StateStopping, StateSucceeded, StateFailed, StateStartFailed, StateTimedOut, StateCanceled, StateLost),
	StateRunning:  set(StateStopping, StateSucceeded, StateFailed, StateStartFailed, StateTimedOut, StateCanceled, StateLost),
	StateStopping: set(StateSucceeded, StateFailed, StateStartFailed, StateTimedOut, StateCanceled, StateLost),
}

func set(states ...RunState) map[RunState]bool {
	m := map[RunState]bool{}
	for _, s := range states {
		m[s] = true
	}
	return m
}

// Terminal reports whether s is final: no transition leaves it.
func (s RunState) Terminal() bool {
	for _, t := range terminal {
		if s == t {
			return true
		}
	}
	return false
}

// Valid reports whether s is one of RunStates.
func (s RunState) Valid() bool {
	for _, t := range RunStates {
		if s == t {
			return true
		}
	}
	return false
}

// CanTransition reports whether a run may move from one state to another.
func CanTransition(from, to RunState) bool { return Transitions[from][to] }

// StopCause is why a stop was requested.
type StopCause string

const (
	StopNone      StopCause = ""
	StopTimeout   StopCause = "timeout"
	StopInterrupt StopCause = "SIGINT"
	StopTerminate StopCause = "SIGTERM"
	StopUser      StopCause = "user" // `hashike stop`, or a cancel through the server's API
	// StopInterruption: the platform is taking the task's instance away (an EC2 spot
	// interruption warning, a scale-in lifecycle hook about to time out) and the autoscaler
	// stopped the task before it did. The run ends lost: an infrastructure failure, retried
	// without using up one of the job's attempts.
	StopInterruption StopCause = "interruption"
	// StopShutdown: the server stopped a run it could not leave running (not used today: a
	// server that shuts down leaves its runs running and the next one adopts them).
)

// Exit codes of `hashike run` and `hashike wait` that are not the watched container's own.
const (
	ExitUsage       = 2   // bad definition, flags or arguments; nothing started
	ExitTimeout     = 124 // --timeout/timeout reached; the task was stopped
	ExitStartFailed = 125 // the task never produced an exit code (failed to start, lost)
	ExitOOM         = 137 // the watched container was OOM-killed
	ExitSIGINT      = 130 // interrupted by SIGINT; the task was stopped
	ExitSIGTERM     = 143 // interrupted by SIGTERM or `hashike stop`; the task was stopped
)

// ExitStatus is how a run ended.
type ExitStatus struct {
	// ContainerExitCode is the watched container's exit code; nil when it produced none.
	ContainerExitCode *int `json:"containerExitCode,omitempty"`
	// OOMKilled: the watched container was killed for exceeding its memory limit.
	OOMKilled bool `json:"oomKilled,omitempty"`
	// Code is what `hashike run`/`wait` exit with (see the Exit* constants).
	Code int `json:"code"`
	// Reason is one line for people: "Essential container in task exited", "timeout 5s reached".
	Reason string `json:"reason,omitempty"`
	// StopCode and StoppedReason are the task's, as the backend reported them (ECS's names:
	// EssentialContainerExited, TaskFailedToStart, UserInitiated).
	StopCode      string `json:"stopCode,omitempty"`
	StoppedReason string `json:"stoppedReason,omitempty"`
}

// Run is one execution of a JobSpec.
type Run struct {
	ID             string    `json:"id"`
	Family         string    `json:"family"`
	Backend        string    `json:"backend"`
	Spec           JobSpec   `json:"spec"`
	Digest         string    `json:"digest"`
	Resources      Resources `json:"resources"`
	IdempotencyKey string    `json:"idempotencyKey,omitempty"`
	State          RunState  `json:"state"`
	// StopCause is set when a stop was requested; it decides the outcome.
	StopCause StopCause   `json:"stopCause,omitempty"`
	Exit      *ExitStatus `json:"exit,omitempty"`
	// Task identifies the task at the backend (container IDs, task ARN).
	Task *TaskRef `json:"task,omitempty"`
	// Owner is the process supervising the run, if any.
	Owner      *Owner       `json:"owner,omitempty"`
	CreatedAt  time.Time    `json:"createdAt"`
	StartedAt  *time.Time   `json:"startedAt,omitempty"`
	FinishedAt *time.Time   `json:"finishedAt,omitempty"`
	History    []Transition `json:"history,omitempty"`
	// Usage is what the task used (peak memory, CPU time), where the backend measures it;
	// recorded every minute while the run runs, and with its end.
	Usage *ResourceUsage `json:"usage,omitempty"`

	// The fields below are the server's (`hashike server`); a run of `hashike run` has none.

	// Job and JobVersion name the registered job version the run was made from.
	Job        string `json:"job,omitempty"`
	JobVersion int    `json:"jobVersion,omitempty"`
	// Queue, Priority and NotBefore place a queued run (see dispatch.Next).
	Queue     string     `json:"queue,omitempty"`
	Priority  int        `json:"priority,omitempty"`
	NotBefore *time.Time `json:"notBefore,omitempty"`
	// Payload is the enqueue request's JSON payload, given to the containers as the
	// HASHIKE_PAYLOAD variable and (locally) the file /hashike/payload.json.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Attempt numbers the tries of one enqueued run from 1; every try is its own Run (its own
	// task, exit and logs). RootID is the first try's ID (the ID the enqueue returned);
	// RetryOf is the try before this one.
	Attempt int    `json:"attempt,omitempty"`
	RootID  string `json:"rootId,omitempty"`
	RetryOf string `json:"retryOf,omitempty"`
	// Trigger says what made the run: "api", "schedule", "retry", "rerun", "manual".
	Trigger string `json:"trigger,omitempty"`
	// ScheduledAt is the cron fire time a scheduled run stands for.
	ScheduledAt *time.Time `json:"scheduledAt,omitempty"`
	// Settled is set once the server has acted on the run's end (retry decided, notifications
	// queued); a terminal run of a job that is not settled is acted on by the reconciler.
	Settled bool `json:"settled,omitempty"`
}

// ServerRun reports whether the run belongs to `hashike server` (was made from a registered
// job) rather than to `hashike run`.
func (r *Run) ServerRun() bool { return r.Job != "" }

// Ran is how long the run has run: from its start to its end, or to now while it runs; 0
// before it started.
func (r *Run) Ran(now time.Time) time.Duration {
	if r.StartedAt == nil {
		return 0
	}
	end := now
	if r.FinishedAt != nil {
		end = *r.FinishedAt
	}
	return end.Sub(*r.StartedAt)
}

// Deadline is when the run's timeout expires (from its start), and whether it has one.
func (r *Run) Deadline() (time.Time, bool) {
	if r.Spec.Timeout <= 0 || r.StartedAt == nil {
		return time.Time{}, false
	}
	return r.StartedAt.Add(time.Duration(r.Spec.Timeout)), true
}

// Transition is one recorded state change.
type Transition struct {
	From   RunState  `json:"from,omitempty"`
	To     RunState  `json:"to"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// Owner identifies the process that supervises a run: it follows the logs, enforces the
// timeout and records the outcome. A run whose owner is gone is reconciled by the next command.
type Owner struct {
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// Start is the process's start time as the OS reports it, so a reused PID is not mistaken
	// for the owner.
	Start string `json:"start"`
}

// Outcome decides how a run ended from why it was stopped (if it was) and the watched
// container's final status. It is pure: the same inputs always give the same ExitStatus.
func Outcome(cause StopCause, timeout time.Duration, watched ContainerStatus, task TaskStatus) (RunState, ExitStatus) {
	switch cause {
	case StopNone: // not stopped: decided below from the statuses
	case StopTimeout:
		return StateTimedOut, ExitStatus{ContainerExitCode: watched.ExitCode, Code: ExitTimeout,
			Reason: fmt.Sprintf("timeout of %s reached; the task was stopped", timeout)}
	case StopInterrupt:
		return StateCanceled, ExitStatus{ContainerExitCode: watched.ExitCode, Code: ExitSIGINT, Reason: "interrupted (SIGINT); the task was stopped"}
	case StopTerminate:
		return StateCanceled, ExitStatus{ContainerExitCode: watched.ExitCode, Code: ExitSIGTERM, Reason: "terminated (SIGTERM); the task was stopped"}
	case StopUser:
		return StateCanceled, ExitStatus{ContainerExitCode: watched.ExitCode, Code: ExitSIGTERM, Reason: "stopped on request (hashike stop, or a cancel through the server)"}
	case StopInterruption:
		return StateLost, ExitStatus{ContainerExitCode: watched.ExitCode, Code: ExitStartFailed,
			Reason: "its instance was being taken away (" + task.StoppedReason + "); the task was stopped: an infrastructure failure"}
	}
	if task.StopCode == StopCodeSpotInterruption || task.StopCode == StopCodeTerminationNotice ||
		strings.HasPrefix(task.StoppedReason, StoppedReasonInterruption) {
		return StateLost, ExitStatus{ContainerExitCode: watched.ExitCode, Code: ExitStartFailed,
			Reason: "its instance was taken away (" + task.StopCode + ": " + task.StoppedReason + "): an infrastructure failure"}
	}
	if watched.ExitCode == nil {
		reason := watched.Reason
		if reason == "" {
			reason = task.StoppedReason
		}
		if reason == "" {
			reason = fmt.Sprintf("container %s never started", watched.Name)
		}
		return StateStartFailed, ExitStatus{Code: ExitStartFailed, Reason: reason}
	}
	code := *watched.ExitCode
	if watched.OOMKilled {
		return StateFailed, ExitStatus{ContainerExitCode: watched.ExitCode, OOMKilled: true, Code: ExitOOM,
			Reason: fmt.Sprintf("container %s was OOM-killed (exceeded its memory limit)", watched.Name)}
	}
	if code == 137 {
		return StateFailed, ExitStatus{ContainerExitCode: watched.ExitCode, Code: code,
			Reason: fmt.Sprintf("container %s was killed (SIGKILL, exit 137)", watched.Name)}
	}
	if code == 0 {
		return StateSucceeded, ExitStatus{ContainerExitCode: watched.ExitCode, Code: 0, Reason: fmt.Sprintf("container %s exited 0", watched.Name)}
	}
	return StateFailed, ExitStatus{ContainerExitCode: watched.ExitCode, Code: code,
		Reason: fmt.Sprintf("container %s exited %d", watched.Name, code)}
}
