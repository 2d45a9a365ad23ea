package sim

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// launchOnce launches one instance at its first decision, every second records the
// snapshots' last instance (the one it launched), and does nothing else.
type launchOnce struct {
	seen *[]autoscale.Instance
	done bool
}

func (*launchOnce) Name() string            { return "launch-once" }
func (*launchOnce) Interval() time.Duration { return time.Second }
func (p *launchOnce) Reset()                { p.done = false; *p.seen = nil }
func (p *launchOnce) Decide(s *autoscale.Snapshot, _ time.Time) []autoscale.Action {
	if len(s.Instances) > 0 {
		*p.seen = append(*p.seen, s.Instances[len(s.Instances)-1])
	}
	if p.done {
		return nil
	}
	p.done = true
	return []autoscale.Action{{Launch: &autoscale.Launch{Pool: "p", Count: 1}, Reason: "test"}}
}

// TestWarmImages: with warmImages N, a new instance pulls the N images submitted most in the
// last warmWindow, one after the other, and the policy sees it launching meanwhile; the jobs
// of a warmed image start there without a pull of their own (1 s, the container start).
// Image "a" (3000 MiB, 30 s) is submitted twice, "b" (500 MiB, 5 s) once, all before the
// instance registers. Shared (the default): the jobs are placed at once, a's wait for the
// warm-up's pull, and the instance, in service, is shown active; exclusive: no job is
// placed before the instance is warm, and it is shown launching until then. Sequential: the
// warm-up pulls one image after the other, and a job's pull waits for them.
func TestWarmImages(t *testing.T) {
	wl := Workload{Jobs: []Job{
		{Submit: 0, Duration: time.Minute, CPU: 256, MemoryMiB: 256, Image: "a"},
		{Submit: time.Second, Duration: time.Minute, CPU: 256, MemoryMiB: 256, Image: "b"},
		{Submit: 2 * time.Second, Duration: time.Minute, CPU: 256, MemoryMiB: 256, Image: "a"},
	}}
	type outcome struct {
		activeAt  time.Time // the first snapshot's ActiveAt that does not show it launching
		launching int       // snapshots (one a second) showing it launching
		starts    []time.Time
		r         *Result
	}
	run := func(warm int, window time.Duration, exclusive, sequential bool) outcome {
		t.Helper()
		cfg := Config{
			Pools:             []PoolConfig{{Pool: autoscale.Pool{Name: "p", InstanceTypes: []string{"m6i.xlarge"}, Max: 1, OnDemandPercentAboveBase: 100}}},
			ImageMiB:          map[string]int{"a": 3000},
			ContainerStartMin: time.Second, ContainerStartMax: time.Second,
			WarmImages: warm, WarmWindow: window, WarmExclusive: exclusive, WarmSequential: sequential,
		}
		var seen []autoscale.Instance
		r, err := Run(cfg, wl, &launchOnce{seen: &seen}, 1)
		if err != nil {
			t.Fatal(err)
		}
		o := outcome{r: r}
		for _, in := range seen {
			switch {
			case in.State == autoscale.InstanceLaunching:
				o.launching++
				if exclusive && in.Tasks > 0 {
					t.Errorf("warm %d exclusive: a task on a warming instance: %+v", warm, in)
				}
			case o.activeAt.IsZero():
				o.activeAt = in.ActiveAt
			}
		}
		for _, rec := range r.Records {
			o.starts = append(o.starts, cfg.WithDefaults().Start.Add(time.Duration(math.Round(rec.Start*1000))*time.Millisecond))
		}
		return o
	}
	cold := run(0, 0, false, false)
	registered := cold.activeAt
	for _, tc := range []struct {
		name                  string
		warm                  int
		window                time.Duration
		exclusive, sequential bool
		// warming is how long the policy sees the instance launching after it registered;
		// starts are the jobs' starts after it registered.
		warming time.Duration
		starts  []time.Duration
		pulls   int
	}{
		{"off", 0, 0, false, false, 0, []time.Duration{31, 6, 31}, 0},
		{"shared, the most submitted image", 1, 0, false, false, 0, []time.Duration{31, 6, 31}, 1},
		{"shared, two images in parallel", 2, 0, false, false, 0, []time.Duration{31, 6, 31}, 2},
		{"shared, two images one after the other", 2, 0, false, true, 0, []time.Duration{31, 36, 31}, 2},
		{"shared, sequential: a job's pull waits for the warm-up's", 1, 0, false, true, 0, []time.Duration{31, 36, 31}, 1},
		{"exclusive, the most submitted image", 1, 0, true, false, 30, []time.Duration{31, 36, 31}, 1},
		{"exclusive, two images in parallel", 2, 0, true, false, 30, []time.Duration{31, 31, 31}, 2},
		{"exclusive, two images one after the other", 2, 0, true, true, 35, []time.Duration{36, 36, 36}, 2},
		{"nothing submitted in the window", 3, time.Second, false, false, 0, []time.Duration{31, 6, 31}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := run(tc.warm, tc.window, tc.exclusive, tc.sequential)
			warming := tc.warming * time.Second
			if want := cold.launching + int(warming/time.Second); o.launching != want {
				t.Errorf("the policy saw the instance launching %d times, want %d", o.launching, want)
			}
			wantActive := registered
			if tc.exclusive {
				wantActive = registered.Add(warming) // it was not ready before
			}
			if !o.activeAt.Equal(wantActive) {
				t.Errorf("ActiveAt %v after registering, want %v", o.activeAt.Sub(registered), wantActive.Sub(registered))
			}
			var starts []time.Duration
			for _, at := range o.starts {
				starts = append(starts, at.Sub(registered)/time.Second)
			}
			if !slices.Equal(starts, tc.starts) {
				t.Errorf("jobs started %v s after the instance registered, want %v", starts, tc.starts)
			}
			if o.r.WarmUpPulls != tc.pulls || o.r.WarmUps != min(tc.pulls, 1) {
				t.Errorf("warm-ups %d with %d pulls, want %d pulls", o.r.WarmUps, o.r.WarmUpPulls, tc.pulls)
			}
		})
	}
}

