package autoscale

import (
	"reflect"
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
		{"idle past cooldown", []Pool{pool(10)}, []Instance{active("b1", 1, 512, 512, long), idle("i1", t0.Add(-90*time.Second)), idle("i2", t0.Add(-30*time.Second))}, nil, []string{"i1"}},
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
	s.Arrivals[0], s.Arrivals[1] = 2, 4 // yesterday 09:00 and 09:01: 4 in the 90 s launch latency, room for 4 + 2 = 6 tasks
	p := NewHashike(HashikeConfig{LaunchLatency: 90 * time.Second})
	acts, _ := checkFirst(t, p, s)
	// 1024 x 2048 tasks: 2 per small instance; i1 holds 2 (and is kept), 2 more launched.
	if l, _, term := kinds(acts); !reflect.DeepEqual(l, []string{"p/small x2"}) || term != nil {
		t.Fatalf("launch %v terminate %v", l, term)
	}
	if acts[0].Launch.For != nil {
		t.Errorf("headroom launch lists tasks: %+v", acts[0].Launch)
	}
	// The last 90 s saw as many (08:58:30-09:00): tasks ending free what new ones need, so
	// no headroom is kept for a steady rate, and the idle instance goes.
	s.Arrivals[len(s.Arrivals)-2], s.Arrivals[len(s.Arrivals)-3] = 3, 2
	acts, _ = first(p, s)
	if got := terminated(acts); !reflect.DeepEqual(got, []string{"i1"}) {
		t.Fatalf("steady rate %+v", acts)
	}
	// No forecast: the idle instance goes.
	s.Arrivals = nil
	acts, _ = first(p, s)
	if got := terminated(acts); !reflect.DeepEqual(got, []string{"i1"}) {
		t.Fatalf("without forecast %+v", acts)
	}
}
