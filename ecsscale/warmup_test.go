package ecsscale_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/internal/awsfake"
)

const (
	imgA = "registry.example/a:1"
	imgB = "registry.example/b:1"
	imgC = "registry.example/c:1"
	// pull is how long each image takes to pull on an instance that does not have it.
	pull = 40 * time.Second
)

// staticQueue is hashike's queue with a fixed list of waiting tasks.
type staticQueue []autoscale.Task

func (q staticQueue) Pending(context.Context) ([]autoscale.Task, error) { return slices.Clone(q), nil }

// waiting is a queue of a tasks of imgA, b of imgB and c of imgC.
func waiting(now time.Time, a, b, c int) staticQueue {
	var q staticQueue
	for img, n := range map[string]int{imgA: a, imgB: b, imgC: c} {
		for i := range n {
			q = append(q, autoscale.Task{ID: img + "#" + string(rune('0'+i)), CPU: 256, MemoryMiB: 256, SubmittedAt: now, Image: img})
		}
	}
	return q
}

// warmFake is the fake with images that take pull to pull, and the adapter over an empty
// group "jobs-asg" (0-3 instances) with warm-up of the 2 images used most.
func warmFake(t *testing.T, q ecsscale.Queue, timeout time.Duration) (*fake, *ecsscale.Cluster) {
	t.Helper()
	clock := awsfake.NewManualClock(time.Unix(1e9, 0))
	cloud := awsfake.New(awsfake.Options{Clock: clock, StepDelay: -1, LogStreamDelay: -1, LogDeliveryDelay: -1, Tick: time.Hour,
		Images:   map[string]bool{imgA: true, imgB: true, imgC: true},
		PullTime: map[string]time.Duration{imgA: pull, imgB: pull, imgC: pull}})
	t.Cleanup(cloud.Close)
	cloud.AddCluster(clusterName)
	f := &fake{cloud: cloud, clock: clock, ecs: cloud.ECS().(ecsscale.ECSAPI), as: cloud.AutoScaling().(ecsscale.AutoScalingAPI)}
	cloud.AddAutoScalingGroup("jobs-asg", clusterName, 0, 3, 0, large.CPU, large.MemoryMiB, latency)
	cloud.SetInstanceType("jobs-asg", large.Name)
	return f, warmAdapter(t, f, q, timeout)
}

