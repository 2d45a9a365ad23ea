package main

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/sim"
)

// sweepPolicies are the policies --sweep knows: those with tunables worth a grid.
var sweepPolicies = []string{"ecs-managed"}

// sweepResult is report.json's "sweep" block: the policy run over a grid of its tunables, every
// point with its figures and whether it is on the Pareto front of p95 wait against cost
// (no other point is as good on both and better on one).
type sweepResult struct {
	Policy string       `json:"policy"`
	Points []sweepPoint `json:"points"`
}

// sweepPoint is one configuration of the grid (the ECS ManagedScaling fields; the warm-up
// in seconds) and its run's figures.
type sweepPoint struct {
	TargetCapacity         int     `json:"targetCapacity"`
	InstanceWarmupPeriod   int     `json:"instanceWarmupPeriod"`
	MinimumScalingStepSize int     `json:"minimumScalingStepSize"`
	MaximumScalingStepSize int     `json:"maximumScalingStepSize"`
	WaitP50                float64 `json:"wait_p50_s"`
	WaitP95                float64 `json:"wait_p95_s"`
	WaitP99                float64 `json:"wait_p99_s"`
	InstanceHours          float64 `json:"instance_hours"`
	CostUSD                float64 `json:"cost_usd"`
	Launches               int     `json:"launches"`
	JobsFailed             int     `json:"jobs_failed"`
	OnFront                bool    `json:"on_front"`
}

// sweepGrid is ecs-managed's grid: targetCapacity {80, 90, 100} x instanceWarmupPeriod
// {60, 90, 180, 300} s x a step setting. For a group of one instance type in one zone the
// step follows the demand, bounded by maximumScalingStepSize {5, 20, 10000}; for a group
// spanning several types or zones ECS steps by exactly minimumScalingStepSize, so that is
// the one swept {1, 4, 16}. 36 runs; the defaults (100, 300, 1, 10000) are one of them.
func sweepGrid(pool autoscale.Pool) []autoscale.ECSManagedConfig {
	type step struct{ lo, hi int }
	steps := []step{{1, 5}, {1, 20}, {1, 10000}}
	if pool.Spans() {
		steps = []step{{1, 10000}, {4, 10000}, {16, 10000}}
	}
	var grid []autoscale.ECSManagedConfig
	for _, target := range []int{80, 90, 100} {
		for _, warmup := range []int{60, 90, 180, 300} {
			for _, s := range steps {
				grid = append(grid, autoscale.ECSManagedConfig{TargetCapacity: target, InstanceWarmupPeriod: time.Duration(warmup) * time.Second,
					MinimumScalingStepSize: s.lo, MaximumScalingStepSize: s.hi})
			}
		}
	}
	return grid
}

// sweepReport is report.json: the report with the sweep block, when one ran.
type sweepReport struct {
	*sim.Report
	Sweep *sweepResult `json:"sweep,omitempty"`
}

// checkSweep validates --sweep.
func checkSweep(policy string) error {
	if policy != "" && !slices.Contains(sweepPolicies, policy) {
		return hashike.Errorf(hashike.EInvalid, "--sweep: cannot sweep %q (known: %s)", policy, strings.Join(sweepPolicies, ", "))
	}
	return nil
}

