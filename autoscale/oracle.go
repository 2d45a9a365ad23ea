package autoscale

import (
	"fmt"
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
//
// It keeps no state between decisions.
type Oracle struct {
	cfg OracleConfig
}

const oracleInterval = 10 * time.Second

// NewOracle returns the oracle with cfg's zero fields defaulted.
func NewOracle(cfg OracleConfig) *Oracle {
	if cfg.LaunchLatency <= 0 {
		cfg.LaunchLatency = 90 * time.Second
	}
	return &Oracle{cfg: cfg}
}

func (*Oracle) Name() string            { return "oracle" }
func (*Oracle) Interval() time.Duration { return oracleInterval }
func (*Oracle) Reset()                  {}

func (p *Oracle) Decide(s *Snapshot, now time.Time) []Action {
	acts, _ := p.decide(s, now, struct{}{})
	return acts
}

// decide is Decide in the form of the other policies' (its state is empty).
func (p *Oracle) decide(s *Snapshot, now time.Time, _ struct{}) ([]Action, struct{}) {
	cfg := p.cfg
	pk := newPacker(s)
	horizon := now.Add(cfg.LaunchLatency + oracleInterval)
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
	acts := pk.launches(func(string) *bool { return nil },
		fmt.Sprintf("%d tasks pending or due before %s fit no instance", len(rest), horizon.Format(time.RFC3339)))
	for _, b := range pk.active {
		if in := b.inst; !b.used && in.Tasks == 0 && in.CPUUsed == 0 {
			acts = append(acts, Action{Terminate: &Terminate{Instance: in.ID}, Reason: "empty, and no task pending or due needs it"})
		}
	}
	return acts, struct{}{}
}