// warmAdapter is an adapter over the fake's group with warm-up of the 2 images used most.
func warmAdapter(t *testing.T, f *fake, q ecsscale.Queue, timeout time.Duration) *ecsscale.Cluster {
	t.Helper()
	c, err := ecsscale.New(f.ecs, f.as, ecsscale.Config{Cluster: clusterName, Types: []autoscale.InstanceType{large},
		Pools: []ecsscale.Pool{{Name: "jobs", Group: "jobs-asg"}}, Queue: q, Clock: f.clock,
		Warmup: ecsscale.Warmup{Images: 2, Timeout: timeout}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newInstance launches one instance and lets it register; the first Snapshot after that
// starts its warm-up.
func newInstance(t *testing.T, f *fake, c *ecsscale.Cluster) *autoscale.Snapshot {
	t.Helper()
	snap(t, c) // sees the queue's images
	if err := c.Apply(context.Background(), autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Count: 1}}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(latency)
	return snap(t, c)
}

// warmTasks are the fake's warm-up tasks, by image.
func warmTasks(f *fake) map[string]types.Task {
	out := map[string]types.Task{}
	for _, tk := range f.cloud.Tasks() {
		if aws.ToString(tk.StartedBy) == ecsscale.WarmupStartedBy {
			out[aws.ToString(tk.Containers[0].Image)] = tk
		}
	}
	return out
}

// awaitPulls waits until n task drivers sleep on the clock: their pulls are under way.
func awaitPulls(t *testing.T, f *fake, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.clock.Waiters() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d pulls under way, want %d", f.clock.Waiters(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// awaitPulled waits until every warm-up task's pull has ended and the task has stopped
// (the fake's drivers run in real time; a stopping warm-up task still counts on its
// instance, and the adapter errs on the busy side for that moment).
func awaitPulled(t *testing.T, f *fake) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		done := true
		for _, tk := range warmTasks(f) {
			done = done && tk.PullStoppedAt != nil && aws.ToString(tk.LastStatus) == "STOPPED"
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("warm-up pulls not done")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWarmupHoldsANewInstanceLaunching: a new instance pulls the 2 images used most
// (hashike's queue waits for 3 tasks of a, 2 of b, 1 of c) with one warm-up task each,
// started on it with StartTask; while they pull, the snapshot shows it launching (no
// ActiveAt), the warm-up tasks are neither pending nor running nor its tasks; once pulled,
// it is active and has both images cached, not the third.
func TestWarmupHoldsANewInstanceLaunching(t *testing.T) {
	clock0 := time.Unix(1e9, 0)
	f, c := warmFake(t, waiting(clock0, 3, 2, 1), 0)
	s := newInstance(t, f, c)
	if len(s.Instances) != 1 {
		t.Fatalf("instances %+v", s.Instances)
	}
	in := s.Instances[0]
	if in.State != autoscale.InstanceLaunching || !in.ActiveAt.IsZero() || in.Tasks != 0 || in.MemoryUsed != 0 || s.Running != 0 || len(s.Pending) != 6 {
		t.Fatalf("warming instance %+v, running %d, pending %d: want launching, no task, the 6 queued tasks pending", in, s.Running, len(s.Pending))
	}
	wt := warmTasks(f)
	if len(wt) != 2 || wt[imgA].TaskArn == nil || wt[imgB].TaskArn == nil || f.cloud.Calls("StartTask") != 2 {
		t.Fatalf("warm-up tasks %v (StartTask called %d times), want one of %s and one of %s", slices.Collect(mapsKeys(wt)), f.cloud.Calls("StartTask"), imgA, imgB)
	}
	for _, tk := range wt {
		if ci := aws.ToString(tk.ContainerInstanceArn); ci == "" || f.cloud.Cached(in.ID, imgA) {
			t.Fatalf("warm-up task on %q, cached before its pull", ci)
		}
	}

	awaitPulls(t, f, 2)
	f.clock.Advance(pull / 2)
	if s := snap(t, c); s.Instances[0].State != autoscale.InstanceLaunching {
		t.Fatalf("half-way through its pulls: %+v, want launching", s.Instances[0])
	}
	f.clock.Advance(pull / 2)
	awaitPulled(t, f)
	s = snap(t, c)
	if in := s.Instances[0]; in.State != autoscale.InstanceActive || in.ActiveAt.IsZero() || in.Tasks != 0 {
		t.Fatalf("after its pulls: %+v, want active, idle", in)
	}
	if !f.cloud.Cached(in.ID, imgA) || !f.cloud.Cached(in.ID, imgB) || f.cloud.Cached(in.ID, imgC) {
		t.Fatalf("cached a %v b %v c %v, want a and b", f.cloud.Cached(in.ID, imgA), f.cloud.Cached(in.ID, imgB), f.cloud.Cached(in.ID, imgC))
	}
	if n := f.cloud.Calls("StartTask"); n != 2 {
		t.Fatalf("StartTask called %d times, want 2 (no second warm-up)", n)
	}

	// A second instance reuses the warm-up task definitions.
	registered := f.cloud.Calls("RegisterTaskDefinition")
	newInstance(t, f, c)
	if got := f.cloud.Calls("RegisterTaskDefinition"); got != registered {
		t.Fatalf("RegisterTaskDefinition called %d more times for a second instance", got-registered)
	}
}

// TestWarmupTimeout: an instance whose pulls outlast Warmup.Timeout counts as active once
// the timeout has passed.
func TestWarmupTimeout(t *testing.T) {
	f, c := warmFake(t, waiting(time.Unix(1e9, 0), 1, 0, 0), pull/4)
	if s := newInstance(t, f, c); s.Instances[0].State != autoscale.InstanceLaunching {
		t.Fatalf("%+v, want launching while warming", s.Instances[0])
	}
	f.clock.Advance(pull / 4)
	if s := snap(t, c); s.Instances[0].State != autoscale.InstanceActive {
		t.Fatalf("after the timeout: %+v, want active", s.Instances[0])
	}
}

// TestWarmupTasksDoNotKeepAnInstance: an instance that runs only warm-up tasks is idle for
// scale-in: not protected, and Terminate ends it (no ErrBusy); one that also runs a job is
// busy: protected, reported active (in service) though still warming, and Terminate
// refuses it.
func TestWarmupTasksDoNotKeepAnInstance(t *testing.T) {
	f, c := warmFake(t, waiting(time.Unix(1e9, 0), 1, 1, 0), 0)
	ctx := context.Background()
	s := newInstance(t, f, c)
	id := s.Instances[0].ID
	if p := protection(t, f); p[id] {
		t.Fatalf("protection %v: an instance with only warm-up tasks is protected", p)
	}

	// A job lands on the warming instance (ECS places it there: it is ACTIVE).
	if _, err := f.ecs.RegisterTaskDefinition(ctx, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("job"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("job"), Image: aws.String(testImage), Memory: aws.Int32(256), Command: []string{"sleep", "1h"}}}}); err != nil {
		t.Fatal(err)
	}
	out, err := f.cloud.ECS().RunTask(ctx, &awsecs.RunTaskInput{Cluster: aws.String(clusterName), TaskDefinition: aws.String("job")})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	s = snap(t, c)
	if in := s.Instances[0]; in.Tasks != 1 || s.Running != 1 || in.MemoryUsed != 256 || in.State != autoscale.InstanceActive {
		t.Fatalf("%+v running %d: want the job alone counted, the instance in service (active) though warming", in, s.Running)
	}
	if p := protection(t, f); !p[id] {
		t.Fatalf("protection %v: the job's instance is not protected", p)
	}
	if err := c.Apply(ctx, autoscale.Action{Terminate: &autoscale.Terminate{Instance: id}}); !errors.Is(err, ecsscale.ErrBusy) {
		t.Fatalf("Terminate an instance running a job and warm-up tasks: %v, want ErrBusy", err)
	}
	if _, err := f.cloud.ECS().StopTask(ctx, &awsecs.StopTaskInput{Cluster: aws.String(clusterName), Task: out.Tasks[0].TaskArn}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for tk, _ := f.cloud.Task(aws.ToString(out.Tasks[0].TaskArn)); aws.ToString(tk.LastStatus) != "STOPPED"; tk, _ = f.cloud.Task(aws.ToString(out.Tasks[0].TaskArn)) {
		if time.Now().After(deadline) {
			t.Fatal("job not stopped")
		}
		time.Sleep(time.Millisecond)
	}

	// Only warm-up tasks again (still pulling): Terminate ends the instance.
	if s := snap(t, c); s.Instances[0].Tasks != 0 || len(warmTasks(f)) != 2 {
		t.Fatalf("%+v, warm-up tasks %d", s.Instances[0], len(warmTasks(f)))
	}
	if err := c.Apply(ctx, autoscale.Action{Terminate: &autoscale.Terminate{Instance: id}}); err != nil {
		t.Fatalf("Terminate an instance running only warm-up tasks: %v", err)
	}
	if s := snap(t, c); len(s.Instances) != 0 || desired(t, f) != 0 {
		t.Fatalf("instances %+v desired %d after Terminate", s.Instances, desired(t, f))
	}
}

// TestWarmupAdoptedAfterRestart: an adapter started while an instance warms (a new
// controller replica, a restart) adopts its warm-up tasks: it starts none of its own and
// reports the instance launching until their pulls are done.
func TestWarmupAdoptedAfterRestart(t *testing.T) {
	q := waiting(time.Unix(1e9, 0), 1, 1, 0)
	f, c := warmFake(t, q, 0)
	newInstance(t, f, c)
	awaitPulls(t, f, 2)
	again := warmAdapter(t, f, q, 0)
	if s := snap(t, again); s.Instances[0].State != autoscale.InstanceLaunching || f.cloud.Calls("StartTask") != 2 {
		t.Fatalf("%+v after a restart, StartTask called %d times: want launching, no new warm-up", s.Instances[0], f.cloud.Calls("StartTask"))
	}
	f.clock.Advance(pull)
	awaitPulled(t, f)
	if s := snap(t, again); s.Instances[0].State != autoscale.InstanceActive {
		t.Fatalf("%+v once pulled, want active", s.Instances[0])
	}
}

// TestWarmupStartThrottled: a throttled StartTask fails that Snapshot with
// autoscale.ErrThrottled, naming the image; the warm-up is not retried (it is best-effort):
// the next Snapshot reports the instance active, cold.
func TestWarmupStartThrottled(t *testing.T) {
	f, c := warmFake(t, waiting(time.Unix(1e9, 0), 2, 1, 0), 0)
	snap(t, c)
	if err := c.Apply(context.Background(), autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Count: 1}}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(latency)
	f.cloud.FailNext("StartTask", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded", Fault: smithy.FaultClient})
	_, err := c.Snapshot(context.Background())
	if !errors.Is(err, autoscale.ErrThrottled) || !strings.Contains(err.Error(), "start warm-up task of "+imgA) {
		t.Fatalf("Snapshot with StartTask throttled: %v", err)
	}
	if s := snap(t, c); s.Instances[0].State != autoscale.InstanceActive || f.cloud.Calls("StartTask") != 1 || len(warmTasks(f)) != 0 {
		t.Fatalf("%+v, StartTask called %d times, %d warm-up tasks: want active, no retry", s.Instances[0], f.cloud.Calls("StartTask"), len(warmTasks(f)))
	}
}

// TestWarmupOff: without Warmup.Images no task is started and a registered instance is
// active at once.
func TestWarmupOff(t *testing.T) {
	f := newFake(t)
	c := group(t, f, 0, 3, 1, waiting(time.Unix(1e9, 0), 2, 0, 0))
	if s := snap(t, c); s.Instances[0].State != autoscale.InstanceActive || f.cloud.Calls("StartTask") != 0 {
		t.Fatalf("%+v, StartTask called %d times", s.Instances[0], f.cloud.Calls("StartTask"))
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestJobOnAWarmingInstanceSharesThePull: ECS places a job on a warming instance (nothing
// keeps it off); a job of an image being warmed waits only for the rest of the warm-up's
// pull, not for a pull of its own: RunTask half-way through the 40 s pull, it starts 20 s
// later.
func TestJobOnAWarmingInstanceSharesThePull(t *testing.T) {
	f, c := warmFake(t, waiting(time.Unix(1e9, 0), 1, 0, 0), 0)
	ctx := context.Background()
	s := newInstance(t, f, c)
	id := s.Instances[0].ID
	awaitPulls(t, f, 1)
	f.clock.Advance(pull / 2)
	if _, err := f.ecs.RegisterTaskDefinition(ctx, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("job-a"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("job"), Image: aws.String(imgA), Memory: aws.Int32(256)}}}); err != nil {
		t.Fatal(err)
	}
	out, err := f.cloud.ECS().RunTask(ctx, &awsecs.RunTaskInput{Cluster: aws.String(clusterName), TaskDefinition: aws.String("job-a")})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	job := aws.ToString(out.Tasks[0].TaskArn)
	awaitPulls(t, f, 2) // the warm-up's and the job's wait on the clock
	f.clock.Advance(pull / 2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		tk, _ := f.cloud.Task(job)
		if tk.StartedAt != nil {
			if d := tk.StartedAt.Sub(*tk.CreatedAt); d != pull/2 {
				t.Fatalf("the job started %v after RunTask, want %v (the rest of the warm-up's pull)", d, pull/2)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not started: %s", aws.ToString(tk.LastStatus))
		}
		time.Sleep(time.Millisecond)
	}
	if !f.cloud.Cached(id, imgA) {
		t.Fatal("image not cached on the instance")
	}
}
