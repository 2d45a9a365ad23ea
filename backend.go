package hashike

import (
	"context"
	"sync"
	"time"
)

// Backend starts, observes and stops tasks on one platform (the local Docker Engine, Amazon
// ECS). Every method is safe to call from any process at any time: a backend keeps no state
// that a new process could not rebuild from the platform and the TaskRef, which is what lets
// `hashike wait` reattach after the starting process died.
type Backend interface {
	// Name is the backend's name in job files and the run history ("local", "ecs").
	Name() string

	// Check reports what this backend cannot honour in spec: errors make the spec unrunnable
	// here; warnings name fields it ignores. It touches nothing.
	Check(spec *JobSpec) []FieldError

	// Start creates the run's task and has it started: at once (ECS RunTask), or by the first
	// Wait where the backend runs the task itself (local: Wait starts the containers, so that a
	// log follower can attach first). It is idempotent per run ID: when a task for req.RunID
	// already exists it returns that task instead of starting a second one.
	// Errors: EInvalid when the platform refuses the definition; EUnavailable when the
	// platform cannot be reached. A task that fails after creation (image missing, bad
	// entrypoint) is not an error here: Wait reports it with no exit code.
	Start(ctx context.Context, req StartRequest) (TaskRef, error)

	// Find returns the task started for runID (by the labels or tags Start put on it), or an
	// ENotFound error. spec says where to look (the ECS cluster).
	Find(ctx context.Context, runID string, spec *JobSpec) (TaskRef, error)

	// Wait blocks until the task has stopped and returns its final status. Where the platform
	// does not enforce essential containers and dependsOn itself, Wait does; calling Wait
	// again (in any process) resumes that work. ctx ends the waiting, not the task.
	Wait(ctx context.Context, ref TaskRef) (TaskStatus, error)

	// Describe returns the task's current status without waiting. ENotFound when the
	// platform has no such task any more.
	Describe(ctx context.Context, ref TaskRef) (TaskStatus, error)

	// Logs sends the output of the task's containers to sink, in order per container and
	// stream, skipping the bytes opts.After says were read. With Follow it returns once the
	// task has stopped and every container's output is drained; without, once what exists now
	// is sent. Entries' Data is valid only during the sink call.
	Logs(ctx context.Context, ref TaskRef, opts LogsOptions, sink func(LogEntry) error) error

	// Stop asks the task to stop: every running container gets SIGTERM, then SIGKILL after its
	// stopTimeout (or after grace, when grace >= 0 is smaller). It returns once the stop is
	// requested; Wait observes the end. Stopping a stopped task is not an error.
	Stop(ctx context.Context, ref TaskRef, reason string, grace time.Duration) error

	// Remove deletes the stopped task's containers and task-scoped volumes. Idempotent.
	Remove(ctx context.Context, ref TaskRef) error
}

// StartRequest is what Backend.Start needs.
type StartRequest struct {
	RunID string
	Spec  JobSpec
	// Secrets holds resolved secret values by secret name, for backends that inject them
	// (local), and the values of held secrets (see HeldSecretPrefix) for every backend.
	// Never persisted, never logged.
	Secrets map[string]string
	// Files are put into every container of the task before it starts, where the backend can
	// (local; ECS cannot and ignores them): the server's payload file.
	Files []File
	// Proceed, when set, is asked before each new attempt of a start that waits (an ECS
	// RunTask retried after a capacity failure): an error ends the start with it, before the
	// attempt. The runner reports a stop recorded meanwhile (hashike stop, a cancel through
	// the server) there, so that no task starts after it.
	Proceed func(ctx context.Context) error
}

// HeldSecretPrefix starts the valueFrom of a held secret: one whose value hashike holds in
// memory only (a GitHub Actions runner's JIT config) and gives the backend in
// StartRequest.Secrets under the secret's name, instead of a reference the platform resolves.
// The local backend injects it like any secret; the ECS backend passes it as a RunTask
// containerOverrides environment variable (ECS has no per-task secret override).
const HeldSecretPrefix = "hashike:"

// File is a file put into a task's containers.
type File struct {
	// Path is absolute ("/hashike/payload.json").
	Path string
	Data []byte
	// Dir makes Path an empty directory that every user may write in (mode 1777, as /tmp):
	// /hashike, where a container writes its result. Data is then empty.
	Dir bool
}

// TaskFiles is the role of a Backend that can read files out of a stopped task's containers
// (local: Docker keeps a stopped container's file system until Remove). The server reads a
// run's result (/hashike/result) through it. A decorator around a Backend (metrics, retries)
// forwards it when the Backend it wraps has it: without, local results are not collected.
type TaskFiles interface {
	// ReadFile returns the content of the regular file at path in the first of the task's
	// containers (in TaskRef order) that has one, and that container's name. ENotFound when
	// none has it; ETooLarge when it is over limit bytes (nothing is read then).
	ReadFile(ctx context.Context, ref TaskRef, path string, limit int64) (data []byte, container string, err error)
}

