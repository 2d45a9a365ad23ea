package ecsscale_test

import (
	"context"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/internal/awsfake"
)

// demandQueue is hashike's queue reduced to what the autoscaler reads: the runs waiting,
// and a signal on each enqueue (ecsscale.Notifier).
type demandQueue struct {
	ecsscale.Signal
	mu    sync.Mutex
	tasks []autoscale.Task
}

func (q *demandQueue) Pending(context.Context) ([]autoscale.Task, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.tasks), nil
}

func (q *demandQueue) enqueue(t autoscale.Task) {
	q.mu.Lock()
	q.tasks = append(q.tasks, t)
	q.mu.Unlock()
	q.Send()
}

func (q *demandQueue) clear() {
	q.mu.Lock()
	q.tasks = nil
	q.mu.Unlock()
}

// launches wraps the Auto Scaling client and reports when each SetDesiredCapacity call
// reached it, once the call is done.
type launches struct {
	ecsscale.AutoScalingAPI
	clock hashike.Clock
	at    chan time.Time
}

func (l *launches) SetDesiredCapacity(ctx context.Context, in *autoscaling.SetDesiredCapacityInput, opts ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error) {
	at := l.clock.Now()
	out, err := l.AutoScalingAPI.SetDesiredCapacity(ctx, in, opts...)
	select {
	case l.at <- at:
	default:
	}
	return out, err
}

// TestQueuedRunWakesTheController: a run enqueued (the queue signals it) makes the
// controller decide at once, and the run's launch is asked for when hashike's batching
// window ends, BatchIdle (2 s) after the enqueue, not at the policy's next 10 s interval.
// Without the wake-up the launch waits for the interval.
func TestQueuedRunWakesTheController(t *testing.T) {
	for _, wake := range []bool{true, false} {
		f := newFake(t)
		f.cloud.AddAutoScalingGroup("jobs-asg", clusterName, 0, 10, 0, large.CPU, large.MemoryMiB, latency)
		q := &demandQueue{Signal: ecsscale.NewSignal()}
		l := &launches{AutoScalingAPI: f.as, clock: f.clock, at: make(chan time.Time, 1)}
		c, err := ecsscale.New(f.ecs, l, ecsscale.Config{Cluster: clusterName, Types: []autoscale.InstanceType{large},
			Pools: []ecsscale.Pool{{Name: "jobs", Group: "jobs-asg", InstanceTypes: []string{large.Name}}}, Queue: q, Clock: f.clock})
		if err != nil {
			t.Fatal(err)
		}
		clock := &askingClock{ManualClock: f.clock, asked: make(chan time.Time, 16)}
		ctl := &autoscale.Controller{Cluster: c, Policy: autoscale.NewHashike(autoscale.HashikeConfig{}), Clock: clock}
		if wake {
			ctl.Wake = c.Demand()
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- ctl.Run(ctx) }()
		start := f.clock.Now()
		next := clock.next(t) // after the first decision, at once
		f.clock.Advance(3 * time.Second)
		submitted := f.clock.Now()
		q.enqueue(autoscale.Task{ID: "run-1", CPU: 1024, MemoryMiB: 2048, SubmittedAt: submitted})
		if wake {
			// The wake-up's decision holds the run for the batching window and asks for a
			// decision at its end.
			next = clock.next(t)
		}
		f.clock.Advance(next.Sub(f.clock.Now()))
		var at time.Time
		select {
		case at = <-l.at:
		case <-time.After(10 * time.Second):
			t.Fatalf("wake %v: no SetDesiredCapacity at %v", wake, f.clock.Now().Sub(submitted))
		}
		cancel()
		<-done
		want := submitted.Add(2 * time.Second)
		if !wake {
			want = start.Add(10 * time.Second)
		}
		if !at.Equal(want) {
			t.Errorf("wake %v: SetDesiredCapacity %v after the enqueue, want %v", wake, at.Sub(submitted), want.Sub(submitted))
		}
		if d := desired(t, f); d != 1 {
			t.Errorf("wake %v: desired %d, want 1", wake, d)
		}
	}
}

// askingClock is the fake's clock that also reports when each timer asked of it is due, so
// a test can move time to the controller's next decision.
type askingClock struct {
	*awsfake.ManualClock
	asked chan time.Time
}

func (c *askingClock) After(d time.Duration) <-chan time.Time {
	at := c.Now().Add(d)
	ch := c.ManualClock.After(d)
	c.asked <- at
	return ch
}

// next waits for the controller to ask for a timer and returns when it is due.
func (c *askingClock) next(t *testing.T) time.Time {
	t.Helper()
	select {
	case at := <-c.asked:
		return at
	case <-time.After(10 * time.Second):
		t.Fatal("the controller never waited on its clock")
	}
	return time.Time{}
}

