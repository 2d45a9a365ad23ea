package autoscale

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestECSManagedMetric(t *testing.T) {
	busy := active("i-1", 1, 1024, 1024, t0)
	empty := active("i-2", 0, 0, 0, t0)
	big := func(id string) Task { return task(id, 2048, 1024, t0, true) }
	for _, c := range []struct {
		name         string
		insts        []Instance
		pending      []Task
		metric, m, n int
	}{
		{"empty cluster", nil, nil, 100, 0, 0},
		{"from zero", nil, []Task{big("a")}, 200, 1, 0},
		{"half used", []Instance{busy, empty}, nil, 50, 1, 2},
		{"provisioning", []Instance{busy}, []Task{big("a"), big("b")}, 300, 3, 1},
		{"at least N+1", []Instance{busy, empty}, []Task{task("a", 256, 256, t0, true)}, 150, 3, 2},
		{"queued tasks unseen", []Instance{busy}, []Task{task("a", 2048, 1024, t0, false)}, 100, 1, 1},
	} {
		metric, m, n := ecsMetric(snap(t0, []Pool{pool(10)}, c.insts, c.pending...), pool(10), 1)
		if metric != c.metric || m != c.m || n != c.n {
			t.Errorf("%s: metric %d M %d N %d, want %d %d %d", c.name, metric, m, n, c.metric, c.m, c.n)
		}
	}
}

func TestECSManagedScaleOutFromZeroAsksForTwo(t *testing.T) {
	p := NewECSManaged(ECSManagedConfig{})
	acts, _ := checkFirst(t, p, snap(t0, []Pool{pool(10)}, nil, task("a", 512, 512, t0, true)))
	if got := launched(acts); got != 2 {
		t.Fatalf("launched %d, want 2: %+v", got, acts)
	}
	if p.Interval() != time.Minute {
		t.Errorf("interval %v", p.Interval())
	}
}

func TestECSManagedWarmupBlocksNextStep(t *testing.T) {
	p := NewECSManaged(ECSManagedConfig{})
	pools := []Pool{pool(20)}
	var tasks []Task
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		tasks = append(tasks, task(id, 2048, 1024, t0, true))
	}
	acts, st := first(p, snap(t0, pools, nil, tasks...))
	if launched(acts) != 2 {
		t.Fatalf("first step %+v", acts)
	}
	// The two instances register after 2 minutes and take a task each; three still wait.
	run := func(id string) Instance {
		in := active(id, 1, 2048, 1024, t0.Add(2*time.Minute))
		in.LaunchedAt = t0
		return in
	}
	for m := 1; m < 5; m++ {
		insts := []Instance{launching("i-1", t0), launching("i-2", t0)}
		if m >= 2 {
			insts = []Instance{run("i-1"), run("i-2")}
		}
		acts, st = step(p, snap(t0.Add(time.Duration(m)*time.Minute), pools, insts, tasks[2:]...), st)
		if len(acts) != 0 {
			t.Fatalf("minute %d, in warm-up: %+v", m, acts)
		}
	}
	acts, _ = step(p, snap(t0.Add(5*time.Minute), pools, []Instance{run("i-1"), run("i-2")}, tasks[2:]...), st)
	if got := launched(acts); got != 3 {
		t.Fatalf("after warm-up launched %d, want 3 (M=5, N=2): %+v", got, acts)
	}
}

func TestECSManagedStepClampAndMax(t *testing.T) {
	var tasks []Task
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		tasks = append(tasks, task(id, 2048, 1024, t0, true))
	}
	insts := []Instance{active("i-1", 1, 2048, 1024, t0.Add(-time.Hour))}
	for _, c := range []struct {
		name string
		cfg  ECSManagedConfig
		max  int
		want int
	}{
		{"unclamped", ECSManagedConfig{}, 20, 6},
		{"max step", ECSManagedConfig{MaximumScalingStepSize: 2}, 20, 2},
		{"pool max", ECSManagedConfig{}, 4, 3},
		{"min step", ECSManagedConfig{MinimumScalingStepSize: 8}, 20, 8},
		{"target 50", ECSManagedConfig{TargetCapacity: 50}, 20, 13},
	} {
		acts, _ := first(NewECSManaged(c.cfg), snap(t0, []Pool{pool(c.max)}, insts, tasks...))
		if got := launched(acts); got != c.want {
			t.Errorf("%s: launched %d, want %d", c.name, got, c.want)
		}
	}
}

