package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/runners"
	"github.com/hashike/hashike/sim"
)

// Runner-pool simulation parameters (docs/runners.md): a runner comes online 20 s plus an
// exponential of mean 10 s after it is requested (about DeNA's 30 s on warm hosts); the
// schedule mode keeps 5 idle per pool Monday-Friday 08:45-18:15 UTC (the synthetic CI
// workload's business hours start at 09:00); the SLO mode targets p95 queued->started of
// 15 s.
const (
	simRunnerStartMin  = 20 * time.Second
	simRunnerStartMean = 10 * time.Second
	simScheduleIdle    = 5
	simSLOTarget       = 15 * time.Second
)

// simRunners replays wl's jobs as GitHub Actions jobs on ephemeral runner pools, one pool per
// job name (the CI workload's small, medium, large and xlarge), under three warm-pool modes,
// and writes a Markdown table of queued->started p50/p95 and idle runner-hours.
func simRunners(w io.Writer, wl sim.Workload, seed uint64) error {
	var names []string
	for _, j := range wl.Jobs {
		if !slices.Contains(names, j.Name) {
			names = append(names, j.Name)
		}
	}
	jobs := make([]runners.SimJob, len(wl.Jobs))
	for i, j := range wl.Jobs {
		jobs[i] = runners.SimJob{Submit: j.Submit, Duration: j.Duration, Labels: []string{"self-hosted", "linux", poolName(j.Name)}}
	}
	fmt.Fprintf(w, "Runner pools for %s (%d jobs, seed %d): a runner starts in %v + exp(%v); schedule: %d idle per pool Mon-Fri 08:45-18:15 UTC; SLO: p95 queued->started <= %v.\n\n",
		wl.Name, len(wl.Jobs), seed, simRunnerStartMin, simRunnerStartMean, simScheduleIdle, simSLOTarget)
	fmt.Fprintln(w, "| warm pool | wait p50 | wait p95 | wait max | idle runner-h | starting runner-h | runners |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, mode := range []string{"none", "schedule", "slo"} {
		var pools []runners.Pool
		for _, n := range names {
			p := runners.Pool{Name: poolName(n), Labels: []string{"self-hosted", "linux", poolName(n)}, Job: "runner-" + poolName(n),
				Max: 1000, Scope: runners.Scope{Level: runners.ScopeOrg, Name: "sim"}, Arch: runtime.GOARCH}
			switch mode {
			case "schedule":
				p.Schedules = []runners.WarmSchedule{{Cron: "45 8 * * 1-5", Duration: hashike.Duration(9*time.Hour + 30*time.Minute), MinIdle: simScheduleIdle}}
			case "slo":
				p.SLO = &runners.SLO{Target: hashike.Duration(simSLOTarget)}
			}
			pools = append(pools, p)
		}
		plan, err := runners.Compile(pools, runtime.GOARCH)
		if err != nil {
			return err
		}
		r := runners.Simulate(runners.SimConfig{Plan: plan, Start: sim.DefaultCluster().Start,
			StartMin: simRunnerStartMin, StartMean: simRunnerStartMean, Seed: seed}, jobs)
		fmt.Fprintf(w, "| %s | %v | %v | %v | %.1f | %.1f | %d |\n", mode, r.WaitP50.Round(time.Millisecond), r.WaitP95.Round(time.Millisecond),
			r.WaitMax.Round(time.Millisecond), r.IdleRunnerHours, r.StartingRunnerHours, r.RunnersStarted)
	}
	return nil
}

// poolName makes a job name a pool name (lower case letters, digits and '-').
func poolName(s string) string {
	b := []byte{}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			b = append(b, '-')
		}
	}
	if len(b) == 0 {
		return "default"
	}
	return string(b[:min(len(b), 40)])
}
