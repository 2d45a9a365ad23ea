package autoscale

import (
	"reflect"
	"testing"
	"time"
)

func TestOracle(t *testing.T) {
	p := NewOracle(OracleConfig{LaunchLatency: time.Minute})
	pools := []Pool{pool(10)}
	future := []Task{
		task("soon", 2048, 1024, t0.Add(65*time.Second), false), // within latency + interval
		task("later", 2048, 1024, t0.Add(71*time.Second), false),
	}
	old := t0.Add(-time.Hour)
	insts := []Instance{active("busy", 1, 512, 512, old), active("idle", 0, 0, 0, old)}
	s := snap(t0, pools, insts)
	s.Future = future
	acts, _ := checkFirst(t, p, s)
	// "soon" would fit on the idle instance: it is kept, nothing launched.
	if len(acts) != 0 {
		t.Fatalf("%+v", acts)
	}
	s.Now = t0.Add(10 * time.Second)
	acts, _ = first(p, s)
	if l, _, term := kinds(acts); !reflect.DeepEqual(l, []string{"p/small x1"}) || term != nil {
		t.Fatalf("launch %v terminate %v", l, term)
	}
	if !reflect.DeepEqual(acts[0].Launch.For, [][]string{{"later"}}) {
		t.Errorf("For %+v", acts[0].Launch.For)
	}
	// Nothing to come: idle instances go at once, busy ones stay.
	s.Future = nil
	acts, _ = first(p, s)
	if got := terminated(acts); !reflect.DeepEqual(got, []string{"idle"}) || launched(acts) != 0 {
		t.Fatalf("%+v", acts)
	}
	// The task it launched for is not launched for again.
	s = snap(t0.Add(20*time.Second), pools, []Instance{insts[0], launching("l1", t0.Add(10*time.Second), "later")})
	s.Future = future[1:]
	if acts, _ = first(p, s); len(acts) != 0 {
		t.Fatalf("relaunched %+v", acts)
	}
}
