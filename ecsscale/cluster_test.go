package ecsscale_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/autoscale/clustertest"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/internal/awsfake"
)

var large = autoscale.InstanceType{Name: "c6i.large", CPU: 2048, MemoryMiB: 3800, OnDemandPrice: 0.085, SpotPrice: 0.034}

// group adds group "jobs-asg" of c6i.large (min, max, desired) to the fake, its instances
// registered, and returns the adapter over it.
func group(t *testing.T, f *fake, min, max, desired int, q ecsscale.Queue) *ecsscale.Cluster {
	t.Helper()
	f.cloud.AddAutoScalingGroup("jobs-asg", clusterName, min, max, desired, large.CPU, large.MemoryMiB, latency)
	f.cloud.SetInstanceType("jobs-asg", large.Name)
	f.clock.Advance(latency)
	c, err := ecsscale.New(f.ecs, f.as, ecsscale.Config{Cluster: clusterName, Types: []autoscale.InstanceType{large},
		Pools: []ecsscale.Pool{{Name: "jobs", Group: "jobs-asg"}}, Queue: q, Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func snap(t *testing.T, c *ecsscale.Cluster) *autoscale.Snapshot {
	t.Helper()
	s, err := c.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return s
}

func desired(t *testing.T, f *fake) int {
	t.Helper()
	g, err := f.as.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"jobs-asg"}})
	if err != nil {
		t.Fatal(err)
	}
	return int(*g.AutoScalingGroups[0].DesiredCapacity)
}

// TestTerminateRefusesABusyInstance: Terminate on an instance running a task is refused
// with ErrBusy and changes nothing; Drain lets the task run to its end, and the instance
// is terminated (desired capacity decremented) by the first Snapshot after that.
func TestTerminateRefusesABusyInstance(t *testing.T) {
	f := newFake(t)
	q := &queue{t: t, f: f}
	c := group(t, f, 0, 3, 1, q)
	q.start = f.clock.Now()
	q.todo = append(q.todo, clusterTask(0, 512, 512, 10*time.Minute))
	q.tick()
	s := snap(t, c)
	if len(s.Instances) != 1 || s.Instances[0].Tasks != 1 || s.Running != 1 {
		t.Fatalf("instances %+v running %d, want the task running", s.Instances, s.Running)
	}
	id := s.Instances[0].ID
	err := c.Apply(context.Background(), autoscale.Action{Terminate: &autoscale.Terminate{Instance: id}})
	if !errors.Is(err, ecsscale.ErrBusy) || !strings.Contains(err.Error(), "drain it instead") {
		t.Fatalf("Terminate a busy instance: %v, want ErrBusy", err)
	}
	if s := snap(t, c); s.Instances[0].State != autoscale.InstanceActive || s.Running != 1 || f.cloud.Calls("TerminateInstanceInAutoScalingGroup") != 0 {
		t.Fatalf("after a refused Terminate: %+v, running %d", s.Instances, s.Running)
	}
	if err := c.Apply(context.Background(), autoscale.Action{Drain: &autoscale.Drain{Instance: id}}); err != nil {
		t.Fatal(err)
	}
	q.advance(9 * time.Minute)
	if s := snap(t, c); len(s.Instances) != 1 || s.Instances[0].State != autoscale.InstanceDraining || s.Running != 1 {
		t.Fatalf("while draining: %+v, running %d", s.Instances, s.Running)
	}
	q.advance(time.Minute)
	if s := snap(t, c); len(s.Instances) != 0 || s.Running != 0 {
		t.Fatalf("after the task's end: %+v, running %d; want the instance terminated", s.Instances, s.Running)
	}
	if d := desired(t, f); d != 0 {
		t.Fatalf("desired %d, want 0 (decremented)", d)
	}
	for _, tk := range f.cloud.Tasks() {
		if tk.StopCode != types.TaskStopCodeUserInitiated || aws.ToString(tk.StoppedReason) != "job done" {
			t.Errorf("task %s stopped with %s %q, want the job's own end", aws.ToString(tk.TaskArn), tk.StopCode, aws.ToString(tk.StoppedReason))
		}
	}
}

func clusterTask(at time.Duration, cpu, mem int, d time.Duration) clustertest.Task {
	return clustertest.Task{At: at, CPU: cpu, MemoryMiB: mem, Duration: d}
}

// fakeRate is a bucket of one call, refilled every ten minutes.
func fakeRate() awsfake.Rate { return awsfake.Rate{PerSecond: 1.0 / 600, Burst: 1} }

