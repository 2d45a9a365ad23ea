package runners

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// ciJobs is two weekdays of medium jobs, Poisson at perHour in 09:00-18:00 UTC from a
// Monday, 5-minute jobs.
func ciJobs(perHour float64, seed uint64) []SimJob {
	r := rand.New(rand.NewPCG(seed, 1))
	var jobs []SimJob
	for day := range 2 {
		t := time.Duration(day)*24*time.Hour + 9*time.Hour
		end := t + 9*time.Hour
		for {
			t += time.Duration(r.ExpFloat64() * float64(time.Hour) / perHour)
			if t >= end {
				break
			}
			jobs = append(jobs, SimJob{Submit: t.Round(time.Second), Duration: 5 * time.Minute, Labels: []string{"self-hosted", "medium"}})
		}
	}
	return jobs
}

func simPlan(t *testing.T, mode string) *Plan {
	p := Pool{Name: "medium", Labels: []string{"self-hosted", "linux", "medium"}, Job: "r", Max: 100, Scope: org()}
	switch mode {
	case "schedule":
		p.Schedules = []WarmSchedule{{Cron: "45 8 * * 1-5", Duration: hashike.Duration(9*time.Hour + 30*time.Minute), MinIdle: 6}}
	case "slo":
		p.SLO = &SLO{Target: hashike.Duration(15 * time.Second)}
	}
	return mustCompile(t, []Pool{p})
}

func TestSimulateWarmPoolsCutTheWait(t *testing.T) {
	jobs := ciJobs(120, 7)
	res := map[string]SimResult{}
	for _, mode := range []string{"none", "schedule", "slo"} {
		res[mode] = Simulate(SimConfig{Plan: simPlan(t, mode), Start: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC),
			StartMin: 20 * time.Second, StartMean: 10 * time.Second, Seed: 1}, jobs)
		t.Logf("%s: %v", mode, res[mode])
		if r := res[mode]; r.Jobs != len(jobs) || r.Unserved != 0 {
			t.Errorf("%s: %v", mode, r)
		}
	}
	// No warm pool: every job waits for a runner's start (at least 20 s).
	if w := res["none"].WaitP50; w < 20*time.Second {
		t.Errorf("no warm pool: p50 wait %v, want a runner's start", w)
	}
	if res["none"].IdleRunnerHours > 0.5 {
		t.Errorf("no warm pool: %.2f idle runner-hours", res["none"].IdleRunnerHours)
	}
	// Warm pools: most jobs find an idle runner; they pay for it in idle runner-hours.
	for _, mode := range []string{"schedule", "slo"} {
		if r := res[mode]; r.WaitP50 != 0 || r.IdleRunnerHours <= res["none"].IdleRunnerHours {
			t.Errorf("%s: %v", mode, r)
		}
	}
	if r := res["slo"]; r.WaitP95 > 15*time.Second {
		t.Errorf("slo: p95 wait %v over the 15 s target", r.WaitP95)
	}
	again := Simulate(SimConfig{Plan: simPlan(t, "slo"), Start: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC),
		StartMin: 20 * time.Second, StartMean: 10 * time.Second, Seed: 1}, jobs)
	if again != res["slo"] {
		t.Errorf("not deterministic: %v then %v", res["slo"], again)
	}
}