// runSweep runs the policy once per grid point, as many at once as there are CPUs (like
// runPolicies), and marks the Pareto front. Progress, a line per point, goes to w (nil:
// none).
func runSweep(cfg sim.Config, wl sim.Workload, policy string, seed uint64, w io.Writer) (*sweepResult, error) {
	grid := sweepGrid(cfg.Pools[0].Pool)
	for i := range cfg.Pools {
		if cfg.Pools[i].Name == cfg.ECSManaged.Pool {
			grid = sweepGrid(cfg.Pools[i].Pool)
		}
	}
	sw := &sweepResult{Policy: policy, Points: make([]sweepPoint, len(grid))}
	errs := make([]error, len(grid))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var mu sync.Mutex
	done := 0
	start := time.Now()
	var wg sync.WaitGroup
	for i, g := range grid {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c := sim.ForPolicy(cfg, policy)
			g.Pool = cfg.ECSManaged.Pool
			c.ECSManaged = g
			c.OmitRecords = true
			p, err := sim.NewPolicy(c, policy)
			if err != nil {
				errs[i] = err
				return
			}
			res, err := sim.Run(c, wl, p, seed)
			if err != nil {
				errs[i] = err
				return
			}
			sw.Points[i] = sweepPoint{
				TargetCapacity: g.TargetCapacity, InstanceWarmupPeriod: int(g.InstanceWarmupPeriod / time.Second),
				MinimumScalingStepSize: g.MinimumScalingStepSize, MaximumScalingStepSize: g.MaximumScalingStepSize,
				WaitP50: res.WaitP50, WaitP95: res.WaitP95, WaitP99: res.WaitP99,
				InstanceHours: res.InstanceHours.Total, CostUSD: res.CostUSD, Launches: res.Launches, JobsFailed: res.JobsFailed,
			}
			if w != nil {
				mu.Lock()
				done++
				fmt.Fprintf(w, "sim: sweep %s %d/%d done (%.1f s)\n", policy, done, len(grid), time.Since(start).Seconds())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	markFront(sw.Points)
	return sw, nil
}

// baselines are the sweep's points as the never-worse target weighs them.
func (sw *sweepResult) baselines() []sim.Baseline {
	out := make([]sim.Baseline, len(sw.Points))
	for i, p := range sw.Points {
		out[i] = sim.Baseline{WaitP95: p.WaitP95, CostUSD: p.CostUSD,
			Label: fmt.Sprintf("%s targetCapacity %d, instanceWarmupPeriod %d s, step %d-%d", sw.Policy,
				p.TargetCapacity, p.InstanceWarmupPeriod, p.MinimumScalingStepSize, p.MaximumScalingStepSize)}
	}
	return out
}

// dominates reports whether a is at least as good as b on p95 wait and cost, and better on
// one of them.
func dominates(a, b sweepPoint) bool {
	return a.WaitP95 <= b.WaitP95 && a.CostUSD <= b.CostUSD && (a.WaitP95 < b.WaitP95 || a.CostUSD < b.CostUSD)
}

// markFront sets OnFront on the points no other point dominates.
func markFront(pts []sweepPoint) {
	for i := range pts {
		pts[i].OnFront = !slices.ContainsFunc(pts, func(o sweepPoint) bool { return dominates(o, pts[i]) })
	}
}

// Markdown renders the front, cheapest first, under a line saying how many points ran
// ("" for no sweep). Configurations with the very same figures (a maximum step the demand
// never reached) share a row.
func (s *sweepResult) Markdown() string {
	if s == nil {
		return ""
	}
	type row struct {
		p     sweepPoint
		steps []string
	}
	var front []row
	n := 0
	for _, p := range s.Points {
		if !p.OnFront {
			continue
		}
		n++
		same := func(r row) bool {
			q := r.p
			q.MinimumScalingStepSize, q.MaximumScalingStepSize = p.MinimumScalingStepSize, p.MaximumScalingStepSize
			return q == p
		}
		step := fmt.Sprintf("%d-%d", p.MinimumScalingStepSize, p.MaximumScalingStepSize)
		if i := slices.IndexFunc(front, same); i >= 0 {
			front[i].steps = append(front[i].steps, step)
			continue
		}
		front = append(front, row{p, []string{step}})
	}
	slices.SortStableFunc(front, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.p.CostUSD, b.p.CostUSD), cmp.Compare(a.p.WaitP95, b.p.WaitP95))
	})
	var b strings.Builder
	fmt.Fprintf(&b, "\nSweep of %s over %d configurations: the Pareto front of p95 wait against cost (%d points; every point is in report.json).\n\n", s.Policy, len(s.Points), n)
	b.WriteString("| targetCapacity | instanceWarmupPeriod s | step min-max | wait p50 s | p95 s | p99 s | instance-hours | cost USD | launches | failed |\n")
	b.WriteString("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range front {
		p := r.p
		fmt.Fprintf(&b, "| %d | %d | %s | %.0f | %.1f | %.0f | %.1f | %.2f | %d | %d |\n",
			p.TargetCapacity, p.InstanceWarmupPeriod, strings.Join(r.steps, ", "),
			p.WaitP50, p.WaitP95, p.WaitP99, p.InstanceHours, p.CostUSD, p.Launches, p.JobsFailed)
	}
	return b.String()
}
