package sim

import (
	"testing"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// dayWorkload is one simulated day of about 80,000 jobs: Poisson with the daily profile,
// BatchShapes (mean 10 minutes).
func dayWorkload() Workload {
	return Poisson(PoissonSpec{Name: "day", Rate: 80_000 / 24.0, Span: 24 * time.Hour, Profile: DailyProfile(), Shapes: BatchShapes()}, 1)
}

func dayConfig() Config {
	return Config{Pools: []PoolConfig{{
		Pool:          autoscale.Pool{Name: "batch", InstanceTypes: []string{"m6i.2xlarge"}, Max: 200, OnDemandBase: 20, OnDemandPercentAboveBase: 20},
		Initial:       20,
		LaunchFailure: 0.01, InsufficientCapacity: 0.02, SpotHazardPerHour: 0.005, ReclaimsPerDay: 1,
	}}}
}

// BenchmarkDay runs one simulated day of 80,000 jobs on up to 200 instances with the naive
// policy; it reports events/s and wall seconds per simulated day (target <= 5 s).
//
//	go test -run '^$' -bench BenchmarkDay -benchtime 3x ./sim/
//
// On a 2-vCPU Intel Xeon (2026-11, a shared machine, load 2-6): 0.55-1.0 s per run,
// 0.51-0.95 wall-s/sim-day, 400,000-740,000 events/s (79,818 jobs; ~400,000 events);
// BenchmarkDayBacklog 0.72 s per run. The autoscale policies on the same day from an empty
// cluster ran in 0.4-0.9 s each; oracle 4.1 s (it reads Snapshot.Future every 10 s).
func BenchmarkDay(b *testing.B) {
	wl := dayWorkload()
	cfg := dayConfig()
	p := naive{idleFor: 5 * time.Minute}
	b.ResetTimer()
	events, simulated := 0, 0.0
	var r *Result
	for b.Loop() {
		var err error
		if r, err = Run(cfg, wl, p, 1); err != nil {
			b.Fatal(err)
		}
		events += r.Events
		simulated += r.SimulatedSeconds
	}
	wall := b.Elapsed().Seconds()
	b.ReportMetric(float64(events)/wall, "events/s")
	b.ReportMetric(wall/(simulated/86400), "wall-s/sim-day")
	b.ReportMetric(float64(len(wl.Jobs)), "jobs")
	b.Logf("jobs %d failed %d wait p50 %.0f s p95 %.0f s p99 %.0f s, cost $%.0f, cpu util %.2f, launches %d, interruptions %d",
		r.Jobs, r.JobsFailed, r.WaitP50, r.WaitP95, r.WaitP99, r.CostUSD, r.CPUUtilization, r.Launches, r.Interruptions)
}

// BenchmarkDayBacklog is the same day on a fixed cluster of 40 instances, far too few: the
// queue grows to tens of thousands of tasks (a third of the jobs fail at the horizon), which
// costs the dispatcher most (it merges per-shape queues by age and skips shapes that failed).
//
//	go test -run '^$' -bench BenchmarkDayBacklog -benchtime 3x ./sim/
func BenchmarkDayBacklog(b *testing.B) {
	wl := dayWorkload()
	cfg := dayConfig()
	cfg.Pools[0].Initial, cfg.Pools[0].Max = 40, 40
	events := 0
	for b.Loop() {
		r, err := Run(cfg, wl, fixed{}, 1)
		if err != nil {
			b.Fatal(err)
		}
		events += r.Events
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDayPolicies runs the same day of 80,000 jobs from an empty cluster of the
// default cluster's shape (up to 200 instances) once per registered policy, as `hashike sim
// --workload synthetic:day` does; target <= 5 s per policy.
//
//	go test -run '^$' -bench BenchmarkDayPolicies -benchtime 2x ./sim/
func BenchmarkDayPolicies(b *testing.B) {
	wl, err := Synthetic("day", 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range autoscale.Names() {
		b.Run(name, func(b *testing.B) {
			p, _ := autoscale.ByName(name)
			cfg := ForPolicy(DefaultCluster(), name)
			cfg.OmitRecords = true
			events := 0
			var r *Result
			for b.Loop() {
				if r, err = Run(cfg, wl, p, 1); err != nil {
					b.Fatal(err)
				}
				events += r.Events
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/sim-day")
		})
	}
}