// TestDrainALaunchingInstance: draining an instance not yet registered terminates it at
// once and gives its place back (desired capacity decremented).
func TestDrainALaunchingInstance(t *testing.T) {
	f := newFake(t)
	c := group(t, f, 0, 3, 0, nil)
	if err := c.Apply(context.Background(), autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Count: 2}}); err != nil {
		t.Fatal(err)
	}
	s := snap(t, c)
	if len(s.Instances) != 2 || s.Instances[0].State != autoscale.InstanceLaunching || s.Instances[0].Type != large.Name {
		t.Fatalf("instances %+v, want 2 launching c6i.large", s.Instances)
	}
	if err := c.Apply(context.Background(), autoscale.Action{Drain: &autoscale.Drain{Instance: s.Instances[0].ID}}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(latency)
	s = snap(t, c)
	if len(s.Instances) != 1 || s.Instances[0].State != autoscale.InstanceActive || desired(t, f) != 1 {
		t.Fatalf("instances %+v, desired %d; want the other one active", s.Instances, desired(t, f))
	}
}

// TestProvisioningTasksArePending: tasks of a capacity provider that fit no instance wait
// in PROVISIONING; the snapshot shows them pending with their size, oldest first, next to
// hashike's queue.
func TestProvisioningTasksArePending(t *testing.T) {
	f := newFake(t)
	q := &queue{t: t, f: f}
	c := group(t, f, 0, 3, 0, q)
	f.cloud.AddCapacityProvider(clusterName, "jobs-cp", "jobs-asg")
	fam := q.family(1024, 2048)
	out, err := f.cloud.ECS().RunTask(context.Background(), &awsecs.RunTaskInput{Cluster: aws.String(clusterName), TaskDefinition: aws.String(fam),
		CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("jobs-cp")}}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %+v %v", out, err)
	}
	f.clock.Advance(time.Second)
	q.start = f.clock.Now()
	q.todo = append(q.todo, clusterTask(0, 512, 512, time.Minute))
	q.tick()
	s := snap(t, c)
	if len(s.Pending) != 2 {
		t.Fatalf("pending %+v, want the PROVISIONING task and the queued one", s.Pending)
	}
	p := s.Pending[0]
	if p.ID != aws.ToString(out.Tasks[0].TaskArn) || !p.Provisioning || p.CPU != 1024 || p.MemoryMiB != 2048 || p.Image != testImage || !p.SubmittedAt.Equal(aws.ToTime(out.Tasks[0].CreatedAt)) {
		t.Errorf("pending[0] %+v", p)
	}
	if s.Pending[1].Provisioning || s.Pending[1].CPU != 512 {
		t.Errorf("pending[1] %+v, want the queued task", s.Pending[1])
	}
}

// TestThrottlingIsErrThrottled: Auto Scaling's and ECS's rate limiting reach the controller
// as autoscale.ErrThrottled, with the operation named.
func TestThrottlingIsErrThrottled(t *testing.T) {
	f := newFake(t)
	c := group(t, f, 0, 3, 0, nil)
	f.cloud.FailNext("SetDesiredCapacity", &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded", Fault: smithy.FaultClient})
	err := c.Apply(context.Background(), autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Count: 1}})
	if !errors.Is(err, autoscale.ErrThrottled) || !strings.Contains(err.Error(), "set desired capacity of jobs-asg to 1") {
		t.Fatalf("throttled SetDesiredCapacity: %v", err)
	}
	if d := desired(t, f); d != 0 {
		t.Fatalf("desired %d after a throttled call", d)
	}
	f.cloud.SetThrottle("ListContainerInstances", fakeRate())
	var errs []error
	for range 3 {
		if _, err := c.Snapshot(context.Background()); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 || !errors.Is(errs[0], autoscale.ErrThrottled) {
		t.Fatalf("throttled ListContainerInstances: %v", errs)
	}
	f.cloud.FailNext("SetDesiredCapacity", &smithy.GenericAPIError{Code: "ValidationError", Message: "no", Fault: smithy.FaultClient})
	if err := c.Apply(context.Background(), autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Count: 1}}); err == nil || errors.Is(err, autoscale.ErrThrottled) {
		t.Fatalf("a ValidationError: %v, want a plain error", err)
	}
}

// TestIdleSince: an instance whose last task ended is idle since the first snapshot that
// saw it idle; one that never ran a task has no IdleSince (its ActiveAt counts).
func TestIdleSince(t *testing.T) {
	f := newFake(t)
	q := &queue{t: t, f: f}
	c := group(t, f, 0, 3, 2, q)
	q.start = f.clock.Now()
	q.todo = append(q.todo, clusterTask(0, 512, 512, time.Minute))
	q.tick()
	if s := snap(t, c); s.Running != 1 {
		t.Fatalf("running %d", s.Running)
	}
	q.advance(2 * time.Minute)
	s := snap(t, c)
	idle := 0
	for _, in := range s.Instances {
		if in.ActiveAt.IsZero() || in.Tasks != 0 {
			t.Errorf("instance %+v", in)
		}
		if !in.IdleSince.IsZero() {
			idle++
			if !in.IdleSince.Equal(s.Now) {
				t.Errorf("idle since %v, want %v", in.IdleSince, s.Now)
			}
		}
	}
	if idle != 1 {
		t.Fatalf("%d instances with IdleSince, want the one that ran the task", idle)
	}
}

