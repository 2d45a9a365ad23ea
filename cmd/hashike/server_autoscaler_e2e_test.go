package main

// Scenario tests of the cluster autoscaler inside `hashike server` (its leader) on the ECS
// fake: the demand it sees is hashike's own queue; it owns the group, so the ECS backend
// never scales it; one replica acts at a time.

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/httpapi"
	"github.com/hashike/hashike/internal/awsfake"
	"github.com/hashike/hashike/server"
)

// scaleCall is one SetDesiredCapacity that reached the cloud: which replica made it, when.
type scaleCall struct {
	replica    string
	start, end time.Time
	desired    int32
}

// scaleRecorder records the autoscalers' SetDesiredCapacity calls; before, when set, is
// called as a replica's call begins (a test kills the replica there: mid-decision).
type scaleRecorder struct {
	mu     sync.Mutex
	calls  []scaleCall
	before func(replica string)
}

func (r *scaleRecorder) all() []scaleCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]scaleCall(nil), r.calls...)
}

// mortalScaling is a replica's autoscaler's Auto Scaling client: its mutating calls never
// reach the cloud once the replica is dead (as mortalAutoScaling for the backend).
type mortalScaling struct {
	ecsscale.AutoScalingAPI
	name string
	dead func() bool
	rec  *scaleRecorder
}

func (m mortalScaling) SetDesiredCapacity(ctx context.Context, in *autoscaling.SetDesiredCapacityInput, opts ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error) {
	m.rec.mu.Lock()
	before := m.rec.before
	m.rec.mu.Unlock()
	if before != nil {
		before(m.name)
	}
	if m.dead() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	start := time.Now()
	out, err := m.AutoScalingAPI.SetDesiredCapacity(ctx, in, opts...)
	if err == nil {
		m.rec.mu.Lock()
		m.rec.calls = append(m.rec.calls, scaleCall{replica: m.name, start: start, end: time.Now(), desired: aws.ToInt32(in.DesiredCapacity)})
		m.rec.mu.Unlock()
	}
	return out, err
}

func (m mortalScaling) TerminateInstanceInAutoScalingGroup(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, opts ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
	if m.dead() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return m.AutoScalingAPI.TerminateInstanceInAutoScalingGroup(ctx, in, opts...)
}

func (m mortalScaling) SetInstanceProtection(ctx context.Context, in *autoscaling.SetInstanceProtectionInput, opts ...func(*autoscaling.Options)) (*autoscaling.SetInstanceProtectionOutput, error) {
	if m.dead() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return m.AutoScalingAPI.SetInstanceProtection(ctx, in, opts...)
}

type mortalScaleECS struct {
	ecsscale.ECSAPI
	dead func() bool
}

func (m mortalScaleECS) UpdateContainerInstancesState(ctx context.Context, in *awsecs.UpdateContainerInstancesStateInput, opts ...func(*awsecs.Options)) (*awsecs.UpdateContainerInstancesStateOutput, error) {
	if m.dead() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return m.ECSAPI.UpdateContainerInstancesState(ctx, in, opts...)
}

