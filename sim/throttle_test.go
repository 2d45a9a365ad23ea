package sim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// exactly is a launch latency with no spread.
func exactly(d time.Duration) Latency { return Latency{Name: "fixed", Median: d, P95: d} }

// skipper launches one instance a decision in the first pool with no launch error in its
// snapshot, and records what it saw.
type skipper struct {
	fixed
	errs *[]autoscale.LaunchError
	now  *[]time.Time
}

func (k skipper) Interval() time.Duration { return 30 * time.Second }
func (k skipper) Decide(s *autoscale.Snapshot, _ time.Time) []autoscale.Action {
	*k.errs = append(*k.errs, s.LaunchErrors...)
	for range s.LaunchErrors {
		*k.now = append(*k.now, s.Now)
	}
	for _, p := range s.Pools {
		bad := false
		for _, e := range s.LaunchErrors {
			bad = bad || e.Pool == p.Name
		}
		if !bad {
			return []autoscale.Action{{Launch: &autoscale.Launch{Pool: p.Name, Count: 1}}}
		}
	}
	return nil
}

// TestInsufficientCapacitySpells: a pool in a spell without capacity fails every launch with
// InsufficientInstanceCapacity (unbilled); the failures are in the snapshot for 10 minutes,
// so a policy can launch in another pool.
func TestInsufficientCapacitySpells(t *testing.T) {
	cfg := Config{Latency: exactly(30 * time.Second), Horizon: time.Hour,
		Pools: []PoolConfig{
			{Pool: autoscale.Pool{Name: "short", InstanceTypes: []string{"c6i.large"}, Max: 100, OnDemandPercentAboveBase: 100},
				InsufficientCapacityEpisodesPerDay: 24 * 60, InsufficientCapacityEpisode: Duration(10 * time.Hour)}, // from about a minute in, for good
			{Pool: autoscale.Pool{Name: "spare", InstanceTypes: []string{"m6i.large"}, Max: 100, OnDemandPercentAboveBase: 100}},
		}}
	var errs []autoscale.LaunchError
	var seen []time.Time
	wl := Workload{Name: "none", Jobs: []Job{{Submit: 50 * time.Minute, Duration: time.Minute, CPU: 1024, MemoryMiB: 1024}}}
	r, err := Run(cfg, wl, skipper{errs: &errs, now: &seen}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.InsufficientCapacityEpisodes == 0 || r.InsufficientCapacity == 0 || r.InsufficientCapacity != r.LaunchFailures {
		t.Fatalf("spells %d, insufficient capacity %d, launch failures %d", r.InsufficientCapacityEpisodes, r.InsufficientCapacity, r.LaunchFailures)
	}
	if len(errs) == 0 {
		t.Fatal("no launch error in any snapshot")
	}
	for k, e := range errs {
		if e.Pool != "short" || e.Type != "c6i.large" || e.Code != autoscale.LaunchErrorInsufficientCapacity || seen[k].Sub(e.At) > 10*time.Minute || seen[k].Before(e.At) {
			t.Fatalf("launch error %+v seen at %v", e, seen[k])
		}
	}
	// The policy went on launching in "short" only while it saw no error there: a launch a
	// decision, 120 in the hour; the ones in "spare" ran (and were billed), "short" cost
	// nothing after the spell began.
	if r.Launches < 100 || r.Launches-r.InsufficientCapacity < 90 {
		t.Fatalf("launches %d, of which %d failed: the policy did not move to the spare pool", r.Launches, r.InsufficientCapacity)
	}
	checkConservation(t, wl, r)
}

// TestScalingRateLimit: past the Auto Scaling bucket, a policy's Launch, Terminate and Drain
// of an idle instance fail with ErrThrottled and do nothing; the bucket refills.
func TestScalingRateLimit(t *testing.T) {
	cfg := Config{Latency: exactly(30 * time.Second), ScalingRate: TokenBucket{Burst: 2, PerSecond: 0.1},
		Pools: []PoolConfig{{Pool: autoscale.Pool{Name: "p", InstanceTypes: []string{"m6i.large"}, Max: 10, OnDemandPercentAboveBase: 100}, Initial: 2}}}
	s, _, err := newSim(cfg, Workload{}, fixed{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	launch := autoscale.Action{Launch: &autoscale.Launch{Pool: "p", Count: 1}}
	for k, want := range []error{nil, nil, autoscale.ErrThrottled} {
		if err := s.Apply(ctx, launch); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Fatalf("launch %d: %v, want %v", k, err, want)
		}
	}
	snap, _ := s.Snapshot(ctx)
	if len(snap.Instances) != 4 {
		t.Fatalf("%d instances, want 2 initial + 2 launched", len(snap.Instances))
	}
	id := snap.Instances[0].ID
	for _, a := range []autoscale.Action{{Terminate: &autoscale.Terminate{Instance: id}}, {Drain: &autoscale.Drain{Instance: id}}} {
		if err := s.Apply(ctx, a); !errors.Is(err, autoscale.ErrThrottled) {
			t.Fatalf("%s: %v, want ErrThrottled", a, err)
		}
	}
	s.until(10 * time.Second) // one token back
	if err := s.Apply(ctx, autoscale.Action{Terminate: &autoscale.Terminate{Instance: id}}); err != nil {
		t.Fatalf("terminate after the refill: %v", err)
	}
	if snap, _ = s.Snapshot(ctx); len(snap.Instances) != 3 || s.m.ScalingThrottled != 3 {
		t.Fatalf("%d instances, %d throttled; want 3 and 3", len(snap.Instances), s.m.ScalingThrottled)
	}
}

// TestInstanceLaunchRate: EC2 launches a group's instances as its RunInstances bucket
// allows; the rest wait (billed from their own launch) and register later.
func TestInstanceLaunchRate(t *testing.T) {
	cfg := Config{Latency: exactly(30 * time.Second), InstanceLaunchRate: TokenBucket{Burst: 2, PerSecond: 0.1},
		Pools: []PoolConfig{{Pool: autoscale.Pool{Name: "p", InstanceTypes: []string{"m6i.large"}, Max: 10, OnDemandPercentAboveBase: 100}}}}
	s, _, err := newSim(cfg, Workload{}, fixed{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Apply(ctx, autoscale.Action{Launch: &autoscale.Launch{Pool: "p", Count: 5}}); err != nil {
		t.Fatal(err)
	}
	active := func() int {
		snap, _ := s.Snapshot(ctx)
		n := 0
		for _, in := range snap.Instances {
			if in.State == autoscale.InstanceActive {
				n++
			}
		}
		return n
	}
	// Tokens: 2 at once, then one each 10 s: registered at 30, 30, 40, 50 and 60 s.
	for _, c := range []struct {
		at   time.Duration
		want int
	}{{29 * time.Second, 0}, {30 * time.Second, 2}, {45 * time.Second, 3}, {55 * time.Second, 4}, {60 * time.Second, 5}} {
		s.until(c.at)
		if got := active(); got != c.want {
			t.Fatalf("at %v: %d active, want %d", c.at, got, c.want)
		}
	}
	if s.m.LaunchesDelayed != 3 {
		t.Fatalf("%d launches delayed, want 3", s.m.LaunchesDelayed)
	}
}

// TestRunTaskRateLimit: with RunTask limited to one call a second, 30 tasks of distinct
// shapes (one call each) on a cluster with room for all start over about 30 s instead of
// at once, and all complete.
func TestRunTaskRateLimit(t *testing.T) {
	wl := Workload{Name: "shapes"}
	for k := range 30 {
		wl.Jobs = append(wl.Jobs, Job{Duration: time.Minute, CPU: 256 + 16*k, MemoryMiB: 512})
	}
	for _, c := range []struct {
		rate             TokenBucket
		minWait, maxWait float64
	}{{Unlimited, 0, 11}, {TokenBucket{Burst: 1, PerSecond: 1}, 29, 41}} {
		cfg := Config{RunTaskRate: c.rate, Horizon: time.Hour,
			Pools: []PoolConfig{{Pool: autoscale.Pool{Name: "p", InstanceTypes: []string{"m6i.2xlarge"}, Max: 10, OnDemandPercentAboveBase: 100}, Initial: 3}}}
		r, err := Run(cfg, wl, fixed{}, 1)
		if err != nil {
			t.Fatal(err)
		}
		checkConservation(t, wl, r)
		if r.WaitMax < c.minWait || r.WaitMax > c.maxWait || (c.rate == Unlimited) != (r.RunTaskThrottled == 0) {
			t.Errorf("rate %+v: max wait %.1f s (want %.0f-%.0f), throttled %d", c.rate, r.WaitMax, c.minWait, c.maxWait, r.RunTaskThrottled)
		}
	}
}

// TestInsufficientCapacityOfAMixedPool: a pool of several types is a mixed instances
// group, whose failed launch Auto Scaling reports after trying every type: the launch error
// names no type, as the live adapter reports it, so a policy skips the whole pool alike in
// both.
func TestInsufficientCapacityOfAMixedPool(t *testing.T) {
	cfg := Config{Latency: exactly(30 * time.Second), Horizon: 20 * time.Minute,
		Pools: []PoolConfig{
			{Pool: autoscale.Pool{Name: "short", InstanceTypes: []string{"c6i.large", "m6i.large"}, Max: 100, OnDemandPercentAboveBase: 100},
				InsufficientCapacityEpisodesPerDay: 24 * 60, InsufficientCapacityEpisode: Duration(10 * time.Hour)},
			{Pool: autoscale.Pool{Name: "spare", InstanceTypes: []string{"m6i.large"}, Max: 100, OnDemandPercentAboveBase: 100}},
		}}
	var errs []autoscale.LaunchError
	var seen []time.Time
	wl := Workload{Name: "none", Jobs: []Job{{Submit: 15 * time.Minute, Duration: time.Minute, CPU: 1024, MemoryMiB: 1024}}}
	if _, err := Run(cfg, wl, skipper{errs: &errs, now: &seen}, 1); err != nil {
		t.Fatal(err)
	}
	if len(errs) == 0 {
		t.Fatal("no launch error in any snapshot")
	}
	for _, e := range errs {
		if e.Pool != "short" || e.Type != "" {
			t.Fatalf("launch error %+v, want pool short and no type", e)
		}
	}
}
