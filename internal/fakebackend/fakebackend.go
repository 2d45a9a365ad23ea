// Package fakebackend is a hashike.Backend that starts nothing: a task is an entry in memory
// that ends as its Behavior says. The server's tests and benchmarks use it to exercise the
// control plane alone; it keeps Start's contract (idempotent per run ID) and counts starts so
// that a test can assert no run was started twice.
package fakebackend

import (
	"context"
	"sync"
	"time"

	"github.com/hashike/hashike"
)

// Behavior is how one task ends.
type Behavior struct {
	// ExitCode of the watched container; nil with StartError set: the task fails to start.
	ExitCode   int
	StartError string
	// Output is written to stdout when the task starts.
	Output string
	// Hold keeps the task running until it is closed (or the task is stopped).
	Hold <-chan struct{}
	// Files are what the task's containers hold when it has stopped, by path, for ReadFile
	// (a result the task wrote to /hashike/result).
	Files map[string][]byte
}

// Backend is the fake. The zero value is not usable: use New.
type Backend struct {
	name   string
	behave func(req hashike.StartRequest) Behavior

	mu     sync.Mutex
	tasks  map[string]*task
	starts map[string]int
	files  map[string][]hashike.File
	refs   map[string]hashike.TaskRef
}

type task struct {
	b       Behavior
	stopped chan struct{}
	stop    sync.Once
	exit    int
}

var (
	_ hashike.Backend   = (*Backend)(nil)
	_ hashike.TaskFiles = (*Backend)(nil)
)

// ReadFile returns the file the task's Behavior.Files has at path (see hashike.TaskFiles).
func (b *Backend) ReadFile(_ context.Context, ref hashike.TaskRef, path string, limit int64) ([]byte, string, error) {
	t, err := b.get(ref.ID)
	if err != nil {
		return nil, "", err
	}
	data, ok := t.b.Files[path]
	if !ok {
		return nil, "", hashike.Errorf(hashike.ENotFound, "no container of task %s has %s", ref.ID, path)
	}
	if int64(len(data)) > limit {
		return nil, "", hashike.Errorf(hashike.ETooLarge, "%s has %d bytes, over the limit of %d", path, len(data), limit)
	}
	return data, ref.Containers[0].Name, nil
}

// New returns a backend named name ("local" unless given) whose tasks behave as behave says
// (nil: exit 0 at once).
func New(name string, behave func(req hashike.StartRequest) Behavior) *Backend {
	if name == "" {
		name = "local"
	}
	if behave == nil {
		behave = func(hashike.StartRequest) Behavior { return Behavior{} }
	}
	return &Backend{name: name, behave: behave, tasks: map[string]*task{}, starts: map[string]int{}, files: map[string][]hashike.File{}, refs: map[string]hashike.TaskRef{}}
}

// Starts returns how many times a task was started for the run (0 or 1 unless a bug).
func (b *Backend) Starts(runID string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.starts[runID]
}

// Files returns the files given to the run's task.
func (b *Backend) Files(runID string) []hashike.File {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.files[runID]
}

func (b *Backend) Name() string                                { return b.name }
func (b *Backend) Check(*hashike.JobSpec) []hashike.FieldError { return nil }

func (b *Backend) Start(_ context.Context, req hashike.StartRequest) (hashike.TaskRef, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.tasks[req.RunID]; ok {
		return b.refs[req.RunID], nil
	}
	ref := hashike.TaskRef{ID: req.RunID, Containers: []hashike.ContainerRef{{Name: req.Spec.Watched(), ID: req.RunID}}}
	beh := b.behave(req)
	if beh.StartError != "" {
		return hashike.TaskRef{}, &hashike.StartError{Reason: beh.StartError}
	}
	b.starts[req.RunID]++
	b.files[req.RunID] = req.Files
	t := &task{b: beh, stopped: make(chan struct{}), exit: beh.ExitCode}
	if beh.Hold == nil {
		t.stop.Do(func() { close(t.stopped) })
	}
	b.tasks[req.RunID] = t
	b.refs[req.RunID] = ref
	return ref, nil
}

func (b *Backend) get(id string) (*task, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tasks[id]
	if !ok {
		return nil, hashike.Errorf(hashike.ENotFound, "no task %s", id)
	}
	return t, nil
}

func (b *Backend) Find(_ context.Context, runID string, _ *hashike.JobSpec) (hashike.TaskRef, error) {
	if _, err := b.get(runID); err != nil {
		return hashike.TaskRef{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refs[runID], nil
}

func (b *Backend) Wait(ctx context.Context, ref hashike.TaskRef) (hashike.TaskStatus, error) {
	t, err := b.get(ref.ID)
	if err != nil {
		return hashike.TaskStatus{}, err
	}
	if t.b.Hold != nil {
		select {
		case <-t.b.Hold:
			t.stop.Do(func() { close(t.stopped) })
		case <-t.stopped:
		case <-ctx.Done():
			return hashike.TaskStatus{}, ctx.Err()
		}
	}
	<-t.stopped
	return b.Describe(ctx, ref)
}

func (b *Backend) Describe(_ context.Context, ref hashike.TaskRef) (hashike.TaskStatus, error) {
	t, err := b.get(ref.ID)
	if err != nil {
		return hashike.TaskStatus{}, err
	}
	select {
	case <-t.stopped:
	default:
		return hashike.TaskStatus{LastStatus: "RUNNING", Containers: []hashike.ContainerStatus{{Name: ref.Containers[0].Name, LastStatus: "RUNNING"}}}, nil
	}
	b.mu.Lock()
	code := t.exit
	b.mu.Unlock()
	return hashike.TaskStatus{LastStatus: "STOPPED", StopCode: "EssentialContainerExited",
		Containers: []hashike.ContainerStatus{{Name: ref.Containers[0].Name, LastStatus: "STOPPED", ExitCode: &code}}}, nil
}

func (b *Backend) Logs(ctx context.Context, ref hashike.TaskRef, opts hashike.LogsOptions, sink func(hashike.LogEntry) error) error {
	t, err := b.get(ref.ID)
	if err != nil {
		return err
	}
	if opts.Ready != nil {
		opts.Ready()
	}
	name := ref.Containers[0].Name
	skip := opts.After.Read(name, hashike.Stdout)
	if out := t.b.Output; int64(len(out)) > skip {
		if err := sink(hashike.LogEntry{Container: name, Stream: hashike.Stdout, Data: []byte(out[skip:])}); err != nil {
			return err
		}
	}
	if opts.Follow {
		select {
		case <-t.stopped:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (b *Backend) Stop(_ context.Context, ref hashike.TaskRef, _ string, _ time.Duration) error {
	t, err := b.get(ref.ID)
	if err != nil {
		return nil
	}
	t.stop.Do(func() {
		b.mu.Lock()
		t.exit = 143
		b.mu.Unlock()
		close(t.stopped)
	})
	return nil
}

func (b *Backend) Remove(_ context.Context, ref hashike.TaskRef) error { return nil }
