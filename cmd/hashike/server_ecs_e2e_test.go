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
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/httpapi"
	"github.com/hashike/hashike/internal/apitest"
	"github.com/hashike/hashike/internal/awsfake"
	"github.com/hashike/hashike/process"
)

// reportJob is a job on an EC2 cluster. CAPACITY is how it finds capacity: hakoScaleOut or
// capacityProvider. MEMORY is its task's memory in MiB, COMMAND the hashike-testjob script of
// its container.
const reportJob = `backend: ecs
timeout: 2m
ecs:
  cluster: jobs
  CAPACITY
  capacityTimeout: 1m
taskDefinition:
  family: report
  memory: "MEMORY"
  containerDefinitions:
    - name: app
      image: hashike-testjob:test
      command: COMMAND
      logConfiguration:
        logDriver: awslogs
        options: {awslogs-group: /hashike/report, awslogs-region: us-east-1, awslogs-stream-prefix: hashike}
`

// hakoScaleOut: the EC2 launch type, and hashike raises the Auto Scaling group's desired
// capacity when the task fits nowhere.
const hakoScaleOut = `launchType: EC2
  autoScalingGroupName: jobs-asg`

// capacityProvider: a capacity provider over the group; ECS managed scaling grows the group
// while tasks wait in PROVISIONING.
const capacityProvider = `capacityProviderStrategy: [{capacityProvider: jobs-cp, weight: 1}]`

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
	cloud *awsfake.Cloud
	db    string
	jobs  string

	mu   sync.Mutex
	live map[hashike.Owner]bool

	// config, when set, is the servers' --config file; scale gives a replica's autoscaler
	// its clients (see server_autoscaler_e2e_test.go).
	config string
	scale  func(name string, dead func() bool) (ecsscale.ECSAPI, ecsscale.AutoScalingAPI)
	// events, when set, gives the autoscaler its EC2 and SQS clients (the events loop).
	events func() (ecsscale.EC2API, ecsscale.SQSAPI)
}

