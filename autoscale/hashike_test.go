package autoscale

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func noHeadroom() *Hashike { return NewHashike(HashikeConfig{NoHeadroom: true}) }

func TestHashikeNeverTerminatesBusyInstances(t *testing.T) {
	long := t0.Add(-time.Hour)
	idle := func(id string, since time.Time) Instance {
		in := active(id, 0, 0, 0, long)
		in.IdleSince = since
		return in
	}
	minPool := []Pool{{Name: "p", InstanceTypes: []string{"small"}, Min: 2, Max: 10}}
	for _, c := range []struct {
		name    string
		pools   []Pool
		insts   []Instance
		pending []Task
		want    []string
	}{
		{"busy since long", []Pool{pool(10)}, []Instance{active("b1", 1, 512, 512, long), active("b2", 3, 2048, 4096, long)}, nil, nil},
		{"idle past MinIdle", []Pool{pool(10)}, []Instance{active("b1", 1, 512, 512, long), idle("i1", t0.Add(-90*time.Second)), idle("i2", t0.Add(-5*time.Second))}, nil, []string{"i1"}},
		{"never registered a task", []Pool{pool(10)}, []Instance{active("n1", 0, 0, 0, t0.Add(-10*time.Minute))}, nil, []string{"n1"}},
		{"not below Min", minPool, []Instance{active("b1", 1, 512, 512, long), idle("i1", long), idle("i2", long), idle("i3", long)}, nil, []string{"i1", "i2"}},
		// A pending task too young to cause a launch still keeps the instance it fits on.
		{"held task keeps it", []Pool{pool(10)}, []Instance{idle("i1", long)}, []Task{task("a", 512, 512, t0.Add(-time.Second), false)}, nil},
		{"launching never terminated", []Pool{pool(10)}, []Instance{launching("l1", long)}, nil, nil},
	} {
		acts, _ := checkFirst(t, noHeadroom(), snap(t0, c.pools, c.insts, c.pending...))
		if got := terminated(acts); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: terminated %v, want %v", c.name, got, c.want)
		}
		for _, a := range acts {
			if a.Launch != nil || a.Drain != nil {
				t.Errorf("%s: unexpected %+v", c.name, a)
			}
		}
	}
}

func TestHashikeNoDoubleLaunchWhileInFlight(t *testing.T) {
	p := noHeadroom()
	pools := []Pool{pool(10)}
	a := task("a", 1024, 1024, t0.Add(-3*time.Second), false)
	acts, st := checkFirst(t, p, snap(t0, pools, nil, a))
	if len(acts) != 1 || acts[0].Launch == nil || acts[0].Launch.Count != 1 || !reflect.DeepEqual(acts[0].Launch.For, [][]string{{"a"}}) {
		t.Fatalf("first launch %+v", acts)
	}
	if acts[0].Launch.Type != "small" || acts[0].Launch.Spot != nil {
		t.Errorf("launch %+v", *acts[0].Launch)
	}
	// b, larger, arrives: first-fit decreasing alone would put b on i-1 and launch for a
	// again; the reservation keeps a on the instance launched for it.
	b := task("b", 2048, 1024, t0.Add(time.Second), false)
	for i, now := range []time.Time{t0.Add(10 * time.Second), t0.Add(20 * time.Second)} {
		insts := []Instance{launching("i-1", t0, "a")}
		if i == 1 {
			insts = append(insts, launching("i-2", t0.Add(10*time.Second), "b"))
		}
		acts, st = step(p, snap(now, pools, insts, a, b), st)
		want := 0
		if i == 0 {
			want = 1
		}
		if got := launched(acts); got != want {
			t.Fatalf("decision %d: launched %d, want %d: %+v", i+2, got, want, acts)
		}
		if i == 0 && !reflect.DeepEqual(acts[0].Launch.For, [][]string{{"b"}}) {
			t.Fatalf("b's launch %+v", acts[0].Launch)
		}
	}
	// Without For (a driver that does not record it) the launching capacity still counts.
	acts, _ = step(p, snap(t0.Add(10*time.Second), pools, []Instance{launching("i-1", t0)}, a), st)
	if len(acts) != 0 {
		t.Fatalf("relaunched without For: %+v", acts)
	}
}

