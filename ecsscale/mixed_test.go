package ecsscale_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/internal/awsfake"
)

var (
	m5large    = autoscale.InstanceType{Name: "m5.large", CPU: 2048, MemoryMiB: 7680, OnDemandPrice: 0.096, SpotPrice: 0.035}
	m5xlarge   = autoscale.InstanceType{Name: "m5.xlarge", CPU: 4096, MemoryMiB: 15576, OnDemandPrice: 0.192, SpotPrice: 0.07}
	mixedTypes = []autoscale.InstanceType{m5large, m5xlarge}
)

// mixedGroup adds a weighted mixed instances group over m5.xlarge (weight 2) and m5.large
// (weight 1) in two zones; units are its min, max and desired in capacity units.
func mixedGroup(f *fake, name string, min, max, desired, base, pct int) {
	f.cloud.AddInstanceType(m5large.Name, m5large.CPU, m5large.MemoryMiB)
	f.cloud.AddInstanceType(m5xlarge.Name, m5xlarge.CPU, m5xlarge.MemoryMiB)
	f.cloud.AddMixedGroup(awsfake.MixedGroup{Name: name, Cluster: clusterName, Min: min, Max: max, Desired: desired,
		Overrides:    []awsfake.Override{{InstanceType: m5xlarge.Name, Weight: 2}, {InstanceType: m5large.Name, Weight: 1}},
		OnDemandBase: base, OnDemandPercentAboveBase: pct, Zones: []string{"us-east-1a", "us-east-1b"}, RegisterDelay: latency})
}

