package autoscale

import (
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
			acts, _ := checkDeterministic(t, p, s, nil)
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
