package runners_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashike/hashike/runners"
	"github.com/hashike/hashike/runners/runnerstest"
)

var sizes = []string{"small", "medium", "large", "xlarge"}

func benchPlan(b *testing.B, max int) *runners.Plan {
	var pools []runners.Pool
	for _, s := range sizes {
		for _, arch := range []string{"amd64", "arm64"} {
			pools = append(pools, runners.Pool{Name: s + "-" + arch, Labels: []string{"self-hosted", "linux", arch, s}, Arch: arch, Backend: "ecs",
				Job: "runner-" + s, Max: max, MinIdle: 2, Scope: org})
		}
	}
	p, err := runners.Compile(pools, runners.ArchAMD64)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkDecide: one reconcile decision over 8 pools with n runners and n/2 queued jobs.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			plan := benchPlan(b, n)
			now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
			in := runners.Input{Plan: plan, Now: now}
			states := []runners.State{runners.Idle, runners.Busy, runners.Busy, runners.Starting, runners.Offline}
			for i := range n {
				p := plan.Pools()[i%len(plan.Pools())]
				in.Runners = append(in.Runners, runners.Runner{Name: fmt.Sprintf("r%d", i), Pool: p.Name, State: states[i%len(states)],
					Created: now.Add(-time.Duration(i) * time.Second), GitHubID: int64(i + 1), RunID: fmt.Sprint(i)})
			}
			for i, p := range plan.Pools() {
				in.Demand = append(in.Demand, runners.Demand{Labels: p.Labels, Queued: n / 2 / len(plan.Pools())})
				in.Demand = append(in.Demand, runners.Demand{Labels: p.Labels[2:], Queued: i})
			}
			for b.Loop() {
				runners.Decide(in)
			}
		})
	}
}

// BenchmarkBurst500: 500 queued jobs of mixed sizes and architectures -> one pass requests
// all their runners (JIT config and run each) on in-memory ports. The target is 10 s;
// the control plane's share is this benchmark's time per op.
func BenchmarkBurst500(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		clock := &fakeClock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
		w := runnerstest.New(clock.Now)
		c := &runners.Controller{Plan: benchPlan(b, 1000), GitHub: w, Runs: w, Clock: clock}
		for i := range 500 {
			w.Queue("self-hosted", "linux", []string{"amd64", "arm64"}[i%2], sizes[i%len(sizes)])
		}
		b.StartTimer()
		if _, err := c.Step(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if got := len(w.ActiveRuns()); got != 500+16 { // and 2 idle per pool
			b.Fatalf("%d runs requested, want 516", got)
		}
		if got := w.CallCount("GenerateJITConfig"); got != 516 {
			b.Fatalf("%d JIT calls", got)
		}
		b.StartTimer()
	}
}