func mixedAdapter(t *testing.T, f *fake, cfg ecsscale.Config) *ecsscale.Cluster {
	t.Helper()
	cfg.Cluster, cfg.Types, cfg.Clock, cfg.EC2 = clusterName, mixedTypes, f.clock, f.cloud.EC2()
	c, err := ecsscale.New(f.ecs, f.as, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func groupDesired(t *testing.T, f *fake, name string) int {
	t.Helper()
	g, err := f.as.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	return int(aws.ToInt32(g.AutoScalingGroups[0].DesiredCapacity))
}

// TestMixedGroupSnapshot: each instance's type and purchase option (spot from EC2's
// DescribeInstances, asked once per new instance, so a steady snapshot makes no EC2 call);
// a launching instance counts its type's CPU and memory; a weighted group's limits are
// given in instances.
func TestMixedGroupSnapshot(t *testing.T) {
	f := newFake(t)
	// 1 unit of on-demand base, then half of the units above it on-demand: od, spot, od.
	mixedGroup(f, "mixed", 2, 12, 6, 1, 50)
	c := mixedAdapter(t, f, ecsscale.Config{Pools: []ecsscale.Pool{{Name: "jobs", Group: "mixed"}}})
	s := snap(t, c)
	var got []string
	for _, in := range s.Instances {
		p := "od"
		if in.Spot {
			p = "spot"
		}
		got = append(got, in.Type+"/"+p)
		if in.State != autoscale.InstanceLaunching || in.CPU != m5xlarge.CPU || in.MemoryMiB != m5xlarge.MemoryMiB {
			t.Errorf("launching instance %+v: want m5.xlarge's CPU and memory", in)
		}
	}
	if want := []string{"m5.xlarge/od", "m5.xlarge/spot", "m5.xlarge/od"}; !slices.Equal(got, want) {
		t.Errorf("instances %v, want %v", got, want)
	}
	// Max 12 units with 6 in use: 3 instances and 3 more of the first type (weight 2); min
	// 2 units: 1 instance of the heaviest type.
	want := autoscale.Pool{Name: "jobs", InstanceTypes: []string{"m5.xlarge", "m5.large"}, Min: 1, Max: 6,
		OnDemandBase: 1, OnDemandPercentAboveBase: 50, AvailabilityZones: []string{"us-east-1a", "us-east-1b"}}
	if !reflect.DeepEqual(s.Pools[0], want) {
		t.Errorf("pool %+v, want %+v", s.Pools[0], want)
	}
	if n := f.cloud.Calls("DescribeInstances"); n != 1 {
		t.Errorf("%d DescribeInstances calls, want 1 for 3 new instances", n)
	}
	f.clock.Advance(latency)
	s = snap(t, c)
	if n := f.cloud.Calls("DescribeInstances"); n != 1 {
		t.Errorf("%d DescribeInstances calls after a second snapshot, want still 1", n)
	}
	if !s.Instances[1].Spot || s.Instances[1].State != autoscale.InstanceActive || s.Instances[1].CPU != m5xlarge.CPU {
		t.Errorf("registered spot instance %+v", s.Instances[1])
	}
}

// TestWeightedLaunch: a Launch of Count instances of a type raises desired capacity by
// Count times its weight, capped at the group's max in units (ErrAtMax for what did not
// fit); the group's allocation picks the type, and draining an idle weighted instance
// takes its weight off.
func TestWeightedLaunch(t *testing.T) {
	f := newFake(t)
	mixedGroup(f, "mixed", 0, 7, 0, 0, 100)
	c := mixedAdapter(t, f, ecsscale.Config{Pools: []ecsscale.Pool{{Name: "jobs", Group: "mixed"}}})
	ctx := context.Background()
	if err := c.Apply(ctx, autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Type: m5xlarge.Name, Count: 2}}); err != nil {
		t.Fatal(err)
	}
	if d := groupDesired(t, f, "mixed"); d != 4 {
		t.Fatalf("desired %d units after 2 m5.xlarge, want 4", d)
	}
	if err := c.Apply(ctx, autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Type: m5large.Name, Count: 1}}); err != nil {
		t.Fatal(err)
	}
	if d := groupDesired(t, f, "mixed"); d != 5 {
		t.Fatalf("desired %d units after 1 m5.large more, want 5", d)
	}
	err := c.Apply(ctx, autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Type: m5xlarge.Name, Count: 2}})
	if !errors.Is(err, autoscale.ErrAtMax) || groupDesired(t, f, "mixed") != 7 {
		t.Fatalf("2 m5.xlarge over 5 of 7 units: %v, desired %d; want ErrAtMax and 7", err, groupDesired(t, f, "mixed"))
	}
	// 7 units asked: the group launched its first override, 4 of weight 2 (8 units).
	f.clock.Advance(latency)
	s := snap(t, c)
	if len(s.Instances) != 4 || s.Instances[0].Type != m5xlarge.Name {
		t.Fatalf("instances %+v, want 4 m5.xlarge", s.Instances)
	}
	if err := c.Apply(ctx, autoscale.Action{Drain: &autoscale.Drain{Instance: s.Instances[3].ID}}); err != nil {
		t.Fatal(err)
	}
	if d := groupDesired(t, f, "mixed"); d != 5 {
		t.Errorf("desired %d after an idle m5.xlarge drained, want 7-2", d)
	}
}

