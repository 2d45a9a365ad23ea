package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/cron"
	"github.com/hashike/hashike/dispatch"
	"github.com/hashike/hashike/internal/fakebackend"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/retention"
	"github.com/hashike/hashike/sqlite"
)

// testClock has a settable Now; its After waits briefly in real time whatever it is asked, so
// the loops turn quickly while the tests decide what time it is.
type testClock struct{ now atomic.Pointer[time.Time] }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.set(t)
	return c
}

func (c *testClock) Now() time.Time      { return *c.now.Load() }
func (c *testClock) set(t time.Time)     { c.now.Store(&t) }
func (c *testClock) add(d time.Duration) { c.set(c.Now().Add(d)) }
func (c *testClock) After(d time.Duration) <-chan time.Time {
	return time.After(min(d, 5*time.Millisecond))
}

type env struct {
	t       *testing.T
	s       *Server
	store   *sqlite.Store
	backend *fakebackend.Backend
	clock   hashike.Clock
	tc      *testClock

	mu        sync.Mutex
	delivered []hashike.Delivery
	failNext  int // deliveries to fail before succeeding
}

type opts struct {
	behave func(hashike.StartRequest) fakebackend.Behavior
	clock  *testClock
	self   hashike.Owner
	path   string
	noLoop bool
	// store wraps the server's store (an outage); reconcile replaces ReconcileInterval.
	store     func(hashike.ServerStore) hashike.ServerStore
	reconcile time.Duration
	// leaseTTL, when set, makes the replica campaign for the leader lease with that TTL
	// instead of leading without one.
	leaseTTL time.Duration
	// logger, when set, is the server's logger (testLogger writes text to a buffer).
	logger *slog.Logger
	// autoscalers are the leader's cluster autoscalers.
	autoscalers []Autoscaler
	// github is the server's GitHub webhook (nil: none).
	github GitHubWebhook
	// runners is the leader's runner controller (nil: none).
	runners *RunnerPools
	// ecs, when set, is the backend of jobs whose backend is "ecs".
	ecs hashike.Backend
	// config, when set, changes the server's config (its object store, say).
	config func(*Config)
	// metrics, when set, is told what the server does.
	metrics Metrics
	// retention, when set, gives the leader a pruner with this default, on the store as
	// pruneStore wraps it (an outage).
	retention  *hashike.Retention
	pruneStore func(hashike.Pruning) hashike.Pruning
}

var self = hashike.Owner{Host: "test", PID: 1, Start: "1"}

func newEnv(t *testing.T, o opts) *env {
	t.Helper()
	if o.path == "" {
		o.path = filepath.Join(t.TempDir(), "server.db")
	}
	st, err := sqlite.Open(o.path)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, backend: fakebackend.New("local", o.behave)}
	e.clock = hashike.SystemClock{}
	if o.clock != nil {
		e.clock, e.tc = o.clock, o.clock
	}
	if o.self.PID == 0 {
		o.self = self
	}
	var store hashike.ServerStore = st
	if o.store != nil {
		store = o.store(st)
	}
	if o.reconcile == 0 {
		o.reconcile = 50 * time.Millisecond
	}
	var pruner *retention.Pruner
	var defaultRetention hashike.Retention
	if o.retention != nil {
		var ps hashike.Pruning = st
		if o.pruneStore != nil {
			ps = o.pruneStore(st)
		}
		if pruner, err = retention.New(retention.Config{Store: ps, Clock: e.clock}); err != nil {
			t.Fatal(err)
		}
		defaultRetention = *o.retention
	}
	cfg := Config{
		Pruner: pruner, Retention: defaultRetention,
		Store: store, Clock: e.clock, Random: rand.Reader, Self: o.self,
		Backend: func(name string) (hashike.Backend, error) {
			if name == "ecs" && o.ecs != nil {
				return o.ecs, nil
			}
			if name != "local" {
				return nil, fmt.Errorf("no backend %q here", name)
			}
			return e.backend, nil
		},
		Alive: func(o hashike.Owner) bool { return o == self },
		ParseDefinition: func(name string, doc []byte) (*job.Definition, error) {
			var d job.Definition
			return &d, json.Unmarshal(doc, &d)
		},
		Deliver:           e.deliver,
		PollInterval:      10 * time.Millisecond,
		ReconcileInterval: o.reconcile,
		ScheduleInterval:  20 * time.Millisecond,
		LeaseTTL:          o.leaseTTL,
		NoLeader:          o.leaseTTL == 0,
		Autoscalers:       o.autoscalers,
		GitHubWebhook:     o.github,
		Runners:           o.runners,
		Logger:            o.logger,
		Metrics:           o.metrics,
	}
	if o.config != nil {
		o.config(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	if !o.noLoop {
		s.Start(context.Background())
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		st.Close()
	})
	return e
}

func (e *env) deliver(_ context.Context, d hashike.Delivery) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failNext > 0 {
		e.failNext--
		return errors.New("connection refused")
	}
	e.delivered = append(e.delivered, d)
	return nil
}

func (e *env) deliveries() []hashike.Delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.delivered)
}

func definition(mod func(*job.Definition)) *job.Definition {
	d := &job.Definition{JobSpec: hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{
		ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "hashike-testjob", Essential: ptr(true), Memory: ptr(64)}},
	}}}
	if mod != nil {
		mod(d)
	}
	return d
}

func ptr[T any](v T) *T { return &v }

func (e *env) register(name string, d *job.Definition) api.JobView {
	e.t.Helper()
	v, _, err := e.s.Register(context.Background(), name, d, "test")
	if err != nil {
		e.t.Fatalf("Register %s: %v", name, err)
	}
	return v
}

func (e *env) enqueue(name string, req api.EnqueueRequest) *hashike.Run {
	e.t.Helper()
	r, _, err := e.s.Enqueue(context.Background(), name, req)
	if err != nil {
		e.t.Fatalf("Enqueue %s: %v", name, err)
	}
	return r
}

