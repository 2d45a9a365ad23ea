package main

// End-to-end tests of `hashike server` with the ECS backend: the server command runs in
// process (its ECS backend's clients point at the stateful fake, which has no HTTP endpoint)
// over a temp SQLite database and a --jobs directory, and the tests speak to it as a user
// does, through its HTTP API.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/ecs/ecsfake"
	"github.com/hashike/hashike/httpapi"
	"github.com/hashike/hashike/process"
	"github.com/hashike/hashike/server"
)

// reportJob is a job on an EC2 cluster whose Auto Scaling group hashike scales out, hako-style,
// when the task fits nowhere. COMMAND is the hashike-testjob script of its container.
const reportJob = `backend: ecs
timeout: 2m
ecs:
  cluster: jobs
  launchType: EC2
  autoScalingGroupName: jobs-asg
  capacityTimeout: 1m
taskDefinition:
  family: report
  memory: "512"
  containerDefinitions:
    - name: app
      image: hashike-testjob:test
      command: COMMAND
      logConfiguration:
        logDriver: awslogs
        options: {awslogs-group: /hashike/report, awslogs-region: us-east-1, awslogs-stream-prefix: hashike}
`

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ecsWorld is the fake cloud, the server's database and jobs directory, and the replicas that
// are alive (the servers of one test share a host: a replica dies when the test says so).
type ecsWorld struct {
	t     *testing.T
	cloud *ecsfake.Cloud
	db    string
	jobs  string

	mu   sync.Mutex
	live map[hashike.Owner]bool
}