func TestHashikeRespectsPoolMax(t *testing.T) {
	var ts []Task
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		ts = append(ts, task(id, 2048, 1024, t0.Add(-time.Minute), false))
	}
	insts := []Instance{active("b1", 1, 2048, 1024, t0.Add(-time.Hour)), launching("l1", t0.Add(-20*time.Second))}
	acts, _ := first(noHeadroom(), snap(t0, []Pool{pool(4)}, insts, ts...))
	if got := launched(acts); got != 2 {
		t.Fatalf("launched %d, want 2 (Max 4, 2 present): %+v", got, acts)
	}
	acts, _ = first(noHeadroom(), snap(t0, []Pool{pool(2)}, insts, ts...))
	if len(acts) != 0 {
		t.Fatalf("launched over Max: %+v", acts)
	}
	// A second pool takes the overflow.
	other := Pool{Name: "q", InstanceTypes: []string{"pricy"}, Max: 10}
	acts, _ = first(noHeadroom(), snap(t0, []Pool{pool(4), other}, insts, ts...))
	if l, _, _ := kinds(acts); !reflect.DeepEqual(l, []string{"p/small x2", "q/pricy x2"}) {
		t.Fatalf("launches %v", l)
	}
}

func TestHashikeCheapestFit(t *testing.T) {
	pools := []Pool{{Name: "p", InstanceTypes: []string{"pricy", "large", "small"}, Max: 10}}
	for _, c := range []struct {
		name string
		ts   []Task
		want []string
	}{
		// small holds 2 at 0.048 each, large 8 at 0.048: a tie goes to the earlier type.
		{"tie", []Task{task("a", 1024, 2048, t0.Add(-time.Minute), false)}, []string{"p/large x1"}},
		{"only large fits", []Task{task("a", 4096, 2048, t0.Add(-time.Minute), false)}, []string{"p/large x1"}},
		// memory-bound on small: fits 1 (0.096) vs large 4 (0.096): tie, large.
		{"memory", []Task{task("a", 256, 7000, t0.Add(-time.Minute), false), task("b", 256, 7000, t0.Add(-time.Minute), false)}, []string{"p/large x1"}},
		{"too large for all", []Task{task("a", 16384, 2048, t0.Add(-time.Minute), false)}, nil},
	} {
		acts, _ := first(noHeadroom(), snap(t0, pools, nil, c.ts...))
		if l, _, _ := kinds(acts); !reflect.DeepEqual(l, c.want) {
			t.Errorf("%s: %v, want %v", c.name, l, c.want)
		}
	}
	acts, _ := first(noHeadroom(), snap(t0, []Pool{{Name: "p", InstanceTypes: []string{"pricy", "small"}, Max: 10}}, nil,
		task("a", 2048, 1024, t0.Add(-time.Minute), false)))
	if l, _, _ := kinds(acts); !reflect.DeepEqual(l, []string{"p/small x1"}) {
		t.Errorf("pricy chosen: %v", l)
	}
}

func TestHashikeBatchingWindow(t *testing.T) {
	pools := []Pool{pool(10)}
	fresh := task("a", 1024, 1024, t0.Add(-time.Second), false)
	acts, _ := first(noHeadroom(), snap(t0, pools, nil, fresh))
	if len(acts) != 0 {
		t.Fatalf("launched for a 1 s old task: %+v", acts)
	}
	old := task("o", 1024, 1024, t0.Add(-11*time.Second), false)
	acts, _ = first(noHeadroom(), snap(t0, pools, nil, old, fresh))
	if len(acts) != 1 || !reflect.DeepEqual(acts[0].Launch.For, [][]string{{"o", "a"}}) {
		t.Fatalf("oldest past BatchMax should flush the batch into one instance: %+v", acts)
	}
}

func TestHashikeSpotInterruption(t *testing.T) {
	p := noHeadroom()
	pools := []Pool{{Name: "p", InstanceTypes: []string{"small"}, Max: 10}}
	spot := active("s1", 2, 1536, 3072, t0.Add(-time.Hour))
	spot.Spot = true
	spot.InterruptionAt = t0.Add(2 * time.Minute)
	busy := active("b1", 1, 2048, 1024, t0.Add(-time.Hour))
	acts, st := checkFirst(t, p, snap(t0, pools, []Instance{busy, spot}))
	l, d, term := kinds(acts)
	if !reflect.DeepEqual(d, []string{"s1"}) || !reflect.DeepEqual(l, []string{"p/small x1"}) || term != nil {
		t.Fatalf("launch %v drain %v terminate %v", l, d, term)
	}
	for _, a := range acts {
		if a.Launch != nil && (a.Launch.Spot == nil || *a.Launch.Spot) {
			t.Fatalf("replacement not on-demand: %+v", a.Launch)
		}
	}
	// Next decision: s1 draining, replacement launching: nothing again.
	spot.State = InstanceDraining
	insts := []Instance{busy, spot, launching("r1", t0)}
	acts, st = step(p, snap(t0.Add(10*time.Second), pools, insts), st)
	if len(acts) != 0 {
		t.Fatalf("interruption handled twice: %+v", acts)
	}
	// While avoided, new capacity in the pool is on-demand; afterwards the split decides.
	job := task("j", 2048, 1024, t0.Add(time.Minute), false)
	acts, st = step(p, snap(t0.Add(2*time.Minute), pools, []Instance{busy, active("r1", 1, 1536, 3072, t0.Add(time.Minute))}, job), st)
	if len(acts) != 1 || acts[0].Launch.Spot == nil || *acts[0].Launch.Spot {
		t.Fatalf("during avoidance %+v", acts)
	}
	acts, _ = step(p, snap(t0.Add(6*time.Minute), pools, []Instance{busy, active("r1", 1, 1536, 3072, t0.Add(time.Minute))}, job), st)
	if len(acts) != 1 || acts[0].Launch.Spot != nil {
		t.Fatalf("after avoidance %+v", acts)
	}
}