// eventually waits (in real time, at most 10 s) for cond.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) get(id string) *hashike.Run {
	e.t.Helper()
	r, err := e.store.GetRun(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// settled waits for the enqueue rooted at id to be over: its last try settled and not retried.
func (e *env) settled(id string) []*hashike.Run {
	e.t.Helper()
	var tries []*hashike.Run
	e.eventually("run "+id+" to be settled", func() bool {
		var err error
		tries, err = e.store.ListRuns(context.Background(), hashike.RunFilter{RootID: id})
		if err != nil {
			e.t.Fatal(err)
		}
		slices.SortFunc(tries, func(a, b *hashike.Run) int { return a.Attempt - b.Attempt })
		last := tries[len(tries)-1]
		return last.Settled
	})
	// A retry is enqueued before the try is marked settled: the last try is the final one.
	return tries
}

func env_(run *hashike.Run, name string) string {
	for _, kv := range run.Spec.TaskDefinition.ContainerDefinitions[0].Environment {
		if kv.Name == name {
			return kv.Value
		}
	}
	return ""
}

func TestEnqueueRunsWithPayload(t *testing.T) {
	e := newEnv(t, opts{})
	e.register("hello", definition(nil))
	run := e.enqueue("hello", api.EnqueueRequest{Payload: json.RawMessage(`{ "n": 1 }`)})
	if run.State != hashike.StateQueued || run.Attempt != 1 || run.RootID != run.ID || run.Job != "hello" || run.JobVersion != 1 {
		t.Fatalf("enqueued run = %+v", run)
	}
	tries := e.settled(run.ID)
	if len(tries) != 1 || tries[0].State != hashike.StateSucceeded {
		t.Fatalf("tries = %v", states(tries))
	}
	got := tries[0]
	if env_(got, EnvPayload) != `{"n":1}` || env_(got, EnvRunID) != run.ID || env_(got, EnvAttempt) != "1" || env_(got, EnvPayloadFile) != PayloadPath {
		t.Errorf("env = %+v", got.Spec.TaskDefinition.ContainerDefinitions[0].Environment)
	}
	files := e.backend.Files(run.ID)
	if len(files) != 1 || files[0].Path != PayloadPath || string(files[0].Data) != `{"n":1}` {
		t.Errorf("files = %+v", files)
	}
	if e.backend.Starts(run.ID) != 1 {
		t.Errorf("started %d times", e.backend.Starts(run.ID))
	}
}

func states(runs []*hashike.Run) []string {
	var out []string
	for _, r := range runs {
		out = append(out, fmt.Sprintf("#%d %s", r.Attempt, r.State))
	}
	return out
}

func TestEnqueueIdempotencyKey(t *testing.T) {
	e := newEnv(t, opts{})
	e.register("hello", definition(nil))
	ctx := context.Background()
	a, created, err := e.s.Enqueue(ctx, "hello", api.EnqueueRequest{IdempotencyKey: "k1", Payload: json.RawMessage(`{"a":1}`)})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	b, created, err := e.s.Enqueue(ctx, "hello", api.EnqueueRequest{IdempotencyKey: "k1", Payload: json.RawMessage(`{ "a" : 1 }`)})
	if err != nil || created || b.ID != a.ID {
		t.Fatalf("repeat: created=%v id=%s (first %s) err=%v", created, b.ID, a.ID, err)
	}
	_, _, err = e.s.Enqueue(ctx, "hello", api.EnqueueRequest{IdempotencyKey: "k1", Payload: json.RawMessage(`{"a":2}`)})
	if hashike.ErrorCodeOf(err) != hashike.EConflict {
		t.Fatalf("other payload, same key: %v", err)
	}
	runs, _ := e.store.ListRuns(ctx, hashike.RunFilter{Job: "hello"})
	if len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}
}

func TestEnqueueBadInput(t *testing.T) {
	e := newEnv(t, opts{})
	e.register("small", definition(func(d *job.Definition) { d.MaxPayloadBytes = 16 }))
	ctx := context.Background()
	cases := []struct {
		name string
		job  string
		req  api.EnqueueRequest
		code hashike.ErrorCode
	}{
		{"unknown job", "nope", api.EnqueueRequest{}, hashike.ENotFound},
		{"payload over the job's limit", "small", api.EnqueueRequest{Payload: json.RawMessage(`"` + strings.Repeat("x", 20) + `"`)}, hashike.ETooLarge},
		{"priority out of range", "small", api.EnqueueRequest{Priority: ptr(101)}, hashike.EInvalid},
		{"bad queue", "small", api.EnqueueRequest{Queue: "a b"}, hashike.EInvalid},
		{"delay and notBefore", "small", api.EnqueueRequest{Delay: hashike.Duration(time.Second), NotBefore: ptr(time.Now())}, hashike.EInvalid},
		{"unknown version", "small", api.EnqueueRequest{Version: 7}, hashike.ENotFound},
		{"NUL in the idempotency key", "small", api.EnqueueRequest{IdempotencyKey: "a\x00b"}, hashike.EInvalid},
	}
	for _, c := range cases {
		_, _, err := e.s.Enqueue(ctx, c.job, c.req)
		if got := hashike.ErrorCodeOf(err); got != c.code {
			t.Errorf("%s: code %s (%v), want %s", c.name, got, err, c.code)
		}
	}
	if runs, _ := e.store.ListRuns(ctx, hashike.RunFilter{}); len(runs) != 0 {
		t.Errorf("bad input recorded %d runs", len(runs))
	}
}