// autoscaled gives the world an empty group jobs-asg of m6i.xlarge (up to max) and a config
// file whose autoscaler owns it; the servers started after run it on their leader.
func (w *ecsWorld) autoscaled(max int, registerDelay time.Duration) *scaleRecorder {
	t := w.t
	w.cloud.AddAutoScalingGroup("jobs-asg", "jobs", 0, max, 0, 4096, 15000, registerDelay)
	w.cloud.SetInstanceType("jobs-asg", "m6i.xlarge")
	w.config = filepath.Join(filepath.Dir(w.jobs), "hashike.yaml")
	if err := os.WriteFile(w.config, []byte(`autoscaler:
  clusters:
    - name: jobs
      pools:
        - name: jobs
          autoScalingGroupName: jobs-asg
          instanceTypes: [{name: m6i.xlarge}]
  policy: {name: hashike, slo: {waitP95: 30s}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := &scaleRecorder{}
	ecsAPI, ok := w.cloud.ECS().(ecsscale.ECSAPI)
	asAPI, ok2 := w.cloud.AutoScaling().(ecsscale.AutoScalingAPI)
	if !ok || !ok2 {
		t.Fatal("the fake's clients lack an operation of ecsscale's interfaces")
	}
	w.scale = func(name string, dead func() bool) (ecsscale.ECSAPI, ecsscale.AutoScalingAPI) {
		return mortalScaleECS{ecsAPI, dead}, mortalScaling{AutoScalingAPI: asAPI, name: name, dead: dead, rec: rec}
	}
	return rec
}

// enqueueN enqueues n runs of the report job and returns their IDs.
func enqueueN(t *testing.T, c *httpapi.Client, n int) []string {
	t.Helper()
	ctx := ectx(t)
	ids := make([]string, 0, n)
	for range n {
		run, created, err := c.Enqueue(ctx, "report", api.EnqueueRequest{})
		if err != nil || !created {
			t.Fatalf("enqueue: created %v, %v", created, err)
		}
		ids = append(ids, run.ID)
	}
	return ids
}

// awaitEnded waits (at most limit) until every run has ended and returns them.
func awaitEnded(t *testing.T, c *httpapi.Client, ids []string, limit time.Duration, log func() string) map[string]api.RunView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit+10*time.Second)
	defer cancel()
	deadline := time.Now().Add(limit)
	out := map[string]api.RunView{}
	for _, id := range ids {
		for {
			v, err := c.GetRun(ctx, id)
			if err != nil {
				t.Fatalf("GET /v1/runs/%s: %v", id, err)
			}
			if v.State.Terminal() {
				out[id] = v
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s still %s after %s (%d of %d ended)\n%s", id, v.State, limit, len(out), len(ids), log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return out
}

// checkNoneKilled: every run succeeded at its first attempt, with exactly one task each in
// the cloud, which ended because its container exited (no task stopped by a scale-in).
func checkNoneKilled(t *testing.T, w *ecsWorld, views map[string]api.RunView) {
	t.Helper()
	for id, v := range views {
		if v.State != hashike.StateSucceeded || v.Attempt != 1 {
			t.Errorf("run %s: %s, attempt %d; want succeeded at the first", id, v.State, v.Attempt)
		}
	}
	tasks := w.cloud.Tasks()
	if len(tasks) != len(views) {
		t.Errorf("%d tasks in the cloud for %d runs", len(tasks), len(views))
	}
	for _, tk := range tasks {
		if string(tk.StopCode) != "EssentialContainerExited" {
			t.Errorf("task %s stopped %s: %s", aws.ToString(tk.TaskArn), tk.StopCode, aws.ToString(tk.StoppedReason))
		}
	}
}

// TestServerAutoscalerBurstFromEmpty: 300 runs enqueued on a cluster whose only group is
// empty. The leader's autoscaler sees them in hashike's queue (they never reach PROVISIONING:
// ECS shows it nothing) and raises the group's desired capacity; the ECS backend, which does
// not own the group, never does. All 300 complete; no task is stopped.
func TestServerAutoscalerBurstFromEmpty(t *testing.T) {
	if testing.Short() {
		t.Skip("a 300-run burst")
	}
	const n = 300
	w := newECSWorld(t, awsfake.Options{}, hakoScaleOut, 2048, `[sleep, 200ms, exit, "0"]`)
	rec := w.autoscaled(80, 300*time.Millisecond)
	srv := w.startServer("a")
	start := time.Now()
	ids := enqueueN(t, srv.api, n)
	views := awaitEnded(t, srv.api, ids, 90*time.Second, srv.stderr.String)
	checkNoneKilled(t, w, views)

	calls := rec.all()
	if len(calls) == 0 || len(calls) != w.cloud.Calls("SetDesiredCapacity") {
		t.Fatalf("%d SetDesiredCapacity calls reached the cloud, %d of them the autoscaler's: the group has one owner", w.cloud.Calls("SetDesiredCapacity"), len(calls))
	}
	log := srv.stderr.String()
	if strings.Contains(log, "msg=\"scale out\"") {
		t.Errorf("the ECS backend scaled out a group the autoscaler owns:\n%s", log)
	}
	if !strings.Contains(log, `msg="autoscaler: action" cluster=jobs policy=hashike action="launch`) {
		t.Errorf("no launch decision in the log:\n%s", log)
	}
	// 300 tasks of 2048 MiB fit 7 to an instance of 15000 MiB: 43 instances hold them all
	// at once. The policy may launch fewer for them (the tasks are short and its SLO is
	// 30 s), never more (warm headroom, launched for the forecast, is its own reason).
	packed := 0
	for _, m := range regexp.MustCompile(`action="launch (\d+) \S+ in jobs" reason="packing:`).FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1])
		packed += n
	}
	if packed == 0 || packed > 43 {
		t.Errorf("%d instances launched for 300 pending tasks of which 7 fit an instance", packed)
	}
	t.Logf("first SetDesiredCapacity %s after the first enqueue; %d calls, up to %d instances; all %d runs ended %s after it",
		calls[0].start.Sub(start).Round(time.Millisecond), len(calls), desiredMax(calls), n, time.Since(start).Round(time.Millisecond))
}

