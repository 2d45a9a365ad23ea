package sim

import (
	"testing"
	"time"

	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/autoscale/clustertest"
)

// until runs the simulation up to t (inclusive) of virtual time.
func (s *sim) until(t time.Duration) {
	for s.h.len() > 0 && s.h.ev[0].at <= t {
		e := s.h.pop()
		s.advance(e.at)
		s.events++
		s.handle(e)
	}
	s.advance(max(s.now, t))
}

// TestClusterConformance: the simulator is an autoscale.Cluster as the live adapter will
// be one, with a launch latency of exactly 30 s and nothing failing.
func TestClusterConformance(t *testing.T) {
	const latency = 30 * time.Second
	clustertest.Run(t, func(t *testing.T, su clustertest.Setup) clustertest.Harness {
		cfg := Config{
			Types:   []autoscale.InstanceType{su.Type},
			Pools:   []PoolConfig{{Pool: su.Pool, Initial: su.Initial}},
			Latency: Latency{Name: "fixed", Median: latency, P95: latency},
			// No API rate limits: the suite's calls come faster than AWS's buckets refill.
			RunTaskRate: Unlimited, ScalingRate: Unlimited, InstanceLaunchRate: Unlimited,
		}
		var wl Workload
		for _, tk := range su.Tasks {
			wl.Jobs = append(wl.Jobs, Job{Submit: tk.At, Duration: tk.Duration, CPU: tk.CPU, MemoryMiB: tk.MemoryMiB})
		}
		s, _, err := newSim(cfg, wl, fixed{}, 1)
		if err != nil {
			t.Fatal(err)
		}
		s.until(0)
		return clustertest.Harness{Cluster: s, Advance: func(d time.Duration) { s.until(s.now + d) }, LaunchLatency: latency}
	})
}