func TestHashikeWarmHeadroom(t *testing.T) {
	s := snap(t0, []Pool{pool(10)}, []Instance{active("i1", 0, 0, 0, t0.Add(-time.Hour))})
	s.ArrivalBucket = time.Minute
	s.Arrivals = make([]int, 24*60+1)
	s.Arrivals[0], s.Arrivals[1] = 20, 40 // yesterday 09:00 and 09:01, nothing since: a periodic burst is due
	p := NewHashike(HashikeConfig{LaunchLatency: 90 * time.Second})
	acts, _ := checkFirst(t, p, s)
	// 1024 x 2048 tasks (nothing seen running or pending): 2 per small instance.
	l, _, term := kinds(acts)
	if len(l) != 1 || term != nil || acts[0].Launch.Count < 4 {
		t.Fatalf("launch %v terminate %v", l, term)
	}
	if acts[0].Launch.For != nil || !strings.HasPrefix(acts[0].Reason, "headroom: ") {
		t.Errorf("headroom launch %+v", acts[0])
	}
	// No forecast: the idle instance goes.
	s.Arrivals = nil
	acts, _ = first(p, s)
	if got := terminated(acts); !reflect.DeepEqual(got, []string{"i1"}) {
		t.Fatalf("without forecast %+v", acts)
	}
}

// sparseHistory is an hour and a minute of one-minute buckets ending at t0 (the last one in
// progress) with one arrival every 5 minutes, the last 4 minutes ago.
func sparseHistory() []int {
	a := make([]int, 62)
	for i := len(a) - 5; i >= 0; i -= 5 {
		a[i] = 1
	}
	return a
}

// Scale-in weighs keeping an idle instance against relaunching it: with a task every 5
// minutes and a launch longer than the SLO's 30 s, one instance stays warm; after a single
// burst and nothing since, it goes; with an SLO a launch meets, only the billed boot counts
// and it goes too.
func TestHashikeScaleInBreakEven(t *testing.T) {
	idle := active("i1", 0, 0, 0, t0.Add(-time.Hour))
	idle.IdleSince = t0.Add(-3 * time.Minute)
	s := snap(t0, []Pool{pool(10)}, []Instance{idle})
	s.ArrivalBucket = time.Minute
	s.Arrivals = sparseHistory()
	acts, _ := checkFirst(t, NewHashike(HashikeConfig{}), s)
	if len(acts) != 0 {
		t.Fatalf("sparse arrivals: want the idle instance kept, got %+v", acts)
	}
	// Same history, an SLO of 5 minutes: a relaunch (90 s) meets it.
	acts, _ = first(NewHashike(HashikeConfig{SLO: SLO{WaitP95: 5 * time.Minute}}), s)
	if got := terminated(acts); !reflect.DeepEqual(got, []string{"i1"}) {
		t.Fatalf("SLO 5m: want i1 removed, got %+v", acts)
	}
	// One burst 50 minutes ago, nothing since.
	s.Arrivals = make([]int, 62)
	s.Arrivals[10] = 300
	acts, _ = first(NewHashike(HashikeConfig{}), s)
	if got := terminated(acts); !reflect.DeepEqual(got, []string{"i1"}) {
		t.Fatalf("after a single burst: want i1 removed, got %+v", acts)
	}
	if r := acts[0].Reason; !strings.Contains(r, "break-even scale-in") || !strings.Contains(r, "keep while >= 0.050") {
		t.Errorf("reason %q", r)
	}
}