// BenchmarkQueuedToSetDesiredCapacity measures, in real time, from a run enqueued that
// needs capacity (the queue signals it) to the SetDesiredCapacity call reaching the fake:
// hashike's policy over the adapter, the Controller woken by the queue. Each iteration is
// one run on an empty group, enqueued 0-1 s after the previous launch (a random phase);
// p50 and p99 are reported in seconds. The target is p99 <= 2 s.
//
//	go test -run '^$' -bench BenchmarkQueuedToSetDesiredCapacity -benchtime 60x ./ecsscale/
//
// batch=2s is the policy as configured by default (BatchIdle 2 s: a run waits that long
// for others to pack with it); batch=1s and batch=0.5s shorten the window.
func BenchmarkQueuedToSetDesiredCapacity(b *testing.B) {
	for _, batch := range []time.Duration{2 * time.Second, time.Second, 500 * time.Millisecond} {
		b.Run("batch="+batch.String(), func(b *testing.B) {
			benchQueuedToLaunch(b, autoscale.HashikeConfig{BatchIdle: batch})
		})
	}
}

func benchQueuedToLaunch(b *testing.B, cfg autoscale.HashikeConfig) {
	cloud := awsfake.New(awsfake.Options{StepDelay: -1, LogStreamDelay: -1, LogDeliveryDelay: -1, Tick: time.Hour})
	b.Cleanup(cloud.Close)
	cloud.AddCluster(clusterName)
	cloud.AddAutoScalingGroup("jobs-asg", clusterName, 0, 100, 0, large.CPU, large.MemoryMiB, time.Hour)
	as := cloud.AutoScaling().(ecsscale.AutoScalingAPI)
	l := &launches{AutoScalingAPI: as, clock: hashike.SystemClock{}, at: make(chan time.Time, 1)}
	q := &demandQueue{Signal: ecsscale.NewSignal()}
	c, err := ecsscale.New(cloud.ECS().(ecsscale.ECSAPI), l, ecsscale.Config{Cluster: clusterName, Types: []autoscale.InstanceType{large},
		Pools: []ecsscale.Pool{{Name: "jobs", Group: "jobs-asg", InstanceTypes: []string{large.Name}}}, Queue: q})
	if err != nil {
		b.Fatal(err)
	}
	ctl := &autoscale.Controller{Cluster: c, Policy: autoscale.NewHashike(cfg), Clock: hashike.SystemClock{}, Wake: c.Demand()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- ctl.Run(ctx) }()
	var lat []float64
	seq := 0
	for b.Loop() {
		b.StopTimer()
		time.Sleep(time.Duration(seq%10) * 100 * time.Millisecond) // the phase
		b.StartTimer()
		seq++
		start := time.Now()
		q.enqueue(autoscale.Task{ID: "run-" + time.Duration(seq).String(), CPU: 1024, MemoryMiB: 2048, SubmittedAt: start})
		select {
		case at := <-l.at:
			lat = append(lat, at.Sub(start).Seconds())
		case <-time.After(30 * time.Second):
			b.Fatalf("no SetDesiredCapacity 30 s after the enqueue")
		}
		b.StopTimer()
		q.clear()
		if _, err := as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("jobs-asg"), DesiredCapacity: aws.Int32(0)}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	cancel()
	<-done
	sort.Float64s(lat)
	q50, q99 := quantile(lat, 0.5), quantile(lat, 0.99)
	b.ReportMetric(q50, "p50-s")
	b.ReportMetric(q99, "p99-s")
	b.ReportMetric(lat[len(lat)-1], "max-s")
}

// quantile is the q-quantile of sorted xs (nearest rank).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(q*float64(len(xs))+0.999999) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

// TestNoSecondLaunchWhileBooting: a launching instance shows the CPU and memory its type
// registers, as in the simulator, so hashike's policy packs the run it launched for onto
// it at the next decisions instead of launching again every 10 s while it boots.
func TestNoSecondLaunchWhileBooting(t *testing.T) {
	f := newFake(t)
	f.cloud.AddAutoScalingGroup("jobs-asg", clusterName, 0, 10, 0, large.CPU, large.MemoryMiB, latency)
	q := &demandQueue{Signal: ecsscale.NewSignal()}
	c, err := ecsscale.New(f.ecs, f.as, ecsscale.Config{Cluster: clusterName, Types: []autoscale.InstanceType{large},
		Pools: []ecsscale.Pool{{Name: "jobs", Group: "jobs-asg", InstanceTypes: []string{large.Name}}}, Queue: q, Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	q.enqueue(autoscale.Task{ID: "run-1", CPU: 1024, MemoryMiB: 2048, SubmittedAt: f.clock.Now().Add(-5 * time.Second)})
	ctl := &autoscale.Controller{Cluster: c, Policy: autoscale.NewHashike(autoscale.HashikeConfig{NoHeadroom: true}), Clock: f.clock}
	for i := range 3 { // over 20 s of the 30 s boot
		if i > 0 {
			f.clock.Advance(10 * time.Second)
		}
		if err := ctl.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := desired(t, f); d != 1 {
		t.Fatalf("desired %d after 3 decisions while the instance boots, want 1", d)
	}
	s := snap(t, c)
	if len(s.Instances) != 1 || s.Instances[0].State != autoscale.InstanceLaunching || s.Instances[0].CPU != large.CPU || s.Instances[0].MemoryMiB != large.MemoryMiB {
		t.Fatalf("instances %+v, want one launching %s with its registered size", s.Instances, large.Name)
	}
}
