package sim

import (
	"math"
	"testing"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// TestLowerBoundByHand: two types, one cheapest per CPU, the other per memory; a CPU-bound
// task alone, then overlapping a memory-bound one, then the memory-bound one alone.
func TestLowerBoundByHand(t *testing.T) {
	cfg := Config{
		Types: []autoscale.InstanceType{
			{Name: "c", CPU: 2048, MemoryMiB: 4096, OnDemandPrice: 0.1},  // 20,480 CPU per $-hour
			{Name: "r", CPU: 1024, MemoryMiB: 16384, OnDemandPrice: 0.2}, // 81,920 MiB per $-hour
		},
		Pools: []PoolConfig{{Pool: autoscale.Pool{Name: "p", InstanceTypes: []string{"c", "r"}, Max: 10, OnDemandPercentAboveBase: 100}}},
	}
	wl := Workload{Name: "tiny", Jobs: []Job{
		{Submit: 0, Duration: time.Hour, CPU: 1024, MemoryMiB: 1024},                      // $0.05 an hour alone
		{Submit: 30 * time.Minute, Duration: time.Hour, CPU: 256, MemoryMiB: 16384},       // $0.20 an hour alone
		{Submit: 40 * time.Minute, Duration: time.Hour, CPU: 1 << 20, MemoryMiB: 1 << 20}, // fits no type: left out
	}}
	lb := ComputeLowerBound(cfg, wl)
	// 0-30 min: max(1024/20480, 1024/81920) = 0.05 $/h; 30-60 min: max(1280/20480,
	// 17408/81920) = 0.2125 $/h; 60-90 min: max(256/20480, 16384/81920) = 0.2 $/h.
	want := 0.05*0.5 + 0.2125*0.5 + 0.2*0.5
	if math.Abs(lb.CostUSD-want) > 1e-12 || lb.CPUType != "p/c" || lb.MemoryType != "p/r" {
		t.Fatalf("lower bound %+v, want $%.5f from p/c and p/r", lb, want)
	}
	// A pool buying 20% on-demand above its base prices a type at 0.2 od + 0.8 spot.
	cfg.Types[0].SpotPrice, cfg.Types[1].SpotPrice = 0.05, 0.1
	cfg.Pools[0].OnDemandPercentAboveBase = 20
	if got := ComputeLowerBound(cfg, wl).CostUSD; math.Abs(got-want*0.6) > 1e-12 {
		t.Fatalf("with spot: $%.6f, want $%.6f", got, want*0.6)
	}
}

// TestLowerBoundBelowEveryPolicy: on the built-in workloads (their first day), in the
// default cluster at every latency preset, no registered policy costs less than the bound.
func TestLowerBoundBelowEveryPolicy(t *testing.T) {
	for _, name := range SyntheticNames() {
		wl, err := Synthetic(name, 1)
		if err != nil {
			t.Fatal(err)
		}
		wl = firstHours(wl, 24)
		for _, lat := range []Latency{LatencyFast, LatencyTypical, LatencySlow} {
			cfg := DefaultCluster()
			cfg.Latency = lat
			lb := ComputeLowerBound(cfg, wl)
			if lb.CostUSD <= 0 {
				t.Fatalf("%s: lower bound %+v", name, lb)
			}
			for _, pn := range autoscale.Names() {
				p, _ := autoscale.ByName(pn)
				c := ForPolicy(cfg, pn)
				c.OmitRecords = true
				r, err := Run(c, wl, p, 1)
				if err != nil {
					t.Fatal(err)
				}
				if r.CostUSD < lb.CostUSD {
					t.Errorf("%s %s: %s costs $%.2f, below the lower bound $%.2f", name, lat.Name, pn, r.CostUSD, lb.CostUSD)
				}
				if lat == LatencyTypical {
					t.Logf("%s %s: %s $%.2f = %.2f x the bound $%.2f", name, lat.Name, pn, r.CostUSD, r.CostUSD/lb.CostUSD, lb.CostUSD)
				}
			}
		}
	}
}

// firstHours is wl's jobs submitted in its first h hours.
func firstHours(wl Workload, h int) Workload {
	out := wl
	out.Jobs = nil
	for _, j := range wl.Jobs {
		if j.Submit < time.Duration(h)*time.Hour {
			out.Jobs = append(out.Jobs, j)
		}
	}
	return out
}