func TestRegisterVersions(t *testing.T) {
	e := newEnv(t, opts{})
	ctx := context.Background()
	v1 := e.register("j", definition(nil))
	_, created, err := e.s.Register(ctx, "j", definition(nil), "test")
	if err != nil || created {
		t.Fatalf("same definition again: created=%v err=%v", created, err)
	}
	v2 := e.register("j", definition(func(d *job.Definition) { d.Priority = 5 }))
	if v1.Version != 1 || v2.Version != 2 {
		t.Fatalf("versions %d, %d", v1.Version, v2.Version)
	}
	run := e.enqueue("j", api.EnqueueRequest{})
	if run.JobVersion != 2 || run.Priority != 5 {
		t.Errorf("run used version %d priority %d", run.JobVersion, run.Priority)
	}
	old := e.enqueue("j", api.EnqueueRequest{Version: 1})
	if old.JobVersion != 1 || old.Priority != 0 {
		t.Errorf("run of version 1 used version %d priority %d", old.JobVersion, old.Priority)
	}
	_, _, err = e.s.Register(ctx, "j", definition(func(d *job.Definition) { d.RetryStrategy.Attempts = 11 }), "test")
	if hashike.ErrorCodeOf(err) != hashike.EInvalid || !strings.Contains(err.Error(), "\n  retryStrategy.attempts: ") {
		t.Errorf("attempts 11: %v", err)
	}
}

func TestRetriesApplicationFailures(t *testing.T) {
	e := newEnv(t, opts{behave: func(hashike.StartRequest) fakebackend.Behavior { return fakebackend.Behavior{ExitCode: 3} }})
	e.register("flaky", definition(func(d *job.Definition) {
		d.RetryStrategy = dispatch.RetryStrategy{Attempts: 3}
		d.Notifications = []job.Notification{{Type: job.KindWebhook, URL: "http://127.0.0.1:1/hook"}}
	}))
	run := e.enqueue("flaky", api.EnqueueRequest{})
	tries := e.settled(run.ID)
	if got := states(tries); !slices.Equal(got, []string{"#1 failed", "#2 failed", "#3 failed"}) {
		t.Fatalf("tries = %v", got)
	}
	for i, tr := range tries {
		if tr.RootID != run.ID || (i > 0 && tr.RetryOf != tries[i-1].ID) || (i > 0 && tr.Trigger != TriggerRetry) {
			t.Errorf("try %d: root %s retryOf %s trigger %s", i+1, tr.RootID, tr.RetryOf, tr.Trigger)
		}
		if e.backend.Starts(tr.ID) != 1 {
			t.Errorf("try %d started %d times", i+1, e.backend.Starts(tr.ID))
		}
	}
	e.eventually("the failure notification", func() bool { return len(e.deliveries()) == 1 })
	var ev Event
	d := e.deliveries()[0]
	if err := json.Unmarshal(d.Body, &ev); err != nil || ev.Event != job.EventFailure || ev.RunID != tries[2].ID || ev.Attempt != 3 {
		t.Errorf("notification %s: %+v (%v)", d.Body, ev, err)
	}
	view, err := e.s.GetRun(context.Background(), run.ID)
	if err != nil || len(view.Attempts) != 3 {
		t.Errorf("GetRun attempts = %+v, %v", view.Attempts, err)
	}
}

func TestEvaluateOnExitAndInfrastructureBudget(t *testing.T) {
	var calls atomic.Int32
	e := newEnv(t, opts{behave: func(req hashike.StartRequest) fakebackend.Behavior {
		// Two failures to start (infrastructure), then exit 2 (an EXIT rule), per enqueue.
		if calls.Add(1) <= 2 {
			return fakebackend.Behavior{StartError: "CannotPullContainerError: pull access denied"}
		}
		return fakebackend.Behavior{ExitCode: 2}
	}})
	e.register("j", definition(func(d *job.Definition) {
		d.RetryStrategy = dispatch.RetryStrategy{Attempts: 5, EvaluateOnExit: []dispatch.EvaluateOnExit{{OnExitCode: "2", Action: "EXIT"}}}
	}))
	run := e.enqueue("j", api.EnqueueRequest{})
	tries := e.settled(run.ID)
	if got := states(tries); !slices.Equal(got, []string{"#1 start_failed", "#2 start_failed", "#3 failed"}) {
		t.Fatalf("tries = %v", got)
	}
}

func TestAttemptTimeoutStopsTheTask(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	e := newEnv(t, opts{behave: func(hashike.StartRequest) fakebackend.Behavior { return fakebackend.Behavior{Hold: hold} }})
	e.register("slow", definition(func(d *job.Definition) {
		d.Timeout = hashike.Duration(200 * time.Millisecond)
		d.RetryStrategy = dispatch.RetryStrategy{Attempts: 2}
	}))
	run := e.enqueue("slow", api.EnqueueRequest{})
	tries := e.settled(run.ID)
	if got := states(tries); !slices.Equal(got, []string{"#1 timed_out", "#2 timed_out"}) {
		t.Fatalf("tries = %v", got)
	}
	if tries[0].Exit.Code != hashike.ExitTimeout {
		t.Errorf("exit = %+v", tries[0].Exit)
	}
}

