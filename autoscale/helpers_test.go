package autoscale

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) // a Monday

// testTypes: two sizes of general-purpose instance and an overpriced twin of the small one.
var testTypes = map[string]InstanceType{
	"small": {Name: "small", CPU: 2048, MemoryMiB: 7680, OnDemandPrice: 0.096, SpotPrice: 0.035},
	"large": {Name: "large", CPU: 8192, MemoryMiB: 30720, OnDemandPrice: 0.384, SpotPrice: 0.14},
	"pricy": {Name: "pricy", CPU: 2048, MemoryMiB: 7680, OnDemandPrice: 0.5, SpotPrice: 0.2},
}

func pool(max int) Pool {
	return Pool{Name: "p", InstanceTypes: []string{"small"}, Max: max}
}

func snap(now time.Time, pools []Pool, insts []Instance, pending ...Task) *Snapshot {
	return &Snapshot{Now: now, Types: testTypes, Pools: pools, Instances: insts, Pending: pending}
}

// active is an active small instance running tasks reserving cpu and mem.
func active(id string, tasks, cpu, mem int, since time.Time) Instance {
	in := Instance{ID: id, Pool: "p", Type: "small", State: InstanceActive, LaunchedAt: since.Add(-time.Minute),
		ActiveAt: since, CPU: 2048, MemoryMiB: 7680, CPUUsed: cpu, MemoryUsed: mem, Tasks: tasks}
	return in
}

func launching(id string, at time.Time, forIDs ...string) Instance {
	return Instance{ID: id, Pool: "p", Type: "small", State: InstanceLaunching, LaunchedAt: at,
		CPU: 2048, MemoryMiB: 7680, For: forIDs}
}

func task(id string, cpu, mem int, at time.Time, prov bool) Task {
	return Task{ID: id, CPU: cpu, MemoryMiB: mem, SubmittedAt: at, Provisioning: prov}
}

// launched sums the instances the actions launch.
func launched(acts []Action) int {
	n := 0
	for _, a := range acts {
		if a.Launch != nil {
			n += a.Launch.Count
		}
	}
	return n
}

func kinds(acts []Action) (launch, drain, term []string) {
	for _, a := range acts {
		switch {
		case a.Launch != nil:
			launch = append(launch, fmt.Sprintf("%s/%s x%d", a.Launch.Pool, a.Launch.Type, a.Launch.Count))
		case a.Drain != nil:
			drain = append(drain, a.Drain.Instance)
		case a.Terminate != nil:
			term = append(term, a.Terminate.Instance)
		}
	}
	return
}

func terminated(acts []Action) []string { _, _, t := kinds(acts); return t }
func drained(acts []Action) []string    { _, d, _ := kinds(acts); return d }

// pure is a policy's decision as a function of its typed state (each policy's decide).
type pure[S any] interface {
	Policy
	decide(s *Snapshot, now time.Time, st S) ([]Action, S)
}

// step is one decision at the snapshot's time from state st.
func step[S any](p pure[S], s *Snapshot, st S) ([]Action, S) { return p.decide(s, s.Now, st) }

// first is a first decision (the zero state).
func first[S any](p pure[S], s *Snapshot) ([]Action, S) {
	var st S
	return p.decide(s, s.Now, st)
}

// checkDeterministic decides twice from the same state and wants equal results.
func checkDeterministic[S any](t *testing.T, p pure[S], s *Snapshot, st S) ([]Action, S) {
	t.Helper()
	a1, n1 := p.decide(s, s.Now, st)
	a2, n2 := p.decide(s, s.Now, st)
	if !reflect.DeepEqual(a1, a2) || !reflect.DeepEqual(n1, n2) {
		t.Fatalf("%s: not deterministic:\n%+v %+v\n%+v %+v", p.Name(), a1, n1, a2, n2)
	}
	return a1, n1
}