// Headroom is counted in the shapes of the tasks seen: a workload of 64-vCPU tasks keeps
// room for one on an instance that holds it, not 1 vCPU x 2 GiB slots.
func TestHashikeHeadroomInTaskShapes(t *testing.T) {
	types := map[string]InstanceType{
		"small": testTypes["small"],
		"huge":  {Name: "huge", CPU: 65536, MemoryMiB: 250000, OnDemandPrice: 3.0},
	}
	pools := []Pool{{Name: "p", InstanceTypes: []string{"small", "huge"}, Max: 10}}
	busy := Instance{ID: "h1", Pool: "p", Type: "huge", State: InstanceActive, LaunchedAt: t0.Add(-2 * time.Hour), ActiveAt: t0.Add(-2 * time.Hour),
		CPU: 65536, MemoryMiB: 250000, CPUUsed: 65536, MemoryUsed: 131072, Tasks: 1}
	s := &Snapshot{Now: t0, Types: types, Pools: pools, Instances: []Instance{busy}, Running: 1, ArrivalBucket: time.Minute, Arrivals: sparseHistory()}
	acts, _ := checkFirst(t, NewHashike(HashikeConfig{}), s)
	if l, _, _ := kinds(acts); len(l) != 1 || !strings.HasPrefix(l[0], "p/huge x") {
		t.Fatalf("want one huge instance of headroom, got %v: %s", l, acts[0].Reason)
	}
	if !strings.Contains(acts[0].Reason, "65536x131072") {
		t.Errorf("reason %q does not name the shape", acts[0].Reason)
	}
}

func TestPoissonQuantile(t *testing.T) {
	for _, c := range []struct {
		m, q float64
		want int
	}{{0, 0.95, 0}, {0.05, 0.95, 0}, {0.3, 0.95, 1}, {1, 0.95, 3}, {400, 0.95, 433}, {400, 0, 0}, {400, 1, 520}, {4, 1, 21}} {
		if got := poissonQuantile(c.m, c.q); got != c.want {
			t.Errorf("poissonQuantile(%v, %v) = %d, want %d", c.m, c.q, got, c.want)
		}
	}
}

// The forecast blends the seasonal forecast with the recent rate by their recent errors:
// bursts that repeat every hour trust the season; a rate that does not repeat trusts the
// recent one.
func TestBlendWeighsByError(t *testing.T) {
	periodic := make([]int, 4*60+1)
	for i := 0; i < len(periodic)-1; i += 60 {
		periodic[i] = 300
	}
	s := &Snapshot{Now: t0, ArrivalBucket: time.Minute, Arrivals: periodic}
	if _, _, w := s.blend(t0, 100*time.Second); w < 0.9 {
		t.Errorf("hourly bursts: seasonal weight %.2f, want >= 0.9", w)
	}
	// A steady 10 a minute for the last 2 hours, none before: the hour-ago season is right
	// now too, so make it wrong: 10 a minute in alternate hours.
	random := make([]int, 4*60+1)
	for i := range len(random) - 1 {
		if (i/60)%2 == 1 || i > 3*60 {
			random[i] = 10
		}
	}
	s.Arrivals = random
	seasonal, recent, w := s.blend(t0, time.Minute)
	if w > 0.5 || recent < 9 || recent > 11 {
		t.Errorf("a rate that does not repeat: seasonal %.1f weight %.2f, recent %.1f", seasonal, w, recent)
	}
}

// The launch latency is learned as the mean of the registrations, though instances launched
// together register fastest first (a short moving average would learn the slowest).
func TestHashikeLearnsLaunchLatency(t *testing.T) {
	p := NewHashike(HashikeConfig{NoHeadroom: true})
	var st hashikeState
	launched := t0.Add(-10 * time.Minute)
	var insts []Instance
	now := launched
	for k := range 30 { // latencies 60 s, 64 s, ... 176 s, registering in that order
		lat := time.Duration(60+4*k) * time.Second
		in := launching(fmt.Sprintf("i-%02d", k), launched)
		in.State, in.ActiveAt, in.Tasks, in.CPUUsed, in.MemoryUsed = InstanceActive, launched.Add(lat), 1, 1024, 1024
		insts = append(insts, in)
		now = launched.Add(lat)
		_, st = step(p, snap(now, []Pool{pool(100)}, slices.Clone(insts)), st)
	}
	if got, want := st.Latency, 118*time.Second; got < want-2*time.Second || got > want+2*time.Second {
		t.Errorf("learned %v, want about %v (the mean)", got, want)
	}
	if sd := math.Sqrt(st.LatencyVar); sd < 25 || sd > 45 {
		t.Errorf("learned sigma %.0f s, want about 35", sd)
	}
}

