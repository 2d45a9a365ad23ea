package sim

import (
	"time"

	"github.com/hashike/hashike/autoscale"
)

// fixed never scales: the cluster is the pools' Initial instances.
type fixed struct{ every time.Duration }

func (f fixed) Name() string { return "fixed" }
func (f fixed) Interval() time.Duration {
	if f.every == 0 {
		return time.Hour
	}
	return f.every
}
func (fixed) Decide(*autoscale.Snapshot, time.Time) []autoscale.Action { return nil }
func (fixed) Reset()                                                   {}

// naive launches enough instances of the first pool's first type for the pending CPU and
// memory not covered by launching instances (or, perTask, one instance per pending task
// beyond those launching), and terminates instances idle for idleFor.
type naive struct {
	perTask bool
	idleFor time.Duration
}

func (n naive) Name() string          { return "naive" }
func (naive) Interval() time.Duration { return 30 * time.Second }
func (naive) Reset()                  {}
func (n naive) Decide(s *autoscale.Snapshot, _ time.Time) []autoscale.Action {
	pool := s.Pools[0]
	t := s.Types[pool.InstanceTypes[0]]
	launching, cpu, mem := 0, 0, 0
	var acts []autoscale.Action
	for _, in := range s.Instances {
		switch {
		case in.State == autoscale.InstanceLaunching:
			launching++
		case in.Tasks == 0 && in.State == autoscale.InstanceActive:
			since := in.IdleSince
			if since.IsZero() {
				since = in.ActiveAt
			}
			if s.Now.Sub(since) >= n.idleFor {
				acts = append(acts, autoscale.Action{Terminate: &autoscale.Terminate{Instance: in.ID}})
			}
		}
	}
	for _, p := range s.Pending {
		cpu += p.CPU
		mem += p.MemoryMiB
	}
	need := len(s.Pending) - launching
	if !n.perTask {
		need = max((cpu+t.CPU-1)/t.CPU, (mem+t.MemoryMiB-1)/t.MemoryMiB) - launching
	}
	if need > 0 {
		acts = append(acts, autoscale.Action{Launch: &autoscale.Launch{Pool: pool.Name, Count: need}})
	}
	return acts
}

// chaos is naive plus, every other tick, a Terminate of the busiest instance (a policy that
// breaks the rules, to test that killed tasks are requeued and counted).
type chaos struct {
	naive
	tick int
}

func (*chaos) Name() string { return "chaos" }
func (c *chaos) Reset()     { c.tick = 0 }
func (c *chaos) Decide(s *autoscale.Snapshot, now time.Time) []autoscale.Action {
	acts := c.naive.Decide(s, now)
	c.tick++
	if c.tick%2 == 0 {
		best := -1
		for k, in := range s.Instances {
			if best < 0 || in.Tasks > s.Instances[best].Tasks {
				best = k
			}
		}
		if best >= 0 && s.Instances[best].Tasks > 0 {
			acts = append(acts, autoscale.Action{Terminate: &autoscale.Terminate{Instance: s.Instances[best].ID}})
		}
	}
	return acts
}

// recorder keeps the snapshots it is given.
type recorder struct {
	fixed
	snaps *[]*autoscale.Snapshot
}

func (r recorder) Decide(s *autoscale.Snapshot, _ time.Time) []autoscale.Action {
	*r.snaps = append(*r.snaps, s)
	return nil
}