func newECSWorld(t *testing.T, command string) *ecsWorld {
	t.Helper()
	cloud := ecsfake.New(ecsfake.Options{})
	t.Cleanup(cloud.Close)
	cloud.AddCluster("jobs")
	dir := t.TempDir()
	w := &ecsWorld{t: t, cloud: cloud, db: filepath.Join(dir, "server.db"), jobs: filepath.Join(dir, "jobs"), live: map[hashike.Owner]bool{}}
	if err := os.MkdirAll(w.jobs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.jobs, "report.yaml"), []byte(strings.Replace(reportJob, "COMMAND", command, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *ecsWorld) alive(o hashike.Owner) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.live[o]
}

// replica is one `hashike server` running in process.
type replica struct {
	self   hashike.Owner
	api    *httpapi.Client
	stderr *lockedBuffer
	store  *freezable
	cancel context.CancelFunc
	exited chan error
}

// startServer runs `hashike server --db DB --jobs DIR --listen 127.0.0.1:0 --no-auth` as
// replica name and returns once it listens.
func (w *ecsWorld) startServer(name string) *replica {
	t := w.t
	t.Helper()
	self := process.Self()
	self.PID, self.Start = 1<<22+len(w.live), "test-"+name
	w.mu.Lock()
	w.live[self] = true
	w.mu.Unlock()
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	r := &replica{self: self, stderr: stderr, exited: make(chan error, 1)}
	a := &app{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr, clock: hashike.SystemClock{},
		lookupEnv: func(string) (string, bool) { return "", false },
		ecsConfig: func() ecs.Config {
			return ecs.Config{ECS: w.cloud.ECS(), AutoScaling: w.cloud.AutoScaling(), Logs: w.cloud.Logs(),
				PollMin: 10 * time.Millisecond, PollMax: 100 * time.Millisecond, LogPoll: 20 * time.Millisecond}
		},
		replica: &self, alive: w.alive,
		wrapStore: func(s hashike.ServerStore) hashike.ServerStore {
			r.store = &freezable{ServerStore: s, gone: make(chan struct{}), frozenCh: make(chan struct{})}
			return r.store
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	root := a.rootCmd()
	root.SetArgs([]string{"server", "--db", w.db, "--jobs", w.jobs, "--listen", "127.0.0.1:0", "--no-auth", "--shutdown-timeout", "5s"})
	go func() { r.exited <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		if r.store != nil {
			r.store.release()
		}
		cancel()
		if err := <-r.exited; err != nil {
			t.Logf("server %s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("server %s's log:\n%s", name, stderr.String())
		}
	})
	listening := regexp.MustCompile(`listening on (http://\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			api, err := httpapi.NewClient(m[1], "", nil)
			if err != nil {
				t.Fatal(err)
			}
			r.api = api
			return r
		}
		select {
		case err := <-r.exited:
			t.Fatalf("server %s exited: %v\n%s", name, err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s does not listen:\n%s", name, stderr.String())
		}
	}
}

// kill makes the replica die as a process killed with SIGKILL does, as far as the others can
// tell: its process is gone, and it writes nothing to the database any more.
func (w *ecsWorld) kill(r *replica) {
	w.mu.Lock()
	w.live[r.self] = false
	w.mu.Unlock()
	r.store.freeze()
}

// freezable is a server store whose writes stop, forever blocked, once frozen: a killed
// replica's goroutines never get to record anything, release their runs or renew a lease.
type freezable struct {
	hashike.ServerStore
	mu       sync.Mutex
	frozen   bool
	frozenCh chan struct{} // closed once frozen
	gone     chan struct{}
	once     sync.Once
	// when and die, when set, kill the replica at the first run update when accepts.
	when func(hashike.RunUpdate) bool
	die  func()
}

func (f *freezable) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.frozen {
		f.frozen = true
		close(f.frozenCh)
	}
}

// killWhen has die called (and the update refused, as by a process that dies before it
// writes) at the first run update when accepts.
func (f *freezable) killWhen(when func(hashike.RunUpdate) bool, die func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.when, f.die = when, die
}

// release ends the blocked writes with an error (the test is over).
func (f *freezable) release() { f.once.Do(func() { close(f.gone) }) }

func (f *freezable) wait(ctx context.Context) error {
	f.mu.Lock()
	frozen := f.frozen
	f.mu.Unlock()
	if !frozen {
		return nil
	}
	select {
	case <-f.gone:
	case <-ctx.Done():
	}
	return errors.New("the replica was killed")
}

func (f *freezable) CreateRun(ctx context.Context, run *hashike.Run) (*hashike.Run, bool, error) {
	if err := f.wait(ctx); err != nil {
		return nil, false, err
	}
	return f.ServerStore.CreateRun(ctx, run)
}

func (f *freezable) UpdateRun(ctx context.Context, id string, u hashike.RunUpdate) (*hashike.Run, error) {
	f.mu.Lock()
	when, die := f.when, f.die
	f.mu.Unlock()
	if when != nil && when(u) {
		die()
	}
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	return f.ServerStore.UpdateRun(ctx, id, u)
}

func (f *freezable) AppendLogs(ctx context.Context, runID string, entries []hashike.LogEntry) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	return f.ServerStore.AppendLogs(ctx, runID, entries)
}

func (f *freezable) ClaimRuns(ctx context.Context, now time.Time, limit int, owner hashike.Owner) ([]*hashike.Run, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	return f.ServerStore.ClaimRuns(ctx, now, limit, owner)
}

func (f *freezable) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (hashike.Lease, bool, error) {
	if err := f.wait(ctx); err != nil {
		return hashike.Lease{}, false, err
	}
	return f.ServerStore.AcquireLease(ctx, name, holder, now, ttl)
}

func (f *freezable) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	return f.ServerStore.ReleaseLease(ctx, name, holder)
}

func (f *freezable) SetScheduleTick(ctx context.Context, job string, tick time.Time) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	return f.ServerStore.SetScheduleTick(ctx, job, tick)
}

func (f *freezable) AddDeliveries(ctx context.Context, ds []hashike.Delivery) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	return f.ServerStore.AddDeliveries(ctx, ds)
}

func (f *freezable) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]hashike.Delivery, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	return f.ServerStore.ClaimDeliveries(ctx, now, limit, lease)
}

func (f *freezable) UpdateDelivery(ctx context.Context, d hashike.Delivery) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	return f.ServerStore.UpdateDelivery(ctx, d)
}

func ectx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// followLogs follows the run's output through GET /v1/runs/{id}/logs?follow=true until the
// stream ends (the run ended) or until returns true for the output so far.
func followLogs(t *testing.T, api *httpapi.Client, id string, until func(string) bool) string {
	t.Helper()
	var out strings.Builder
	stop := errors.New("seen")
	err := api.Logs(ectx(t), id, true, func(e hashike.LogEntry) error {
		out.Write(e.Data)
		if until != nil && until(out.String()) {
			return stop
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		t.Fatalf("GET /v1/runs/%s/logs?follow=true: %v (so far %q)", id, err, out.String())
	}
	return out.String()
}

// states is the run's history as its states, in order.
func states(run *hashike.Run) []hashike.RunState {
	var out []hashike.RunState
	for _, tr := range run.History {
		out = append(out, tr.To)
	}
	return out
}

func transitionTo(t *testing.T, run *hashike.Run, s hashike.RunState) hashike.Transition {
	t.Helper()
	for _, tr := range run.History {
		if tr.To == s {
			return tr
		}
	}
	t.Fatalf("the history %v has no move to %s", states(run), s)
	return hashike.Transition{}
}

func desiredCapacity(t *testing.T, cloud *ecsfake.Cloud, group string) int {
	t.Helper()
	out, err := cloud.AutoScaling().DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Fatalf("describe group %s: %v", group, err)
	}
	return int(aws.ToInt32(out.AutoScalingGroups[0].DesiredCapacity))
}

// instancesRegistered returns when each container instance of the cluster registered.
func instancesRegistered(t *testing.T, cloud *ecsfake.Cloud, cluster string) []time.Time {
	t.Helper()
	ctx := context.Background()
	list, err := cloud.ECS().ListContainerInstances(ctx, &awsecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.ContainerInstanceArns) == 0 {
		return nil
	}
	desc, err := cloud.ECS().DescribeContainerInstances(ctx, &awsecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: list.ContainerInstanceArns})
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, ci := range desc.ContainerInstances {
		out = append(out, aws.ToTime(ci.RegisteredAt))
	}
	return out
}

// The whole path of a queued run on ECS: the run is enqueued through the API, its RunTask finds
// an empty cluster, the run waits for capacity while hashike raises the Auto Scaling group's
// desired capacity, the new instance registers, the task runs there and exits 0, and the API
// shows its output (read from CloudWatch Logs) and the history of the run.
func TestServerOnECSWaitsForCapacityScalesOutAndRuns(t *testing.T) {
	w := newECSWorld(t, `[print, "1", "report line", sleep, 100ms, print, "1", "report done", exit, "0"]`)
	const registerDelay = 500 * time.Millisecond
	w.cloud.AddAutoScalingGroup("jobs-asg", "jobs", 0, 3, 0, 1024, 2048, registerDelay) // empty: nothing can run yet
	srv := w.startServer("a")

	ctx := ectx(t)
	run, created, err := srv.api.Enqueue(ctx, "report", server.EnqueueRequest{})
	if err != nil || !created {
		t.Fatalf("POST /v1/jobs/report/runs: created %v, %v", created, err)
	}
	if run.State != hashike.StateQueued || run.Backend != "ecs" {
		t.Fatalf("enqueued run %s on %q, want queued on ecs", run.State, run.Backend)
	}

	out := followLogs(t, srv.api, run.ID, nil)
	if out != "report line 1\nreport done 1\n" {
		t.Fatalf("GET /v1/runs/%s/logs: %q, want the task's two lines", run.ID, out)
	}
	view, err := srv.api.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if view.State != hashike.StateSucceeded || view.Exit == nil || view.Exit.Code != 0 {
		t.Fatalf("GET /v1/runs/%s: %s %+v, want succeeded with exit 0", run.ID, view.State, view.Exit)
	}
	if got, want := fmt.Sprint(states(view.Run)), fmt.Sprint([]hashike.RunState{hashike.StateQueued, hashike.StatePending, hashike.StateRunning, hashike.StateSucceeded}); got != want {
		t.Fatalf("history %s, want %s", got, want)
	}

	// The capacity wait and the scale-out, as the server's log and the cloud show them.
	if !regexp.MustCompile(`waiting for capacity cluster=jobs why=\S+`).MatchString(srv.stderr.String()) {
		t.Fatalf("the server's log does not show the capacity wait:\n%s", srv.stderr.String())
	}
	if got := desiredCapacity(t, w.cloud, "jobs-asg"); got != 1 {
		t.Fatalf("desired capacity %d, want 1: one instance for the one task", got)
	}
	if n := w.cloud.Calls("RunTask"); n < 2 {
		t.Fatalf("%d RunTask calls: the first, on the empty cluster, could not have placed the task", n)
	}
	registered := instancesRegistered(t, w.cloud, "jobs")
	if len(registered) != 1 {
		t.Fatalf("%d container instances, want the one the scale-out launched", len(registered))
	}
	// The run left pending only once the new instance had registered: it waited for it.
	pending, running := transitionTo(t, view.Run, hashike.StatePending), transitionTo(t, view.Run, hashike.StateRunning)
	if running.At.Before(registered[0]) || registered[0].Sub(pending.At) < registerDelay/2 {
		t.Fatalf("pending at %s, instance registered at %s, running at %s: the run did not wait for the new instance",
			pending.At.Format(time.StampMilli), registered[0].Format(time.StampMilli), running.At.Format(time.StampMilli))
	}
	tasks := w.cloud.Tasks()
	if len(tasks) != 1 || aws.ToString(tasks[0].StartedBy) != "hashike/"+run.ID || aws.ToString(tasks[0].LastStatus) != "STOPPED" {
		t.Fatalf("tasks in the cloud: %d (%+v), want one stopped task started by hashike/%s", len(tasks), tasks, run.ID)
	}
	if view.Task == nil || view.Task.ID != aws.ToString(tasks[0].TaskArn) || view.Task.Cluster != "jobs" {
		t.Fatalf("GET /v1/runs/%s: task %+v, want %s on cluster jobs", run.ID, view.Task, aws.ToString(tasks[0].TaskArn))
	}
}

// A replica that dies while its run's task runs on ECS leaves the task running; the next
// server on the same database adopts the run, reattaches to the task and records its end and
// the rest of its output. Dying between RunTask and recording the task is the same: the next
// server's RunTask carries the run's client token, which gives back the task the dead replica
// started instead of starting a second one.
func TestServerOnECSReattachesAfterReplicaDies(t *testing.T) {
	for _, tc := range []struct {
		name string
		// killWhen, when set, kills replica a at the write it is about to make; else it dies
		// once its task has printed its first line.
		killWhen func(hashike.RunUpdate) bool
		running  bool // the run was recorded running before replica a died
	}{
		{name: "while its task runs", running: true},
		{name: "between RunTask and recording the task", killWhen: func(u hashike.RunUpdate) bool { return u.Task != nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newECSWorld(t, `[print, "1", "started", sleep, 2s, print, "1", "finished", exit, "0"]`)
			w.cloud.AddAutoScalingGroup("jobs-asg", "jobs", 0, 3, 1, 1024, 2048, 0)
			a := w.startServer("a")
			if tc.killWhen != nil {
				a.store.killWhen(tc.killWhen, func() { w.kill(a) })
			}

			ctx := ectx(t)
			run, _, err := a.api.Enqueue(ctx, "report", server.EnqueueRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.killWhen == nil {
				followLogs(t, a.api, run.ID, func(out string) bool { return strings.Contains(out, "started 1\n") })
				w.kill(a)
			} else {
				select {
				case <-a.store.frozenCh:
				case <-ctx.Done():
					t.Fatal("replica a never got to record its task")
				}
			}
			view, err := a.api.GetRun(ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := hashike.StatePending
			if tc.running {
				want = hashike.StateRunning
			}
			if view.State != want || view.Owner == nil || *view.Owner != a.self {
				t.Fatalf("GET /v1/runs/%s when replica a died: %s owned by %+v, want %s under replica a", run.ID, view.State, view.Owner, want)
			}

			b := w.startServer("b")
			out := followLogs(t, b.api, run.ID, nil)
			if out != "started 1\nfinished 1\n" {
				t.Fatalf("GET /v1/runs/%s/logs from the new server: %q, want each line once", run.ID, out)
			}
			view, err = b.api.GetRun(ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if view.State != hashike.StateSucceeded || view.Exit == nil || view.Exit.Code != 0 {
				t.Fatalf("GET /v1/runs/%s: %s %+v, want succeeded with exit 0", run.ID, view.State, view.Exit)
			}
			if got, want := fmt.Sprint(states(view.Run)), fmt.Sprint([]hashike.RunState{hashike.StateQueued, hashike.StatePending, hashike.StateRunning, hashike.StateSucceeded}); got != want {
				t.Fatalf("history %s, want %s", got, want)
			}
			if !strings.Contains(b.stderr.String(), "adopting a run whose supervisor is gone") {
				t.Fatalf("server b's log does not show the adoption:\n%s", b.stderr.String())
			}
			tasks := w.cloud.Tasks()
			if len(tasks) != 1 || aws.ToString(tasks[0].StartedBy) != "hashike/"+run.ID {
				t.Fatalf("tasks in the cloud: %d, want exactly the one task started for the run", len(tasks))
			}
			if view.Task == nil || view.Task.ID != aws.ToString(tasks[0].TaskArn) {
				t.Fatalf("GET /v1/runs/%s: task %+v, want %s", run.ID, view.Task, aws.ToString(tasks[0].TaskArn))
			}
		})
	}
}
