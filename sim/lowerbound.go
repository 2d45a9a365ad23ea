package sim

import (
	"cmp"
	"slices"
	"time"
)

// LowerBound is a cost no policy can go below on a workload and cluster: every task runs
// from its submit for its duration (no wait), packed perfectly (fractions of an instance
// allowed) onto the instance type that is cheapest for the resource that binds, with no boot
// time and per-second billing without a minimum. At each moment the cluster costs at least
//
//	max(CPU demanded / CPU per dollar, memory demanded / memory per dollar)
//
// per hour, where CPU per dollar is the best any type of any pool gives (the same for
// memory, possibly another type), since each instance's price is at least its CPU over the
// best CPU per dollar and at least its memory over the best memory per dollar. The bound is
// that rate integrated over the run (up to the horizon).
//
// A type's price is the pool's purchase split applied to it: OnDemandPercentAboveBase
// percent at the on-demand price and the rest at the spot price (the on-demand base only
// costs more). Tasks no type fits are left out (they fail in every policy).
type LowerBound struct {
	CostUSD float64 `json:"cost_usd"`
	// CPUType and MemoryType are the types with the most CPU and the most memory per dollar
	// (pool/type).
	CPUType    string `json:"cpu_type"`
	MemoryType string `json:"memory_type"`
	// CPUPerUSD and MemoryMiBPerUSD are theirs: CPU units and MiB per dollar-hour.
	CPUPerUSD       float64 `json:"cpu_per_usd_hour"`
	MemoryMiBPerUSD float64 `json:"memory_mib_per_usd_hour"`
}

// ComputeLowerBound returns the cost lower bound of wl on the cluster cfg describes (its
// defaults applied).
func ComputeLowerBound(cfg Config, wl Workload) LowerBound {
	cfg = cfg.WithDefaults()
	var lb LowerBound
	types := map[string]int{}
	for i, t := range cfg.Types {
		types[t.Name] = i
	}
	for _, p := range cfg.Pools {
		od := float64(p.OnDemandPercentAboveBase) / 100
		for _, tn := range p.InstanceTypes {
			i, ok := types[tn]
			if !ok {
				continue
			}
			t := cfg.Types[i]
			price := t.OnDemandPrice
			if t.SpotPrice > 0 {
				price = od*t.OnDemandPrice + (1-od)*t.SpotPrice
			}
			if price <= 0 {
				continue
			}
			if c := float64(t.CPU) / price; c > lb.CPUPerUSD {
				lb.CPUPerUSD, lb.CPUType = c, p.Name+"/"+t.Name
			}
			if m := float64(t.MemoryMiB) / price; m > lb.MemoryMiBPerUSD {
				lb.MemoryMiBPerUSD, lb.MemoryType = m, p.Name+"/"+t.Name
			}
		}
	}
	if lb.CPUPerUSD == 0 || lb.MemoryMiBPerUSD == 0 {
		return lb
	}
	fits := func(j *Job) bool {
		for _, p := range cfg.Pools {
			for _, tn := range p.InstanceTypes {
				if i, ok := types[tn]; ok && cfg.Types[i].CPU >= j.CPU && cfg.Types[i].MemoryMiB >= j.MemoryMiB {
					return true
				}
			}
		}
		return false
	}
	horizon := cfg.Horizon
	if horizon == 0 {
		horizon = 24 * time.Hour
		if n := len(wl.Jobs); n > 0 {
			horizon += wl.Jobs[n-1].Submit
		}
	}
	type step struct {
		at       time.Duration
		cpu, mem int
	}
	steps := make([]step, 0, 2*len(wl.Jobs))
	for i := range wl.Jobs {
		j := &wl.Jobs[i]
		if j.Submit >= horizon || !fits(j) {
			continue
		}
		steps = append(steps, step{j.Submit, j.CPU, j.MemoryMiB}, step{min(j.Submit+j.Duration, horizon), -j.CPU, -j.MemoryMiB})
	}
	slices.SortFunc(steps, func(a, b step) int { return cmp.Compare(a.at, b.at) })
	cpu, mem := 0, 0
	for k, s := range steps {
		if k > 0 && s.at > steps[k-1].at {
			rate := max(float64(cpu)/lb.CPUPerUSD, float64(mem)/lb.MemoryMiBPerUSD)
			lb.CostUSD += rate * (s.at - steps[k-1].at).Hours()
		}
		cpu += s.cpu
		mem += s.mem
	}
	return lb
}
