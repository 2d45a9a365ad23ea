package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/hashike/hashike/api"
)

func TestPrintCluster(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	a := &app{stdout: &out}
	err := a.printCluster(api.ClusterCapacity{Name: "jobs", Policy: "hashike", ObservedAt: &t0, Error: "throttled",
		Groups:    []api.CapacityGroupView{{Name: "spot", InstanceTypes: []string{"c7i.large", "c6i.large"}, Max: 10, Launching: 1, Active: 1}},
		Instances: []api.InstanceView{{ID: "i-1", Group: "spot", Type: "c7i.large", Spot: true, State: "active", Tasks: 2, CPU: 2048, CPUUsed: 1024, MemoryMiB: 3840, MemoryUsed: 2048}},
		Pending:   3, PendingCPU: 768, PendingMemoryMiB: 1536, OldestPendingAt: &t0, Running: 2,
		Decisions: []api.ScalingDecisionView{{At: t0, Actions: []api.ScalingActionView{
			{Action: "launch 1 c7i.large in spot", Reason: "packing: 3 tasks"},
			{Action: "drain i-0", Reason: "idle 10m", Error: "throttled"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `Cluster jobs (policy hashike), observed 2026-12-01T09:00:00Z
The last observation failed: throttled
Pending tasks: 3 (768 CPU units, 1536 MiB), the oldest since 2026-12-01T09:00:00Z; running: 2

GROUP  TYPES                MIN  MAX  LAUNCHING  ACTIVE  DRAINING
spot   c7i.large,c6i.large  0    10   1          1       0

INSTANCE  GROUP  TYPE              STATE   TASKS  CPU        MEMORY
i-1       spot   c7i.large (spot)  active  2      1024/2048  2048/3840

Recent decisions (newest first):
2026-12-01T09:00:00Z  launch 1 c7i.large in spot: packing: 3 tasks
2026-12-01T09:00:00Z  drain i-0: idle 10m (failed: throttled)
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
