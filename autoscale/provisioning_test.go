package autoscale

import (
	"reflect"
	"testing"
	"time"
)

func TestProvisioningLaunchesAtFirstTick(t *testing.T) {
	p := NewProvisioning(ProvisioningConfig{})
	pools := []Pool{pool(10)}
	tasks := []Task{
		task("a", 1024, 1024, t0, true), task("b", 1024, 1024, t0, true), task("c", 1024, 1024, t0, true),
		task("q", 2048, 1024, t0, false), // in hashike's queue, not PROVISIONING: unseen
	}
	acts, st := checkFirst(t, p, snap(t0, pools, nil, tasks...))
	if got := launched(acts); got != 2 {
		t.Fatalf("launched %d, want 2 (three half-instance tasks): %+v", got, acts)
	}
	// Ten seconds later the two instances are launching: no second launch.
	insts := []Instance{launching("i-1", t0), launching("i-2", t0)}
	acts, st = step(p, snap(t0.Add(10*time.Second), pools, insts, tasks...), st)
	if len(acts) != 0 {
		t.Fatalf("double launch: %+v", acts)
	}
	// A new task the launching instances do not cover asks for one more.
	more := append(tasks, task("d", 2048, 1024, t0.Add(15*time.Second), true), task("e", 2048, 1024, t0.Add(15*time.Second), true))
	acts, _ = step(p, snap(t0.Add(20*time.Second), pools, insts, more...), st)
	if got := launched(acts); got != 2 {
		t.Fatalf("launched %d, want 2 (4 needed, 2 launching): %+v", got, acts)
	}
	// Pool Max bounds the step.
	acts, _ = step(p, snap(t0.Add(20*time.Second), []Pool{pool(3)}, insts, more...), st)
	if got := launched(acts); got != 1 {
		t.Fatalf("launched %d, want 1 under Max 3", got)
	}
}

func TestProvisioningScaleInIsECSManaged(t *testing.T) {
	p := NewProvisioning(ProvisioningConfig{})
	old := t0.Add(-time.Hour)
	insts := []Instance{active("busy", 1, 512, 512, old), active("e1", 0, 0, 0, old), active("e2", 0, 0, 0, old)}
	var st provisioningState
	var acts []Action
	// Decisions every 10 s; a datapoint a minute; the 15th low one scales in.
	for tick := 0; tick <= 14*6; tick++ {
		acts, st = step(p, snap(t0.Add(time.Duration(tick)*10*time.Second), []Pool{pool(10)}, insts), st)
		if tick < 14*6 && len(acts) != 0 {
			t.Fatalf("tick %d: %+v", tick, acts)
		}
	}
	if got := terminated(acts); !reflect.DeepEqual(got, []string{"e1"}) {
		t.Fatalf("terminated %v, want [e1] (N=3: at most 1 a minute)", got)
	}
}
