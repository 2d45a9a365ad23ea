package runner_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/runner"
	"github.com/hashike/hashike/sqlite"
)

// fakeBackend models a task with one container: it writes its output, then exits with
// exitCode when released, or 143 when stopped. Wait and Logs block like the real thing.
type fakeBackend struct {
	mu       sync.Mutex
	tasks    map[string]*fakeTask
	startErr error
	output   []string
	exitCode int
	vanish   bool // Wait reports the task gone
	outage   int  // Wait calls that find the platform unreachable (then the task has exited)
	stops    int
	removed  []string
}

type fakeTask struct {
	done chan struct{}
	code int
}

func (f *fakeBackend) Name() string                                { return "local" }
func (f *fakeBackend) Check(*hashike.JobSpec) []hashike.FieldError { return nil }

func (f *fakeBackend) Start(_ context.Context, req hashike.StartRequest) (hashike.TaskRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return hashike.TaskRef{}, f.startErr
	}
	if f.tasks == nil {
		f.tasks = map[string]*fakeTask{}
	}
	if _, ok := f.tasks[req.RunID]; !ok {
		f.tasks[req.RunID] = &fakeTask{done: make(chan struct{}), code: f.exitCode}
	}
	return hashike.TaskRef{ID: req.RunID}, nil
}

func (f *fakeBackend) task(id string) (*fakeTask, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tasks[id]
	if !ok {
		return nil, hashike.Errorf(hashike.ENotFound, "no task %s", id)
	}
	return t, nil
}

func (f *fakeBackend) Find(_ context.Context, id string, _ *hashike.JobSpec) (hashike.TaskRef, error) {
	if _, err := f.task(id); err != nil {
		return hashike.TaskRef{}, err
	}
	return hashike.TaskRef{ID: id}, nil
}

// release lets the task exit with its code; a task not started yet exits as soon as it is.
func (f *fakeBackend) release(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tasks[id]
	if !ok {
		if f.tasks == nil {
			f.tasks = map[string]*fakeTask{}
		}
		t = &fakeTask{done: make(chan struct{}), code: f.exitCode}
		f.tasks[id] = t
	}
	select {
	case <-t.done:
	default:
		close(t.done)
	}
}

func (f *fakeBackend) Wait(ctx context.Context, ref hashike.TaskRef) (hashike.TaskStatus, error) {
	if f.vanish {
		return hashike.TaskStatus{}, hashike.Errorf(hashike.ENotFound, "gone")
	}
	t, err := f.task(ref.ID)
	if err != nil {
		return hashike.TaskStatus{}, err
	}
	f.mu.Lock()
	if f.outage > 0 {
		f.outage--
		f.mu.Unlock()
		f.release(ref.ID) // the platform's restart ended the task
		return hashike.TaskStatus{}, hashike.Errorf(hashike.EUnavailable, "cannot reach the Docker Engine")
	}
	f.mu.Unlock()
	select {
	case <-ctx.Done():
		return hashike.TaskStatus{}, ctx.Err()
	case <-t.done:
	}
	f.mu.Lock()
	code := t.code
	f.mu.Unlock()
	return hashike.TaskStatus{LastStatus: hashike.TaskStopped, Containers: []hashike.ContainerStatus{
		{Name: "app", LastStatus: hashike.TaskStopped, ExitCode: &code}}}, nil
}

func (f *fakeBackend) Describe(ctx context.Context, ref hashike.TaskRef) (hashike.TaskStatus, error) {
	return hashike.TaskStatus{}, nil
}

func (f *fakeBackend) Logs(ctx context.Context, ref hashike.TaskRef, opts hashike.LogsOptions, sink func(hashike.LogEntry) error) error {
	if opts.Ready != nil {
		opts.Ready()
	}
	var offset int64
	for _, line := range f.output {
		data := opts.After.Unseen("app", hashike.Stdout, offset, []byte(line))
		offset += int64(len(line))
		if data == nil {
			continue
		}
		if err := sink(hashike.LogEntry{Container: "app", Stream: hashike.Stdout, Time: time.Now(), Data: data}); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}
	t, err := f.task(ref.ID)
	if err != nil {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.done:
		return nil
	}
}

func (f *fakeBackend) Stop(_ context.Context, ref hashike.TaskRef, _ string, _ time.Duration) error {
	t, err := f.task(ref.ID)
	if err != nil {
		return nil
	}
	f.mu.Lock()
	f.stops++
	t.code = 143
	f.mu.Unlock()
	f.release(ref.ID)
	return nil
}

func (f *fakeBackend) Remove(_ context.Context, ref hashike.TaskRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, ref.ID)
	return nil
}

