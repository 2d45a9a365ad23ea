package autoscale

import (
	"slices"
	"time"
)

// OracleConfig configures the oracle.
type OracleConfig struct {
	// LaunchLatency is the launch-to-registered time the oracle assumes (0: 90 s, the
	// "typical" preset); it launches that long before a task arrives.
	LaunchLatency time.Duration
}

// Oracle knows Snapshot.Future. Every 10 s it packs the pending tasks and those arriving
// before now + LaunchLatency + 10 s (the next decision would be too late for them) with the
// hashike packer (active, then launching, then new instances of the cheapest type) and
// launches what is missing, so with the assumed latency no task waits for a launch; it
// terminates at once every active instance with no task that nothing was packed onto.
//
// The bound: it is the cost of keeping capacity only while tasks need it, paying for idle
// time only across the launch latency it must anticipate. It is a reference lower bound for
// greedy, non-preemptive packing with a known arrival sequence, not a proven optimum: it
// ignores task durations (unknown to Task) and packs greedily, and a task needing capacity
// that just freed may still find an instance terminated one decision earlier.
func Oracle(cfg OracleConfig) Policy {
	if cfg.LaunchLatency <= 0 {
		cfg.LaunchLatency = 90 * time.Second
	}
	const interval = 10 * time.Second
	return policy{name: "oracle", interval: interval, decide: func(s *Snapshot, _ any) ([]Action, any) {
		pk := newPacker(s)
		horizon := s.Now.Add(cfg.LaunchLatency + interval)
		ts := slices.Clone(s.Pending)
		for _, t := range s.Future {
			if !t.SubmittedAt.Before(horizon) {
				break // Future is in submit order
			}
			ts = append(ts, t)
		}
		sortFFD(ts)
		var rest []Task
		for _, t := range ts {
			if !firstFit(pk.active, t, true) {
				rest = append(rest, t)
			}
		}
		rest = pk.reserve(rest)
		for _, t := range rest {
			pk.place(t, true, true)
		}
		acts := pk.launches(func(string) *bool { return nil })
		for _, b := range pk.active {
			if in := b.inst; !b.used && in.Tasks == 0 && in.CPUUsed == 0 {
				acts = append(acts, Action{Terminate: &Terminate{Instance: in.ID}})
			}
		}
		return acts, nil
	}}
}