func TestCancelQueuedAndRunning(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	e := newEnv(t, opts{behave: func(hashike.StartRequest) fakebackend.Behavior { return fakebackend.Behavior{Hold: hold} }})
	ctx := context.Background()
	e.register("j", definition(func(d *job.Definition) { d.Queue = "q"; d.RetryStrategy.Attempts = 3 }))
	running := e.enqueue("j", api.EnqueueRequest{})
	e.eventually("the run to start", func() bool { return e.get(running.ID).State == hashike.StateRunning })
	if _, err := e.s.PutQueue(ctx, hashike.QueueConfig{Name: "q", Paused: true}); err != nil {
		t.Fatal(err)
	}
	queued := e.enqueue("j", api.EnqueueRequest{})
	if _, err := e.s.Cancel(ctx, queued.ID, api.CancelRequest{Reason: "not needed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Cancel(ctx, running.ID, api.CancelRequest{}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{queued.ID, running.ID} {
		tries := e.settled(id)
		if got := states(tries); !slices.Equal(got, []string{"#1 canceled"}) {
			t.Errorf("%s: tries = %v (a canceled run is not retried)", id, got)
		}
	}
	if e.backend.Starts(queued.ID) != 0 {
		t.Errorf("the canceled queued run was started")
	}
	if _, err := e.s.Cancel(ctx, running.ID, api.CancelRequest{}); hashike.ErrorCodeOf(err) != hashike.EConflict {
		t.Errorf("cancel of an ended run: %v", err)
	}
}

func TestRerunWithEditedPayload(t *testing.T) {
	e := newEnv(t, opts{})
	e.register("j", definition(nil))
	ctx := context.Background()
	first := e.enqueue("j", api.EnqueueRequest{Payload: json.RawMessage(`{"v":1}`)})
	e.settled(first.ID)
	same, err := e.s.Rerun(ctx, first.ID, api.RerunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	edited, err := e.s.Rerun(ctx, first.ID, api.RerunRequest{Payload: json.RawMessage(`{"v":2}`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		run  *hashike.Run
		want string
	}{{same, `{"v":1}`}, {edited, `{"v":2}`}} {
		tries := e.settled(c.run.ID)
		if tries[0].State != hashike.StateSucceeded || string(tries[0].Payload) != c.want || tries[0].Trigger != TriggerRerun || tries[0].RootID != c.run.ID {
			t.Errorf("rerun %s: %+v", c.run.ID, tries[0])
		}
	}
}

func TestQueueConcurrencyPauseResume(t *testing.T) {
	hold := make(chan struct{})
	e := newEnv(t, opts{behave: func(hashike.StartRequest) fakebackend.Behavior { return fakebackend.Behavior{Hold: hold} }})
	ctx := context.Background()
	e.register("j", definition(func(d *job.Definition) { d.Queue = "narrow" }))
	if _, err := e.s.PutQueue(ctx, hashike.QueueConfig{Name: "narrow", MaxConcurrency: 2}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 5 {
		ids = append(ids, e.enqueue("j", api.EnqueueRequest{}).ID)
	}
	e.eventually("two runs to start", func() bool { return e.backendStarted(ids) == 2 })
	time.Sleep(100 * time.Millisecond) // several dispatch rounds
	if n := e.backendStarted(ids); n != 2 {
		t.Fatalf("%d runs started in a queue capped at 2", n)
	}
	// The first two started are the first two enqueued (FIFO).
	if e.backend.Starts(ids[0]) != 1 || e.backend.Starts(ids[1]) != 1 {
		t.Errorf("FIFO: the first two enqueued did not start first")
	}
	if _, err := e.s.PutQueue(ctx, hashike.QueueConfig{Name: "narrow", MaxConcurrency: 2, Paused: true}); err != nil {
		t.Fatal(err)
	}
	close(hold)
	for _, id := range ids[:2] {
		e.settled(id)
	}
	time.Sleep(100 * time.Millisecond)
	if n := e.backendStarted(ids); n != 2 {
		t.Fatalf("%d runs started from a paused queue", n)
	}
	if _, err := e.s.PutQueue(ctx, hashike.QueueConfig{Name: "narrow", MaxConcurrency: 2}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if tries := e.settled(id); tries[0].State != hashike.StateSucceeded {
			t.Errorf("%s: %s", id, tries[0].State)
		}
	}
}

func (e *env) backendStarted(ids []string) int {
	n := 0
	for _, id := range ids {
		n += e.backend.Starts(id)
	}
	return n
}

func TestDelayedRunWaits(t *testing.T) {
	tc := newTestClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	e := newEnv(t, opts{clock: tc})
	e.register("j", definition(nil))
	run := e.enqueue("j", api.EnqueueRequest{Delay: hashike.Duration(time.Hour)})
	time.Sleep(100 * time.Millisecond)
	if st := e.get(run.ID).State; st != hashike.StateQueued {
		t.Fatalf("a run delayed by an hour is %s", st)
	}
	tc.add(time.Hour)
	e.settled(run.ID)
}

func TestNotificationsRecoveryAndRetriedDelivery(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	e := newEnv(t, opts{behave: func(hashike.StartRequest) fakebackend.Behavior {
		if fail.Load() {
			return fakebackend.Behavior{ExitCode: 1}
		}
		return fakebackend.Behavior{}
	}})
	e.failNext = 1 // the first delivery attempt fails and is retried
	e.register("j", definition(func(d *job.Definition) {
		d.Notifications = []job.Notification{{Type: job.KindSlack, URL: "https://hooks.slack.com/services/T/B/X", Events: []string{job.EventFailure, job.EventRecovery}}}
	}))
	e.settled(e.enqueue("j", api.EnqueueRequest{}).ID)
	ok := e.enqueue("j", api.EnqueueRequest{})
	fail.Store(false)
	e.settled(ok.ID)
	e.settled(e.enqueue("j", api.EnqueueRequest{}).ID) // a second success: no new recovery
	// The failed delivery is retried after its backoff (5 s at most with full jitter).
	deadline := time.Now().Add(20 * time.Second)
	for len(e.deliveries()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ds := e.deliveries()
	var events []string
	for _, d := range ds {
		events = append(events, d.Event)
		var m map[string]string
		if err := json.Unmarshal(d.Body, &m); err != nil || !strings.Contains(m["text"], "*j*") {
			t.Errorf("slack body %s", d.Body)
		}
	}
	slices.Sort(events)
	if !slices.Equal(events, []string{job.EventFailure, job.EventRecovery}) {
		t.Fatalf("events = %v", events)
	}
}

func TestOverdueNotification(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	e := newEnv(t, opts{behave: func(hashike.StartRequest) fakebackend.Behavior { return fakebackend.Behavior{Hold: hold} }})
	e.register("j", definition(func(d *job.Definition) {
		d.ExpectedDuration = hashike.Duration(100 * time.Millisecond)
		d.Notifications = []job.Notification{{Type: job.KindWebhook, URL: "http://127.0.0.1:1/x"}}
	}))
	run := e.enqueue("j", api.EnqueueRequest{})
	e.eventually("the overdue notification", func() bool { return len(e.deliveries()) == 1 })
	time.Sleep(200 * time.Millisecond) // reconciler rounds: still one
	if ds := e.deliveries(); len(ds) != 1 || ds[0].Event != job.EventOverdue || ds[0].RunID != run.ID {
		t.Fatalf("deliveries = %+v", ds)
	}
}

func scheduled(e *env, name string) []*hashike.Run {
	runs, err := e.store.ListRuns(context.Background(), hashike.RunFilter{Job: name})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*hashike.Run
	for _, r := range runs {
		if r.Trigger == TriggerSchedule {
			out = append(out, r)
		}
	}
	return out
}

func TestScheduleFiresOncePerTick(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 11, 59, 30, 0, time.UTC)
	tc := newTestClock(t0)
	e := newEnv(t, opts{clock: tc})
	e.register("cronjob", definition(func(d *job.Definition) {
		d.Schedule = cron.Spec{Expressions: []cron.Expr{{Cron: "0 * * * *"}, {Cron: "0 21 * * *", TimeZone: "Asia/Tokyo"}}}
	}))
	view, err := e.s.GetSchedule(context.Background(), "cronjob")
	if err != nil || len(view.Next) != 5 || !view.Next[0].Equal(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("next five = %v, %v", view.Next, err)
	}
	tc.set(t0.Add(31 * time.Second)) // 12:00:01: both expressions fire at 12:00 UTC (21:00 JST)
	e.eventually("the fire's run", func() bool { return len(scheduled(e, "cronjob")) == 1 })
	time.Sleep(100 * time.Millisecond)
	runs := scheduled(e, "cronjob")
	if len(runs) != 1 || !runs[0].ScheduledAt.Equal(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("runs = %d, scheduledAt %v", len(runs), runs[0].ScheduledAt)
	}
}

func TestScheduleCatchUpAfterDowntime(t *testing.T) {
	for _, c := range []struct {
		mode cron.CatchUpMode
		want int
	}{{cron.CatchUpNone, 0}, {cron.CatchUpLatest, 1}, {cron.CatchUpAll, 3}} {
		t.Run(string(c.mode), func(t *testing.T) {
			t0 := time.Date(2026, 11, 21, 12, 0, 30, 0, time.UTC)
			tc := newTestClock(t0)
			path := filepath.Join(t.TempDir(), "s.db")
			e := newEnv(t, opts{clock: tc, path: path, noLoop: true})
			e.register("j", definition(func(d *job.Definition) {
				// overlap allow: with skip, the first caught-up run (queued) would skip the rest.
				d.Schedule = cron.Spec{Expressions: []cron.Expr{{Cron: "*/10 * * * *"}}, Overlap: cron.OverlapAllow,
					CatchUp: cron.CatchUpPolicy{Mode: c.mode, Max: 3}}
			}))
			ctx := context.Background()
			e.s.scheduleTick(ctx)    // records the tick at 12:00:30
			tc.add(55 * time.Minute) // down from 12:00:30 to 12:55:30: 5 fires missed
			e.s.scheduleTick(ctx)
			if got := len(scheduled(e, "j")); got != c.want {
				t.Errorf("%s: %d runs after the downtime, want %d", c.mode, got, c.want)
			}
			e.s.scheduleTick(ctx) // again: nothing new
			if got := len(scheduled(e, "j")); got != c.want {
				t.Errorf("%s: %d runs after a second tick, want %d", c.mode, got, c.want)
			}
		})
	}
}

func TestScheduleOverlapPolicies(t *testing.T) {
	for _, c := range []struct {
		policy cron.OverlapPolicy
		// after the second fire while the first run holds: runs of the job by state
		want map[hashike.RunState]int
	}{
		{cron.OverlapSkip, map[hashike.RunState]int{hashike.StateRunning: 1}},
		{cron.OverlapAllow, map[hashike.RunState]int{hashike.StateRunning: 2}},
		{cron.OverlapQueueOne, map[hashike.RunState]int{hashike.StateRunning: 1, hashike.StateQueued: 1}},
		{cron.OverlapCancelPrevious, map[hashike.RunState]int{hashike.StateCanceled: 1, hashike.StateRunning: 1}},
	} {
		t.Run(string(c.policy), func(t *testing.T) {
			hold := make(chan struct{})
			t0 := time.Date(2026, 11, 21, 12, 0, 30, 0, time.UTC)
			tc := newTestClock(t0)
			e := newEnv(t, opts{clock: tc, behave: func(hashike.StartRequest) fakebackend.Behavior { return fakebackend.Behavior{Hold: hold} }})
			e.register("j", definition(func(d *job.Definition) {
				d.Schedule = cron.Spec{Expressions: []cron.Expr{{Cron: "* * * * *"}}, Overlap: c.policy}
			}))
			tc.set(time.Date(2026, 11, 21, 12, 1, 0, 0, time.UTC))
			e.eventually("the first fire to run", func() bool { return count(e, "j")[hashike.StateRunning] == 1 })
			tc.set(time.Date(2026, 11, 21, 12, 2, 0, 0, time.UTC))
			e.eventually(fmt.Sprintf("%v", c.want), func() bool { return mapsEqual(count(e, "j"), c.want) })
			time.Sleep(100 * time.Millisecond)
			if got := count(e, "j"); !mapsEqual(got, c.want) {
				t.Fatalf("runs by state = %v, want %v", got, c.want)
			}
			close(hold)
			if c.policy == cron.OverlapQueueOne {
				// The held fire runs once the first run ends.
				e.eventually("the held fire to run", func() bool { return count(e, "j")[hashike.StateSucceeded] == 2 })
			}
		})
	}
}

// TestScheduleQueueOneHeldAcrossVersions: a fire held under queue_one is let go when the
// active run ends, even after a new version of the job dropped the policy (the held run keeps
// its version).
func TestScheduleQueueOneHeldAcrossVersions(t *testing.T) {
	hold := make(chan struct{})
	tc := newTestClock(time.Date(2026, 11, 21, 12, 0, 30, 0, time.UTC))
	e := newEnv(t, opts{clock: tc, behave: func(hashike.StartRequest) fakebackend.Behavior { return fakebackend.Behavior{Hold: hold} }})
	e.register("j", definition(func(d *job.Definition) {
		d.Schedule = cron.Spec{Expressions: []cron.Expr{{Cron: "* * * * *"}}, Overlap: cron.OverlapQueueOne}
	}))
	tc.set(time.Date(2026, 11, 21, 12, 1, 0, 0, time.UTC))
	e.eventually("the first fire to run", func() bool { return count(e, "j")[hashike.StateRunning] == 1 })
	tc.set(time.Date(2026, 11, 21, 12, 2, 0, 0, time.UTC))
	e.eventually("the second fire to be held", func() bool { return count(e, "j")[hashike.StateQueued] == 1 })
	if v := e.register("j", definition(func(d *job.Definition) { d.Description = "no schedule any more" })); v.Version != 2 {
		t.Fatalf("version = %d", v.Version)
	}
	close(hold)
	e.eventually("the held fire to run", func() bool { return count(e, "j")[hashike.StateSucceeded] == 2 })
}

// TestQuietEnd: the ends that settle with the update recording them are those settling would
// only mark: no retry, no notifications, no held fires.
func TestQuietEnd(t *testing.T) {
	e := newEnv(t, opts{noLoop: true})
	e.register("plain", definition(nil))
	e.register("retried", definition(func(d *job.Definition) { d.RetryStrategy = dispatch.RetryStrategy{Attempts: 2} }))
	e.register("notified", definition(func(d *job.Definition) {
		d.Notifications = []job.Notification{{Type: job.KindWebhook, URL: "http://127.0.0.1:1/hook"}}
	}))
	e.register("held", definition(func(d *job.Definition) {
		d.Schedule = cron.Spec{Expressions: []cron.Expr{{Cron: "* * * * *"}}, Overlap: cron.OverlapQueueOne}
	}))
	exit := func(code int) *hashike.ExitStatus { return &hashike.ExitStatus{Code: code} }
	for _, c := range []struct {
		job   string
		state hashike.RunState
		exit  *hashike.ExitStatus
		want  bool
	}{
		{"plain", hashike.StateSucceeded, exit(0), true},
		{"plain", hashike.StateFailed, exit(1), true},
		{"retried", hashike.StateSucceeded, exit(0), true},
		{"retried", hashike.StateFailed, exit(1), false},
		{"retried", hashike.StateCanceled, exit(143), true},
		{"notified", hashike.StateSucceeded, exit(0), false},
		{"held", hashike.StateSucceeded, exit(0), false},
	} {
		run := e.enqueue(c.job, api.EnqueueRequest{})
		ended := *run
		ended.State, ended.Exit = c.state, c.exit
		if got := e.s.quietEnd(context.Background(), &ended); got != c.want {
			t.Errorf("%s ending %s: quiet = %v, want %v", c.job, c.state, got, c.want)
		}
	}
	if e.s.quietEnd(context.Background(), &hashike.Run{State: hashike.StateSucceeded}) {
		t.Errorf("a run of hashike run (no job) is quiet for the server")
	}
}

func count(e *env, name string) map[hashike.RunState]int {
	out := map[hashike.RunState]int{}
	for _, r := range scheduled(e, name) {
		out[r.State]++
	}
	return out
}

func mapsEqual(a, b map[hashike.RunState]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

func TestTriggerAndSuspend(t *testing.T) {
	tc := newTestClock(time.Date(2026, 11, 21, 12, 0, 30, 0, time.UTC))
	e := newEnv(t, opts{clock: tc})
	ctx := context.Background()
	e.register("j", definition(func(d *job.Definition) {
		d.Schedule = cron.Spec{Expressions: []cron.Expr{{Cron: "* * * * *"}}}
	}))
	view, err := e.s.SetSuspended(ctx, "j", true)
	if err != nil || !view.Schedule.Suspended || view.Version != 2 || len(view.Next) != 0 {
		t.Fatalf("suspend: %+v %v", view, err)
	}
	tc.add(3 * time.Minute)
	time.Sleep(100 * time.Millisecond)
	if n := len(scheduled(e, "j")); n != 0 {
		t.Fatalf("%d runs from a suspended schedule", n)
	}
	run, err := e.s.Trigger(ctx, "j")
	if err != nil || run.Trigger != TriggerManual {
		t.Fatal(run, err)
	}
	e.settled(run.ID)
	if view, err = e.s.SetSuspended(ctx, "j", false); err != nil || view.Schedule.Suspended || view.Version != 3 {
		t.Fatalf("resume: %+v %v", view, err)
	}
	e.register("plain", definition(nil))
	if _, err := e.s.SetSuspended(ctx, "plain", true); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Errorf("suspending a job without a schedule: %v", err)
	}
	if _, err := e.s.GetSchedule(ctx, "plain"); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Errorf("the schedule of a job without one: %v", err)
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t, opts{noLoop: true})
	ctx := context.Background()
	tok, err := e.s.CreateToken(ctx, "ci", hashike.ScopeSubmit)
	if err != nil || !strings.HasPrefix(tok.Secret, TokenPrefix) {
		t.Fatal(tok, err)
	}
	got, err := e.s.Authenticate(ctx, tok.Secret)
	if err != nil || got.ID != tok.ID || got.Scope != hashike.ScopeSubmit {
		t.Fatalf("Authenticate: %+v %v", got, err)
	}
	list, _ := e.s.ListTokens(ctx)
	for _, l := range list {
		if l.Hash == tok.Secret || strings.Contains(l.Hash, tok.Secret) {
			t.Fatal("the secret is stored")
		}
	}
	if err := e.s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Authenticate(ctx, tok.Secret); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("a revoked token authenticates: %v", err)
	}
	if _, err := e.s.CreateToken(ctx, "x", "root"); hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Fatalf("scope root: %v", err)
	}
}

// TestAdoptsOrphanedRun: a run claimed by a replica that died is adopted by the leader, which
// reattaches to its task instead of starting another.
func TestAdoptsOrphanedRun(t *testing.T) {
	dead := hashike.Owner{Host: "test", PID: 99, Start: "9"} // not self: Alive says it is gone
	adoptsStartedRun(t, dead)
}

// TestAdoptsOwnUnsupervisedRun: a run owned by this very replica, which lives, but that it no
// longer supervises (its supervision ended without releasing the run: the database was down
// then) is adopted by the reconciler, not left active, holding its queue's slot, for ever.
func TestAdoptsOwnUnsupervisedRun(t *testing.T) { adoptsStartedRun(t, self) }

// adoptsStartedRun claims a run as owner, starts its task as that owner had, then starts a
// server: the run must be adopted and end succeeded with that one task.
func adoptsStartedRun(t *testing.T, owner hashike.Owner) {
	t.Helper()
	hold := make(chan struct{})
	e := newEnv(t, opts{noLoop: true, behave: func(hashike.StartRequest) fakebackend.Behavior { return fakebackend.Behavior{Hold: hold} }})
	e.register("j", definition(nil))
	run := e.enqueue("j", api.EnqueueRequest{})
	ctx := context.Background()
	claimed, err := e.store.ClaimRuns(ctx, time.Now(), 10, owner)
	if err != nil || len(claimed) != 1 {
		t.Fatal(claimed, err)
	}
	if _, err := e.backend.Start(ctx, hashike.StartRequest{RunID: run.ID, Spec: claimed[0].Spec}); err != nil {
		t.Fatal(err)
	}
	e.s.Start(ctx)
	e.eventually("the run to be adopted", func() bool { return e.s.supervising(run.ID) })
	close(hold)
	tries := e.settled(run.ID)
	if tries[0].State != hashike.StateSucceeded || e.backend.Starts(run.ID) != 1 {
		t.Fatalf("state %s, started %d times", tries[0].State, e.backend.Starts(run.ID))
	}
}

// outage is a store whose run updates fail, as a database that cannot be reached, while
// down is set.
type outage struct {
	hashike.ServerStore
	down   atomic.Bool
	failed atomic.Int64
}

func (o *outage) UpdateRun(ctx context.Context, id string, u hashike.RunUpdate) (*hashike.Run, error) {
	if o.down.Load() {
		o.failed.Add(1)
		return nil, &hashike.Error{Code: hashike.EUnavailable, Message: "sqlite: update run", Err: errors.New("the database is down")}
	}
	return o.ServerStore.UpdateRun(ctx, id, u)
}

// claimOutage is a store whose claims fail while down is set, counting them.
type claimOutage struct {
	hashike.ServerStore
	down   atomic.Bool
	claims atomic.Int64
}

func (o *claimOutage) ClaimRuns(ctx context.Context, now time.Time, limit int, owner hashike.Owner) ([]*hashike.Run, error) {
	if o.down.Load() {
		o.claims.Add(1)
		return nil, &hashike.Error{Code: hashike.EUnavailable, Message: "sqlite: claim runs", Err: errors.New("the database is down")}
	}
	return o.ServerStore.ClaimRuns(ctx, now, limit, owner)
}

// TestClaimsBackOffDuringOutage: while the database does not answer, the dispatcher claims
// (and warns) at a falling rate, not every PollInterval (10 ms here: about 100 claims in the
// second the outage lasts); once it answers again, a run queued meanwhile is dispatched.
func TestClaimsBackOffDuringOutage(t *testing.T) {
	var db *claimOutage
	e := newEnv(t, opts{store: func(s hashike.ServerStore) hashike.ServerStore { db = &claimOutage{ServerStore: s}; return db }})
	e.register("j", definition(nil))
	db.down.Store(true)
	run := e.enqueue("j", api.EnqueueRequest{})
	time.Sleep(time.Second)
	if n := db.claims.Load(); n == 0 || n > 20 {
		t.Errorf("%d claims in the second the database was down, want 1 to 20 (a backoff from 10 ms)", n)
	}
	db.down.Store(false)
	if tries := e.settled(run.ID); tries[0].State != hashike.StateSucceeded {
		t.Fatalf("the run queued during the outage ended %s", tries[0].State)
	}
}

// TestRunEndingDuringOutageIsRecordedAfter: a run whose task ends while the database cannot
// be reached is recorded once the database is back, by the replica that supervised it (which
// lives on), without the reconciler (it runs once an hour here) and without a second task.
func TestRunEndingDuringOutageIsRecordedAfter(t *testing.T) {
	hold := make(chan struct{})
	var db *outage
	e := newEnv(t, opts{reconcile: time.Hour,
		store:  func(s hashike.ServerStore) hashike.ServerStore { db = &outage{ServerStore: s}; return db },
		behave: func(hashike.StartRequest) fakebackend.Behavior { return fakebackend.Behavior{Hold: hold} }})
	e.register("j", definition(nil))
	run := e.enqueue("j", api.EnqueueRequest{})
	e.eventually("the run to start", func() bool { return e.get(run.ID).State == hashike.StateRunning })
	db.down.Store(true)
	close(hold) // the task ends while the database is down
	e.eventually("an update to fail", func() bool { return db.failed.Load() > 0 })
	db.down.Store(false)
	tries := e.settled(run.ID)
	if len(tries) != 1 || tries[0].State != hashike.StateSucceeded || e.backend.Starts(run.ID) != 1 {
		t.Fatalf("%d tries, state %s, started %d times", len(tries), tries[0].State, e.backend.Starts(run.ID))
	}
}

// TestHealth: Health names the database down when it does not answer (here a SQLite store
// that was closed under the server).
func TestHealth(t *testing.T) {
	e := newEnv(t, opts{noLoop: true})
	ctx := context.Background()
	if h := e.s.Health(ctx); !h.Healthy() || h.Checks["database"] != api.CheckUp {
		t.Errorf("Health = %+v, want ok", h)
	}
	e.store.Close()
	if h := e.s.Health(ctx); h.Healthy() || h.Status != api.HealthUnavailable || h.Checks["database"] != api.CheckDown {
		t.Errorf("Health with the database closed = %+v, want unavailable, database down", h)
	}
}

// leaderWatch is a replica's store that checks that its scheduler ticks only while it holds
// the leader lease, and can refuse to renew that lease (a database that does not answer it).
type leaderWatch struct {
	hashike.ServerStore
	t      *testing.T
	holder string
	down   atomic.Bool
	ticks  atomic.Int64
}

func (w *leaderWatch) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (hashike.Lease, bool, error) {
	if name == LeaderLease && w.down.Load() {
		return hashike.Lease{}, false, &hashike.Error{Code: hashike.EUnavailable, Message: "sqlite: acquire lease", Err: errors.New("the database is down")}
	}
	return w.ServerStore.AcquireLease(ctx, name, holder, now, ttl)
}

func (w *leaderWatch) ListJobs(ctx context.Context) ([]hashike.JobVersion, error) {
	w.ticks.Add(1)
	l, err := w.ServerStore.GetLease(ctx, LeaderLease)
	if ctx.Err() != nil {
		// The loop is being stopped (leadership lost, shutdown): the tick does nothing, and
		// the lease read failed for the context, not for the lease.
		return w.ServerStore.ListJobs(ctx)
	}
	if err != nil || l.Holder != w.holder || !l.ExpiresAt.After(time.Now()) {
		w.t.Errorf("%s's scheduler ticked without the leader lease (%+v, %v)", w.holder, l, err)
	}
	return w.ServerStore.ListJobs(ctx)
}

// TestLeaderOnlyLoops: of two replicas on one database, only the leader's scheduler ticks; a
// leader that cannot renew its lease stops its scheduler (Leader turns false once it has
// stopped) before the lease expires and the other replica takes over; a leader that shuts
// down hands over to the other at once.
func TestLeaderOnlyLoops(t *testing.T) {
	const ttl = 600 * time.Millisecond
	path := filepath.Join(t.TempDir(), "server.db")
	replica := func(host string) (*env, *leaderWatch) {
		var w *leaderWatch
		self := hashike.Owner{Host: host, PID: 1, Start: "1"} // hosts apart: no takeover of a dead process
		e := newEnv(t, opts{path: path, self: self, leaseTTL: ttl, store: func(s hashike.ServerStore) hashike.ServerStore {
			w = &leaderWatch{ServerStore: s, t: t, holder: holderName(self)}
			return w
		}})
		return e, w
	}
	a, wa := replica("a")
	b, wb := replica("b")
	if !a.s.Leader() || b.s.Leader() {
		t.Fatalf("leaders: a %v, b %v; want a, started first", a.s.Leader(), b.s.Leader())
	}
	a.eventually("a's scheduler to tick", func() bool { return wa.ticks.Load() >= 3 })
	if n := wb.ticks.Load(); n != 0 {
		t.Fatalf("b's scheduler ticked %d times while a leads", n)
	}

	wa.down.Store(true)
	a.eventually("a to step down", func() bool { return !a.s.Leader() })
	stopped := wa.ticks.Load()
	b.eventually("b to take over", func() bool { return b.s.Leader() })
	b.eventually("b's scheduler to tick", func() bool { return wb.ticks.Load() >= 3 })
	if n := wa.ticks.Load(); n != stopped {
		t.Fatalf("a's scheduler ticked %d times after a stepped down", n-stopped)
	}

	wa.down.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if l, err := a.store.GetLease(ctx, LeaderLease); err == nil && l.Holder == wb.holder {
		t.Fatalf("b shut down and left its leader lease (%+v) to expire", l)
	}
	a.eventually("a to take over from b", func() bool { return a.s.Leader() })
}

func testLogger(w io.Writer) *slog.Logger {
	if w == nil {
		return nil
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// TestLogsEveryDispatchAndEnd: the server's log has one line when a replica dispatches a run
// and one when the run ends, with what an operator greps for (run, job, queue, attempt,
// state, exit).
func TestLogsEveryDispatchAndEnd(t *testing.T) {
	var log syncBuf
	e := newEnv(t, opts{logger: testLogger(&log)})
	e.register("hello", definition(nil))
	run := e.enqueue("hello", api.EnqueueRequest{})
	if tries := e.settled(run.ID); len(tries) != 1 || tries[0].State != hashike.StateSucceeded {
		t.Fatalf("tries = %v", states(e.settled(run.ID)))
	}
	e.eventually("the end logged", func() bool { return strings.Contains(log.String(), `msg="run finished"`) })
	var dispatched, finished []string
	for _, line := range strings.Split(log.String(), "\n") {
		switch {
		case strings.Contains(line, "msg=dispatched"):
			dispatched = append(dispatched, line)
		case strings.Contains(line, `msg="run finished"`):
			finished = append(finished, line)
		}
	}
	if len(dispatched) != 1 || !strings.Contains(dispatched[0], "run="+run.ID) || !strings.Contains(dispatched[0], "job=hello") ||
		!strings.Contains(dispatched[0], "queue=default") || !strings.Contains(dispatched[0], "attempt=1") {
		t.Errorf("dispatch lines: %q", dispatched)
	}
	if len(finished) != 1 || !strings.Contains(finished[0], "run="+run.ID) || !strings.Contains(finished[0], "state=succeeded") ||
		!strings.Contains(finished[0], "exit=0") {
		t.Errorf("finish lines: %q", finished)
	}
}
