package ecsscale_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/ecsscale"
)

// testSeed is HASHIKE_TEST_SEED when set (to replay a failure), else a new seed; it is
// logged either way.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("HASHIKE_TEST_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("HASHIKE_TEST_SEED: %v", err)
		}
	}
	t.Logf("seed %d (HASHIKE_TEST_SEED=%d replays it)", seed, seed)
	return seed
}

// jobs is the tasks the property tests run on the fake: placed by RunTask, stopped by the
// driver at their end. It tells a task the driver stopped from one stopped under it.
type jobs struct {
	t    *testing.T
	f    *fake
	q    *queue
	rng  *rand.Rand
	fams []string
	// running maps a task's ARN to when the driver stops it.
	running map[string]time.Time
	// started counts the tasks placed, raced the placed in a race with a scale-in action.
	started, raced int
	// landed counts the DRAINING updates that found a task placed in the race.
	landed int
	killed []string
}

func newJobs(t *testing.T, f *fake, rng *rand.Rand) *jobs {
	q := &queue{t: t, f: f}
	return &jobs{t: t, f: f, q: q, rng: rng, running: map[string]time.Time{},
		fams: []string{q.family(512, 1024), q.family(1024, 1800), q.family(2048, 3800)}}
}

// arrive runs up to n tasks of random shapes, each placed where ECS's binpack puts it (or
// nowhere, when nothing has room: the run is not retried).
func (j *jobs) arrive(n int) int {
	placed := 0
	for range n {
		out, err := j.f.cloud.ECS().RunTask(context.Background(), &awsecs.RunTaskInput{Cluster: aws.String(clusterName),
			TaskDefinition: aws.String(j.fams[j.rng.IntN(len(j.fams))])})
		var ae interface{ ErrorCode() string }
		switch {
		case errors.As(err, &ae) && ae.ErrorCode() == "InvalidParameterException": // no instance at all
		case err != nil:
			j.t.Fatalf("RunTask: %v", err)
		case len(out.Tasks) == 1:
			d := time.Duration(1+j.rng.IntN(200)) * time.Second
			j.running[aws.ToString(out.Tasks[0].TaskArn)] = j.f.clock.Now().Add(d)
			j.started++
			placed++
		}
	}
	return placed
}

// end stops the tasks whose time has come, and records any task that stopped without the
// driver stopping it: a task killed.
func (j *jobs) end() {
	now := j.f.clock.Now()
	for arn, at := range j.running {
		tk, ok := j.f.cloud.Task(arn)
		if !ok || aws.ToString(tk.LastStatus) == "STOPPED" {
			delete(j.running, arn)
			j.killed = append(j.killed, arn+": "+string(tk.StopCode)+" "+aws.ToString(tk.StoppedReason))
			continue
		}
		if now.Before(at) {
			continue
		}
		if _, err := j.f.cloud.ECS().StopTask(context.Background(), &awsecs.StopTaskInput{Cluster: aws.String(clusterName), Task: aws.String(arn), Reason: aws.String("job done")}); err != nil {
			j.t.Fatal(err)
		}
		j.q.waitStopped(arn)
		delete(j.running, arn)
	}
}

// racingECS runs tasks just before the adapter sets an instance DRAINING: after it read
// the instance idle, a task may land there.
type racingECS struct {
	ecsscale.ECSAPI
	j *jobs
}

func (r racingECS) UpdateContainerInstancesState(ctx context.Context, in *awsecs.UpdateContainerInstancesStateInput, opts ...func(*awsecs.Options)) (*awsecs.UpdateContainerInstancesStateOutput, error) {
	raced := 0
	if r.j.rng.IntN(2) == 0 {
		raced = r.j.arrive(1 + r.j.rng.IntN(3))
		r.j.raced += raced
	}
	out, err := r.ECSAPI.UpdateContainerInstancesState(ctx, in, opts...)
	if err == nil && raced > 0 && len(out.ContainerInstances) == 1 && out.ContainerInstances[0].PendingTasksCount+out.ContainerInstances[0].RunningTasksCount > 0 {
		r.j.landed++
	}
	return out, err
}

// racingAS runs tasks just before the adapter terminates an instance.
type racingAS struct {
	ecsscale.AutoScalingAPI
	j *jobs
}