// TaskRef identifies a task at its backend. It is stored with the run.
type TaskRef struct {
	// ID is the task's identifier: the task ARN on ECS, the run's label value locally.
	ID string `json:"id"`
	// Cluster is the ECS cluster the task runs in ("" locally).
	Cluster string `json:"cluster,omitempty"`
	// ContainerInstance is the ECS container instance the task ran on (EC2 launch type).
	ContainerInstance string         `json:"containerInstance,omitempty"`
	Containers        []ContainerRef `json:"containers,omitempty"`
}

// ContainerRef is one container of a task.
type ContainerRef struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// Task and container states, with ECS's names.
const (
	TaskProvisioning = "PROVISIONING"
	TaskPending      = "PENDING"
	TaskRunning      = "RUNNING"
	TaskStopped      = "STOPPED"
)

// TaskStatus is a task's observed state.
type TaskStatus struct {
	// LastStatus is TaskPending, TaskRunning or TaskStopped (and TaskProvisioning on ECS).
	LastStatus string `json:"lastStatus"`
	// StopCode and StoppedReason as ECS reports them: "EssentialContainerExited",
	// "TaskFailedToStart", "UserInitiated".
	StopCode      string `json:"stopCode,omitempty"`
	StoppedReason string `json:"stoppedReason,omitempty"`
	// ContainerInstanceArn is where an ECS task was placed ("" on Fargate and locally).
	ContainerInstanceArn string            `json:"containerInstanceArn,omitempty"`
	Containers           []ContainerStatus `json:"containers"`
	CreatedAt            *time.Time        `json:"createdAt,omitempty"`
	StartedAt            *time.Time        `json:"startedAt,omitempty"`
	StoppedAt            *time.Time        `json:"stoppedAt,omitempty"`
}

// Container returns the status of the named container (the zero value named name if absent).
func (t TaskStatus) Container(name string) ContainerStatus {
	for _, c := range t.Containers {
		if c.Name == name {
			return c
		}
	}
	return ContainerStatus{Name: name}
}

// ContainerStatus is one container's observed state.
type ContainerStatus struct {
	Name string `json:"name"`
	// LastStatus: PENDING (created, not started), RUNNING, STOPPED.
	LastStatus string `json:"lastStatus"`
	// ExitCode is nil while running and when the container never ran.
	ExitCode  *int `json:"exitCode,omitempty"`
	OOMKilled bool `json:"oomKilled,omitempty"`
	// Reason says why a container stopped or never started ("CannotPullContainerError: ...").
	Reason string `json:"reason,omitempty"`
	// Health: "", HEALTHY, UNHEALTHY, UNKNOWN (ECS's healthStatus).
	Health     string     `json:"healthStatus,omitempty"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// Stream names a container output stream.
type Stream uint8

const (
	Stdout Stream = 1
	Stderr Stream = 2
)

func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// LogEntry is one record of a container's output: usually one line, newline included.
type LogEntry struct {
	Container string
	Stream    Stream
	Time      time.Time
	Data      []byte
}

// LogsOptions select what Backend.Logs sends.
type LogsOptions struct {
	Follow bool
	// After skips what was already seen, per container and stream.
	After LogCursor
	// Ready, when set, is called once the backend is sure to capture all output from then on
	// (the local backend attaches to its containers before they start). A caller that wants
	// every byte starts the task's containers (Wait) only after Ready.
	Ready func()
}

// LogCursor records how much of a task's output has been read: bytes per container and stream.
// Bytes, not timestamps: the local engine's live stream and its log store carry the same
// bytes but not the same times, and Docker stamps a container's stdout and stderr in separate
// goroutines, so times are not monotonic across them. Resuming skips exactly what was read.
type LogCursor map[string]int64

func cursorKey(container string, s Stream) string { return container + "/" + s.String() }

// Advance records e as read.
func (c LogCursor) Advance(e LogEntry) { c[cursorKey(e.Container, e.Stream)] += int64(len(e.Data)) }

// Read returns how many bytes of a container's stream were read.
func (c LogCursor) Read(container string, s Stream) int64 { return c[cursorKey(container, s)] }

// Unseen returns the part of data not read yet, for data found at byte offset in its stream
// (nil when all of it was read).
func (c LogCursor) Unseen(container string, s Stream, offset int64, data []byte) []byte {
	seen := c.Read(container, s)
	end := offset + int64(len(data))
	switch {
	case end <= seen:
		return nil
	case offset < seen:
		return data[seen-offset:]
	}
	return data
}

// Clone returns a copy of c.
func (c LogCursor) Clone() LogCursor {
	out := make(LogCursor, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// SerialSink returns a sink that calls sink from one goroutine at a time, as Logs promises its
// caller, for a backend that reads several containers at once.
func SerialSink(sink func(LogEntry) error) func(LogEntry) error {
	var mu sync.Mutex
	return func(e LogEntry) error {
		mu.Lock()
		defer mu.Unlock()
		return sink(e)
	}
}
