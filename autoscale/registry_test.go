package autoscale

import (
	"reflect"
	"testing"
	"time"
)

func TestByName(t *testing.T) {
	for _, n := range Names() {
		p, err := ByName(n)
		if err != nil || p.Name() != n || p.Interval() <= 0 {
			t.Errorf("%s: %v %v", n, p, err)
		}
	}
	if _, err := ByName("karpenter"); err == nil {
		t.Error("unknown name accepted")
	}
}

// TestPoliciesOnEdgeSnapshots runs every policy on snapshots with no pool, no instance and
// an unknown instance type: no panic, no launch beyond what a pool allows, deterministic.
func TestPoliciesOnEdgeSnapshots(t *testing.T) {
	prov := task("a", 512, 512, t0.Add(-time.Minute), true)
	for _, s := range []*Snapshot{
		{Now: t0},
		{Now: t0, Pending: []Task{prov}},
		snap(t0, []Pool{{Name: "p", InstanceTypes: []string{"unknown"}, Max: 1}}, nil, prov),
		snap(t0, []Pool{pool(0)}, nil, prov),
	} {
		for _, n := range Names() {
			p, _ := ByName(n)
			twin, _ := ByName(n)
			acts := p.Decide(s, s.Now)
			if again := twin.Decide(s, s.Now); !reflect.DeepEqual(acts, again) {
				t.Fatalf("%s: not deterministic:\n%+v\n%+v", n, acts, again)
			}
			max := 0
			for _, pl := range s.Pools {
				max += pl.Max
			}
			if got := launched(acts); got > max {
				t.Errorf("%s: launched %d over Max %d", n, got, max)
			}
		}
	}
}

// TestPoliciesKeepStateUntilReset: a policy remembers its decisions (ecs-managed's alarm
// takes one datapoint a minute, so a second decision ten seconds later asks for nothing),
// and Reset makes the next decision a first one, as a new policy's.
func TestPoliciesKeepStateUntilReset(t *testing.T) {
	var tasks []Task
	for _, id := range []string{"a", "b", "c"} {
		tasks = append(tasks, task(id, 2048, 1024, t0.Add(-time.Minute), true))
	}
	s1 := snap(t0, []Pool{pool(10)}, nil, tasks...)
	s2 := snap(t0.Add(10*time.Second), []Pool{pool(10)}, nil, tasks...)
	remembered := 0
	for _, n := range Names() {
		fresh, _ := ByName(n)
		want := fresh.Decide(s2, s2.Now)
		p, _ := ByName(n)
		p.Decide(s1, s1.Now)
		if again := p.Decide(s2, s2.Now); !reflect.DeepEqual(again, want) {
			remembered++
		}
		p.Decide(s1, s1.Now)
		p.Reset()
		if got := p.Decide(s2, s2.Now); !reflect.DeepEqual(got, want) {
			t.Errorf("%s after Reset: %+v, want a new policy's %+v", n, got, want)
		}
	}
	if remembered == 0 {
		t.Error("no policy's decision depended on its previous one")
	}
}