func desiredMax(calls []scaleCall) int {
	top := 0
	for _, c := range calls {
		top = max(top, int(c.desired))
	}
	return top
}

// TestServerAutoscalerReplicaKilledMidDecision: of two replicas, the leader's autoscaler
// decides to scale out and the replica is killed as its SetDesiredCapacity call begins (the
// call never reaches the cloud, as a SIGKILLed process's). The other replica takes the
// leadership over (at once: the dead one was on its host; else within the lease's TTL), its
// autoscaler scales out, and every run completes once, on one task. Desired capacity is
// only ever set by one replica: none of the killed one's calls reaches the cloud after it
// died, and the new leader's first call begins after that.
func TestServerAutoscalerReplicaKilledMidDecision(t *testing.T) {
	const n = 20
	w := newECSWorld(t, awsfake.Options{}, hakoScaleOut, 2048, `[sleep, 200ms, exit, "0"]`)
	rec := w.autoscaled(10, 300*time.Millisecond)
	var killedAt time.Time
	var ra *replica
	var once sync.Once
	killed := make(chan struct{})
	rec.before = func(name string) {
		if name == "a" {
			once.Do(func() {
				killedAt = time.Now()
				w.kill(ra)
				close(killed)
			})
		}
	}
	ra = w.startServer("a")
	rb := w.startServer("b")
	ids := enqueueN(t, rb.api, n)
	select {
	case <-killed:
	case <-time.After(60 * time.Second):
		t.Fatalf("a's autoscaler never decided to scale out:\n%s", ra.stderr.String())
	}
	views := awaitEnded(t, rb.api, ids, 90*time.Second, func() string { return "a:\n" + ra.stderr.String() + "\nb:\n" + rb.stderr.String() })
	checkNoneKilled(t, w, views)

	calls := rec.all()
	if len(calls) == 0 {
		t.Fatal("no SetDesiredCapacity reached the cloud")
	}
	for _, c := range calls {
		if c.replica != "b" {
			t.Errorf("replica %s set the desired capacity to %d at %s, after it was killed at %s", c.replica, c.desired, c.start.Format(time.StampMilli), killedAt.Format(time.StampMilli))
		}
		if c.start.Before(killedAt) {
			t.Errorf("b set the desired capacity at %s, while a still led (killed at %s)", c.start.Format(time.StampMilli), killedAt.Format(time.StampMilli))
		}
	}
	if took := calls[0].start.Sub(killedAt); took > server.DefaultLeaseTTL {
		t.Errorf("b's first scale-out came %s after a died, more than the lease's %s", took, server.DefaultLeaseTTL)
	}
	t.Logf("b scaled out %s after a was killed mid-decision", calls[0].start.Sub(killedAt).Round(time.Millisecond))
	if !strings.Contains(rb.stderr.String(), "autoscaler: starting (this replica leads)") {
		t.Errorf("b's log does not show its autoscaler starting:\n%s", rb.stderr.String())
	}
}