// TestWarmedImageSkipsThePull: a job of a warmed image placed on the warmed instance later
// starts 1 s after its submit (no pull), where without warm-up it pulls there first (30 s).
// The pool's initial instance is kept busy by a first job of "a"; the instance the policy
// launches warms "a" when it registers (shown launching meanwhile, idle), and the job
// submitted 10 minutes later fits only there.
func TestWarmedImageSkipsThePull(t *testing.T) {
	wl := Workload{Jobs: []Job{
		{Submit: 0, Duration: time.Hour, CPU: 4096, MemoryMiB: 256, Image: "a"},
		{Submit: 10 * time.Minute, Duration: time.Minute, CPU: 4096, MemoryMiB: 256, Image: "a"},
	}}
	launching := map[int]int{}
	for _, tc := range []struct {
		warm int
		wait float64
	}{{0, 31}, {1, 1}} {
		cfg := Config{
			Pools:             []PoolConfig{{Pool: autoscale.Pool{Name: "p", InstanceTypes: []string{"m6i.xlarge"}, Max: 2, OnDemandPercentAboveBase: 100}, Initial: 1}},
			ImageMiB:          map[string]int{"a": 3000},
			ContainerStartMin: time.Second, ContainerStartMax: time.Second,
			WarmImages: tc.warm,
		}
		var seen []autoscale.Instance
		r, err := Run(cfg, wl, &launchOnce{seen: &seen}, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range seen {
			if in.State == autoscale.InstanceLaunching {
				launching[tc.warm]++
			}
		}
		late := r.Records[1]
		if got := math.Round((late.Start-late.Submit)*1000) / 1000; got != tc.wait || late.Instance == r.Records[0].Instance {
			t.Errorf("warmImages %d: the late job waited %v s on %s (the first ran on %s), want %v s on the launched instance",
				tc.warm, got, late.Instance, r.Records[0].Instance, tc.wait)
		}
	}
	if d := launching[1] - launching[0]; d != 30 {
		t.Errorf("the idle warming instance was shown launching %d s longer than without warm-up, want 30 s (its pull)", d)
	}
}

// TestParseClusterWarmImages: the cluster file's warmImages, warmWindow, warmExclusive and
// warmSequential reach the config (the window defaulting to an hour); a negative count is
// refused.
func TestParseClusterWarmImages(t *testing.T) {
	const pool = `"pools": [{"name": "p", "instanceTypes": ["m6i.xlarge"], "max": 10}]`
	cfg, err := ParseCluster([]byte(`{"warmImages": 3, "warmWindow": "30m", `+pool+`}`), "c.json")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WarmImages != 3 || cfg.WarmWindow != 30*time.Minute {
		t.Errorf("warmImages %d warmWindow %v, want 3 and 30m", cfg.WarmImages, cfg.WarmWindow)
	}
	if cfg, err = ParseCluster([]byte(`{"warmImages": 2, "warmExclusive": true, "warmSequential": true, `+pool+`}`), "c.json"); err != nil ||
		cfg.WarmWindow != time.Hour || !cfg.WarmExclusive || !cfg.WarmSequential {
		t.Errorf("warmWindow %v exclusive %v sequential %v (%v), want the default 1h, both true", cfg.WarmWindow, cfg.WarmExclusive, cfg.WarmSequential, err)
	}
	if _, err := ParseCluster([]byte(`{"warmImages": -1, `+pool+`}`), "c.json"); err == nil {
		t.Error("warmImages -1 accepted")
	}
}