// newECSWorld makes the cloud (cluster jobs, no instances yet) and registers the report job
// with capacity, memory (MiB) and command.
func newECSWorld(t *testing.T, opts awsfake.Options, capacity string, memory int, command string) *ecsWorld {
	t.Helper()
	cloud := awsfake.New(opts)
	t.Cleanup(cloud.Close)
	cloud.AddCluster("jobs")
	dir := t.TempDir()
	w := &ecsWorld{t: t, cloud: cloud, db: filepath.Join(dir, "server.db"), jobs: filepath.Join(dir, "jobs"), live: map[hashike.Owner]bool{}}
	if err := os.MkdirAll(w.jobs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.jobs, "report.yaml"), []byte(strings.NewReplacer("CAPACITY", capacity, "MEMORY", fmt.Sprint(memory), "COMMAND", command).Replace(reportJob)), 0o644); err != nil {
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
	// stop cancels the server as SIGTERM does and returns what it returned.
	stop func() error
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
			dead := func() bool { return !w.alive(self) }
			return ecs.Config{ECS: mortalECS{w.cloud.ECS(), dead}, AutoScaling: mortalAutoScaling{w.cloud.AutoScaling(), dead}, Logs: w.cloud.Logs(),
				PollMin: 10 * time.Millisecond, PollMax: 100 * time.Millisecond, LogPoll: 20 * time.Millisecond}
		},
		replica: &self, alive: w.alive,
		wrapStore: func(s hashike.ServerStore) hashike.ServerStore {
			r.store = &freezable{ServerStore: s, gone: make(chan struct{}), frozenCh: make(chan struct{})}
			return r.store
		},
	}
	args := []string{"server", "--db", w.db, "--jobs", w.jobs, "--listen", "127.0.0.1:0", "--no-auth", "--shutdown-timeout", "5s"}
	if w.config != "" {
		args = append(args, "--config", w.config)
		a.scaleAPI = func() scaleAPIs {
			e, as := w.scale(name, func() bool { return !w.alive(self) })
			apis := scaleAPIs{ECS: e, AS: as}
			if w.events != nil {
				apis.EC2, apis.SQS = w.events()
			}
			return apis
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.stop = sync.OnceValue(func() error {
		cancel()
		return <-r.exited
	})
	root := a.rootCmd()
	root.SetArgs(args)
	go func() { r.exited <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		if r.store != nil {
			r.store.release()
		}
		if err := r.stop(); err != nil {
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
			// Every exchange with the replica is checked against openapi.json.
			api, err := httpapi.NewClient(apitest.ProxyFor(t, httpapi.OpenAPIDocument(), m[1]), "", nil)
			if err != nil {
				t.Fatal(err)
			}
			r.api = api
			return r
		}
		select {
		case err := <-r.exited:
			r.exited <- err // for stop
			t.Fatalf("server %s exited: %v\n%s", name, err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s does not listen:\n%s", name, stderr.String())
		}
	}
}

// mortalECS and mortalAutoScaling are a replica's clients of the fake cloud: once the replica
// is killed, the calls that would change the cloud (RunTask, SetDesiredCapacity) never reach
// it, as a process killed with SIGKILL makes no more calls; they wait for their context to
// end. Without them a killed replica's start, still waiting for capacity until its shutdown
// timeout, could start a second task once the instance registered.
type mortalECS struct {
	ecs.ECSAPI
	dead func() bool
}

func (m mortalECS) RunTask(ctx context.Context, in *awsecs.RunTaskInput, opts ...func(*awsecs.Options)) (*awsecs.RunTaskOutput, error) {
	if m.dead() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return m.ECSAPI.RunTask(ctx, in, opts...)
}

type mortalAutoScaling struct {
	ecs.AutoScalingAPI
	dead func() bool
}

func (m mortalAutoScaling) SetDesiredCapacity(ctx context.Context, in *autoscaling.SetDesiredCapacityInput, opts ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error) {
	if m.dead() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return m.AutoScalingAPI.SetDesiredCapacity(ctx, in, opts...)
}

// kill makes the replica die as a process killed with SIGKILL does, as far as the others can
// tell: its process is gone, it writes nothing to the database any more, and it starts no
// task and scales no group (mortalECS). Its API still
// answers reads until the test cancels it (replica.cancel), which stops everything it does.
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
	err := api.FollowLogs(ectx(t), id, true, func(e hashike.LogEntry) error {
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

func desiredCapacity(t *testing.T, cloud *awsfake.Cloud, group string) int {
	t.Helper()
	out, err := cloud.AutoScaling().DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Fatalf("describe group %s: %v", group, err)
	}
	return int(aws.ToInt32(out.AutoScalingGroups[0].DesiredCapacity))
}

// instancesRegistered returns when each container instance of cluster jobs registered, by ARN.
func instancesRegistered(t *testing.T, cloud *awsfake.Cloud) map[string]time.Time {
	t.Helper()
	ctx := context.Background()
	cluster := "jobs"
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
	out := map[string]time.Time{}
	for _, ci := range desc.ContainerInstances {
		out[aws.ToString(ci.ContainerInstanceArn)] = aws.ToTime(ci.RegisteredAt)
	}
	return out
}

// The whole path of queued runs on ECS: the runs are enqueued through the API, there is no room
// for their tasks (the cluster is empty, or full), they wait for capacity while the Auto
// Scaling group grows (raised by hashike, hako-style, or by ECS managed scaling for a
// capacity provider), the new instance registers, the tasks run there and exit 0, and the API
// shows their output (read from CloudWatch Logs) and their history.
func TestServerOnECSWaitsForCapacityScalesOutAndRuns(t *testing.T) {
	const registerDelay = 500 * time.Millisecond
	for _, tc := range []struct {
		name     string
		opts     awsfake.Options
		capacity string
		provider bool // the group is behind capacity provider jobs-cp
		memory   int
		desired  int // the group's instances at first (1024 CPU units, 2048 MiB each)
		runs     int
		sleep    string // how long each task runs
	}{
		{name: "empty cluster, hashike scales out", capacity: hakoScaleOut, memory: 512, runs: 1, sleep: "100ms"},
		{name: "full cluster, hashike scales out", capacity: hakoScaleOut, memory: 1536, desired: 1, runs: 2, sleep: "2s"},
		{name: "empty cluster, capacity provider", opts: awsfake.Options{ManagedScalingDelay: 100 * time.Millisecond},
			capacity: capacityProvider, provider: true, memory: 512, runs: 1, sleep: "100ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newECSWorld(t, tc.opts, tc.capacity, tc.memory, `[print, "1", "report line", sleep, `+tc.sleep+`, print, "1", "report done", exit, "0"]`)
			w.cloud.AddAutoScalingGroup("jobs-asg", "jobs", 0, 3, tc.desired, 1024, 2048, registerDelay)
			if tc.provider {
				w.cloud.AddCapacityProvider("jobs", "jobs-cp", "jobs-asg")
			}
			for deadline := time.Now().Add(10 * time.Second); len(instancesRegistered(t, w.cloud)) < tc.desired; time.Sleep(registerDelay / 10) {
				if time.Now().After(deadline) {
					t.Fatal("the group's first instances never registered")
				}
			}
			srv := w.startServer("a")

			ctx := ectx(t)
			var ids []string
			for i := 0; i < tc.runs; i++ {
				run, created, err := srv.api.Enqueue(ctx, "report", api.EnqueueRequest{})
				if err != nil || !created {
					t.Fatalf("POST /v1/jobs/report/runs: created %v, %v", created, err)
				}
				if run.State != hashike.StateQueued || run.Backend != "ecs" {
					t.Fatalf("enqueued run %s on %q, want queued on ecs", run.State, run.Backend)
				}
				ids = append(ids, run.ID)
			}

			views := map[string]api.RunView{}
			for _, id := range ids {
				out := followLogs(t, srv.api, id, nil)
				if out != "report line 1\nreport done 1\n" {
					t.Fatalf("GET /v1/runs/%s/logs: %q, want the task's two lines", id, out)
				}
				view, err := srv.api.GetRun(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if view.State != hashike.StateSucceeded || view.Exit == nil || view.Exit.Code != 0 {
					t.Fatalf("GET /v1/runs/%s: %s %+v, want succeeded with exit 0", id, view.State, view.Exit)
				}
				if got, want := fmt.Sprint(states(view.Run)), fmt.Sprint([]hashike.RunState{hashike.StateQueued, hashike.StatePending, hashike.StateRunning, hashike.StateSucceeded}); got != want {
					t.Fatalf("history of %s: %s, want %s", id, got, want)
				}
				if view.Task == nil || view.Task.Cluster != "jobs" {
					t.Fatalf("GET /v1/runs/%s: task %+v, want one on cluster jobs", id, view.Task)
				}
				views[id] = view
			}

			// The scale-out, as the cloud shows it: one more instance, on which a task ran
			// once it had registered.
			if got, want := desiredCapacity(t, w.cloud, "jobs-asg"), tc.desired+1; got != want {
				t.Fatalf("desired capacity %d, want %d: one more instance", got, want)
			}
			if n := w.cloud.Calls("SetDesiredCapacity"); tc.provider && n != 0 {
				t.Fatalf("hashike called SetDesiredCapacity %d times on a group that ECS managed scaling owns", n)
			}
			registered := instancesRegistered(t, w.cloud)
			if len(registered) != tc.desired+1 {
				t.Fatalf("%d container instances, want %d", len(registered), tc.desired+1)
			}
			tasks := w.cloud.Tasks()
			if len(tasks) != tc.runs {
				t.Fatalf("%d tasks in the cloud, want one per run (%d)", len(tasks), tc.runs)
			}
			onNew, waited := 0, ""
			for _, tk := range tasks {
				id := strings.TrimPrefix(aws.ToString(tk.StartedBy), "hashike/")
				view, ok := views[id]
				if !ok || view.Task.ID != aws.ToString(tk.TaskArn) || aws.ToString(tk.LastStatus) != "STOPPED" {
					t.Fatalf("task %s started by %q, %s: not a task of the runs %v", aws.ToString(tk.TaskArn), aws.ToString(tk.StartedBy), aws.ToString(tk.LastStatus), ids)
				}
				at, ok := registered[aws.ToString(tk.ContainerInstanceArn)]
				if !ok {
					t.Fatalf("task %s ran on %q, not a container instance of the cluster", aws.ToString(tk.TaskArn), aws.ToString(tk.ContainerInstanceArn))
				}
				if pending := transitionTo(t, view.Run, hashike.StatePending); at.Sub(pending.At) >= registerDelay/2 {
					// The instance registered while this run waited: its task started there after.
					onNew++
					waited = id
					if started := aws.ToTime(tk.StartedAt); started.Before(at) {
						t.Fatalf("task of %s started at %s, before its instance registered at %s", id, started.Format(time.StampMilli), at.Format(time.StampMilli))
					}
				}
			}
			if onNew != 1 {
				t.Fatalf("%d tasks ran on an instance that registered while their run waited, want 1", onNew)
			}
			// hashike's own wait (RunTask found no room) and scale-out are in the server's log,
			// saying which run waited; a capacity provider's task waits in PROVISIONING instead.
			log := srv.stderr.String()
			for _, line := range []string{
				`waiting for capacity cluster=jobs why=\S+ .*\brun=` + waited + `\b`,
				`scale out group=jobs-asg from=` + fmt.Sprint(tc.desired) + ` to=` + fmt.Sprint(tc.desired+1) + ` .*\brun=` + waited + `\b`,
			} {
				if shown := regexp.MustCompile(line).MatchString(log); shown == tc.provider {
					t.Fatalf("the server's log matches %q: %v, want %v:\n%s", line, shown, !tc.provider, log)
				}
			}
			for _, id := range ids {
				if id != waited && regexp.MustCompile(`(waiting for capacity|scale out) .*\brun=`+id).MatchString(log) {
					t.Fatalf("the server's log says run %s waited for capacity; it had room:\n%s", id, log)
				}
			}
		})
	}
}

// A replica that dies while its run's task runs on ECS leaves the task running; the next
// server on the same database adopts the run, reattaches to the task and records its end and
// the rest of its output. Dying between RunTask and recording the task is the same: the next
// server finds the task the dead replica started (by its startedBy, else RunTask's client
// token gives it back) instead of starting a second one. Dying during the capacity wait, after
// it raised the group's desired capacity: the next server waits for that instance rather
// than launching another. A server stopped gracefully (SIGTERM) releases the run and leaves
// its task running: the next server adopts it the same way.
func TestServerOnECSReattachesAfterReplicaDies(t *testing.T) {
	for _, tc := range []struct {
		name string
		// desired and registerDelay are the Auto Scaling group's at first.
		desired       int
		registerDelay time.Duration
		// killWhen, when set, kills replica a at the run update it is about to write; else it
		// dies once scaled (the group's desired capacity is 1) or, if not scaled, once its
		// task has printed its first line.
		killWhen func(hashike.RunUpdate) bool
		scaled   bool
		at       hashike.RunState // the run's state when replica a died
		// graceful stops replica a as SIGTERM does instead: it releases its runs.
		graceful bool
	}{
		{name: "while its task runs", desired: 1, at: hashike.StateRunning},
		{name: "stopped gracefully while its task runs", desired: 1, graceful: true},
		{name: "between RunTask and recording the task", desired: 1, at: hashike.StatePending,
			killWhen: func(u hashike.RunUpdate) bool { return u.Task != nil }},
		{name: "during the capacity wait, after the scale-out", registerDelay: 500 * time.Millisecond, scaled: true, at: hashike.StatePending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newECSWorld(t, awsfake.Options{}, hakoScaleOut, 512, `[print, "1", "started", sleep, 2s, print, "1", "finished", exit, "0"]`)
			w.cloud.AddAutoScalingGroup("jobs-asg", "jobs", 0, 3, tc.desired, 1024, 2048, tc.registerDelay)
			a := w.startServer("a")
			if tc.killWhen != nil {
				a.store.killWhen(tc.killWhen, func() { w.kill(a) })
			}

			ctx := ectx(t)
			run, _, err := a.api.Enqueue(ctx, "report", api.EnqueueRequest{})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.graceful:
				followLogs(t, a.api, run.ID, func(out string) bool { return strings.Contains(out, "started 1\n") })
			case tc.killWhen != nil:
				select {
				case <-a.store.frozenCh:
				case <-ctx.Done():
					t.Fatal("replica a never got to the write it dies at")
				}
			case tc.scaled:
				for desiredCapacity(t, w.cloud, "jobs-asg") == 0 {
					select {
					case <-ctx.Done():
						t.Fatal("replica a never scaled the group out")
					case <-time.After(5 * time.Millisecond):
					}
				}
				w.kill(a)
			default:
				followLogs(t, a.api, run.ID, func(out string) bool { return strings.Contains(out, "started 1\n") })
				w.kill(a)
			}
			if tc.graceful {
				if err := a.stop(); err != nil {
					t.Fatalf("server a's graceful stop: %v", err)
				}
			} else {
				view, err := a.api.GetRun(ctx, run.ID)
				if err != nil {
					t.Fatal(err)
				}
				if view.State != tc.at || view.Owner == nil || *view.Owner != a.self {
					t.Fatalf("GET /v1/runs/%s when replica a died: %s owned by %+v, want %s under replica a", run.ID, view.State, view.Owner, tc.at)
				}
				a.cancel() // nothing of replica a acts any more
			}

			b := w.startServer("b")
			if tasks := w.cloud.Tasks(); len(tasks) == 1 && tc.graceful && aws.ToString(tasks[0].LastStatus) != "RUNNING" {
				t.Fatalf("the task is %s after server a stopped gracefully: a graceful stop must leave it running", aws.ToString(tasks[0].LastStatus))
			}
			out := followLogs(t, b.api, run.ID, nil)
			if out != "started 1\nfinished 1\n" {
				t.Fatalf("GET /v1/runs/%s/logs from the new server: %q, want each line once", run.ID, out)
			}
			view, err := b.api.GetRun(ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if view.State != hashike.StateSucceeded || view.Exit == nil || view.Exit.Code != 0 {
				t.Fatalf("GET /v1/runs/%s: %s %+v, want succeeded with exit 0", run.ID, view.State, view.Exit)
			}
			if got, want := fmt.Sprint(states(view.Run)), fmt.Sprint([]hashike.RunState{hashike.StateQueued, hashike.StatePending, hashike.StateRunning, hashike.StateSucceeded}); got != want {
				t.Fatalf("history %s, want %s", got, want)
			}
			if got := desiredCapacity(t, w.cloud, "jobs-asg"); got != 1 {
				t.Fatalf("desired capacity %d, want 1: the one instance the run needs", got)
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

// POST /v1/runs/{id}/cancel on ECS: during the capacity wait, the run ends canceled and no task
// is ever started, even once the instance it waited for registers; while its task runs,
// hashike stops the task (StopTask) and the run ends canceled.
func TestServerOnECSCancel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		waiting bool // canceled during the capacity wait, else while the task runs
	}{
		{name: "during the capacity wait", waiting: true},
		{name: "while the task runs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newECSWorld(t, awsfake.Options{}, hakoScaleOut, 512, `[print, "1", "started", sleep, 5m]`)
			desired, delay := 1, time.Duration(0)
			if tc.waiting {
				desired, delay = 0, 500*time.Millisecond
			}
			w.cloud.AddAutoScalingGroup("jobs-asg", "jobs", 0, 3, desired, 1024, 2048, delay)
			srv := w.startServer("a")
			ctx := ectx(t)
			run, _, err := srv.api.Enqueue(ctx, "report", api.EnqueueRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.waiting {
				for !regexp.MustCompile(`waiting for capacity .*\brun=` + run.ID).MatchString(srv.stderr.String()) {
					select {
					case <-ctx.Done():
						t.Fatal("the run never waited for capacity")
					case <-time.After(5 * time.Millisecond):
					}
				}
			} else {
				followLogs(t, srv.api, run.ID, func(out string) bool { return strings.Contains(out, "started 1\n") })
			}
			if _, err := srv.api.Cancel(ctx, run.ID, api.CancelRequest{Reason: "not needed"}); err != nil {
				t.Fatalf("POST /v1/runs/%s/cancel: %v", run.ID, err)
			}
			out := followLogs(t, srv.api, run.ID, nil) // until the run ends
			view, err := srv.api.GetRun(ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if view.State != hashike.StateCanceled || view.Exit == nil || view.Exit.Code != hashike.ExitSIGTERM {
				t.Fatalf("GET /v1/runs/%s: %s %+v, want canceled (143)", run.ID, view.State, view.Exit)
			}
			if stop := transitionTo(t, view.Run, hashike.StateStopping); !strings.Contains(stop.Reason, "not needed") {
				t.Fatalf("the history's stop %+v does not say why", stop)
			}
			tasks := w.cloud.Tasks()
			if tc.waiting {
				// The instance it waited for registers: still nothing starts.
				for len(instancesRegistered(t, w.cloud)) == 0 {
					select {
					case <-ctx.Done():
						t.Fatal("the instance never registered")
					case <-time.After(20 * time.Millisecond):
					}
				}
				// The run ended: its supervision, and so its start, is over.
				if tasks = w.cloud.Tasks(); len(tasks) != 0 || view.Task != nil || out != "" || !strings.Contains(view.Exit.Reason, "before its task was created") {
					t.Fatalf("%d tasks in the cloud, task %+v, output %q, exit %+v: a run canceled while it waited for capacity started a task", len(tasks), view.Task, out, view.Exit)
				}
				return
			}
			if len(tasks) != 1 || aws.ToString(tasks[0].LastStatus) != "STOPPED" || tasks[0].StopCode != "UserInitiated" {
				t.Fatalf("tasks in the cloud: %d, %+v: want the run's task stopped by hashike", len(tasks), tasks)
			}
			if out != "started 1\n" {
				t.Fatalf("output %q", out)
			}
		})
	}
}
