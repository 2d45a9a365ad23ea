// Package clustertest is the conformance suite of autoscale.Cluster: what any cluster a
// Controller drives must do, whether the simulator's (package sim runs it) or a live
// adapter's over ECS and Auto Scaling. Each test asks for a fresh cluster of one pool of one
// instance type, with tasks submitted to hashike's queue at given times, and drives it with
// Apply and the time its harness lets pass.
package clustertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// Task is a task submitted to the cluster's queue At (from the start) that runs for Duration
// once placed.
type Task struct {
	At        time.Duration
	CPU       int
	MemoryMiB int
	Duration  time.Duration
}

// Setup is the cluster a test asks for: one pool of Type (Pool.InstanceTypes is
// {Type.Name}), Initial instances of it active at the start, and the tasks submitted to it.
// No launch fails and no instance is interrupted.
type Setup struct {
	Type    autoscale.InstanceType
	Pool    autoscale.Pool
	Initial int
	Tasks   []Task
}

// Harness is a Cluster under test and the means to let its time pass.
type Harness struct {
	autoscale.Cluster
	// Advance lets d of the cluster's time pass: tasks are submitted, placed and end,
	// launches register (virtual time in the simulator; a live harness waits).
	Advance func(d time.Duration)
	// LaunchLatency bounds the time from a Launch to its instances being active.
	LaunchLatency time.Duration
}

// New makes a fresh cluster for one test.
type New func(t *testing.T, s Setup) Harness

// The instance type and pool the tests use: 2 vCPU, 4 GiB.
var (
	smallType = autoscale.InstanceType{Name: "c6i.large", CPU: 2048, MemoryMiB: 4096, OnDemandPrice: 0.085, SpotPrice: 0.034}
)

func setup(min, max, initial int, tasks ...Task) Setup {
	return Setup{
		Type:    smallType,
		Pool:    autoscale.Pool{Name: "conformance", InstanceTypes: []string{smallType.Name}, Min: min, Max: max, OnDemandPercentAboveBase: 100},
		Initial: initial,
		Tasks:   tasks,
	}
}

// Run runs the suite, each test on a cluster newCluster makes.
func Run(t *testing.T, newCluster New) {
	for _, c := range []struct {
		name string
		test func(t *testing.T, newCluster New)
	}{
		{"LaunchRegistersAfterLatency", testLaunchRegisters},
		{"LaunchAboveMaxIsRefused", testLaunchAboveMax},
		{"UnknownNamesAreRefused", testUnknownNames},
		{"DrainNeverStopsTasks", testDrainWaitsForTasks},
		{"DrainOrTerminateIdle", testDrainOrTerminateIdle},
		{"MinIsKept", testMinIsKept},
		{"PendingTasksAndResourceReasons", testPending},
		{"SnapshotIsACopy", testSnapshotIsACopy},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, newCluster) })
	}
}

func snapshot(t *testing.T, h Harness) *autoscale.Snapshot {
	t.Helper()
	s, err := h.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return s
}

func apply(t *testing.T, h Harness, a autoscale.Action) error {
	t.Helper()
	return h.Apply(context.Background(), a)
}

// byState counts the pool's instances by state.
func byState(s *autoscale.Snapshot) map[autoscale.InstanceState]int {
	n := map[autoscale.InstanceState]int{}
	for _, in := range s.Instances {
		n[in.State]++
	}
	return n
}

func launch(n int) autoscale.Action {
	return autoscale.Action{Launch: &autoscale.Launch{Pool: "conformance", Count: n}}
}

// testLaunchRegisters: a launch shows at once as launching instances of the pool's type and
// registers within the launch latency with the type's resources, none reserved.
func testLaunchRegisters(t *testing.T, newCluster New) {
	h := newCluster(t, setup(0, 3, 0))
	before := snapshot(t, h)
	if len(before.Instances) != 0 {
		t.Fatalf("a new empty pool has %d instances", len(before.Instances))
	}
	if err := apply(t, h, launch(2)); err != nil {
		t.Fatalf("Launch 2: %v", err)
	}
	s := snapshot(t, h)
	if n := byState(s); n[autoscale.InstanceLaunching] != 2 || len(s.Instances) != 2 {
		t.Fatalf("after Launch 2: %v", n)
	}
	for _, in := range s.Instances {
		if in.Pool != "conformance" || in.Type != smallType.Name || in.LaunchedAt.IsZero() || !in.ActiveAt.IsZero() {
			t.Errorf("launching instance %+v", in)
		}
	}
	h.Advance(h.LaunchLatency)
	s = snapshot(t, h)
	if s.Now.Sub(before.Now) < h.LaunchLatency {
		t.Errorf("Now went from %v to %v across %v", before.Now, s.Now, h.LaunchLatency)
	}
	if n := byState(s); n[autoscale.InstanceActive] != 2 || len(s.Instances) != 2 {
		t.Fatalf("after the launch latency: %v", n)
	}
	for _, in := range s.Instances {
		if in.ActiveAt.IsZero() || in.ActiveAt.Before(in.LaunchedAt) || in.CPU != smallType.CPU || in.MemoryMiB != smallType.MemoryMiB || in.CPUUsed != 0 || in.Tasks != 0 {
			t.Errorf("registered instance %+v", in)
		}
	}
}