// TestServerAutoscalerSpotInterruption: the server's autoscaler reads its events queue. A spot
// interruption warning for the instance running a run stops that run (lost: an
// infrastructure failure) well within the two minutes, the run is retried at once without
// using up an attempt of its job (which allows only one), the policy replaces the capacity,
// and the retry completes on another instance.
func TestServerAutoscalerSpotInterruption(t *testing.T) {
	w := newECSWorld(t, awsfake.Options{}, hakoScaleOut, 2048, `[sleep, 3s, exit, "0"]`)
	w.autoscaled(4, 300*time.Millisecond)
	const queue = "https://sqs.us-east-1.amazonaws.com/123456789012/hashike-events"
	w.cloud.AddEventRule(queue, awsfake.EventRule{Sources: []string{"aws.ec2", "aws.autoscaling"}})
	cfg, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.config, append(cfg, []byte("  eventsQueueURL: "+queue+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	sqsAPI, ok := w.cloud.SQS().(ecsscale.SQSAPI)
	if !ok {
		t.Fatal("the fake's SQS client lacks an operation of ecsscale.SQSAPI")
	}
	w.events = func() (ecsscale.EC2API, ecsscale.SQSAPI) { return w.cloud.EC2(), sqsAPI }
	srv := w.startServer("a")
	ids := enqueueN(t, srv.api, 1)

	// Wait for the run's task to run, then interrupt its instance.
	ctx := ectx(t)
	var instance string
	deadline := time.Now().Add(60 * time.Second)
	for instance == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the run never ran:\n%s", srv.stderr.String())
		}
		for _, tk := range w.cloud.Tasks() {
			if aws.ToString(tk.LastStatus) == "RUNNING" {
				ci, err := w.cloud.ECS().DescribeContainerInstances(ctx, &awsecs.DescribeContainerInstancesInput{
					Cluster: tk.ClusterArn, ContainerInstances: []string{aws.ToString(tk.ContainerInstanceArn)}})
				if err == nil && len(ci.ContainerInstances) == 1 {
					instance = aws.ToString(ci.ContainerInstances[0].Ec2InstanceId)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	notice := time.Now()
	w.cloud.InterruptSpot(instance)

	// The enqueue's latest try is its outcome.
	deadline = time.Now().Add(90 * time.Second)
	for {
		v, err := srv.api.GetRun(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if v.JobState.Terminal() {
			if v.JobState != hashike.StateSucceeded || v.LatestAttempt != 2 {
				t.Fatalf("the enqueue ended %s at attempt %d; want succeeded at the second\n%s", v.JobState, v.LatestAttempt, srv.stderr.String())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the enqueue is still %s at attempt %d\n%s", v.JobState, v.LatestAttempt, srv.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	tries, err := srv.api.ListRuns(ctx, hashike.RunFilter{Job: "report", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var first *api.RunView
	for i := range tries.Runs {
		if tries.Runs[i].Attempt == 1 {
			first = &tries.Runs[i]
		}
	}
	if first == nil || first.State != hashike.StateLost || first.FinishedAt == nil || first.StopCause != hashike.StopInterruption {
		t.Fatalf("the first try: %+v; want lost, stopped for the interruption", first)
	}
	if d := first.FinishedAt.Sub(notice); d > 30*time.Second {
		t.Errorf("the interrupted run ended %s after the notice; want within 30 s", d)
	}
	var second string
	for _, tk := range w.cloud.Tasks() {
		if string(tk.StopCode) == "EssentialContainerExited" {
			ci, err := w.cloud.ECS().DescribeContainerInstances(ctx, &awsecs.DescribeContainerInstancesInput{
				Cluster: tk.ClusterArn, ContainerInstances: []string{aws.ToString(tk.ContainerInstanceArn)}})
			if err == nil && len(ci.ContainerInstances) == 1 {
				second = aws.ToString(ci.ContainerInstances[0].Ec2InstanceId)
			}
		}
	}
	if second == "" || second == instance {
		t.Errorf("the retry completed on %q; want another instance than the interrupted %s", second, instance)
	}
	t.Logf("the interrupted try ended %s after the notice", first.FinishedAt.Sub(notice).Round(time.Millisecond))
}
