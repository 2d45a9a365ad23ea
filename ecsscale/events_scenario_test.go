package ecsscale_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/ecsscale"
)

// requeuer is the Interrupter hashike server is: it stops each task with the reason and
// puts its run back in the queue (an infrastructure failure: a new attempt, not counted).
type requeuer struct {
	q        *queue
	duration time.Duration

	mu      sync.Mutex
	stopped map[string]time.Time // task ARN -> when it was interrupted
}

func (r *requeuer) Interrupt(ctx context.Context, n ecsscale.Interruption) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, arn := range n.Tasks {
		if _, ok := r.stopped[arn]; ok {
			continue // idempotent: already stopped and requeued
		}
		if _, err := r.q.f.cloud.ECS().StopTask(ctx, &awsecs.StopTaskInput{Cluster: aws.String(clusterName), Task: aws.String(arn), Reason: aws.String(n.Reason)}); err != nil {
			return nil, err
		}
		r.q.waitStopped(arn) // the task's driver runs in its own goroutine
		r.stopped[arn] = r.q.f.clock.Now()
		r.q.mu.Lock()
		r.q.seq++
		r.q.waiting = append(r.q.waiting, &queued{
			task:     autoscale.Task{ID: fmt.Sprintf("run-%d", r.q.seq), CPU: 512, MemoryMiB: 512, SubmittedAt: r.q.f.clock.Now(), Image: testImage},
			family:   r.q.family(512, 512),
			duration: r.duration,
		})
		r.q.mu.Unlock()
	}
	return nil, nil
}

// TestSpotInterruptionScenario: two 5-minute jobs run on the only instance when its spot
// interruption warning comes. The events loop drains it and has the server stop and requeue
// both runs at once; the hashike policy, driven by the Controller every 10 s, launches a
// replacement; the requeued runs complete there. The reclaim two minutes later kills
// nothing: no task ever ends with TerminationNotice.
func TestSpotInterruptionScenario(t *testing.T) {
	const d = 5 * time.Minute
	r := newRig(t, 1, 60, nil, ecsscale.EventsConfig{})
	ir := &requeuer{q: r.q, duration: d, stopped: map[string]time.Time{}}
	c, err := ecsscale.New(r.f.ecs, r.f.as, ecsscale.Config{Cluster: clusterName, Types: []autoscale.InstanceType{large},
		Pools: []ecsscale.Pool{{Name: "jobs", Group: "jobs-asg", InstanceTypes: []string{large.Name}}}, Queue: r.q, Clock: r.f.clock, Interrupter: ir})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := c.Events(r.f.cloud.SQS().(ecsscale.SQSAPI), ecsscale.EventsConfig{QueueURL: eventsURL, WaitTime: -1})
	if err != nil {
		t.Fatal(err)
	}
	r.c, r.events = c, ev
	ctl := &autoscale.Controller{Cluster: c, Policy: autoscale.NewHashike(autoscale.HashikeConfig{}), Clock: r.f.clock}
	first, id := r.run(t, d)
	second, id2 := r.run(t, d)
	if id2 != id {
		t.Fatalf("the jobs are on %s and %s, want one instance", id, id2)
	}
	step := func() {
		t.Helper()
		r.step(t, 10*time.Second)
		if err := ctl.Step(bg); err != nil {
			t.Logf("controller: %v", err)
		}
	}
	step()
	notice := r.f.clock.Now()
	r.f.cloud.InterruptSpot(id)
	for r.f.clock.Now().Sub(notice) < 15*time.Minute {
		step()
	}

	done, interrupted := 0, 0
	for _, tk := range r.f.cloud.Tasks() {
		reason := aws.ToString(tk.StoppedReason)
		switch {
		case tk.StopCode == types.TaskStopCodeTerminationNotice:
			t.Errorf("task %s killed by the instance's termination: %q", aws.ToString(tk.TaskArn), reason)
		case reason == "job done":
			done++
		case strings.HasPrefix(reason, "EC2 Spot Instance Interruption Warning for "+id):
			interrupted++
		default:
			t.Errorf("task %s: %s %s %q", aws.ToString(tk.TaskArn), aws.ToString(tk.LastStatus), tk.StopCode, reason)
		}
	}
	if interrupted != 2 || done != 2 {
		t.Fatalf("%d tasks interrupted and %d done, want both jobs interrupted, then done elsewhere", interrupted, done)
	}
	for _, arn := range []string{first, second} {
		at, ok := ir.stopped[arn]
		if !ok || at.Sub(notice) > 30*time.Second {
			t.Errorf("task %s interrupted %v after the notice (%v)", arn, at.Sub(notice), ok)
		}
	}
	if st := r.states(t); st[id] != "" {
		t.Errorf("the reclaimed instance is still in the group: %v", st)
	}
}