// testLaunchAboveMax: a launch beyond the pool's Max launches what fits under it and says
// so (ErrAtMax); at Max nothing more is launched.
func testLaunchAboveMax(t *testing.T, newCluster New) {
	h := newCluster(t, setup(0, 2, 0))
	if err := apply(t, h, launch(3)); !errors.Is(err, autoscale.ErrAtMax) {
		t.Fatalf("Launch 3 under Max 2: %v, want ErrAtMax", err)
	}
	if n := len(snapshot(t, h).Instances); n != 2 {
		t.Fatalf("%d instances, want Max 2", n)
	}
	if err := apply(t, h, launch(1)); !errors.Is(err, autoscale.ErrAtMax) {
		t.Fatalf("Launch 1 at Max: %v, want ErrAtMax", err)
	}
	h.Advance(h.LaunchLatency)
	if n := byState(snapshot(t, h)); n[autoscale.InstanceActive] != 2 || len(n) != 1 {
		t.Fatalf("instances %v, want 2 active", n)
	}
}

// testUnknownNames: actions naming a pool, type or instance the cluster lacks are refused
// (ErrUnknown) and change nothing.
func testUnknownNames(t *testing.T, newCluster New) {
	h := newCluster(t, setup(0, 3, 1))
	for _, a := range []autoscale.Action{
		{Launch: &autoscale.Launch{Pool: "no-such-pool", Count: 1}},
		{Launch: &autoscale.Launch{Pool: "conformance", Type: "no.such-type", Count: 1}},
		{Drain: &autoscale.Drain{Instance: "i-nosuchinstance"}},
		{Terminate: &autoscale.Terminate{Instance: "i-nosuchinstance"}},
	} {
		if err := apply(t, h, a); !errors.Is(err, autoscale.ErrUnknown) {
			t.Errorf("%s: %v, want ErrUnknown", a, err)
		}
	}
	h.Advance(h.LaunchLatency)
	if n := byState(snapshot(t, h)); n[autoscale.InstanceActive] != 1 || len(n) != 1 {
		t.Fatalf("instances %v, want the 1 initial one", n)
	}
}

// testDrainWaitsForTasks: a drained instance takes no new task and ends only once its
// tasks have run to completion; draining it again changes nothing.
func testDrainWaitsForTasks(t *testing.T, newCluster New) {
	h := newCluster(t, setup(0, 3, 1,
		Task{At: 0, CPU: 512, MemoryMiB: 512, Duration: 10 * time.Minute},
		Task{At: 2 * time.Minute, CPU: 512, MemoryMiB: 512, Duration: time.Minute}))
	h.Advance(time.Minute)
	s := snapshot(t, h)
	if s.Running != 1 || len(s.Instances) != 1 || s.Instances[0].Tasks != 1 {
		t.Fatalf("running %d on %+v, want the task running", s.Running, s.Instances)
	}
	id := s.Instances[0].ID
	for range 2 {
		if err := apply(t, h, autoscale.Action{Drain: &autoscale.Drain{Instance: id}}); err != nil {
			t.Fatalf("Drain %s: %v", id, err)
		}
	}
	h.Advance(5 * time.Minute)
	s = snapshot(t, h)
	if len(s.Instances) != 1 || s.Instances[0].State != autoscale.InstanceDraining || s.Running != 1 {
		t.Fatalf("while draining: running %d on %+v, want the first task still running on the draining instance", s.Running, s.Instances)
	}
	if len(s.Pending) != 1 {
		t.Fatalf("pending %+v, want the second task waiting (no task goes on a draining instance)", s.Pending)
	}
	h.Advance(10 * time.Minute)
	s = snapshot(t, h)
	if len(s.Instances) != 0 || s.Running != 0 || len(s.Pending) != 1 {
		t.Fatalf("after the task's end: instances %+v, running %d, pending %d; want the instance gone, its task completed (not requeued), the second still waiting",
			s.Instances, s.Running, len(s.Pending))
	}
}