var self = hashike.Owner{Host: "here", PID: 1, Start: "1"}

func newRunner(t *testing.T, b *fakeBackend) *runner.Runner {
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &runner.Runner{Backend: b, Store: store, Logs: store, Clock: hashike.SystemClock{}, Self: self,
		Alive: func(o hashike.Owner) bool { return o == self || o.PID == 2 }, Random: rand.Reader, FlushInterval: 10 * time.Millisecond}
}

func spec(timeout time.Duration) hashike.JobSpec {
	return hashike.JobSpec{Timeout: hashike.Duration(timeout), TaskDefinition: hashike.TaskDefinition{Family: "f",
		ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "img", Memory: new(int)}}}}
}

func create(t *testing.T, r *runner.Runner, s hashike.JobSpec) *hashike.Run {
	run, created, err := r.Create(context.Background(), s, "", nil)
	if err != nil || !created {
		t.Fatalf("Create: %v %v", created, err)
	}
	return run
}

func storedOutput(t *testing.T, r *runner.Runner, id string) string {
	var b strings.Builder
	if _, err := r.Logs.ReadLogs(context.Background(), id, 0, func(e hashike.LogEntry) error { b.Write(e.Data); return nil }); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestSuperviseRecordsOutcomeOutputAndMasks(t *testing.T) {
	b := &fakeBackend{output: []string{"one\n", "token=hunter22\n"}, exitCode: 3}
	r := newRunner(t, b)
	run := create(t, r, spec(0))
	var shown strings.Builder
	go func() {
		time.Sleep(20 * time.Millisecond)
		b.release(run.ID)
	}()
	done, err := r.Supervise(context.Background(), run.ID, runner.Options{
		Secrets: map[string]string{"TOKEN": "hunter22"},
		Output:  func(e hashike.LogEntry) { shown.Write(e.Data) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if done.State != hashike.StateFailed || done.Exit.Code != 3 || done.Owner != nil || done.FinishedAt == nil {
		t.Fatalf("recorded %s %+v owner %v", done.State, done.Exit, done.Owner)
	}
	if shown.String() != "one\ntoken=********\n" || storedOutput(t, r, run.ID) != shown.String() {
		t.Fatalf("shown %q, stored %q", shown.String(), storedOutput(t, r, run.ID))
	}
	if len(b.removed) != 1 {
		t.Fatalf("task removed %d times", len(b.removed))
	}
}

func TestTimeoutStopsTheTask(t *testing.T) {
	b := &fakeBackend{output: []string{"working\n"}}
	r := newRunner(t, b)
	run := create(t, r, spec(30*time.Millisecond))
	done, err := r.Supervise(context.Background(), run.ID, runner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if done.State != hashike.StateTimedOut || done.Exit.Code != hashike.ExitTimeout || done.StopCause != hashike.StopTimeout || b.stops != 1 {
		t.Fatalf("recorded %s %+v cause %s, stops %d", done.State, done.Exit, done.StopCause, b.stops)
	}
}

func TestStopRequestDeliveredBySignal(t *testing.T) {
	b := &fakeBackend{}
	r := newRunner(t, b)
	run := create(t, r, spec(0))
	stops := make(chan runner.StopRequest, 1)
	type result struct {
		run *hashike.Run
		err error
	}
	res := make(chan result, 1)
	go func() {
		done, err := r.Supervise(context.Background(), run.ID, runner.Options{Stop: stops})
		res <- result{done, err}
	}()
	// Once the task runs (a signal before that ends the start instead: see the ecs package's
	// capacity wait tests).
	for {
		cur, err := r.Store.GetRun(context.Background(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.State == hashike.StateRunning {
			break
		}
		time.Sleep(time.Millisecond)
	}
	stops <- runner.StopRequest{Cause: hashike.StopInterrupt, Grace: -1}
	got := <-res
	done, err := got.run, got.err
	if err != nil {
		t.Fatal(err)
	}
	if done.State != hashike.StateCanceled || done.Exit.Code != hashike.ExitSIGINT {
		t.Fatalf("recorded %s %+v", done.State, done.Exit)
	}
	var path []string
	for _, tr := range done.History {
		path = append(path, string(tr.To))
	}
	if strings.Join(path, ",") != "pending,running,stopping,canceled" {
		t.Fatalf("history %v", path)
	}
}

// TestStopRecordedElsewhere: a stop recorded by another process while the task runs (hashike
// cancel through another replica records the cause and stops the task) decides the outcome,
// though the supervision knew of no stop when the task ended.
func TestStopRecordedElsewhere(t *testing.T) {
	b := &fakeBackend{}
	r := newRunner(t, b)
	run := create(t, r, spec(0))
	type result struct {
		run *hashike.Run
		err error
	}
	res := make(chan result, 1)
	go func() {
		done, err := r.Supervise(context.Background(), run.ID, runner.Options{})
		res <- result{done, err}
	}()
	for {
		cur, err := r.Store.GetRun(context.Background(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.State == hashike.StateRunning {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := r.Store.UpdateRun(context.Background(), run.ID, hashike.RunUpdate{At: time.Now(), State: hashike.StateStopping,
		StopCause: hashike.StopUser, Reason: "stop requested: user"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(context.Background(), hashike.TaskRef{ID: run.ID}, "user", -1); err != nil {
		t.Fatal(err)
	}
	got := <-res
	if got.err != nil {
		t.Fatal(got.err)
	}
	if got.run.State != hashike.StateCanceled || got.run.StopCause != hashike.StopUser || b.stops != 1 {
		t.Fatalf("recorded %s %+v cause %q, stops %d; want canceled by the user", got.run.State, got.run.Exit, got.run.StopCause, b.stops)
	}
}

func TestStopBeforeStartIsHonoured(t *testing.T) {
	b := &fakeBackend{}
	r := newRunner(t, b)
	run := create(t, r, spec(0))
	// hashike stop of a run no process has started yet.
	if _, err := r.Store.UpdateRun(context.Background(), run.ID, hashike.RunUpdate{At: time.Now(), State: hashike.StateStopping, StopCause: hashike.StopUser}); err != nil {
		t.Fatal(err)
	}
	done, err := r.Supervise(context.Background(), run.ID, runner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if done.State != hashike.StateCanceled || !strings.Contains(done.Exit.Reason, "before its task was created") || len(b.tasks) != 0 {
		t.Fatalf("recorded %s %+v; tasks started: %d", done.State, done.Exit, len(b.tasks))
	}
}

func TestStartErrorIsStartFailed(t *testing.T) {
	b := &fakeBackend{startErr: &hashike.StartError{Reason: "CannotPullContainerError: nope"}}
	r := newRunner(t, b)
	run := create(t, r, spec(0))
	done, err := r.Supervise(context.Background(), run.ID, runner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if done.State != hashike.StateStartFailed || done.Exit.Code != hashike.ExitStartFailed || done.Exit.Reason != "CannotPullContainerError: nope" {
		t.Fatalf("recorded %s %+v", done.State, done.Exit)
	}
}

func TestVanishedTaskIsLost(t *testing.T) {
	b := &fakeBackend{vanish: true}
	r := newRunner(t, b)
	run := create(t, r, spec(0))
	done, err := r.Supervise(context.Background(), run.ID, runner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if done.State != hashike.StateLost || done.Exit.Code != hashike.ExitStartFailed {
		t.Fatalf("recorded %s %+v", done.State, done.Exit)
	}
}

// TestPlatformOutageFailureIsLost: a task that fails while the platform was unreachable (a
// Docker daemon restart kills its containers) is an infrastructure failure (lost), while one
// that succeeded meanwhile keeps its success.
func TestPlatformOutageFailureIsLost(t *testing.T) {
	for _, c := range []struct {
		code int
		want hashike.RunState
	}{{137, hashike.StateLost}, {0, hashike.StateSucceeded}} {
		b := &fakeBackend{outage: 1, exitCode: c.code}
		r := newRunner(t, b)
		run := create(t, r, spec(0))
		done, err := r.Supervise(context.Background(), run.ID, runner.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if done.State != c.want {
			t.Errorf("exit %d across an outage: recorded %s (%s), want %s", c.code, done.State, done.Exit.Reason, c.want)
		}
		if c.want == hashike.StateLost && (done.Exit.ContainerExitCode == nil || *done.Exit.ContainerExitCode != c.code) {
			t.Errorf("the container's exit code is not kept: %+v", done.Exit)
		}
	}
}

func TestAdoptNeverStartsATask(t *testing.T) {
	b := &fakeBackend{}
	r := newRunner(t, b)
	run := create(t, r, spec(0))
	done, err := r.Supervise(context.Background(), run.ID, runner.Options{Adopt: true})
	if err != nil {
		t.Fatal(err)
	}
	if done.State != hashike.StateLost || len(b.tasks) != 0 {
		t.Fatalf("adopting a run with no task: %s, %d tasks started", done.State, len(b.tasks))
	}
}

func TestRunOwnedByALiveProcessIsRefused(t *testing.T) {
	b := &fakeBackend{}
	r := newRunner(t, b)
	other := hashike.Owner{Host: "here", PID: 2, Start: "9"}
	run, _, err := r.Create(context.Background(), spec(0), "", &other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Supervise(context.Background(), run.ID, runner.Options{}); !errors.Is(err, runner.ErrOwned) {
		t.Fatalf("Supervise of a run owned by a live process: %v", err)
	}
	orphans, _ := r.Orphans(context.Background())
	if len(orphans) != 0 {
		t.Fatalf("a run with a live owner listed as orphan")
	}
}

// takes counts the updates that take a run over (SetOwner).
type takes struct {
	hashike.RunStore
	mu sync.Mutex
	n  int
}

func (s *takes) UpdateRun(ctx context.Context, id string, u hashike.RunUpdate) (*hashike.Run, error) {
	if u.SetOwner != nil {
		s.mu.Lock()
		s.n++
		s.mu.Unlock()
	}
	return s.RunStore.UpdateRun(ctx, id, u)
}

func TestSuperviseClaimedRun(t *testing.T) {
	ctx := context.Background()
	b := &fakeBackend{output: []string{"hello\n"}}
	r := newRunner(t, b)
	counted := &takes{RunStore: r.Store}
	r.Store = counted
	me := self
	// As a claim leaves a run: pending, owned by this process.
	run, _, err := r.Create(ctx, spec(0), "", &me)
	if err != nil {
		t.Fatal(err)
	}
	b.release(run.ID)
	done, err := r.Supervise(ctx, run.ID, runner.Options{Claimed: run})
	if err != nil {
		t.Fatal(err)
	}
	if done.State != hashike.StateSucceeded || done.Owner != nil || storedOutput(t, r, run.ID) != "hello\n" || counted.n != 0 {
		t.Fatalf("claimed run: %s, owner %v, output %q, taken %d times", done.State, done.Owner, storedOutput(t, r, run.ID), counted.n)
	}
	// A claimed run that is not this process's is taken as any other: refused while its
	// owner lives.
	other := hashike.Owner{Host: "here", PID: 2, Start: "9"}
	theirs, _, err := r.Create(ctx, spec(0), "", &other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Supervise(ctx, theirs.ID, runner.Options{Claimed: theirs}); !errors.Is(err, runner.ErrOwned) {
		t.Fatalf("Supervise of another's claimed run: %v", err)
	}
}

func TestIdempotencyKey(t *testing.T) {
	r := newRunner(t, &fakeBackend{})
	first, created, err := r.Create(context.Background(), spec(0), "k", nil)
	if err != nil || !created {
		t.Fatal(err)
	}
	again, created, err := r.Create(context.Background(), spec(0), "k", nil)
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("same key, same spec: %v %v %v", again.ID, created, err)
	}
	if _, _, err := r.Create(context.Background(), spec(time.Minute), "k", nil); hashike.ErrorCodeOf(err) != hashike.EConflict {
		t.Fatalf("same key, other spec: %v", err)
	}
}

func TestFollowAsksToReconcileAnOrphan(t *testing.T) {
	b := &fakeBackend{}
	r := newRunner(t, b)
	run := create(t, r, spec(0)) // no owner
	ctx, cancel := context.WithCancel(context.Background())
	asked := make(chan string, 1)
	go func() {
		_, _ = r.Follow(ctx, run.ID, true, func(hashike.LogEntry) {}, func(o *hashike.Run) { asked <- o.ID })
	}()
	select {
	case id := <-asked:
		if id != run.ID {
			t.Fatalf("asked to reconcile %s", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow never asked to reconcile the ownerless run")
	}
	cancel()
}

// A stop that comes while the task is being started, when the start creates the task all the
// same (the backend does not notice the cancellation), stops that task: nothing runs unknown.
func TestStopRacingTheStartStopsTheTask(t *testing.T) {
	b := &fakeBackend{}
	r := newRunner(t, b)
	run := create(t, r, spec(0))
	stops := make(chan runner.StopRequest, 1)
	stops <- runner.StopRequest{Cause: hashike.StopInterrupt, Grace: -1}
	done, err := r.Supervise(context.Background(), run.ID, runner.Options{Stop: stops})
	if err != nil {
		t.Fatal(err)
	}
	if done.State != hashike.StateCanceled || done.Exit.Code != hashike.ExitSIGINT {
		t.Fatalf("recorded %s %+v", done.State, done.Exit)
	}
	b.mu.Lock()
	started, stopped := len(b.tasks), b.stops
	b.mu.Unlock()
	if started == 1 && stopped != 1 {
		t.Fatalf("the task started despite the stop and was stopped %d times, want once", stopped)
	}
}
