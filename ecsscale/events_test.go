package ecsscale_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/internal/awsfake"
)

const eventsURL = "https://sqs.us-east-1.amazonaws.com/123456789012/hashike-autoscaler"

var bg = context.Background()

// recorder is an Interrupter that records its calls and leaves the tasks running (the
// server stops them through its runs), or returns them as unknown.
type recorder struct {
	mu      sync.Mutex
	calls   []ecsscale.Interruption
	unknown bool
}

func (r *recorder) Interrupt(_ context.Context, n ecsscale.Interruption) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, n)
	if r.unknown {
		return n.Tasks, nil
	}
	return nil, nil
}

func (r *recorder) Calls() []ecsscale.Interruption {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// eventsRig is group "jobs-asg" (pool "jobs") of desired registered instances, the rule
// sending Auto Scaling and EC2 events to eventsURL, hashike's queue and the events loop.
type eventsRig struct {
	f      *fake
	q      *queue
	c      *ecsscale.Cluster
	events *ecsscale.Events
}

type hookAPI interface {
	PutLifecycleHook(ctx context.Context, in *autoscaling.PutLifecycleHookInput, optFns ...func(*autoscaling.Options)) (*autoscaling.PutLifecycleHookOutput, error)
}

// newRig builds the rig; heartbeat > 0 adds the terminate hook "drain" with that heartbeat
// timeout (default result CONTINUE, so a missed heartbeat terminates the instance).
func newRig(t *testing.T, desired int, heartbeat int32, ir ecsscale.Interrupter, cfg ecsscale.EventsConfig) *eventsRig {
	t.Helper()
	f := newFake(t)
	f.cloud.AddAutoScalingGroup("jobs-asg", clusterName, 0, 5, desired, large.CPU, large.MemoryMiB, latency)
	f.cloud.SetInstanceType("jobs-asg", large.Name)
	f.clock.Advance(latency)
	f.cloud.AddEventRule(eventsURL, awsfake.EventRule{Sources: []string{"aws.autoscaling", "aws.ec2"}})
	if heartbeat > 0 {
		_, err := f.as.(hookAPI).PutLifecycleHook(bg, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String("jobs-asg"),
			LifecycleHookName: aws.String("drain"), LifecycleTransition: aws.String(awsfake.TransitionTerminating),
			HeartbeatTimeout: aws.Int32(heartbeat), DefaultResult: aws.String(awsfake.ResultContinue)})
		if err != nil {
			t.Fatal(err)
		}
	}
	q := &queue{t: t, f: f, start: f.clock.Now()}
	c, err := ecsscale.New(f.ecs, f.as, ecsscale.Config{Cluster: clusterName, Types: []autoscale.InstanceType{large},
		Pools: []ecsscale.Pool{{Name: "jobs", Group: "jobs-asg", InstanceTypes: []string{large.Name}}}, Queue: q, Clock: f.clock, Interrupter: ir, LeaveProtection: true})
	if err != nil {
		t.Fatal(err)
	}
	sq, ok := f.cloud.SQS().(ecsscale.SQSAPI)
	if !ok {
		t.Fatal("the fake's SQS client lacks an operation of ecsscale.SQSAPI")
	}
	cfg.QueueURL = eventsURL
	if cfg.WaitTime == 0 {
		cfg.WaitTime = -1 // tests drive Receive and Tick themselves
	}
	ev, err := c.Events(sq, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &eventsRig{f: f, q: q, c: c, events: ev}
}

// run submits a task of d and returns its ARN and the EC2 ID of its instance.
func (r *eventsRig) run(t *testing.T, d time.Duration) (string, string) {
	t.Helper()
	r.q.todo = append(r.q.todo, clusterTask(r.f.clock.Now().Sub(r.q.start), 512, 512, d))
	r.q.tick()
	if len(r.q.running) == 0 {
		t.Fatal("the task was not placed")
	}
	arn := r.q.running[len(r.q.running)-1].arn
	tk, _ := r.f.cloud.Task(arn)
	d2, err := r.f.ecs.DescribeContainerInstances(bg, &awsecs.DescribeContainerInstancesInput{Cluster: aws.String(clusterName), ContainerInstances: []string{aws.ToString(tk.ContainerInstanceArn)}})
	if err != nil {
		t.Fatal(err)
	}
	return arn, aws.ToString(d2.ContainerInstances[0].Ec2InstanceId)
}

// receive handles the queue's visible messages.
func (r *eventsRig) receive(t *testing.T) {
	t.Helper()
	for {
		n, err := r.events.Receive(bg)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

// step lets d pass (the driver ending its tasks every second), then receives and ticks.
func (r *eventsRig) step(t *testing.T, d time.Duration) {
	t.Helper()
	r.q.advance(d)
	if _, err := r.events.Receive(bg); err != nil {
		t.Logf("Receive: %v", err) // an outage: the loop goes on
	}
	r.events.Tick(bg)
}

func (r *eventsRig) states(t *testing.T) map[string]astypes.LifecycleState {
	t.Helper()
	g, err := r.f.as.DescribeAutoScalingGroups(bg, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"jobs-asg"}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]astypes.LifecycleState{}
	for _, m := range g.AutoScalingGroups[0].Instances {
		out[aws.ToString(m.InstanceId)] = m.LifecycleState
	}
	return out
}

func (r *eventsRig) status(t *testing.T, id string) string {
	t.Helper()
	l, err := r.f.ecs.ListContainerInstances(bg, &awsecs.ListContainerInstancesInput{Cluster: aws.String(clusterName)})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.ContainerInstanceArns) == 0 {
		return ""
	}
	d, err := r.f.ecs.DescribeContainerInstances(bg, &awsecs.DescribeContainerInstancesInput{Cluster: aws.String(clusterName), ContainerInstances: l.ContainerInstanceArns})
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range d.ContainerInstances {
		if aws.ToString(ci.Ec2InstanceId) == id {
			return aws.ToString(ci.Status)
		}
	}
	return ""
}

func (r *eventsRig) task(t *testing.T, arn string) types.Task {
	t.Helper()
	tk, ok := r.f.cloud.Task(arn)
	if !ok {
		t.Fatalf("task %s forgotten", arn)
	}
	return tk
}

// TestLifecycleHookTerminationOfABusyInstance: the group's own scale-in picks the instance
// that runs a 10-minute job (its hook's heartbeat timeout is one minute). The loop drains
// it and keeps the action alive while the job runs; the job ends by itself; the action is
// completed and the instance terminates. No task is killed, the message is deleted.
func TestLifecycleHookTerminationOfABusyInstance(t *testing.T) {
	r := newRig(t, 1, 60, nil, ecsscale.EventsConfig{})
	arn, id := r.run(t, 10*time.Minute)
	if _, err := r.f.as.SetDesiredCapacity(bg, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("jobs-asg"), DesiredCapacity: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	r.receive(t)
	if got := r.status(t, id); got != "DRAINING" {
		t.Fatalf("instance %s after the lifecycle action: %s, want DRAINING", id, got)
	}
	for r.f.clock.Now().Sub(r.q.start) < 10*time.Minute-10*time.Second {
		r.step(t, 10*time.Second)
		if st := r.states(t)[id]; st != astypes.LifecycleStateTerminatingWait {
			t.Fatalf("at %s the instance is %q, want Terminating:Wait while its job runs", r.f.clock.Now().Sub(r.q.start), st)
		}
		if tk := r.task(t, arn); aws.ToString(tk.LastStatus) == "STOPPED" {
			t.Fatalf("at %s the job stopped: %s %q", r.f.clock.Now().Sub(r.q.start), tk.StopCode, aws.ToString(tk.StoppedReason))
		}
	}
	r.step(t, 20*time.Second)
	tk := r.task(t, arn)
	if aws.ToString(tk.LastStatus) != "STOPPED" || aws.ToString(tk.StoppedReason) != "job done" {
		t.Fatalf("job: %s %s %q, want ended by its driver", aws.ToString(tk.LastStatus), tk.StopCode, aws.ToString(tk.StoppedReason))
	}
	if st := r.states(t); len(st) != 0 {
		t.Fatalf("group after the job: %v, want the instance gone", st)
	}
	if n := r.f.cloud.Calls("RecordLifecycleActionHeartbeat"); n < 9 {
		t.Errorf("%d heartbeats over 10 minutes of a 60 s heartbeat timeout", n)
	}
	if n := r.f.cloud.Messages(eventsURL); n != 0 {
		t.Errorf("%d messages left in the queue", n)
	}
	if held := r.events.Held(); len(held) != 0 {
		t.Errorf("still held: %v", held)
	}
	t.Logf("a 10-minute job held by a 60 s hook: %d RecordLifecycleActionHeartbeat, %d DescribeContainerInstances, %d UpdateContainerInstancesState, %d CompleteLifecycleAction",
		r.f.cloud.Calls("RecordLifecycleActionHeartbeat"), r.f.cloud.Calls("DescribeContainerInstances"), r.f.cloud.Calls("UpdateContainerInstancesState"), r.f.cloud.Calls("CompleteLifecycleAction"))
}

// TestIdleInstanceCompletesAtOnce: the adapter's own scale-in of an idle instance goes
// through the hook too, and the loop lets it go at once; events about a group that is not
// configured, other events and malformed bodies are deleted.
func TestIdleInstanceCompletesAtOnce(t *testing.T) {
	r := newRig(t, 1, 60, nil, ecsscale.EventsConfig{})
	s := snap(t, r.c)
	if err := r.c.Apply(bg, autoscale.Action{Terminate: &autoscale.Terminate{Instance: s.Instances[0].ID}}); err != nil {
		t.Fatal(err)
	}
	if st := r.states(t); st[s.Instances[0].ID] != astypes.LifecycleStateTerminatingWait {
		t.Fatalf("%v", st)
	}
	r.f.cloud.SendMessage(eventsURL, `{"source":"aws.autoscaling","detail-type":"EC2 Instance-terminate Lifecycle Action","time":"2001-09-09T01:46:40Z","detail":{"LifecycleActionToken":"t","AutoScalingGroupName":"other-asg","LifecycleHookName":"h","EC2InstanceId":"i-1","LifecycleTransition":"autoscaling:EC2_INSTANCE_TERMINATING"}}`)
	r.f.cloud.SendMessage(eventsURL, `{"source":"aws.ec2","detail-type":"EC2 Spot Instance Interruption Warning","time":"2001-09-09T01:46:40Z","detail":{"instance-id":"i-not-ours","instance-action":"terminate"}}`)
	r.f.cloud.SendMessage(eventsURL, `{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{}}`)
	r.f.cloud.SendMessage(eventsURL, `{"source":`)
	r.f.cloud.SendMessage(eventsURL, strings.Repeat(" ", 300<<10)+"{}")
	r.f.cloud.SendMessage(eventsURL, `{"source":"aws.autoscaling","detail-type":"EC2 Instance-terminate Lifecycle Action","detail":[1,2]}`)
	r.receive(t)
	if st := r.states(t); len(st) != 0 {
		t.Fatalf("group: %v, want the idle instance gone", st)
	}
	if n := r.f.cloud.Messages(eventsURL); n != 0 {
		t.Errorf("%d messages left", n)
	}
	if n := r.f.cloud.Calls("RecordLifecycleActionHeartbeat"); n != 0 {
		t.Errorf("%d heartbeats for an idle instance", n)
	}
}

// TestSpotInterruptionMidRun: the warning reaches the loop; the next snapshot reports the
// instance's InterruptionAt (warning + 2 min), the instance is DRAINING at once and the
// Interrupter is called with its task, the deadline and a reason, again while the task
// runs; without an Interrupter the loop stops the task itself with that reason, long
// before EC2 reclaims the instance.
func TestSpotInterruptionMidRun(t *testing.T) {
	t.Run("interrupter", func(t *testing.T) {
		ir := &recorder{}
		r := newRig(t, 1, 0, ir, ecsscale.EventsConfig{})
		arn, id := r.run(t, 10*time.Minute)
		noticeAt := r.f.clock.Now().Truncate(time.Second)
		r.f.cloud.InterruptSpot(id)
		r.receive(t)
		calls := ir.Calls()
		if len(calls) != 1 {
			t.Fatalf("Interrupter calls %+v", calls)
		}
		n := calls[0]
		if n.Instance != id || n.Pool != "jobs" || !slices.Equal(n.Tasks, []string{arn}) || !n.Deadline.Equal(noticeAt.Add(2*time.Minute)) ||
			!strings.Contains(n.Reason, "EC2 Spot Instance Interruption Warning for "+id) {
			t.Fatalf("interruption %+v", n)
		}
		if got := r.status(t, id); got != "DRAINING" {
			t.Fatalf("instance %s", got)
		}
		s := snap(t, r.c)
		if len(s.Instances) != 1 || !s.Instances[0].InterruptionAt.Equal(n.Deadline) {
			t.Fatalf("snapshot instances %+v, want InterruptionAt %s", s.Instances, n.Deadline)
		}
		if act := autoscale.NewHashike(autoscale.HashikeConfig{}).Decide(s, s.Now); !replaces(act) {
			t.Errorf("the hashike policy's actions %+v do not replace the interrupted instance", act)
		}
		r.step(t, 10*time.Second)
		if len(ir.Calls()) != 2 {
			t.Fatalf("while the task runs the Interrupter is called again: %d calls", len(ir.Calls()))
		}
		if tk := r.task(t, arn); aws.ToString(tk.LastStatus) == "STOPPED" {
			t.Fatalf("the loop stopped a task the Interrupter knows: %s", aws.ToString(tk.StoppedReason))
		}
		if n := r.f.cloud.Messages(eventsURL); n != 0 {
			t.Errorf("%d messages left", n)
		}
	})
	t.Run("StopTask", func(t *testing.T) {
		r := newRig(t, 1, 0, nil, ecsscale.EventsConfig{})
		arn, id := r.run(t, 10*time.Minute)
		start := r.f.clock.Now()
		r.f.cloud.InterruptSpot(id)
		r.receive(t)
		r.q.waitStopped(arn)
		tk := r.task(t, arn)
		// The prefix makes whoever supervises the task end its run lost (hashike.Outcome).
		if !strings.HasPrefix(aws.ToString(tk.StoppedReason), hashike.StoppedReasonInterruption+"EC2 Spot Instance Interruption Warning for "+id) {
			t.Fatalf("stopped reason %q", aws.ToString(tk.StoppedReason))
		}
		if at := aws.ToTime(tk.StoppedAt); at.Sub(start) > 30*time.Second {
			t.Fatalf("stopped %s after the warning", at.Sub(start))
		}
		// EC2 reclaims it; the group replaces it.
		r.step(t, 2*time.Minute)
		if st := r.states(t); st[id] != "" || len(st) != 1 {
			t.Fatalf("group after the reclaim: %v", st)
		}
	})
}

func replaces(acts []autoscale.Action) bool {
	for _, a := range acts {
		if a.Launch != nil && a.Launch.Pool == "jobs" {
			return true
		}
	}
	return false
}

// TestRebalanceDrainsOnly: a rebalance recommendation drains the instance; its job runs to
// its end.
func TestRebalanceDrainsOnly(t *testing.T) {
	ir := &recorder{}
	r := newRig(t, 1, 0, ir, ecsscale.EventsConfig{})
	arn, id := r.run(t, time.Minute)
	r.f.cloud.FailNext("UpdateContainerInstancesState", awsfake.ServerError())
	r.f.cloud.RecommendRebalance(id)
	r.receive(t)
	if got := r.status(t, id); got != "ACTIVE" || r.f.cloud.Messages(eventsURL) != 1 {
		t.Fatalf("after a failed drain: %s, %d messages (want it kept)", got, r.f.cloud.Messages(eventsURL))
	}
	r.step(t, 31*time.Second) // the visibility timeout: it comes back
	if got := r.status(t, id); got != "DRAINING" {
		t.Fatalf("instance %s", got)
	}
	r.step(t, time.Minute)
	if tk := r.task(t, arn); aws.ToString(tk.StoppedReason) != "job done" || len(ir.Calls()) != 0 {
		t.Fatalf("job %q, interrupter calls %d", aws.ToString(tk.StoppedReason), len(ir.Calls()))
	}
	if n := r.f.cloud.Messages(eventsURL); n != 0 {
		t.Errorf("%d messages left", n)
	}
}

// TestMaxWaitInterrupts: a job that outlives MaxWait on a terminating instance is
// interrupted, then the action is completed once it stopped.
func TestMaxWaitInterrupts(t *testing.T) {
	for _, withInterrupter := range []bool{true, false} {
		t.Run(fmt.Sprint("interrupter=", withInterrupter), func(t *testing.T) {
			var ir *recorder
			var iface ecsscale.Interrupter
			if withInterrupter {
				ir = &recorder{unknown: true} // it does not know the task: the loop stops it
				iface = ir
			}
			r := newRig(t, 1, 60, iface, ecsscale.EventsConfig{MaxWait: 5 * time.Minute})
			arn, id := r.run(t, time.Hour)
			if _, err := r.f.as.SetDesiredCapacity(bg, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("jobs-asg"), DesiredCapacity: aws.Int32(0)}); err != nil {
				t.Fatal(err)
			}
			r.receive(t)
			for r.f.clock.Now().Sub(r.q.start) < 5*time.Minute-10*time.Second {
				r.step(t, 10*time.Second)
			}
			if tk := r.task(t, arn); aws.ToString(tk.LastStatus) == "STOPPED" {
				t.Fatalf("before MaxWait: %q", aws.ToString(tk.StoppedReason))
			}
			r.step(t, 10*time.Second)
			r.q.waitStopped(arn)
			tk := r.task(t, arn)
			if !strings.Contains(aws.ToString(tk.StoppedReason), "tasks still running after 5m0s") || tk.StopCode == types.TaskStopCodeTerminationNotice {
				t.Fatalf("job stopped %s %q", tk.StopCode, aws.ToString(tk.StoppedReason))
			}
			if withInterrupter && (len(ir.Calls()) != 1 || ir.Calls()[0].Instance != id) {
				t.Fatalf("interrupter calls %+v", ir.Calls())
			}
			r.step(t, 10*time.Second)
			if st := r.states(t); len(st) != 0 {
				t.Fatalf("group %v, want the instance gone", st)
			}
		})
	}
}

// TestOutageKeepsHeldActionsAlive: SQS fails for five minutes and DescribeContainerInstances
// for two while a busy instance is held: heartbeats go on, nothing is lost, the action is
// completed after the job; its message, which could not be deleted then, comes back and is
// deleted.
func TestOutageKeepsHeldActionsAlive(t *testing.T) {
	r := newRig(t, 1, 60, nil, ecsscale.EventsConfig{})
	arn, id := r.run(t, 8*time.Minute)
	if _, err := r.f.as.SetDesiredCapacity(bg, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("jobs-asg"), DesiredCapacity: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	r.receive(t)
	r.f.cloud.FailAlways("ReceiveMessage", awsfake.ServerError())
	r.f.cloud.FailAlways("DeleteMessage", awsfake.ServerError())
	for range 12 {
		r.step(t, 10*time.Second)
	}
	r.f.cloud.FailAlways("DescribeContainerInstances", awsfake.ServerError())
	for range 12 {
		r.step(t, 10*time.Second)
	}
	r.f.cloud.FailAlways("DescribeContainerInstances", nil)
	for range 6 {
		r.step(t, 10*time.Second)
	}
	r.f.cloud.FailAlways("ReceiveMessage", nil)
	if st := r.states(t)[id]; st != astypes.LifecycleStateTerminatingWait {
		t.Fatalf("after the outage: %q", st)
	}
	for r.f.clock.Now().Sub(r.q.start) < 9*time.Minute {
		r.step(t, 10*time.Second)
	}
	if tk := r.task(t, arn); aws.ToString(tk.StoppedReason) != "job done" {
		t.Fatalf("job %s %q", tk.StopCode, aws.ToString(tk.StoppedReason))
	}
	if st := r.states(t); len(st) != 0 {
		t.Fatalf("group %v", st)
	}
	// DeleteMessage failed when the action was completed: the message comes back, the
	// action is found gone, and the message is deleted then.
	if n := r.f.cloud.Messages(eventsURL); n != 1 {
		t.Fatalf("%d messages, want the undeleted one", n)
	}
	r.f.cloud.FailAlways("DeleteMessage", nil)
	r.step(t, 40*time.Second)
	if n := r.f.cloud.Messages(eventsURL); n != 0 {
		t.Errorf("%d messages left", n)
	}
	t.Logf("over 9 minutes: %d heartbeats, %d DescribeContainerInstances, %d ReceiveMessage (a 60 s heartbeat timeout, Poll 10 s, no long poll)",
		r.f.cloud.Calls("RecordLifecycleActionHeartbeat"), r.f.cloud.Calls("DescribeContainerInstances"), r.f.cloud.Calls("ReceiveMessage"))
}

// TestRestartTakesOverAHeldAction: the loop holding an action goes away; its message comes
// back after the visibility timeout to a new loop, which takes the action over (heartbeats)
// and completes it once the job ended.
func TestRestartTakesOverAHeldAction(t *testing.T) {
	r := newRig(t, 1, 60, nil, ecsscale.EventsConfig{})
	arn, id := r.run(t, 4*time.Minute)
	if _, err := r.f.as.SetDesiredCapacity(bg, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("jobs-asg"), DesiredCapacity: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	r.receive(t)
	sq := r.f.cloud.SQS().(ecsscale.SQSAPI)
	next, err := r.c.Events(sq, ecsscale.EventsConfig{QueueURL: eventsURL, WaitTime: -1})
	if err != nil {
		t.Fatal(err)
	}
	r.events = next // the first loop is gone
	for r.f.clock.Now().Sub(r.q.start) < 5*time.Minute {
		r.step(t, 10*time.Second)
		if st := r.states(t); len(st) == 1 && st[id] != astypes.LifecycleStateTerminatingWait {
			t.Fatalf("at %s: %v", r.f.clock.Now().Sub(r.q.start), st)
		}
	}
	if tk := r.task(t, arn); aws.ToString(tk.StoppedReason) != "job done" {
		t.Fatalf("job %s %q", tk.StopCode, aws.ToString(tk.StoppedReason))
	}
	if st := r.states(t); len(st) != 0 {
		t.Fatalf("group %v", st)
	}
	if n := r.f.cloud.Messages(eventsURL); n != 0 {
		t.Errorf("%d messages left", n)
	}
}

// signalClock tells when a goroutine starts waiting on it.
type signalClock struct {
	*awsfake.ManualClock
	waiting chan struct{}
}

func (s signalClock) After(d time.Duration) <-chan time.Time {
	ch := s.ManualClock.After(d)
	select {
	case s.waiting <- struct{}{}:
	default:
	}
	return ch
}

// TestRunLoop: Run receives and ticks on its clock: a rebalance recommendation drains the
// instance, and Run returns when its context ends.
func TestRunLoop(t *testing.T) {
	r := newRig(t, 1, 0, nil, ecsscale.EventsConfig{})
	_, id := r.run(t, time.Hour)
	clock := signalClock{r.f.clock, make(chan struct{}, 1)}
	c, err := ecsscale.New(r.f.ecs, r.f.as, ecsscale.Config{Cluster: clusterName, Types: []autoscale.InstanceType{large},
		Pools: []ecsscale.Pool{{Name: "jobs", Group: "jobs-asg"}}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := c.Events(r.f.cloud.SQS().(ecsscale.SQSAPI), ecsscale.EventsConfig{QueueURL: eventsURL, WaitTime: -1})
	if err != nil {
		t.Fatal(err)
	}
	r.f.cloud.RecommendRebalance(id)
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() { done <- ev.Run(ctx) }()
	for r.status(t, id) != "DRAINING" {
		select {
		case <-clock.waiting:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not wait on its clock in 10 s")
		}
		r.f.clock.Advance(10 * time.Second)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestLaunchHookWaitsForReady: with a launch hook, a new instance waits in Pending:Wait
// until Ready says it is ready (the warm-up's extension point); the loop then completes its
// action and it goes in service. Without Ready it would be completed at once.
func TestLaunchHookWaitsForReady(t *testing.T) {
	var mu sync.Mutex
	ready := map[string]bool{}
	r := newRig(t, 0, 0, nil, ecsscale.EventsConfig{Ready: func(_ context.Context, id string) bool {
		mu.Lock()
		defer mu.Unlock()
		return ready[id]
	}})
	_, err := r.f.as.(hookAPI).PutLifecycleHook(bg, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String("jobs-asg"),
		LifecycleHookName: aws.String("warm"), LifecycleTransition: aws.String(awsfake.TransitionLaunching), HeartbeatTimeout: aws.Int32(60)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.c.Apply(bg, autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Count: 1}}); err != nil {
		t.Fatal(err)
	}
	r.receive(t)
	var id string
	for r.f.clock.Now().Sub(r.q.start) < 3*time.Minute {
		r.step(t, 10*time.Second)
		st := r.states(t)
		if len(st) != 1 {
			t.Fatalf("group %v", st)
		}
		for m, s := range st {
			id = m
			if s != astypes.LifecycleStatePendingWait {
				t.Fatalf("at %s the launching instance is %s, want Pending:Wait until ready", r.f.clock.Now().Sub(r.q.start), s)
			}
		}
	}
	mu.Lock()
	ready[id] = true
	mu.Unlock()
	r.step(t, 10*time.Second)
	if st := r.states(t); st[id] != astypes.LifecycleStateInService {
		t.Fatalf("once ready: %v", st)
	}
	if n := r.f.cloud.Messages(eventsURL); n != 0 {
		t.Errorf("%d messages left", n)
	}
}

// TestGraceAfterInterrupt: when the interrupted tasks of an instance held MaxWait do not
// stop (the Interrupter knows them but they linger), the loop lets the instance go Grace
// later: Auto Scaling terminates it and ECS reports the task stopped by the termination
// (TerminationNotice, an infrastructure failure for hashike.Outcome).
func TestGraceAfterInterrupt(t *testing.T) {
	ir := &recorder{}
	r := newRig(t, 1, 60, ir, ecsscale.EventsConfig{MaxWait: 2 * time.Minute, Grace: time.Minute})
	arn, _ := r.run(t, time.Hour)
	if _, err := r.f.as.SetDesiredCapacity(bg, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("jobs-asg"), DesiredCapacity: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	r.receive(t)
	for r.f.clock.Now().Sub(r.q.start) < 2*time.Minute+50*time.Second {
		r.step(t, 10*time.Second)
		if st := r.states(t); len(st) != 1 {
			t.Fatalf("at %s: %v, want the instance held until MaxWait + Grace", r.f.clock.Now().Sub(r.q.start), st)
		}
	}
	if calls := ir.Calls(); len(calls) != 1 || !calls[0].Deadline.Equal(r.q.start.Add(2*time.Minute+time.Minute)) {
		t.Fatalf("interrupter calls %+v", calls)
	}
	r.step(t, 10*time.Second)
	if st := r.states(t); len(st) != 0 {
		t.Fatalf("after MaxWait + Grace: %v", st)
	}
	if tk := r.task(t, arn); tk.StopCode != types.TaskStopCodeTerminationNotice {
		t.Fatalf("task %s %q", tk.StopCode, aws.ToString(tk.StoppedReason))
	}
}

// TestSpotWarningWithoutATime: a warning whose time cannot be read is still acted on, its
// deadline counted from its receipt.
func TestSpotWarningWithoutATime(t *testing.T) {
	ir := &recorder{}
	r := newRig(t, 1, 0, ir, ecsscale.EventsConfig{})
	_, id := r.run(t, time.Hour)
	r.f.cloud.SendMessage(eventsURL, `{"source":"aws.ec2","detail-type":"EC2 Spot Instance Interruption Warning","time":"yesterday","detail":{"instance-id":"`+id+`","instance-action":"terminate"}}`)
	r.receive(t)
	deadline := r.f.clock.Now().Add(2 * time.Minute)
	if calls := ir.Calls(); len(calls) != 1 || !calls[0].Deadline.Equal(deadline) {
		t.Fatalf("interrupter calls %+v", calls)
	}
	if s := snap(t, r.c); len(s.Instances) != 1 || !s.Instances[0].InterruptionAt.Equal(deadline) {
		t.Fatalf("instances %+v", s.Instances)
	}
}

// TestTicksFollowTheShortestHeartbeat: Run ticks every Poll, or often enough for the held
// action of a hook whose heartbeat timeout (30 s) is shorter than Poll (60 s).
func TestTicksFollowTheShortestHeartbeat(t *testing.T) {
	r := newRig(t, 1, 30, nil, ecsscale.EventsConfig{Poll: time.Minute})
	if got := r.events.Interval(); got != time.Minute {
		t.Fatalf("interval with nothing held: %s", got)
	}
	r.run(t, time.Hour)
	if _, err := r.f.as.SetDesiredCapacity(bg, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("jobs-asg"), DesiredCapacity: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	r.receive(t)
	if got := r.events.Interval(); got > 15*time.Second {
		t.Fatalf("interval with a 30 s hook held: %s", got)
	}
}