// TestSpotFalseUsesTheOnDemandPool: Launch with Spot false on a pool whose next instances
// would be spot goes to its OnDemandPool; without one it raises the pool anyway and logs
// that the group's split decides; on a pool whose next instance is on-demand it stays.
func TestSpotFalseUsesTheOnDemandPool(t *testing.T) {
	f := newFake(t)
	mixedGroup(f, "spot-asg", 0, 10, 0, 1, 0) // one on-demand unit, then spot only
	f.cloud.AddAutoScalingGroup("od-asg", clusterName, 0, 10, 0, m5large.CPU, m5large.MemoryMiB, latency)
	f.cloud.SetInstanceType("od-asg", m5large.Name)
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	c := mixedAdapter(t, f, ecsscale.Config{Log: logger, Pools: []ecsscale.Pool{
		{Name: "spot", Group: "spot-asg", OnDemandPool: "od"}, {Name: "od", Group: "od-asg", InstanceTypes: []string{m5large.Name}}}})
	ctx := context.Background()
	onDemand := false
	launch := func(c *ecsscale.Cluster) error {
		return c.Apply(ctx, autoscale.Action{Launch: &autoscale.Launch{Pool: "spot", Count: 1, Spot: &onDemand}})
	}
	// The base unit is on-demand: the spot pool launches it.
	if err := launch(c); err != nil {
		t.Fatal(err)
	}
	snap(t, c) // learns the base instance is on-demand
	if a, b := groupDesired(t, f, "spot-asg"), groupDesired(t, f, "od-asg"); a != 2 || b != 0 {
		t.Fatalf("desired spot-asg %d, od-asg %d; want 2 (the base) and 0", a, b)
	}
	// Above the base everything is spot: the on-demand pool launches.
	if err := launch(c); err != nil {
		t.Fatal(err)
	}
	if a, b := groupDesired(t, f, "spot-asg"), groupDesired(t, f, "od-asg"); a != 2 || b != 1 {
		t.Fatalf("desired spot-asg %d, od-asg %d; want 2 and 1 (moved to the on-demand pool)", a, b)
	}
	if !strings.Contains(log.String(), "pool spot's next instances would be spot, so pool od (group od-asg) launches them") {
		t.Errorf("log %q does not say the launch moved", log.String())
	}
	log.Reset()
	alone := mixedAdapter(t, f, ecsscale.Config{Log: logger, Pools: []ecsscale.Pool{{Name: "spot", Group: "spot-asg"}}})
	snap(t, alone)
	if err := launch(alone); err != nil {
		t.Fatal(err)
	}
	if a := groupDesired(t, f, "spot-asg"); a != 4 {
		t.Fatalf("desired spot-asg %d, want 4: launched there without an on-demand pool", a)
	}
	if !strings.Contains(log.String(), "makes its next instances spot and pool spot has no onDemandPool; launching there anyway") {
		t.Errorf("log %q does not say the split is the group's", log.String())
	}
}

// TestUnfulfilledCapacityIsCancelled: a launch EC2 has no spot capacity for is in the next
// snapshot's LaunchErrors (spot, no type: Auto Scaling tried every override), and the
// adapter lowers the group's desired capacity back to what it has, so the group does not
// launch it long after the policy placed the tasks elsewhere.
func TestUnfulfilledCapacityIsCancelled(t *testing.T) {
	f := newFake(t)
	mixedGroup(f, "spot-asg", 0, 10, 0, 0, 0)
	c := mixedAdapter(t, f, ecsscale.Config{Pools: []ecsscale.Pool{{Name: "spot", Group: "spot-asg"}}})
	f.cloud.SetInsufficientCapacity(awsfake.Capacity{Spot: true}, true)
	at := f.clock.Now()
	if err := c.Apply(context.Background(), autoscale.Action{Launch: &autoscale.Launch{Pool: "spot", Count: 2}}); err != nil {
		t.Fatal(err)
	}
	s := snap(t, c)
	want := []autoscale.LaunchError{{At: at, Pool: "spot", Spot: true, Code: autoscale.LaunchErrorInsufficientCapacity}}
	if !reflect.DeepEqual(s.LaunchErrors, want) {
		t.Fatalf("launch errors %+v, want %+v", s.LaunchErrors, want)
	}
	if d := groupDesired(t, f, "spot-asg"); d != 0 || len(s.Instances) != 0 {
		t.Fatalf("desired %d, instances %+v: want the unfulfilled 4 units cancelled", d, s.Instances)
	}
	// Capacity back: nothing launches that nobody asks for any more.
	f.cloud.SetInsufficientCapacity(awsfake.Capacity{Spot: true}, false)
	f.clock.Advance(time.Minute)
	if s := snap(t, c); len(s.Instances) != 0 {
		t.Fatalf("instances %+v after capacity came back, want none", s.Instances)
	}
}

