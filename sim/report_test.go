package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// handReport is a report of hand-made figures on a workload whose lower bound is $1.00 (one
// task of a whole "c" instance, $1 an hour, for an hour).
func handReport(t *testing.T, ms ...Metrics) *Report {
	t.Helper()
	cfg := Config{
		Types: []autoscale.InstanceType{{Name: "c", CPU: 1024, MemoryMiB: 1024, OnDemandPrice: 1}},
		Pools: []PoolConfig{{Pool: autoscale.Pool{Name: "p", InstanceTypes: []string{"c"}, Max: 1, OnDemandPercentAboveBase: 100}}},
	}
	wl := Workload{Name: "hand", Jobs: []Job{{Submit: 0, Duration: time.Hour, CPU: 1024, MemoryMiB: 1024}}}
	var results []*Result
	for _, m := range ms {
		results = append(results, &Result{Metrics: m})
	}
	r := NewReport(cfg, wl, 1, results)
	if r.LowerBound.CostUSD < 0.999 || r.LowerBound.CostUSD > 1.001 {
		t.Fatalf("lower bound $%.4f, want $1", r.LowerBound.CostUSD)
	}
	return r
}

func fig(policy string, p95, cost float64, launches int) Metrics {
	return Metrics{Policy: policy, WaitP95: p95, CostUSD: cost, Launches: launches}
}

// TestNeverWorse: a baseline configuration that costs no more than hashike and waits less at
// p95 breaks the target, whether it is a policy of the run or a sweep's point; one that waits
// less but costs more, or costs less but waits longer, does not.
func TestNeverWorse(t *testing.T) {
	r := handReport(t, fig("ecs-managed", 40, 1.10, 10), fig("reactive", 20, 1.50, 10), fig("provisioning", 60, 0.90, 10),
		fig("hashike", 30, 1.20, 10), fig("oracle", 10, 1.00, 10))
	if !r.Targets.NeverWorse || len(r.Targets.DominatedBy) != 0 {
		t.Fatalf("never worse = %v, dominated by %+v; want met", r.Targets.NeverWorse, r.Targets.DominatedBy)
	}
	r.WeighBaselines([]Baseline{{Label: "ecs-managed tuned", WaitP95: 29, CostUSD: 1.20}, {Label: "dearer", WaitP95: 5, CostUSD: 1.21}})
	if r.Targets.NeverWorse || len(r.Targets.DominatedBy) != 1 || r.Targets.DominatedBy[0].Label != "ecs-managed tuned" {
		t.Fatalf("never worse = %v, dominated by %+v; want missed by the tuned point alone", r.Targets.NeverWorse, r.Targets.DominatedBy)
	}
	if md := r.Markdown(); !strings.Contains(md, "never worse: missed: ecs-managed tuned (p95 29.0 s, $1.20)") {
		t.Errorf("the table does not name what breaks the target:\n%s", md)
	}
	r.WeighBaselines(nil) // the sweep's points are replaced, not added to
	if !r.Targets.NeverWorse {
		t.Errorf("never worse after weighing no extra points = %+v", r.Targets.DominatedBy)
	}
	r = handReport(t, fig("ecs-managed", 40, 1.10, 10), fig("provisioning", 29.9, 1.20, 10), fig("hashike", 30, 1.20, 10), fig("oracle", 10, 1.00, 10))
	if r.Targets.NeverWorse {
		t.Errorf("provisioning at hashike's cost and a shorter p95 does not break the target")
	}
}

// TestSLOTarget: where the oracle meets the 30 s SLO, hashike must too, at no more than 1.2x
// the lower bound and twice ecs-managed's launches; where the oracle misses it, nothing is
// asked.
func TestSLOTarget(t *testing.T) {
	for _, c := range []struct {
		name           string
		hashike        Metrics
		oracleP95      float64
		want, oracleOK bool
	}{
		{"met", fig("hashike", 30, 1.2, 20), 10, true, true},
		{"hashike misses the SLO", fig("hashike", 31, 1.0, 10), 10, false, true},
		{"too dear", fig("hashike", 20, 1.21, 10), 10, false, true},
		{"too many launches", fig("hashike", 20, 1.0, 21), 10, false, true},
		{"the oracle misses it too", fig("hashike", 90, 3.0, 50), 31, true, false},
	} {
		r := handReport(t, fig("ecs-managed", 100, 1.0, 10), c.hashike, fig("oracle", c.oracleP95, 1.0, 10))
		if got := r.Targets; got.SLOMet != c.want || got.OracleMeetsSLO != c.oracleOK {
			t.Errorf("%s: SLO met %v (oracle meets %v), want %v (%v)", c.name, got.SLOMet, got.OracleMeetsSLO, c.want, c.oracleOK)
		}
	}
}
