package autoscale

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// fakeCluster is a Cluster that records what it is asked: one pool "p" with room for max
// instances; it refuses unknown instances.
type fakeCluster struct {
	now      time.Time
	insts    []string
	max      int
	applied  []string
	snapErr  error
	snapshot int
}

func (c *fakeCluster) Snapshot(context.Context) (*Snapshot, error) {
	c.snapshot++
	if c.snapErr != nil {
		return nil, c.snapErr
	}
	s := &Snapshot{Now: c.now, Pools: []Pool{{Name: "p", Max: c.max}}}
	for _, id := range c.insts {
		s.Instances = append(s.Instances, Instance{ID: id, Pool: "p", State: InstanceActive})
	}
	return s, nil
}

func (c *fakeCluster) Apply(_ context.Context, a Action) error {
	c.applied = append(c.applied, a.String())
	switch {
	case a.Launch != nil:
		n := min(a.Launch.Count, c.max-len(c.insts))
		for range n {
			c.insts = append(c.insts, "i-new")
		}
		if n < a.Launch.Count {
			return ErrAtMax
		}
	case a.Terminate != nil:
		i := slices.Index(c.insts, a.Terminate.Instance)
		if i < 0 {
			return ErrUnknown
		}
		c.insts = slices.Delete(c.insts, i, i+1)
	}
	return nil
}

// scripted returns acts[n] on its n-th call and keeps what it was given.
type scripted struct {
	acts  [][]Action
	calls int
	saw   []*Snapshot
	nows  []time.Time
}

func (p *scripted) Name() string            { return "scripted" }
func (p *scripted) Interval() time.Duration { return time.Minute }
func (p *scripted) Reset()                  { p.calls = 0 }
func (p *scripted) Decide(s *Snapshot, now time.Time) []Action {
	p.saw = append(p.saw, s)
	p.nows = append(p.nows, now)
	p.calls++
	if p.calls > len(p.acts) {
		return nil
	}
	return p.acts[p.calls-1]
}

// manualClock fires After only when the test says.
type manualClock struct {
	now  time.Time
	tick chan time.Time
}

func (c *manualClock) Now() time.Time                       { return c.now }
func (c *manualClock) After(time.Duration) <-chan time.Time { return c.tick }

func TestControllerStepAppliesEveryActionAndKeepsReasons(t *testing.T) {
	cl := &fakeCluster{now: t0, insts: []string{"i-1"}, max: 2}
	p := &scripted{acts: [][]Action{{
		{Terminate: &Terminate{Instance: "i-gone"}, Reason: "idle"},
		{Launch: &Launch{Pool: "p", Count: 3}, Reason: "3 tasks pending"},
		{Terminate: &Terminate{Instance: "i-1"}, Reason: "idle for 1m"},
	}}}
	var got []Decision
	c := &Controller{Cluster: cl, Policy: p, Clock: &manualClock{now: t0.Add(time.Second)}, Observe: func(d Decision) { got = append(got, d) }}
	err := c.Step(context.Background())
	if !errors.Is(err, ErrUnknown) || !errors.Is(err, ErrAtMax) {
		t.Fatalf("Step: %v, want ErrUnknown and ErrAtMax joined", err)
	}
	want := []string{"terminate i-gone", "launch 3 instances in p", "terminate i-1"}
	if !slices.Equal(cl.applied, want) {
		t.Fatalf("applied %q, want %q (a refused action does not stop the others)", cl.applied, want)
	}
	if len(got) != 1 {
		t.Fatalf("%d decisions observed, want 1", len(got))
	}
	d := got[0]
	if !d.At.Equal(t0.Add(time.Second)) || d.Policy != "scripted" || len(d.Actions) != 3 || d.Actions[1].Reason != "3 tasks pending" {
		t.Fatalf("decision %+v", d)
	}
	if !errors.Is(d.Errors[0], ErrUnknown) || !errors.Is(d.Errors[1], ErrAtMax) || d.Errors[2] != nil {
		t.Fatalf("decision errors %v", d.Errors)
	}
	// The policy decides at the Clock's now, from what the cluster showed.
	if len(p.saw) != 1 || !p.saw[0].Now.Equal(t0) || len(p.saw[0].Instances) != 1 || !p.nows[0].Equal(t0.Add(time.Second)) {
		t.Fatalf("the policy saw %+v at %v", p.saw, p.nows)
	}

	// The next step sees the cluster as changed: the launch under Max and the termination.
	if err := c.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(p.saw[1].Instances) != 1 || p.saw[1].Instances[0].ID != "i-new" {
		t.Errorf("second snapshot %+v", p.saw[1].Instances)
	}
	if got[1].Errors != nil || len(got[1].Actions) != 0 {
		t.Errorf("second decision %+v", got[1])
	}
}

func TestControllerStepObserveFailure(t *testing.T) {
	down := errors.New("connection refused")
	cl := &fakeCluster{snapErr: down}
	p := &scripted{}
	var got []Decision
	c := &Controller{Cluster: cl, Policy: p, Clock: &manualClock{now: t0}, Observe: func(d Decision) { got = append(got, d) }}
	if err := c.Step(context.Background()); !errors.Is(err, down) {
		t.Fatalf("Step: %v, want %v", err, down)
	}
	if p.calls != 0 || len(cl.applied) != 0 {
		t.Fatalf("decided %d times, applied %q with no snapshot", p.calls, cl.applied)
	}
	if len(got) != 1 || !errors.Is(got[0].Err, down) {
		t.Fatalf("observed %+v", got)
	}
}

// TestControllerRun: Run steps at once, again on each tick of its clock, survives a
// cluster that cannot be observed, and stops when its context ends.
func TestControllerRun(t *testing.T) {
	cl := &fakeCluster{now: t0, max: 5}
	clock := &manualClock{now: t0, tick: make(chan time.Time)}
	p := &scripted{}
	steps := make(chan Decision)
	c := &Controller{Cluster: cl, Policy: p, Clock: clock, Observe: func(d Decision) { steps <- d }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	<-steps // at once
	cl.snapErr = errors.New("throttled")
	clock.tick <- t0
	if d := <-steps; d.Err == nil {
		t.Fatalf("step on a failing cluster: %+v", d)
	}
	cl.snapErr = nil
	clock.tick <- t0
	if d := <-steps; d.Err != nil {
		t.Fatalf("step after the cluster came back: %+v", d)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if cl.snapshot != 3 || p.calls != 2 {
		t.Fatalf("%d observations, %d decisions; want 3, 2", cl.snapshot, p.calls)
	}
}
