package sim

import (
	"testing"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// TestRegisteredPolicies runs every policy of autoscale.ByName from an empty cluster (spot,
// launch failures, reclaims on) and checks conservation: whatever a policy decides, every
// job completes once or fails with a reason.
func TestRegisteredPolicies(t *testing.T) {
	wl := Poisson(PoissonSpec{Name: "morning", Rate: 3000, Span: 4 * time.Hour, Profile: DailyProfile(), Shapes: BatchShapes()}, 2)
	for _, name := range autoscale.Names() {
		p, err := autoscale.ByName(name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := dayConfig()
		cfg.Pools[0].Initial = 0
		cfg.CapacityProvider = name == "ecs-managed" || name == "provisioning"
		cfg.Future = name == "oracle"
		r, err := Run(cfg, wl, p, 1)
		if err != nil {
			t.Fatal(err)
		}
		checkConservation(t, wl, r)
		if r.RejectedActions != 0 {
			t.Errorf("%s: %d actions rejected", name, r.RejectedActions)
		}
		t.Logf("%-12s jobs %d failed %d wait p50 %.0f p95 %.0f p99 %.0f max %.0f s; $%.2f; util cpu %.2f mem %.2f; launches %d; interruptions %d",
			name, r.Jobs, r.JobsFailed, r.WaitP50, r.WaitP95, r.WaitP99, r.WaitMax, r.CostUSD, r.CPUUtilization, r.MemoryUtilization, r.Launches, r.Interruptions)
	}
}
