package runners

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func TestMerge(t *testing.T) {
	pl := []string{"medium", "hashike-pool-medium"}
	gh := []GitHubRunner{
		{ID: 1, Name: "r-idle", Online: true, Labels: pl},
		{ID: 2, Name: "r-busy", Online: true, Busy: true, Labels: pl},
		{ID: 3, Name: "r-jit", Labels: pl},                   // JIT-registered, process not up yet
		{ID: 4, Name: "r-stopped", Online: true, Labels: pl}, // container stopped, still registered
		{ID: 5, Name: "r-ghost", Labels: pl},                 // no run at all
		{ID: 6, Name: "someone-else", Online: false, Labels: []string{"medium"}},
		{ID: 7, Name: "r-busy-dead", Busy: true, Labels: pl}, // run ended mid-job; GitHub still says busy
	}
	runs := []RunnerRun{
		{ID: "a", Pool: "medium", Name: "r-idle", Active: true, Created: t0},
		{ID: "b", Pool: "medium", Name: "r-busy", Active: true, Created: t0},
		{ID: "c", Pool: "medium", Name: "r-jit", Active: true, Created: t0},
		{ID: "d", Pool: "medium", Name: "r-stopped", Created: t0},
		{ID: "e", Pool: "medium", Name: "r-requested", Active: true, Created: t0}, // not listed by GitHub yet
		{ID: "f", Pool: "medium", Name: "r-done", Created: t0},                    // ended and deregistered: gone
		{ID: "g", Pool: "medium", Name: "r-busy-dead", Created: t0},
	}
	got := map[string]State{}
	for _, r := range Merge(gh, runs) {
		got[r.Name] = r.State
	}
	want := map[string]State{"r-idle": Idle, "r-busy": Busy, "r-jit": Starting, "r-stopped": Offline, "r-ghost": Offline,
		"r-requested": Starting, "r-busy-dead": Busy}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Merge states\n got %v\nwant %v", got, want)
	}
}

func rn(name, pool string, s State, age time.Duration) Runner {
	r := Runner{Name: name, Pool: pool, State: s, Created: t0.Add(-age), GitHubID: int64(len(name)), RunID: "run-" + name, RunActive: s != Offline}
	return r
}

func waiting(r Runner) Runner { r.Waiting = true; return r }

func started(r Runner, ago time.Duration) Runner { r.Started = t0.Add(-ago); return r }

func TestDecide(t *testing.T) {
	plan := mustCompile(t, []Pool{
		{Name: "medium", Labels: []string{"self-hosted", "linux", "medium"}, Job: "r", Max: 5, MinIdle: 1, Scope: org()},
		{Name: "small", Labels: []string{"self-hosted", "linux", "small"}, Job: "r", Max: 3, Scope: org()},
	})
	medium := []string{"self-hosted", "linux", "medium"}
	small := []string{"small"}
	for _, tc := range []struct {
		name    string
		demand  []Demand
		runners []Runner
		want    []string // actions, "start POOL N" or "remove NAME"
	}{
		{"nothing queued: keep the minimum idle", nil, nil, []string{"start medium 1"}},
		{"queued jobs counted per label set", []Demand{{medium, 2}, {[]string{"medium", "linux"}, 1}, {small, 2}}, nil,
			[]string{"start medium 4", "start small 2"}},
		{"starting and idle runners count", []Demand{{medium, 3}},
			[]Runner{rn("s1", "medium", Starting, time.Second), rn("i1", "medium", Idle, time.Hour)}, []string{"start medium 2"}},
		{"max caps busy+starting+idle", []Demand{{medium, 10}},
			[]Runner{rn("b1", "medium", Busy, time.Hour), rn("b2", "medium", Busy, time.Hour), rn("s1", "medium", Starting, time.Second)},
			[]string{"start medium 2"}},
		{"at max nothing starts", []Demand{{small, 5}},
			[]Runner{rn("b1", "small", Busy, time.Hour), rn("b2", "small", Busy, time.Hour), rn("b3", "small", Busy, time.Hour)}, []string{"start medium 1"}},
		{"offline ghosts are removed, busy never", nil,
			[]Runner{rn("o1", "medium", Offline, time.Hour), rn("b1", "medium", Busy, time.Hour), rn("i1", "medium", Idle, time.Hour)},
			[]string{"remove o1"}},
		{"a runner never online within the bound is replaced", nil,
			[]Runner{rn("s1", "medium", Starting, 6*time.Minute)}, []string{"remove s1", "start medium 1"}},
		{"a runner still within the bound waits", nil, []Runner{rn("s1", "medium", Starting, 4*time.Minute)}, nil},
		{"scale-in of surplus idle, oldest first, never the young", nil,
			[]Runner{rn("i1", "medium", Idle, time.Hour), rn("i2", "medium", Idle, 2*time.Hour), rn("i3", "medium", Idle, 30*time.Second),
				rn("b1", "medium", Busy, 3*time.Hour)},
			[]string{"remove i2", "remove i1"}},
		{"idle runners of a queued label set stay", []Demand{{medium, 2}},
			[]Runner{rn("i1", "medium", Idle, time.Hour), rn("i2", "medium", Idle, time.Hour), rn("i3", "medium", Idle, time.Hour)}, nil},
		{"runners of a pool no longer configured", nil,
			[]Runner{rn("x1", "gone", Idle, time.Hour), rn("x2", "gone", Busy, time.Hour), rn("x3", "gone", Offline, time.Hour)},
			[]string{"remove x1", "remove x3", "start medium 1"}},
		{"unserved demand starts nothing", []Demand{{[]string{"windows"}, 3}}, nil, []string{"start medium 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(Input{Plan: plan, Demand: tc.demand, Runners: tc.runners, Now: t0})
			var got []string
			for _, a := range d.Actions {
				if a.Kind == Start {
					got = append(got, fmt.Sprintf("start %s %d", a.Pool, a.Count))
				} else {
					got = append(got, "remove "+a.Runner.Name)
				}
				if a.Reason == "" {
					t.Errorf("%v has no reason", a)
				}
				if a.Kind == Remove && a.Runner.State == Busy {
					t.Errorf("removes busy %s", a.Runner.Name)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("actions\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestDecideReportsPoolsAndUnserved(t *testing.T) {
	plan := mustCompile(t, []Pool{{Name: "medium", Labels: []string{"medium"}, Job: "r", Max: 4, MinIdle: 2, Scope: org()}})
	d := Decide(Input{Plan: plan, Now: t0,
		Demand:  []Demand{{[]string{"medium"}, 3}, {[]string{"windows"}, 1}, {[]string{"Windows"}, 2}},
		Runners: []Runner{rn("b1", "medium", Busy, time.Hour), rn("s1", "medium", Starting, time.Second)}})
	st := d.Pools[0]
	if st.Queued != 3 || st.Busy != 1 || st.Starting != 1 || st.MinIdle != 2 || st.Desired != 4 {
		t.Errorf("status %+v", st)
	}
	if len(d.Unserved) != 1 || d.Unserved[0].Queued != 3 || d.Unserved[0].Labels[0] != "windows" {
		t.Errorf("unserved %+v", d.Unserved)
	}
	if len(d.Actions) != 1 || d.Actions[0].Count != 2 || !strings.Contains(d.Actions[0].Reason, "max 4") {
		t.Errorf("actions %v", d.Actions)
	}
}