func TestECSManagedScaleIn(t *testing.T) {
	p := NewECSManaged(ECSManagedConfig{})
	old := t0.Add(-time.Hour)
	insts := []Instance{
		active("busy", 1, 512, 512, old),
		active("e1", 0, 0, 0, old.Add(3*time.Minute)),
		active("e2", 0, 0, 0, old.Add(1*time.Minute)),
		active("e3", 0, 0, 0, old.Add(2*time.Minute)),
	}
	pools := []Pool{pool(10)}
	var st ecsState
	var acts []Action
	for m := range 14 {
		acts, st = step(p, snap(t0.Add(time.Duration(m)*time.Minute), pools, insts), st)
		if len(acts) != 0 {
			t.Fatalf("datapoint %d: scaled in early: %+v", m+1, acts)
		}
	}
	// A decision less than a minute later is no datapoint.
	if acts, st2 := step(p, snap(t0.Add(13*time.Minute+30*time.Second), pools, insts), st); len(acts) != 0 || !reflect.DeepEqual(st, st2) {
		t.Fatalf("not a datapoint, yet %+v", acts)
	}
	acts, st = checkDeterministic(t, p, snap(t0.Add(14*time.Minute), pools, insts), st)
	// N=4, M=1: 3 could go, 50% per minute lets 2; idle longest first.
	if got := terminated(acts); !reflect.DeepEqual(got, []string{"e2", "e3"}) {
		t.Fatalf("15th datapoint terminated %v, want [e2 e3]", got)
	}
	acts, _ = step(p, snap(t0.Add(15*time.Minute), pools, []Instance{insts[0], insts[1]}), st)
	if got := terminated(acts); !reflect.DeepEqual(got, []string{"e1"}) {
		t.Fatalf("next minute terminated %v, want [e1]", got)
	}
	// Only empty instances go, never below Min.
	minPools := []Pool{{Name: "p", InstanceTypes: []string{"small"}, Min: 3, Max: 10}}
	st = ecsState{Alarm: alarm{Last: t0, Low: 20}}
	acts, _ = step(p, snap(t0.Add(time.Minute), minPools, insts), st)
	if got := terminated(acts); len(got) != 1 {
		t.Fatalf("with Min 3 of 4 terminated %v", got)
	}
	all := []Instance{active("b1", 1, 512, 512, old), active("b2", 2, 512, 512, old)}
	acts, _ = step(p, snap(t0.Add(time.Minute), pools, all), st)
	if len(acts) != 0 {
		t.Fatalf("busy instances terminated: %+v", acts)
	}
}

func TestECSManagedScaleInResetByHighDatapoint(t *testing.T) {
	p := NewECSManaged(ECSManagedConfig{})
	insts := []Instance{active("busy", 1, 512, 512, t0), active("e1", 0, 0, 0, t0)}
	full := []Instance{active("busy", 1, 512, 512, t0), active("b2", 1, 512, 512, t0)}
	var st ecsState
	for m := range 30 {
		in := insts
		if m == 10 {
			in = full // at target: the streak of low datapoints ends
		}
		var acts []Action
		acts, st = step(p, snap(t0.Add(time.Duration(m)*time.Minute), []Pool{pool(10)}, in), st)
		want := m == 25 // datapoints 11..25 are the 15 low ones
		if (len(terminated(acts)) > 0) != want {
			t.Fatalf("minute %d: %+v", m, acts)
		}
		if want {
			break
		}
	}
}

