package server

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/autoscale"
)

// TestCapacityLog: a decision's snapshot becomes groups with their instances by state and
// the pending demand; decisions that acted or failed are kept, newest first, at most
// MaxScalingDecisions; a failed observation keeps the last view and says why.
func TestCapacityLog(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	snap := &autoscale.Snapshot{
		Pools: []autoscale.Pool{{Name: "spot", InstanceTypes: []string{"c7i.large"}, Max: 10}, {Name: "od", Min: 1, Max: 4}},
		Instances: []autoscale.Instance{
			{ID: "i-2", Pool: "spot", Type: "c7i.large", Spot: true, State: autoscale.InstanceActive, LaunchedAt: t0.Add(-time.Hour), ActiveAt: t0.Add(-59 * time.Minute), Tasks: 3},
			{ID: "i-1", Pool: "spot", Type: "c7i.large", Spot: true, State: autoscale.InstanceLaunching, LaunchedAt: t0.Add(-time.Minute)},
			{ID: "i-3", Pool: "od", Type: "m7i.large", State: autoscale.InstanceDraining, LaunchedAt: t0.Add(-2 * time.Hour), InterruptionAt: t0.Add(time.Minute)},
			{ID: "i-4", Pool: "gone", Type: "m7i.large", State: autoscale.InstanceActive, LaunchedAt: t0},
		},
		Pending: []autoscale.Task{{ID: "a", CPU: 512, MemoryMiB: 1024, SubmittedAt: t0.Add(-30 * time.Second)}, {ID: "b", CPU: 256, MemoryMiB: 512, SubmittedAt: t0.Add(-90 * time.Second)}},
		Running: 7,
	}
	var l capacityLog
	l.keep(autoscale.Decision{At: t0, Policy: "hashike", Snapshot: snap}) // nothing to do: no decision kept
	l.keep(autoscale.Decision{At: t0.Add(time.Second), Policy: "hashike", Snapshot: snap,
		Actions: []autoscale.Action{{Launch: &autoscale.Launch{Pool: "spot", Type: "c7i.large", Count: 2}, Reason: "2 tasks wait"}, {Drain: &autoscale.Drain{Instance: "i-3"}, Reason: "idle 10m"}},
		Errors:  []error{nil, errors.New("DescribeContainerInstances: throttled")}})
	v := *l.view
	if v.Pending != 2 || v.PendingCPU != 768 || v.PendingMemoryMiB != 1536 || !v.OldestPendingAt.Equal(t0.Add(-90*time.Second)) || v.Running != 7 {
		t.Errorf("pending %+v", v)
	}
	want := []api.CapacityGroupView{
		{Name: "spot", InstanceTypes: []string{"c7i.large"}, Max: 10, Launching: 1, Active: 1},
		{Name: "od", Min: 1, Max: 4, Draining: 1},
		{Name: "gone", Active: 1},
	}
	if fmt.Sprint(v.Groups) != fmt.Sprint(want) {
		t.Errorf("groups\n%+v\nwant\n%+v", v.Groups, want)
	}
	var order []string
	for _, in := range v.Instances {
		order = append(order, in.ID)
	}
	if fmt.Sprint(order) != "[i-4 i-3 i-2 i-1]" || v.Instances[1].InterruptionAt == nil || v.Instances[2].ActiveAt == nil || v.Instances[3].ActiveAt != nil {
		t.Errorf("instances %v %+v", order, v.Instances)
	}
	if len(l.decisions) != 1 || fmt.Sprint(l.decisions[0].Actions) != "[{launch 2 c7i.large in spot 2 tasks wait } {drain i-3 idle 10m DescribeContainerInstances: throttled}]" {
		t.Errorf("decisions %+v", l.decisions)
	}

	l.keep(autoscale.Decision{At: t0.Add(2 * time.Second), Policy: "hashike", Err: errors.New("describe auto scaling groups: AccessDenied")})
	if l.err == "" || l.view.ObservedAt.Compare(t0.Add(time.Second)) != 0 || l.decisions[0].Error == "" {
		t.Errorf("after a failed observation: err %q, view at %v, decisions %+v", l.err, l.view.ObservedAt, l.decisions)
	}
	for i := range 2 * api.MaxScalingDecisions {
		l.keep(autoscale.Decision{At: t0.Add(time.Duration(i+3) * time.Second), Policy: "hashike", Snapshot: snap,
			Actions: []autoscale.Action{{Terminate: &autoscale.Terminate{Instance: "i-4"}, Reason: "idle"}}})
	}
	if len(l.decisions) != api.MaxScalingDecisions || !l.decisions[0].At.After(l.decisions[1].At) || l.err != "" {
		t.Errorf("%d decisions kept, newest %v", len(l.decisions), l.decisions[0].At)
	}
}