// TestASGLaunchFailureScenario: "an ASG launch failure". The cheap spot pool has no
// capacity; the controller (hashike's policy over the adapter over the fake) launches
// there first, sees the failure at its next decision, launches in the on-demand pool
// instead, and every waiting task runs.
func TestASGLaunchFailureScenario(t *testing.T) {
	f := newFake(t)
	mixedGroup(f, "spot-asg", 0, 20, 0, 0, 0)
	f.cloud.AddAutoScalingGroup("od-asg", clusterName, 0, 10, 0, m5large.CPU, m5large.MemoryMiB, latency)
	f.cloud.SetInstanceType("od-asg", m5large.Name)
	f.cloud.SetInsufficientCapacity(awsfake.Capacity{Spot: true}, true)
	q := &queue{t: t, f: f, start: f.clock.Now()}
	for range 4 {
		q.todo = append(q.todo, clusterTask(0, 1024, 2048, 5*time.Minute))
	}
	// The policy prices a type at its on-demand price: the spot pool's m5.large is the
	// cheapest per task; the on-demand pool's type costs more.
	pricy := autoscale.InstanceType{Name: "m5d.large", CPU: 2048, MemoryMiB: 7680, OnDemandPrice: 0.113}
	f.cloud.SetInstanceType("od-asg", pricy.Name)
	c, err := ecsscale.New(f.ecs, f.as, ecsscale.Config{Cluster: clusterName, Types: append(slices.Clone(mixedTypes), pricy), Clock: f.clock, EC2: f.cloud.EC2(), Queue: q,
		Pools: []ecsscale.Pool{{Name: "spot", Group: "spot-asg", InstanceTypes: []string{m5large.Name}}, {Name: "od", Group: "od-asg", InstanceTypes: []string{pricy.Name}}}})
	if err != nil {
		t.Fatal(err)
	}
	var decisions []autoscale.Decision
	ctl := &autoscale.Controller{Cluster: c, Policy: autoscale.NewHashike(autoscale.HashikeConfig{NoHeadroom: true}), Clock: f.clock,
		Observe: func(d autoscale.Decision) { decisions = append(decisions, d) }}
	q.tick()
	q.advance(5 * time.Second) // past the batching window
	firstOD := -1
	for k := range 12 {
		if err := ctl.Step(context.Background()); err != nil {
			t.Fatalf("decision %d: %v", k, err)
		}
		for _, a := range decisions[k].Actions {
			if a.Launch != nil && a.Launch.Pool == "od" && firstOD < 0 {
				firstOD = k
				if !strings.Contains(a.Reason, "skipping spot after failed launches") {
					t.Errorf("reason %q does not name the skipped pool", a.Reason)
				}
			}
		}
		q.advance(10 * time.Second)
	}
	if firstOD < 0 || firstOD > 2 {
		t.Fatalf("first launch in the on-demand pool at decision %d, want within 2 decisions: %+v", firstOD, decisions[:3])
	}
	if len(decisions[0].Actions) == 0 || decisions[0].Actions[0].Launch == nil || decisions[0].Actions[0].Launch.Pool != "spot" {
		t.Errorf("first decision %+v: want a launch in the cheap spot pool", decisions[0].Actions)
	}
	q.mu.Lock()
	waiting, running := len(q.waiting), len(q.running)
	q.mu.Unlock()
	if waiting != 0 || running != 4 {
		t.Fatalf("%d waiting, %d running; want every task running", waiting, running)
	}
	if d := groupDesired(t, f, "spot-asg"); d != 0 {
		t.Errorf("spot-asg desired %d, want its unfulfilled capacity cancelled", d)
	}
}

// TestPlainGroupOutOfCapacity: a group without a mixed instances policy whose type has no
// capacity fails with EC2's message alone; the snapshot names the type (on-demand), and the
// unfulfilled capacity is cancelled.
func TestPlainGroupOutOfCapacity(t *testing.T) {
	f := newFake(t)
	c := group(t, f, 0, 3, 0, nil)
	f.cloud.SetInsufficientCapacity(awsfake.Capacity{Type: large.Name}, true)
	at := f.clock.Now()
	if err := c.Apply(context.Background(), autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Count: 1}}); err != nil {
		t.Fatal(err)
	}
	s := snap(t, c)
	want := []autoscale.LaunchError{{At: at, Pool: "jobs", Type: large.Name, Code: autoscale.LaunchErrorInsufficientCapacity}}
	if !reflect.DeepEqual(s.LaunchErrors, want) || desired(t, f) != 0 {
		t.Fatalf("launch errors %+v, desired %d; want %+v and 0", s.LaunchErrors, desired(t, f), want)
	}
}