// testDrainOrTerminateIdle: draining or terminating an idle instance ends it; it is then
// unknown.
func testDrainOrTerminateIdle(t *testing.T, newCluster New) {
	h := newCluster(t, setup(0, 3, 2))
	s := snapshot(t, h)
	if len(s.Instances) != 2 {
		t.Fatalf("%d instances, want 2", len(s.Instances))
	}
	a, b := s.Instances[0].ID, s.Instances[1].ID
	if err := apply(t, h, autoscale.Action{Drain: &autoscale.Drain{Instance: a}}); err != nil {
		t.Fatalf("Drain %s: %v", a, err)
	}
	if err := apply(t, h, autoscale.Action{Terminate: &autoscale.Terminate{Instance: b}}); err != nil {
		t.Fatalf("Terminate %s: %v", b, err)
	}
	h.Advance(h.LaunchLatency)
	if s := snapshot(t, h); len(s.Instances) != 0 {
		t.Fatalf("instances %+v, want none", s.Instances)
	}
	if err := apply(t, h, autoscale.Action{Terminate: &autoscale.Terminate{Instance: b}}); !errors.Is(err, autoscale.ErrUnknown) {
		t.Errorf("Terminate %s again: %v, want ErrUnknown", b, err)
	}
}

// testMinIsKept: the group replaces an instance that ends below its Min.
func testMinIsKept(t *testing.T, newCluster New) {
	h := newCluster(t, setup(1, 3, 1))
	s := snapshot(t, h)
	if len(s.Instances) != 1 {
		t.Fatalf("%d instances, want 1", len(s.Instances))
	}
	old := s.Instances[0].ID
	if err := apply(t, h, autoscale.Action{Terminate: &autoscale.Terminate{Instance: old}}); err != nil {
		t.Fatal(err)
	}
	h.Advance(h.LaunchLatency)
	s = snapshot(t, h)
	if n := byState(s); n[autoscale.InstanceActive] != 1 || len(s.Instances) != 1 || s.Instances[0].ID == old {
		t.Fatalf("instances %+v, want a new active one (Min 1)", s.Instances)
	}
}

// testPending: tasks that fit no instance wait, oldest first, with the reason of their
// last placement failure; capacity launched for them runs them.
func testPending(t *testing.T, newCluster New) {
	h := newCluster(t, setup(0, 3, 1,
		Task{At: 0, CPU: 1024, MemoryMiB: 3584, Duration: time.Hour},
		Task{At: time.Second, CPU: 512, MemoryMiB: 1024, Duration: time.Hour},     // CPU left, not memory
		Task{At: 2 * time.Second, CPU: 2048, MemoryMiB: 256, Duration: time.Hour}, // not the CPU
	))
	h.Advance(10 * time.Second)
	s := snapshot(t, h)
	if s.Running != 1 || len(s.Pending) != 2 {
		t.Fatalf("running %d, pending %+v; want 1 running, 2 waiting", s.Running, s.Pending)
	}
	in := s.Instances[0]
	if in.CPUUsed != 1024 || in.MemoryUsed != 3584 || in.Tasks != 1 {
		t.Errorf("instance %+v, want the first task's reservation", in)
	}
	for i, want := range []struct {
		cpu, mem int
		reason   string
	}{{512, 1024, autoscale.ReasonResourceMemory}, {2048, 256, autoscale.ReasonResourceCPU}} {
		p := s.Pending[i]
		if p.CPU != want.cpu || p.MemoryMiB != want.mem || p.LastFailure != want.reason || p.ID == "" || p.SubmittedAt.IsZero() {
			t.Errorf("pending[%d] %+v, want %d x %d failing with %s", i, p, want.cpu, want.mem, want.reason)
		}
	}
	if err := apply(t, h, launch(2)); err != nil {
		t.Fatal(err)
	}
	h.Advance(h.LaunchLatency + time.Minute)
	s = snapshot(t, h)
	if s.Running != 3 || len(s.Pending) != 0 {
		t.Fatalf("running %d, pending %+v; want all 3 running on the new capacity", s.Running, s.Pending)
	}
}

// testSnapshotIsACopy: changing a Snapshot changes nothing in the cluster.
func testSnapshotIsACopy(t *testing.T, newCluster New) {
	h := newCluster(t, setup(0, 3, 1))
	s := snapshot(t, h)
	s.Instances[0].State = autoscale.InstanceDraining
	s.Instances[0].CPUUsed = 1
	s.Pools[0].Max = 0
	delete(s.Types, smallType.Name)
	again := snapshot(t, h)
	if in := again.Instances[0]; in.State != autoscale.InstanceActive || in.CPUUsed != 0 {
		t.Errorf("instance %+v after changing an earlier snapshot", in)
	}
	if again.Pools[0].Max != 3 || again.Types[smallType.Name].CPU != smallType.CPU {
		t.Errorf("pools %+v, types %+v after changing an earlier snapshot", again.Pools, again.Types)
	}
	if err := apply(t, h, launch(1)); err != nil {
		t.Errorf("Launch after changing a snapshot's pools: %v", err)
	}
}
