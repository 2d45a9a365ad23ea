package sim

import (
	"fmt"
	"strings"
)

// Report is what `hashike sim` writes to report.json: the run's inputs and, per policy, its
// Metrics (without records or series), with hashike's ratios to the baselines.
type Report struct {
	Workload string       `json:"workload"`
	Jobs     int          `json:"jobs"`
	Seed     uint64       `json:"seed"`
	Latency  Latency      `json:"latency"`
	Pools    []PoolConfig `json:"pools"`
	Policies []Metrics    `json:"policies"`
	// LowerBound is the cost no policy can go below on this workload and cluster
	// (ComputeLowerBound); the oracle is a clairvoyant reference, not a bound.
	LowerBound LowerBound `json:"lower_bound"`
	// Targets compares hashike with ecs-managed and the oracle, when all three ran.
	Targets *Targets `json:"targets,omitempty"`
}

// Targets are issue 5's policy-quality targets for hashike: a p95 wait at most a fifth of
// ecs-managed's at no more than 1.05 times its instance-hours, and a cost at most 1.25 times
// the oracle's.
type Targets struct {
	WaitP95VsECSManaged       float64 `json:"wait_p95_vs_ecs_managed"`
	InstanceHoursVsECSManaged float64 `json:"instance_hours_vs_ecs_managed"`
	CostVsOracle              float64 `json:"cost_vs_oracle"`
	CostVsLowerBound          float64 `json:"cost_vs_lower_bound"`
	WaitMet                   bool    `json:"wait_met"`
	InstanceHoursMet          bool    `json:"instance_hours_met"`
	CostMet                   bool    `json:"cost_met"`
}

// The targets' bounds.
const (
	TargetWaitP95Ratio       = 0.2
	TargetInstanceHoursRatio = 1.05
	TargetCostRatio          = 1.25
)

// NewReport gathers results (one per policy, in the order run) into a Report.
func NewReport(cfg Config, wl Workload, seed uint64, results []*Result) *Report {
	r := &Report{Workload: wl.Name, Jobs: len(wl.Jobs), Seed: seed, Latency: cfg.Latency, Pools: cfg.Pools,
		LowerBound: ComputeLowerBound(cfg, wl)}
	by := map[string]*Metrics{}
	for _, res := range results {
		r.Policies = append(r.Policies, res.Metrics)
		by[res.Policy] = &r.Policies[len(r.Policies)-1]
	}
	h, e, o := by["hashike"], by["ecs-managed"], by["oracle"]
	if h != nil && e != nil && o != nil {
		t := &Targets{
			WaitP95VsECSManaged:       ratio(h.WaitP95, e.WaitP95),
			InstanceHoursVsECSManaged: ratio(h.InstanceHours.Total, e.InstanceHours.Total),
			CostVsOracle:              ratio(h.CostUSD, o.CostUSD),
			CostVsLowerBound:          ratio(h.CostUSD, r.LowerBound.CostUSD),
		}
		t.WaitMet = h.WaitP95 <= TargetWaitP95Ratio*e.WaitP95
		t.InstanceHoursMet = h.InstanceHours.Total <= TargetInstanceHoursRatio*e.InstanceHours.Total
		t.CostMet = h.CostUSD <= TargetCostRatio*o.CostUSD
		r.Targets = t
	}
	return r
}

// OracleLabel is how tables name the oracle: it knows the future but assumes one launch
// latency and packs greedily, so it can cost more than other policies.
const OracleLabel = "oracle: reference (clairvoyant), not a bound"

// PolicyLabel is the name a table shows for a policy.
func PolicyLabel(name string) string {
	if name == "oracle" {
		return OracleLabel
	}
	return name
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Markdown renders the report as a Markdown table for people, with the targets' verdicts
// under it.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Workload %s: %d jobs, seed %d, launch latency %s (median %s, p95 %s).\n\n",
		r.Workload, r.Jobs, r.Seed, r.Latency.Name, r.Latency.Median, r.Latency.P95)
	b.WriteString("| policy | jobs | failed | wait p50 s | p95 s | p99 s | max s | instance-hours | cost USD | CPU util | mem util | launches | interruptions |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, m := range r.Policies {
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %.0f | %.0f | %.0f | %.1f | %.2f | %.2f | %.2f | %d | %d |\n",
			PolicyLabel(m.Policy), m.Jobs, m.JobsFailed, m.WaitP50, m.WaitP95, m.WaitP99, m.WaitMax,
			m.InstanceHours.Total, m.CostUSD, m.CPUUtilization, m.MemoryUtilization, m.Launches, m.Interruptions)
	}
	fmt.Fprintf(&b, "| lower bound | %d | - | - | - | - | - | - | %.2f | - | - | - | - |\n", r.Jobs, r.LowerBound.CostUSD)
	fmt.Fprintf(&b, "\nlower bound: every task from its submit, packed perfectly onto %s (CPU) and %s (memory), no boot, per-second billing without a minimum.\n",
		r.LowerBound.CPUType, r.LowerBound.MemoryType)
	if t := r.Targets; t != nil {
		verdict := func(ok bool) string {
			if ok {
				return "met"
			}
			return "missed"
		}
		fmt.Fprintf(&b, "\nhashike vs ecs-managed: p95 wait x%.2f (target <= %.2f: %s), instance-hours x%.2f (target <= %.2f: %s); cost vs oracle x%.2f (target <= %.2f: %s); cost vs lower bound x%.2f.\n",
			t.WaitP95VsECSManaged, TargetWaitP95Ratio, verdict(t.WaitMet),
			t.InstanceHoursVsECSManaged, TargetInstanceHoursRatio, verdict(t.InstanceHoursMet),
			t.CostVsOracle, TargetCostRatio, verdict(t.CostMet), t.CostVsLowerBound)
	}
	return b.String()
}
