package ecsscale_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/autoscale/clustertest"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/internal/awsfake"
)

const (
	clusterName = "jobs"
	testImage   = "hashike-testjob:test"
	// latency is the fake groups' registration delay: launch to registered instance.
	latency = 30 * time.Second
)

// fake is the stateful fake with its clock and the adapter's view of its clients.
type fake struct {
	cloud *awsfake.Cloud
	clock *awsfake.ManualClock
	ecs   ecsscale.ECSAPI
	as    ecsscale.AutoScalingAPI
}

// newFake returns a cloud with one cluster, on a manual clock, with task lifecycles that
// take no time (a task's duration is the driver's: it stops the task when it is done).
func newFake(t *testing.T) *fake {
	t.Helper()
	clock := awsfake.NewManualClock(time.Unix(1e9, 0))
	cloud := awsfake.New(awsfake.Options{Clock: clock, StepDelay: -1, LogStreamDelay: -1, LogDeliveryDelay: -1, Tick: time.Hour})
	t.Cleanup(cloud.Close)
	cloud.AddCluster(clusterName)
	f := &fake{cloud: cloud, clock: clock}
	var ok bool
	if f.ecs, ok = cloud.ECS().(ecsscale.ECSAPI); !ok {
		t.Fatal("the fake's ECS client lacks an operation of ecsscale.ECSAPI")
	}
	if f.as, ok = cloud.AutoScaling().(ecsscale.AutoScalingAPI); !ok {
		t.Fatal("the fake's Auto Scaling client lacks an operation of ecsscale.AutoScalingAPI")
	}
	return f
}

// queue is hashike's queue as the ECS backend keeps it while it waits for capacity: a task
// is submitted at its time, RunTask (launch type EC2, no capacity provider) is retried
// every second, oldest first, and a task RunTask could not place keeps the reason of its
// last failure (RESOURCE:CPU, RESOURCE:MEMORY). A placed task runs for its duration, then
// the driver stops it (the job is done). It is the adapter's Queue.
type queue struct {
	t     *testing.T
	f     *fake
	start time.Time

	mu      sync.Mutex
	todo    []clustertest.Task
	waiting []*queued
	running []placed
	seq     int
	ends    int // the group calls that could end an instance, when last looked at
}

type queued struct {
	task        autoscale.Task
	family      string
	duration    time.Duration
	lastFailure string
}

type placed struct {
	arn string
	end time.Time
}

func (q *queue) Pending(context.Context) ([]autoscale.Task, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]autoscale.Task, 0, len(q.waiting))
	for _, w := range q.waiting {
		tk := w.task
		tk.LastFailure = w.lastFailure
		out = append(out, tk)
	}
	return out, nil
}

// family registers (once) the task definition of a task of cpu units and mem MiB.
func (q *queue) family(cpu, mem int) string {
	fam := fmt.Sprintf("job-%d-%d", cpu, mem)
	_, err := q.f.ecs.(interface {
		RegisterTaskDefinition(context.Context, *awsecs.RegisterTaskDefinitionInput, ...func(*awsecs.Options)) (*awsecs.RegisterTaskDefinitionOutput, error)
	}).RegisterTaskDefinition(context.Background(), &awsecs.RegisterTaskDefinitionInput{
		Family: aws.String(fam), Cpu: aws.String(strconv.Itoa(cpu)), Memory: aws.String(strconv.Itoa(mem)),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("job"), Image: aws.String(testImage),
			Command: []string{"sleep", "1000h"}, StopTimeout: aws.Int32(1)}},
	})
	if err != nil {
		q.t.Fatalf("register %s: %v", fam, err)
	}
	return fam
}

// advance lets d pass in steps of at most a second.
func (q *queue) advance(d time.Duration) {
	end := q.f.clock.Now().Add(d)
	for {
		q.tick()
		now := q.f.clock.Now()
		if !now.Before(end) {
			return
		}
		q.f.clock.Advance(min(time.Second, end.Sub(now)))
	}
}

// tick ends the tasks that are done, submits the tasks due and retries RunTask.
func (q *queue) tick() {
	q.mu.Lock()
	defer q.mu.Unlock()
	ctx := context.Background()
	now := q.f.clock.Now()
	kept := q.running[:0]
	for _, r := range q.running {
		if now.Before(r.end) {
			kept = append(kept, r)
			continue
		}
		if _, err := q.f.cloud.ECS().StopTask(ctx, &awsecs.StopTaskInput{Cluster: aws.String(clusterName), Task: aws.String(r.arn), Reason: aws.String("job done")}); err != nil {
			q.t.Fatalf("stop %s: %v", r.arn, err)
		}
		q.waitStopped(r.arn)
	}
	q.running = kept
	for len(q.todo) > 0 && !now.Before(q.start.Add(q.todo[0].At)) {
		tk := q.todo[0]
		q.todo = q.todo[1:]
		q.seq++
		q.waiting = append(q.waiting, &queued{
			task:     autoscale.Task{ID: fmt.Sprintf("run-%d", q.seq), CPU: tk.CPU, MemoryMiB: tk.MemoryMiB, SubmittedAt: now, Image: testImage},
			family:   q.family(tk.CPU, tk.MemoryMiB),
			duration: tk.Duration,
		})
	}
	left := q.waiting[:0]
	for _, w := range q.waiting {
		out, err := q.f.cloud.ECS().RunTask(ctx, &awsecs.RunTaskInput{Cluster: aws.String(clusterName), TaskDefinition: aws.String(w.family), StartedBy: aws.String(w.task.ID)})
		var ae smithy.APIError
		switch {
		case errors.As(err, &ae) && ae.ErrorCode() == "InvalidParameterException":
			// No ACTIVE container instance: it waits.
			left = append(left, w)
		case err != nil:
			q.t.Fatalf("RunTask %s: %v", w.task.ID, err)
		case len(out.Tasks) == 1:
			q.running = append(q.running, placed{arn: aws.ToString(out.Tasks[0].TaskArn), end: now.Add(w.duration)})
		default:
			if len(out.Failures) > 0 {
				w.lastFailure = aws.ToString(out.Failures[0].Reason)
			}
			left = append(left, w)
		}
	}
	q.waiting = left
	// Tasks on a terminated host have stopped: they are not the driver's to end. Only the
	// group's calls end instances: look at the tasks again once one was made.
	ends := q.f.cloud.Calls("TerminateInstanceInAutoScalingGroup") + q.f.cloud.Calls("SetDesiredCapacity")
	if len(q.running) > 0 && ends != q.ends {
		q.ends = ends
		live := map[string]bool{}
		for _, tk := range q.f.cloud.Tasks() {
			live[aws.ToString(tk.TaskArn)] = aws.ToString(tk.LastStatus) != "STOPPED"
		}
		q.running = slices.DeleteFunc(q.running, func(r placed) bool { return !live[r.arn] })
	}
}

// waitStopped waits until the fake's task driver has stopped the task (its lifecycle runs
// in its own goroutine; with no step delay it needs no clock time).
func (q *queue) waitStopped(arn string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		tk, ok := q.f.cloud.Task(arn)
		if !ok || aws.ToString(tk.LastStatus) == "STOPPED" {
			return
		}
		if time.Now().After(deadline) {
			q.t.Fatalf("task %s still %s 10s after StopTask", arn, aws.ToString(tk.LastStatus))
		}
		time.Sleep(time.Millisecond)
	}
}
