package autoscale

import (
	"reflect"
	"testing"
	"time"
)

func TestReactiveScaleOutOnResourceFailure(t *testing.T) {
	p := NewReactive(ReactiveConfig{})
	pools := []Pool{pool(10)}
	insts := []Instance{active("i-1", 1, 1024, 1024, t0.Add(-time.Hour))}
	failed := task("a", 2048, 1024, t0, false)
	failed.LastFailure = "RESOURCE:CPU"
	mem := task("b", 1024, 7000, t0, false)
	mem.LastFailure = "RESOURCE:MEMORY"
	other := task("c", 512, 512, t0, false)
	acts, st := checkFirst(t, p, snap(t0, pools, insts, failed, mem, other))
	if got := launched(acts); got != 2 {
		t.Fatalf("launched %d, want 2 for the two failed tasks: %+v", got, acts)
	}
	// Launching instances cover the failures: no more.
	with := append(insts, launching("i-2", t0), launching("i-3", t0))
	acts, _ = step(p, snap(t0.Add(time.Minute), pools, with, failed, mem), st)
	if len(acts) != 0 {
		t.Fatalf("relaunched: %+v", acts)
	}
	// No failure, no threshold breach: nothing.
	acts, _ = step(p, snap(t0.Add(time.Minute), pools, insts, other), st)
	if len(acts) != 0 {
		t.Fatalf("scaled without cause: %+v", acts)
	}
}

func TestReactiveScaleOutOnReservationThreshold(t *testing.T) {
	p := NewReactive(ReactiveConfig{})
	hot := []Instance{active("i-1", 2, 1800, 1024, t0), active("i-2", 2, 1700, 1024, t0)} // 85% CPU
	acts, _ := first(p, snap(t0, []Pool{pool(10)}, hot))
	if got := launched(acts); got != 1 {
		t.Fatalf("launched %d, want 1: %+v", got, acts)
	}
	acts, _ = first(p, snap(t0, []Pool{pool(10)}, append(hot, launching("i-3", t0))))
	if len(acts) != 0 {
		t.Fatalf("launched while launching: %+v", acts)
	}
}

// TestReactiveHourlyScaleIn pins n = the largest n with R < (N-n) x 100 / N x P.
func TestReactiveHourlyScaleIn(t *testing.T) {
	old := t0.Add(-2 * time.Hour)
	// N = 10 instances of 2048 CPU, P = 70%.
	mk := func(busyCPU []int) []Instance {
		var ins []Instance
		for i, c := range busyCPU {
			n := 0
			if c > 0 {
				n = 1
			}
			ins = append(ins, active(string(rune('a'+i)), n, c, 0, old.Add(time.Duration(i)*time.Minute)))
		}
		return ins
	}
	for _, c := range []struct {
		name string
		cpu  []int
		want []string
	}{
		// R = 4 x 2048 / 20480 = 40%: n=4 needs 40 < 6x7 = 42 yes; n=5 needs 40 < 35 no.
		{"40%", []int{2048, 2048, 2048, 2048, 0, 0, 0, 0, 0, 0}, []string{"e", "f", "g", "h"}},
		// R = 60%: n=1 needs 60 < 63 yes; n=2: 60 < 56 no.
		{"60%", []int{2048, 2048, 2048, 2048, 2048, 2048, 0, 0, 0, 0}, []string{"g"}},
		// R = 70%: no n.
		{"70%", []int{2048, 2048, 2048, 2048, 2048, 2048, 2048, 0, 0, 0}, nil},
		// R = 10% but a single idle instance: at most the idle ones.
		{"few idle", []int{200, 200, 200, 200, 200, 200, 200, 200, 200, 0}, []string{"j"}},
	} {
		p := NewReactive(ReactiveConfig{})
		insts := mk(c.cpu)
		acts, st := first(p, snap(t0, []Pool{pool(20)}, insts))
		if len(acts) != 0 {
			t.Fatalf("%s: first decision acted: %+v", c.name, acts)
		}
		acts, st = step(p, snap(t0.Add(59*time.Minute), []Pool{pool(20)}, insts), st)
		if len(acts) != 0 {
			t.Fatalf("%s: scaled in before the hour: %+v", c.name, acts)
		}
		acts, st = checkDeterministic(t, p, snap(t0.Add(time.Hour), []Pool{pool(20)}, insts), st)
		if got := drained(acts); !reflect.DeepEqual(got, c.want) || len(terminated(acts)) != 0 {
			t.Errorf("%s: drained %v terminated %v, want drained %v", c.name, got, terminated(acts), c.want)
			continue
		}
		if len(c.want) == 0 {
			continue
		}
		// Next decision: the drained instances are empty and draining: terminate them.
		for i := range insts {
			for _, id := range c.want {
				if insts[i].ID == id {
					insts[i].State = InstanceDraining
				}
			}
		}
		acts, _ = step(p, snap(t0.Add(time.Hour+time.Minute), []Pool{pool(20)}, insts), st)
		if got := terminated(acts); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: then terminated %v, want %v", c.name, got, c.want)
		}
	}
}
