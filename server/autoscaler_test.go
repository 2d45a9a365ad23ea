package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/internal/fakebackend"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/sqlite"
)

// recCluster is an autoscale.Cluster that counts its snapshots and records what it is asked.
type recCluster struct {
	snapshots atomic.Int64
	fail      atomic.Bool
	mu        sync.Mutex
	applied   []autoscale.Action
}

func (c *recCluster) Snapshot(context.Context) (*autoscale.Snapshot, error) {
	c.snapshots.Add(1)
	if c.fail.Load() {
		return nil, errors.New("describe auto scaling groups: AccessDenied")
	}
	return &autoscale.Snapshot{Now: time.Now()}, nil
}

func (c *recCluster) Apply(_ context.Context, a autoscale.Action) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applied = append(c.applied, a)
	return nil
}

// launchOne asks for one instance at every decision, with a reason, and counts its resets.
type launchOne struct{ resets atomic.Int64 }

func (*launchOne) Name() string            { return "test" }
func (*launchOne) Interval() time.Duration { return 10 * time.Millisecond }
func (p *launchOne) Reset()                { p.resets.Add(1) }
func (*launchOne) Decide(*autoscale.Snapshot, time.Time) []autoscale.Action {
	return []autoscale.Action{{Launch: &autoscale.Launch{Pool: "p", Count: 1}, Reason: "3 tasks wait 40s, above the SLO"}}
}