// checkFirst is checkDeterministic from the zero state.
func checkFirst[S any](t *testing.T, p pure[S], s *Snapshot) ([]Action, S) {
	t.Helper()
	var st S
	return checkDeterministic(t, p, s, st)
}

func TestBinpackCount(t *testing.T) {
	for _, c := range []struct {
		name  string
		tasks []Task
		want  int
	}{
		{"none", nil, 0},
		{"one", []Task{task("a", 512, 1024, t0, true)}, 1},
		{"four quarters", []Task{task("a", 512, 1024, t0, true), task("b", 512, 1024, t0, true), task("c", 512, 1024, t0, true), task("d", 512, 1024, t0, true)}, 1},
		{"memory bound", []Task{task("a", 256, 4096, t0, true), task("b", 256, 4096, t0, true)}, 2},
		{"decreasing", []Task{task("a", 512, 512, t0, true), task("b", 1536, 512, t0, true), task("c", 1024, 512, t0, true), task("d", 1024, 512, t0, true)}, 2},
		{"too large", []Task{task("a", 4096, 512, t0, true)}, 1},
	} {
		if got := binpackCount(c.tasks, 2048, 7680); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
}

func TestExpectedArrivals(t *testing.T) {
	// Two days of one-minute buckets up to t0 (the last, t0's own, still filling); the
	// minute at 09:00 saw 60 tasks yesterday and 600 an hour ago, the one at 09:01 120
	// yesterday.
	s := &Snapshot{Now: t0.Add(30 * time.Second), ArrivalBucket: time.Minute, Arrivals: make([]int, 2*24*60+1)}
	last := len(s.Arrivals) - 1
	s.Arrivals[last-24*60] = 60
	s.Arrivals[last-24*60+1] = 120
	s.Arrivals[last-60] = 600
	s.Arrivals[last] = 20 // in progress: 40 more expected in its last 30 s
	if got := s.ExpectedArrivals(t0, 90*time.Second); got != 60+120/2 {
		t.Errorf("09:00-09:01:30 from yesterday: %v, want 120", got)
	}
	if got := s.ExpectedArrivals(s.Now, time.Minute); got != 40+120.0/2 {
		t.Errorf("from now, straddling 09:01: %v, want 100", got)
	}
	s.Arrivals[last] = 90 // a burst came already: none more expected in this minute
	if got := s.ExpectedArrivals(s.Now, 30*time.Second); got != 0 {
		t.Errorf("after the burst: %v, want 0", got)
	}
	// Less than a day of history: an hour ago.
	s.Arrivals = s.Arrivals[24*60+1:]
	if got := s.ExpectedArrivals(t0, time.Minute); got != 600 {
		t.Errorf("from an hour ago: %v, want 600", got)
	}
	// A week back is preferred when the history reaches it.
	s.Arrivals = make([]int, 7*24*60+1)
	s.Arrivals[0] = 7
	s.Arrivals[6*24*60] = 60
	if got := s.ExpectedArrivals(t0, time.Minute); got != 7 {
		t.Errorf("from last week: %v, want 7", got)
	}
	// The last 2 minutes: the minute in progress (30 s of it, 90 tasks), 08:59 and half of
	// 08:58.
	s.Arrivals = []int{20, 10, 90}
	if got := s.RecentArrivals(2 * time.Minute); got != 90+10+20/2 {
		t.Errorf("recent: %v, want 110", got)
	}
	if got := (&Snapshot{}).ExpectedArrivals(t0, time.Hour); got != 0 {
		t.Errorf("no history: %v", got)
	}
	s.Arrivals = make([]int, 30)
	if got := s.ExpectedArrivals(t0, time.Hour); got != 0 {
		t.Errorf("half an hour of history: %v", got)
	}
	for _, c := range []struct {
		m    float64
		want int
	}{{0, 0}, {1, 2}, {4, 6}, {0.01, 1}} {
		if got := headroomTasks(c.m, 1); got != c.want {
			t.Errorf("headroom(%v) = %d, want %d", c.m, got, c.want)
		}
	}
}