func (r racingAS) TerminateInstanceInAutoScalingGroup(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, opts ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
	if r.j.rng.IntN(2) == 0 {
		r.j.raced += r.j.arrive(1 + r.j.rng.IntN(3))
	}
	return r.AutoScalingAPI.TerminateInstanceInAutoScalingGroup(ctx, in, opts...)
}

// TestScaleInNeverStopsARunningTask: 1,000 random scale-in actions (Drain or Terminate of
// a random instance: busy, idle, launching or draining) on the adapter over the fake, with
// tasks arriving and ending at random, some placed between the snapshot and the action and
// some inside the action (after the adapter read the instance idle, before it set it
// DRAINING; before it terminates it), stop no task: every task that stopped was stopped by
// its job's end.
func TestScaleInNeverStopsARunningTask(t *testing.T) {
	const decisions = 1000
	rng := rand.New(rand.NewPCG(testSeed(t), 13))
	f := newFake(t)
	j := newJobs(t, f, rng)
	f.cloud.AddAutoScalingGroup("jobs-asg", clusterName, 0, 12, 6, large.CPU, large.MemoryMiB, latency)
	f.cloud.SetInstanceType("jobs-asg", large.Name)
	f.clock.Advance(latency)
	c, err := ecsscale.New(racingECS{f.ecs, j}, racingAS{f.as, j}, ecsscale.Config{Cluster: clusterName, Types: []autoscale.InstanceType{large},
		Pools: []ecsscale.Pool{{Name: "jobs", Group: "jobs-asg"}}, Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var drains, terms, busy, refusedTerms int
	for n := 0; n < decisions; {
		j.end()
		j.arrive(rng.IntN(6))
		s := snap(t, c)
		if rng.IntN(3) == 0 { // arrivals between the observation and the action
			j.raced += j.arrive(1 + rng.IntN(3))
		}
		if len(s.Instances) == 0 || rng.IntN(4) == 0 {
			err := c.Apply(ctx, autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Count: 1 + rng.IntN(3)}})
			if err != nil && !errors.Is(err, autoscale.ErrAtMax) {
				t.Fatalf("launch: %v", err)
			}
		} else {
			in := s.Instances[rng.IntN(len(s.Instances))]
			a := autoscale.Action{Drain: &autoscale.Drain{Instance: in.ID}}
			if rng.IntN(2) == 0 {
				a = autoscale.Action{Terminate: &autoscale.Terminate{Instance: in.ID}}
				terms++
			} else {
				drains++
			}
			if in.Tasks > 0 {
				busy++
			}
			n++
			switch err := c.Apply(ctx, a); {
			case errors.Is(err, ecsscale.ErrBusy):
				refusedTerms++
			case err != nil && !errors.Is(err, autoscale.ErrUnknown):
				t.Fatalf("%s: %v", a, err)
			}
		}
		f.clock.Advance(time.Duration(rng.IntN(5000)) * time.Millisecond)
	}
	j.end()
	ended := f.cloud.Calls("TerminateInstanceInAutoScalingGroup")
	t.Logf("%d scale-in actions (%d drains, %d terminates, %d of them on a busy instance, %d terminates refused as busy); %d instances terminated; %d tasks run, %d placed in a race with an action, %d of them on the instance being drained; %d killed",
		decisions, drains, terms, busy, refusedTerms, ended, j.started, j.raced, j.landed, len(j.killed))
	for _, k := range j.killed {
		t.Errorf("task stopped by scale-in: %s", k)
	}
	if ended < 50 || busy < 100 || j.raced < 30 || j.landed < 1 {
		t.Fatalf("the run exercised too little: %d terminated, %d actions on busy instances, %d racing tasks, %d on the instance drained", ended, busy, j.raced, j.landed)
	}
	for _, tk := range f.cloud.Tasks() {
		if tk.StopCode == types.TaskStopCodeTerminationNotice || strings.Contains(aws.ToString(tk.StoppedReason), "terminated") {
			t.Errorf("task %s stopped with %s %q", aws.ToString(tk.TaskArn), tk.StopCode, aws.ToString(tk.StoppedReason))
		}
	}
}