// TestECSManagedSpanningGroupStepsByMinimum: AWS's ManagedScaling reference: with a group of
// more than one instance type or Availability Zone, ECS "will scale up by the exact minimum
// scaling step size value and will ignore both the maximum scaling step size as well as the
// capacity demand". A burst of six tasks needing six instances gets one at a time there.
func TestECSManagedSpanningGroupStepsByMinimum(t *testing.T) {
	var tasks []Task
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		tasks = append(tasks, task(id, 2048, 1024, t0, true))
	}
	insts := []Instance{active("i-1", 1, 2048, 1024, t0.Add(-time.Hour))}
	one := Pool{Name: "p", InstanceTypes: []string{"small"}, Max: 20}
	types := Pool{Name: "p", InstanceTypes: []string{"small", "large"}, Max: 20}
	zones := Pool{Name: "p", InstanceTypes: []string{"small"}, AvailabilityZones: []string{"az-a", "az-b", "az-c"}, Max: 20}
	oneZone := Pool{Name: "p", InstanceTypes: []string{"small"}, AvailabilityZones: []string{"az-a"}, Max: 20}
	for _, c := range []struct {
		name string
		pl   Pool
		cfg  ECSManagedConfig
		want int
	}{
		{"one type, one zone: the demand", one, ECSManagedConfig{}, 6},
		{"one type, zone listed", oneZone, ECSManagedConfig{}, 6},
		{"two types: the minimum step", types, ECSManagedConfig{}, 1},
		{"three zones: the minimum step", zones, ECSManagedConfig{}, 1},
		{"minimum 3 above the maximum 2", zones, ECSManagedConfig{MinimumScalingStepSize: 3, MaximumScalingStepSize: 2}, 3},
		{"minimum 10 above the demand", types, ECSManagedConfig{MinimumScalingStepSize: 10}, 10},
		{"the pool's max still bounds", Pool{Name: "p", InstanceTypes: []string{"small", "large"}, Max: 3}, ECSManagedConfig{MinimumScalingStepSize: 10}, 2},
	} {
		acts, _ := checkFirst(t, NewECSManaged(c.cfg), snap(t0, []Pool{c.pl}, insts, tasks...))
		if got := launched(acts); got != c.want {
			t.Errorf("%s: launched %d, want %d: %+v", c.name, got, c.want, acts)
		}
	}
	// Each step is one instance and each waits for the last one's warm-up: after 10 minutes
	// of the burst (warm-up 300 s) a spanning group has asked for 2 instances, a
	// single-type one for all 6.
	for _, c := range []struct {
		pl   Pool
		want int
	}{{one, 6}, {types, 2}} {
		p := NewECSManaged(ECSManagedConfig{})
		var st ecsState
		var insts []Instance
		total := 0
		for m := range 10 {
			now := t0.Add(time.Duration(m) * time.Minute)
			var acts []Action
			acts, st = step(p, snap(now, []Pool{c.pl}, insts, tasks...), st)
			for _, a := range acts {
				for range a.Launch.Count {
					total++
					insts = append(insts, launching(fmt.Sprintf("i-%d", total), now))
				}
			}
		}
		if total != c.want {
			t.Errorf("%v: %d instances in 10 minutes, want %d", c.pl.InstanceTypes, total, c.want)
		}
	}
}

// TestECSManagedTargetCapacityKeepsSpare: targetCapacity 90 keeps 10% of the instances
// empty ("if you want the capacity provider to maintain 10% spare capacity ... use a
// targetCapacity of 90"), and never scales that spare in; at 100 the empty instance goes
// after 15 datapoints.
func TestECSManagedTargetCapacityKeepsSpare(t *testing.T) {
	old := t0.Add(-time.Hour)
	var busy []Instance
	for i := range 9 {
		busy = append(busy, active(fmt.Sprintf("b%d", i), 1, 1024, 1024, old))
	}
	pools := []Pool{pool(20)}
	p := NewECSManaged(ECSManagedConfig{TargetCapacity: 90})
	acts, st := checkFirst(t, p, snap(t0, pools, busy))
	if got := launched(acts); got != 1 {
		t.Fatalf("9 busy instances at target 90: launched %d, want 1 (ceil(9 x 100 / 90) = 10)", got)
	}
	withSpare := append(slices.Clone(busy), active("spare", 0, 0, 0, old))
	for m := 1; m <= 30; m++ {
		acts, st = step(p, snap(t0.Add(time.Duration(m)*time.Minute), pools, withSpare), st)
		if len(acts) != 0 {
			t.Fatalf("minute %d at 90%% with one spare of 10: %+v", m, acts)
		}
	}
	p = NewECSManaged(ECSManagedConfig{})
	st = ecsState{}
	for m := range 15 {
		acts, st = step(p, snap(t0.Add(time.Duration(m)*time.Minute), pools, withSpare), st)
		if want := m == 14; (len(terminated(acts)) == 1) != want {
			t.Fatalf("target 100, datapoint %d: %+v", m+1, acts)
		}
	}
}

// TestECSManagedScaleOutWaitsForTheDatapoint: the alarm sees one datapoint a minute, so a
// burst arriving just after one waits for the next, however often the policy is asked.
func TestECSManagedScaleOutWaitsForTheDatapoint(t *testing.T) {
	p := NewECSManaged(ECSManagedConfig{})
	pools := []Pool{pool(10)}
	insts := []Instance{active("i-1", 1, 2048, 1024, t0.Add(-time.Hour))}
	acts, st := checkFirst(t, p, snap(t0, pools, insts))
	if len(acts) != 0 {
		t.Fatalf("nothing waits, yet %+v", acts)
	}
	burst := []Task{task("a", 2048, 1024, t0.Add(5*time.Second), true)}
	for s := 10; s < 60; s += 10 {
		if acts, st = step(p, snap(t0.Add(time.Duration(s)*time.Second), pools, insts, burst...), st); len(acts) != 0 {
			t.Fatalf("%d s after the datapoint: %+v", s, acts)
		}
	}
	if acts, _ = step(p, snap(t0.Add(time.Minute), pools, insts, burst...), st); launched(acts) != 1 {
		t.Fatalf("at the next datapoint launched %d, want 1: %+v", launched(acts), acts)
	}
}