// TestConfigErrors: every configuration error is reported at once.
func TestConfigErrors(t *testing.T) {
	_, err := ecsscale.New(nil, nil, ecsscale.Config{
		Types: []autoscale.InstanceType{{Name: "x"}},
		Pools: []ecsscale.Pool{{Name: "a", InstanceTypes: []string{"nope"}}, {Name: "a"}, {Name: "b", Group: "a"}},
	})
	for _, want := range []string{"cluster: empty", "types[0]", `pools[0]: instance type "nope"`, `pools[1]: name "a": used twice`, `pools[2]: group "a": in two pools`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}

// protection reads the group's instances' scale-in protection.
func protection(t *testing.T, f *fake) map[string]bool {
	t.Helper()
	g, err := f.as.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"jobs-asg"}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, in := range g.AutoScalingGroups[0].Instances {
		out[aws.ToString(in.InstanceId)] = aws.ToBool(in.ProtectedFromScaleIn)
	}
	return out
}

// TestBusyInstancesAreProtectedFromScaleIn: a snapshot protects the instance running a task
// from scale-in, so the group's own scale-in (here another writer lowering the desired
// capacity to 0) terminates only the idle one and the task runs to its end; once idle, the
// instance is unprotected again.
func TestBusyInstancesAreProtectedFromScaleIn(t *testing.T) {
	f := newFake(t)
	q := &queue{t: t, f: f}
	c := group(t, f, 0, 3, 2, q)
	q.start = f.clock.Now()
	q.todo = append(q.todo, clusterTask(0, 512, 512, 10*time.Minute))
	q.tick()
	s := snap(t, c)
	var busy string
	for _, in := range s.Instances {
		if in.Tasks > 0 {
			busy = in.ID
		}
	}
	if p := protection(t, f); len(p) != 2 || !p[busy] {
		t.Fatalf("protection %v, want %s (busy) protected, the idle one not", p, busy)
	}
	if _, err := f.as.SetDesiredCapacity(context.Background(), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("jobs-asg"), DesiredCapacity: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	q.advance(10 * time.Minute)
	for _, tk := range f.cloud.Tasks() {
		if tk.StopCode != types.TaskStopCodeUserInitiated {
			t.Fatalf("task stopped with %s %q, want the job's own end", tk.StopCode, aws.ToString(tk.StoppedReason))
		}
	}
	s = snap(t, c)
	if len(s.Instances) != 1 || s.Instances[0].ID != busy || s.Instances[0].Tasks != 0 {
		t.Fatalf("instances %+v, want only %s, idle", s.Instances, busy)
	}
	if p := protection(t, f); p[busy] {
		t.Fatalf("protection %v, want %s unprotected once idle", p, busy)
	}
}

// TestLeaveProtection: with LeaveProtection the adapter never sets scale-in protection.
func TestLeaveProtection(t *testing.T) {
	f := newFake(t)
	q := &queue{t: t, f: f}
	group(t, f, 0, 3, 1, q)
	c, err := ecsscale.New(f.ecs, f.as, ecsscale.Config{Cluster: clusterName, Types: []autoscale.InstanceType{large},
		Pools: []ecsscale.Pool{{Name: "jobs", Group: "jobs-asg"}}, Queue: q, Clock: f.clock, LeaveProtection: true})
	if err != nil {
		t.Fatal(err)
	}
	q.start = f.clock.Now()
	q.todo = append(q.todo, clusterTask(0, 512, 512, time.Minute))
	q.tick()
	if s := snap(t, c); s.Running != 1 {
		t.Fatalf("running %d", s.Running)
	}
	if n := f.cloud.Calls("SetInstanceProtection"); n != 0 {
		t.Fatalf("%d SetInstanceProtection calls", n)
	}
}

// TestLaunchFailuresAreSeen: a launch that fails for lack of EC2 capacity is in the next
// snapshot's LaunchErrors (pool, type, code), from the group's scaling activities, for 10
// minutes; the group launches again on its own.
func TestLaunchFailuresAreSeen(t *testing.T) {
	f := newFake(t)
	c := group(t, f, 0, 3, 0, nil)
	f.cloud.FailLaunches("jobs-asg", autoscale.LaunchErrorInsufficientCapacity, 1)
	at := f.clock.Now()
	if err := c.Apply(context.Background(), autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Count: 1}}); err != nil {
		t.Fatal(err)
	}
	s := snap(t, c)
	want := []autoscale.LaunchError{{At: at, Pool: "jobs", Type: large.Name, Code: autoscale.LaunchErrorInsufficientCapacity}}
	if len(s.LaunchErrors) != 1 || s.LaunchErrors[0] != want[0] {
		t.Fatalf("launch errors %+v, want %+v", s.LaunchErrors, want)
	}
	f.clock.Advance(10*time.Minute + time.Second)
	s = snap(t, c)
	if len(s.LaunchErrors) != 0 || len(s.Instances) != 1 || s.Instances[0].State != autoscale.InstanceActive {
		t.Fatalf("10 minutes later: launch errors %+v, instances %+v; want none and the retried launch active", s.LaunchErrors, s.Instances)
	}
}
