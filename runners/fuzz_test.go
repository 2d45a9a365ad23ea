package runners

import (
	"testing"
	"time"
)

// FuzzDecide: whatever the runners and demand, a decision never removes a busy runner,
// never starts beyond a pool's Max, and removes each runner at most once.
func FuzzDecide(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5}, []byte{3, 1, 0, 2}, uint16(60))
	f.Add([]byte{2, 2, 2, 2, 1, 1, 3, 3, 0}, []byte{9, 9}, uint16(600))
	plan, err := Compile([]Pool{
		{Name: "a", Labels: []string{"x", "a"}, Job: "j", Max: 4, MinIdle: 1, Scope: org()},
		{Name: "b", Labels: []string{"x", "b"}, Job: "j", Max: 2, Scope: org()},
	}, ArchAMD64)
	if err != nil {
		f.Fatal(err)
	}
	states := []State{Starting, Idle, Busy, Offline}
	pools := []string{"a", "b", "gone"}
	labels := [][]string{{"a"}, {"b"}, {"x"}, {"windows"}}
	f.Fuzz(func(t *testing.T, rs, demand []byte, ageSec uint16) {
		if len(rs) > 200 || len(demand) > 50 {
			return
		}
		now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
		in := Input{Plan: plan, Now: now}
		busy := map[string]bool{}
		total := map[string]int{}
		for i, b := range rs {
			r := Runner{Name: string(rune('A'+i%26)) + string(rune('0'+i/26)), Pool: pools[int(b>>2)%len(pools)], State: states[b&3],
				Created: now.Add(-time.Duration(int(ageSec)*(i+1)) * time.Second), GitHubID: int64(i + 1)}
			busy[r.Name] = r.State == Busy
			total[r.Pool]++
			in.Runners = append(in.Runners, r)
		}
		for i, n := range demand {
			in.Demand = append(in.Demand, Demand{Labels: labels[i%len(labels)], Queued: int(n)})
		}
		d := Decide(in)
		removed := map[string]bool{}
		started := map[string]int{}
		for _, a := range d.Actions {
			switch a.Kind {
			case Remove:
				if busy[a.Runner.Name] {
					t.Fatalf("removes busy %s: %v", a.Runner.Name, a)
				}
				if removed[a.Runner.Name] {
					t.Fatalf("removes %s twice", a.Runner.Name)
				}
				removed[a.Runner.Name] = true
				total[a.Pool]--
			case Start:
				started[a.Pool] += a.Count
			}
		}
		for _, p := range plan.Pools() {
			if started[p.Name] > 0 && total[p.Name]+started[p.Name] > p.Max {
				t.Fatalf("pool %s: %d runners after the decision, max %d", p.Name, total[p.Name]+started[p.Name], p.Max)
			}
		}
	})
}