// TestAutoscalerRunsOnTheLeaderOnly: of two replicas, only the leader's autoscaler observes
// and acts; when the leader steps down, the other's starts and the first one's has stopped.
// Every decision is logged with its reason, and /healthz reports the last observation's
// error.
func TestAutoscalerRunsOnTheLeaderOnly(t *testing.T) {
	const ttl = 600 * time.Millisecond
	path := filepath.Join(t.TempDir(), "server.db")
	var logA syncBuf
	pa, pb := &launchOne{}, &launchOne{}
	replica := func(host string, c *recCluster, p *launchOne, log *syncBuf) (*env, *leaderWatch) {
		var w *leaderWatch
		self := hashike.Owner{Host: host, PID: 1, Start: "1"}
		o := opts{path: path, self: self, leaseTTL: ttl, autoscalers: []Autoscaler{{Name: "batch", Cluster: c, Policy: p}}}
		if log != nil { // a: its lease renewals can be made to fail
			o.logger = slog.New(slog.NewTextHandler(log, nil))
			o.store = func(s hashike.ServerStore) hashike.ServerStore {
				w = &leaderWatch{ServerStore: s, t: t, holder: holderName(self)}
				return w
			}
		}
		return newEnv(t, o), w
	}
	ca, cb := &recCluster{}, &recCluster{}
	a, wa := replica("a", ca, pa, &logA)
	b, _ := replica("b", cb, pb, nil)
	a.eventually("a's autoscaler to decide", func() bool { return ca.snapshots.Load() >= 3 })
	if n := cb.snapshots.Load(); n != 0 {
		t.Fatalf("b's autoscaler observed %d times while a leads", n)
	}
	if got := logA.String(); !strings.Contains(got, `msg="autoscaler: action" cluster=batch policy=test action="launch 1 instances in p" reason="3 tasks wait 40s, above the SLO"`) {
		t.Errorf("the decision is not logged with its reason:\n%s", got)
	}
	if h := a.s.Health(context.Background()).Autoscalers["batch"]; h.LastDecision == nil || h.Error != "" || !a.s.Health(context.Background()).Healthy() {
		t.Errorf("a's health %+v", h)
	}

	ca.fail.Store(true)
	a.eventually("the observation error in /healthz", func() bool {
		return strings.Contains(a.s.Health(context.Background()).Autoscalers["batch"].Error, "AccessDenied")
	})
	if !a.s.Health(context.Background()).Healthy() {
		t.Errorf("an autoscaler's error made the replica unhealthy")
	}

	wa.down.Store(true)
	a.eventually("a to step down", func() bool { return !a.s.Leader() })
	stopped := ca.snapshots.Load()
	b.eventually("b's autoscaler to take over", func() bool { return cb.snapshots.Load() >= 3 })
	if n := ca.snapshots.Load(); n != stopped {
		t.Fatalf("a's autoscaler observed %d times after a stepped down", n-stopped)
	}
	if pa.resets.Load() != 1 || pb.resets.Load() != 1 {
		t.Errorf("policy resets: a %d, b %d; want one as each gained the leadership", pa.resets.Load(), pb.resets.Load())
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestInterruptEndsTheRunLostAndRetries: an interrupted run's task is stopped, the run ends
// lost (hashike.StopInterruption) with the reason, and is retried although its job allows
// one attempt only: an infrastructure failure does not use one. Tasks of no run come back
// as unknown; interrupting again is harmless.
func TestInterruptEndsTheRunLostAndRetries(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	var starts atomic.Int64
	e := newEnv(t, opts{behave: func(hashike.StartRequest) fakebackend.Behavior {
		if starts.Add(1) == 1 {
			return fakebackend.Behavior{Hold: hold}
		}
		return fakebackend.Behavior{}
	}})
	e.register("j", definition(func(d *job.Definition) { d.RetryStrategy.Attempts = 1 }))
	run := e.enqueue("j", api.EnqueueRequest{})
	e.eventually("the run to start", func() bool { r := e.get(run.ID); return r.State == hashike.StateRunning && r.Task != nil })
	arn := e.get(run.ID).Task.ID
	reason := "EC2 Spot Instance Interruption Warning for i-0abc: reclaimed at 2026-12-06T02:00:00Z"
	unknown, err := e.s.Interrupt(context.Background(), []string{arn, "arn:aws:ecs:task/other"}, reason)
	if err != nil || !slices.Equal(unknown, []string{"arn:aws:ecs:task/other"}) {
		t.Fatalf("Interrupt: unknown %v, %v", unknown, err)
	}
	if _, err := e.s.Interrupt(context.Background(), []string{arn}, reason); err != nil {
		t.Fatalf("Interrupt again: %v", err)
	}
	tries := e.settled(run.ID)
	if got := states(tries); !slices.Equal(got, []string{"#1 lost", "#2 succeeded"}) {
		t.Fatalf("tries %v, want the interrupted run lost and retried", got)
	}
	first := e.get(run.ID)
	if first.StopCause != hashike.StopInterruption || !slices.ContainsFunc(first.History, func(tr hashike.Transition) bool { return strings.Contains(tr.Reason, "i-0abc") }) {
		t.Errorf("first try: cause %q, history %+v", first.StopCause, first.History)
	}
}

// TestDemand: the cluster's queued runs are demand with their sizes, enqueue time and image,
// as are its dispatched runs without a task (waiting for room); other clusters' and backends'
// runs, a paused queue's runs, runs beyond a queue's free slots and runs not yet due are not.
func TestDemand(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)
	n := 0
	add := func(cluster, backend, queue string, state hashike.RunState, task *hashike.TaskRef, notBefore *time.Time) string {
		n++
		spec := hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "f", Cpu: "1024", Memory: "2048",
			ContainerDefinitions: []hashike.ContainerDefinition{{Name: "side", Image: "envoy", Essential: ptr(false)}, {Name: "app", Image: "app:v1"}}}}
		if cluster != "" {
			spec.ECS = &hashike.ECSOptions{Cluster: cluster}
		}
		id := fmt.Sprintf("run%023d", n)
		if queue == "" {
			queue = job.DefaultQueue
		}
		r := &hashike.Run{ID: id, Family: "f", Backend: backend, Spec: spec, Digest: spec.Digest(), State: state, Task: task,
			CreatedAt: t0.Add(time.Duration(n) * time.Second), Job: "j", JobVersion: 1, Queue: queue, NotBefore: notBefore, Attempt: 1, RootID: id}
		if _, _, err := st.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		return id
	}
	later := t0.Add(time.Hour)
	due := t0.Add(30 * time.Second)
	want := []string{
		add("batch", "ecs", "", hashike.StateQueued, nil, &due),
		add("arn:aws:ecs:ap-northeast-1:1:cluster/batch", "ecs", "capped", hashike.StateQueued, nil, nil),
	}
	add("batch", "ecs", "capped", hashike.StateQueued, nil, nil) // beyond the cap of 1
	add("other", "ecs", "", hashike.StateQueued, nil, nil)
	add("batch", "local", "", hashike.StateQueued, nil, nil)
	add("batch", "ecs", "paused", hashike.StateQueued, nil, nil)
	add("batch", "ecs", "", hashike.StateQueued, nil, &later)
	waiting := add("batch", "ecs", "", hashike.StatePending, nil, nil)
	add("batch", "ecs", "", hashike.StatePending, &hashike.TaskRef{ID: "arn:task/1"}, nil)
	if err := st.PutQueue(ctx, hashike.QueueConfig{Name: "paused", Paused: true}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutQueue(ctx, hashike.QueueConfig{Name: "capped", MaxConcurrency: 1}); err != nil {
		t.Fatal(err)
	}
	tasks, err := Demand{Store: st, Cluster: "batch", Clock: fixedClock(t0.Add(time.Minute))}.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tk := range tasks {
		ids = append(ids, tk.ID)
		if tk.CPU != 1024 || tk.MemoryMiB != 2048 || tk.Image != "app:v1" || tk.SubmittedAt.Before(t0) {
			t.Errorf("task %+v", tk)
		}
		if tk.ID == want[0] && !tk.SubmittedAt.Equal(due) {
			t.Errorf("a run due at %s waits from %s", due, tk.SubmittedAt)
		}
		if (tk.ID == waiting) != (tk.LastFailure != "") {
			t.Errorf("task %s: LastFailure %q", tk.ID, tk.LastFailure)
		}
	}
	if want = append(want, waiting); !slices.Equal(ids, want) {
		t.Errorf("demand %v, want %v", ids, want)
	}
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time                       { return time.Time(c) }
func (c fixedClock) After(time.Duration) <-chan time.Time { return make(chan time.Time) }

// TestDemandLimitKeepsTheOldest: a backlog above Limit is read oldest first: the tasks that
// have waited longest are the ones the policy sees.
func TestDemandLimitKeepsTheOldest(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 5 {
		spec := hashike.JobSpec{ECS: &hashike.ECSOptions{Cluster: "batch"}, TaskDefinition: hashike.TaskDefinition{Family: "f", Memory: "512",
			ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "app"}}}}
		id := fmt.Sprintf("run%023d", 100-i) // IDs do not sort by age
		r := &hashike.Run{ID: id, Family: "f", Backend: "ecs", Spec: spec, Digest: spec.Digest(), State: hashike.StateQueued,
			CreatedAt: t0.Add(time.Duration(i) * time.Second), Job: "j", JobVersion: 1, Queue: job.DefaultQueue, Attempt: 1, RootID: id}
		if _, _, err := st.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	tasks, err := Demand{Store: st, Cluster: "batch", Clock: fixedClock(t0.Add(time.Minute)), Limit: 2}.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 || tasks[0].ID != ids[0] || tasks[1].ID != ids[1] {
		t.Errorf("demand %+v, want the two oldest %v", tasks, ids[:2])
	}
}

// hourly decides once an hour: any other decision comes from a wake-up.
type hourly struct{ launchOne }

func (*hourly) Interval() time.Duration { return time.Hour }

// TestEnqueueWakesTheAutoscaler: a run queued on the leader makes its autoscaler decide at
// once, not at its next interval (an hour here), so scale-out starts within the policy's
// own batching, not a scan period later.
func TestEnqueueWakesTheAutoscaler(t *testing.T) {
	c := &recCluster{}
	e := newEnv(t, opts{noLoop: false, autoscalers: []Autoscaler{{Name: "batch", Cluster: c, Policy: &hourly{}}}})
	e.eventually("the first decision", func() bool { return c.snapshots.Load() == 1 })
	e.register("hello", definition(nil))
	// Registering queues nothing: still one decision.
	if n := c.snapshots.Load(); n != 1 {
		t.Fatalf("%d decisions before any run was queued", n)
	}
	e.enqueue("hello", api.EnqueueRequest{})
	e.eventually("a decision woken by the enqueue", func() bool { return c.snapshots.Load() >= 2 })
}
