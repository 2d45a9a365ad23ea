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

// Targets are the policy-quality targets for hashike (docs/sim.md, "Targets"):
//   - bursty workloads: a p95 wait at most a fifth of ecs-managed's (at its defaults), at no
//     more than 1.05 times its instance-hours (WaitMet, InstanceHoursMet);
//   - never worse: a p95 wait no longer than that of every baseline configuration
//     (ecs-managed's defaults and every point of its sweep, reactive, provisioning) that costs
//     no more than hashike (NeverWorse; DominatedBy names those that break it);
//   - the SLO: where the clairvoyant oracle meets a p95 wait of SLOWaitP95, hashike meets it
//     too, at a cost at most 1.2 times the lower bound and with at most twice ecs-managed's
//     launches (SLOMet);
//   - and, from issue 5, a cost at most 1.25 times the oracle's (CostMet).
type Targets struct {
	WaitP95VsECSManaged       float64 `json:"wait_p95_vs_ecs_managed"`
	InstanceHoursVsECSManaged float64 `json:"instance_hours_vs_ecs_managed"`
	CostVsOracle              float64 `json:"cost_vs_oracle"`
	CostVsLowerBound          float64 `json:"cost_vs_lower_bound"`
	LaunchesVsECSManaged      float64 `json:"launches_vs_ecs_managed"`
	WaitMet                   bool    `json:"wait_met"`
	InstanceHoursMet          bool    `json:"instance_hours_met"`
	CostMet                   bool    `json:"cost_met"`

	NeverWorse  bool       `json:"never_worse"`
	DominatedBy []Baseline `json:"dominated_by,omitempty"`

	SLOWaitP95      float64 `json:"slo_wait_p95_s"`
	OracleMeetsSLO  bool    `json:"oracle_meets_slo"`
	HashikeMeetsSLO bool    `json:"hashike_meets_slo"`
	// SLOMet: the oracle misses the SLO (nothing is asked), or hashike meets it at a cost at
	// most TargetCostVsLowerBound times the lower bound and with at most
	// TargetLaunchesRatio times ecs-managed's launches.
	SLOMet bool `json:"slo_met"`
}

// Baseline is one configuration of a baseline policy, as the never-worse target weighs it.
type Baseline struct {
	Label   string  `json:"label"`
	WaitP95 float64 `json:"wait_p95_s"`
	CostUSD float64 `json:"cost_usd"`
}

// The targets' bounds.
const (
	TargetWaitP95Ratio       = 0.2
	TargetInstanceHoursRatio = 1.05
	TargetCostRatio          = 1.25
	TargetCostVsLowerBound   = 1.2
	TargetLaunchesRatio      = 2.0
	// TargetSLOWaitP95 is the SLO of the target, in seconds: hashike's default.
	TargetSLOWaitP95 = 30.0
)

// baselinePolicies are the policies the never-worse target compares hashike with.
var baselinePolicies = []string{"ecs-managed", "reactive", "provisioning"}

// NewReport gathers results (one per policy, in the order run) into a Report.
func NewReport(cfg Config, wl Workload, seed uint64, results []*Result) *Report {
	r := &Report{Workload: wl.Name, Jobs: len(wl.Jobs), Seed: seed, Latency: cfg.Latency, Pools: cfg.Pools,
		LowerBound: ComputeLowerBound(cfg, wl)}
	for _, res := range results {
		r.Policies = append(r.Policies, res.Metrics)
	}
	h, e, o := r.metrics("hashike"), r.metrics("ecs-managed"), r.metrics("oracle")
	if h != nil && e != nil && o != nil {
		t := &Targets{
			WaitP95VsECSManaged:       ratio(h.WaitP95, e.WaitP95),
			InstanceHoursVsECSManaged: ratio(h.InstanceHours.Total, e.InstanceHours.Total),
			CostVsOracle:              ratio(h.CostUSD, o.CostUSD),
			CostVsLowerBound:          ratio(h.CostUSD, r.LowerBound.CostUSD),
			LaunchesVsECSManaged:      ratio(float64(h.Launches), float64(e.Launches)),
			SLOWaitP95:                TargetSLOWaitP95,
			OracleMeetsSLO:            o.WaitP95 <= TargetSLOWaitP95,
			HashikeMeetsSLO:           h.WaitP95 <= TargetSLOWaitP95,
		}
		t.WaitMet = h.WaitP95 <= TargetWaitP95Ratio*e.WaitP95
		t.InstanceHoursMet = h.InstanceHours.Total <= TargetInstanceHoursRatio*e.InstanceHours.Total
		t.CostMet = h.CostUSD <= TargetCostRatio*o.CostUSD
		t.SLOMet = !t.OracleMeetsSLO || (t.HashikeMeetsSLO && h.CostUSD <= TargetCostVsLowerBound*r.LowerBound.CostUSD &&
			float64(h.Launches) <= TargetLaunchesRatio*float64(e.Launches))
		r.Targets = t
		r.WeighBaselines(nil)
	}
	return r
}

// metrics is the named policy's figures, nil when it did not run.
func (r *Report) metrics(policy string) *Metrics {
	for i := range r.Policies {
		if r.Policies[i].Policy == policy {
			return &r.Policies[i]
		}
	}
	return nil
}

// WeighBaselines sets the never-worse target from the baseline policies that ran and the
// further configurations given (a sweep's points): a baseline that costs no more than hashike
// and waits less at p95 breaks it.
func (r *Report) WeighBaselines(extra []Baseline) {
	t, h := r.Targets, r.metrics("hashike")
	if t == nil || h == nil {
		return
	}
	var all []Baseline
	for _, name := range baselinePolicies {
		if m := r.metrics(name); m != nil {
			all = append(all, Baseline{Label: name, WaitP95: m.WaitP95, CostUSD: m.CostUSD})
		}
	}
	t.DominatedBy = nil
	for _, b := range append(all, extra...) {
		if b.CostUSD <= h.CostUSD && b.WaitP95 < h.WaitP95 {
			t.DominatedBy = append(t.DominatedBy, b)
		}
	}
	t.NeverWorse = len(t.DominatedBy) == 0
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
		b.WriteString(t.neverWorseLine())
		if !t.OracleMeetsSLO {
			fmt.Fprintf(&b, "SLO p95 <= %.0f s: the oracle misses it, so nothing is asked of hashike.\n", t.SLOWaitP95)
		} else {
			fmt.Fprintf(&b, "SLO p95 <= %.0f s (the oracle meets it): hashike %s it, at x%.2f the lower bound (<= %.1f) and x%.2f ecs-managed's launches (<= %.0f): %s.\n",
				t.SLOWaitP95, map[bool]string{true: "meets", false: "misses"}[t.HashikeMeetsSLO],
				t.CostVsLowerBound, TargetCostVsLowerBound, t.LaunchesVsECSManaged, TargetLaunchesRatio, verdict(t.SLOMet))
		}
	}
	return b.String()
}

// neverWorseLine says whether the never-worse target holds, naming what breaks it.
func (t *Targets) neverWorseLine() string {
	if t.NeverWorse {
		return "never worse: met (no baseline configuration that ran costs no more and waits less at p95).\n"
	}
	var names []string
	for _, b := range t.DominatedBy {
		names = append(names, fmt.Sprintf("%s (p95 %.1f s, $%.2f)", b.Label, b.WaitP95, b.CostUSD))
	}
	return fmt.Sprintf("never worse: missed: %s cost no more and wait less at p95.\n", strings.Join(names, ", "))
}