// The SLO drives the slack: while tasks start within it, headroom is kept at a higher
// probability of need (cheaper); once more than 2.5% of tasks wait past it, back to 5%.
func TestHashikeSLOSlack(t *testing.T) {
	p := NewHashike(HashikeConfig{})
	idle := active("i1", 0, 0, 0, t0.Add(-time.Hour))
	s := snap(t0, []Pool{pool(10)}, []Instance{idle})
	s.ArrivalBucket = time.Minute
	s.Arrivals = make([]int, 62)
	for i := range s.Arrivals {
		s.Arrivals[i] = 10
	}
	var st hashikeState
	for k := range 360 { // an hour, 10 tasks a minute, none waiting
		s.Now = t0.Add(time.Duration(k) * 10 * time.Second)
		_, st = step(p, s, st)
	}
	if st.Slack < 3.9 {
		t.Fatalf("no task missed the SLO for an hour: slack %.2f, want 4", st.Slack)
	}
	// Then 2 of every 10 tasks wait past 30 s.
	for k := range 360 {
		s.Now = t0.Add(time.Hour + time.Duration(k)*10*time.Second)
		s.Pending = nil
		if k%3 == 0 {
			s.Pending = []Task{task("a", 512, 512, s.Now.Add(-35*time.Second), false), task("b", 512, 512, s.Now.Add(-31*time.Second), false)}
		}
		_, st = step(p, s, st)
	}
	if st.Slack > 1.01 {
		t.Fatalf("20%% of tasks missed the SLO: slack %.2f, want 1 (missed %.0f of %.0f)", st.Slack, st.Missed, st.Arrived)
	}
}

// Tasks placed at once are never seen pending, so the shapes seen lean large: headroom
// holds no more than as many tasks of the running tasks' mean shape reserve.
func TestHashikeHeadroomScaledToMeanShape(t *testing.T) {
	p := NewHashike(HashikeConfig{})
	s := snap(t0, []Pool{pool(100)}, nil)
	s.ArrivalBucket = time.Minute
	s.Arrivals = make([]int, 24*60+2)
	s.Arrivals[1] = 100 // yesterday at 09:00: 100 tasks due now
	st := hashikeState{Shapes: map[Shape]float64{{2048, 4096}: 10}, Slack: 1}
	full := p.headroom(s, t0, &st)
	st.Reserved = [3]float64{1024 * 50, 2048 * 50, 50} // the running tasks: 1024 x 2048 on average
	scaled := p.headroom(s, t0, &st)
	if len(full.Slots) < 100 || len(scaled.Slots) > len(full.Slots)/2+1 || len(scaled.Slots) == 0 {
		t.Fatalf("slots: %d unscaled, %d scaled to a mean half the size", len(full.Slots), len(scaled.Slots))
	}
	if scaled.Slots[0] != (Task{CPU: 2048, MemoryMiB: 4096}) {
		t.Errorf("slot shape %+v, want the shape seen", scaled.Slots[0])
	}
}

// ForecastArrivals is the blend the warm headroom uses, weighted by its errors: hourly
// bursts are expected again on the hour, a steady rate at that rate.
func TestForecastArrivals(t *testing.T) {
	periodic := make([]int, 4*60+1)
	for i := 0; i < len(periodic)-1; i += 60 {
		periodic[i] = 300
	}
	s := &Snapshot{Now: t0, ArrivalBucket: time.Minute, Arrivals: periodic}
	seasonal, recent, w := s.blend(t0, 100*time.Second)
	if got, want := ForecastArrivals(periodic, time.Minute, t0, 100*time.Second), w*seasonal+(1-w)*recent; got != want || got < 200 {
		t.Errorf("ForecastArrivals = %.1f, want the blend %.1f (about 300 on the hour)", got, want)
	}
	steady := make([]int, 3*60+1)
	for i := range steady {
		steady[i] = 6
	}
	steady[len(steady)-1] = 3 // half the bucket in progress, half its arrivals
	if got := ForecastArrivals(steady, time.Minute, t0.Add(30*time.Second), time.Minute); got < 5 || got > 7 {
		t.Errorf("a steady 6 a minute: %.1f in the next minute", got)
	}
	if got := ForecastArrivals(nil, time.Minute, t0, time.Minute); got != 0 {
		t.Errorf("no history: %.1f", got)
	}
	if PoissonQuantile(1, 0.95) != 3 || PoissonQuantile(0, 0.95) != 0 {
		t.Errorf("PoissonQuantile(1, 0.95) = %d", PoissonQuantile(1, 0.95))
	}
}
