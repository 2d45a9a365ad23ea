package autoscale

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// replacePrefix marks the stand-in task for an interrupted instance's load.
const replacePrefix = "replace:"

// HashikeConfig configures hashike's own policy. Zero fields take the defaults noted.
type HashikeConfig struct {
	// BatchIdle holds pending tasks younger than it (0: 2 s) so a burst is packed together,
	// unless the oldest pending task is older than BatchMax (0: 10 s).
	BatchIdle time.Duration
	BatchMax  time.Duration
	// IdleCooldown is how long an instance stays idle before it is removed (0: 1 minute;
	// the headroom keeps what the forecast growth needs, so a long cooldown only adds cost:
	// 5 minutes cost 3-14% more instance-hours on the built-in workloads, docs/sim.md).
	IdleCooldown time.Duration
	// SpotAvoid is how long a pool's spot is avoided after an interruption notice in it
	// (0: 5 minutes).
	SpotAvoid time.Duration
	// LaunchLatency is the window warm headroom covers: the expected time from a launch to
	// a registered instance plus a decision interval (0: 100 s, the "typical" preset's
	// median of 90 s and 10 s).
	LaunchLatency time.Duration
	// HeadroomCPU and HeadroomMemoryMiB are the task size headroom is counted in
	// (0: 1024 and 2048).
	HeadroomCPU       int
	HeadroomMemoryMiB int
	// HeadroomSigma is the margin over the expected growth, in standard deviations of a
	// Poisson count (0: 1; negative: none).
	HeadroomSigma float64
	// NoHeadroom turns warm headroom off.
	NoHeadroom bool
}

func (c HashikeConfig) withDefaults() HashikeConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.BatchIdle, 2*time.Second)
	def(&c.BatchMax, 10*time.Second)
	def(&c.IdleCooldown, time.Minute)
	def(&c.SpotAvoid, 5*time.Minute)
	def(&c.LaunchLatency, 100*time.Second)
	if c.HeadroomCPU <= 0 {
		c.HeadroomCPU = 1024
	}
	if c.HeadroomMemoryMiB <= 0 {
		c.HeadroomMemoryMiB = 2048
	}
	switch {
	case c.HeadroomSigma == 0:
		c.HeadroomSigma = 1
	case c.HeadroomSigma < 0:
		c.HeadroomSigma = 0
	}
	return c
}

type hashikeState struct {
	// AvoidSpot maps a pool to when its spot may be used again.
	AvoidSpot map[string]time.Time
	// Interrupted lists the instances whose interruption notice was handled (drained, their
	// replacement launched), so it is done once.
	Interrupted []string
}

// Hashike is hashike's policy, every 10 s:
//
//  1. Spot: an instance with an interruption notice is drained and capacity for what it
//     runs (its reserved CPU and memory) is placed at once, on-demand: the pool's spot is
//     avoided for SpotAvoid (Launch.Spot false) since reclaims of a pool are correlated.
//  2. Packing, first-fit decreasing by CPU then memory (Karpenter's): pending tasks onto
//     active instances' free capacity; then each launching instance takes the tasks it was
//     launched for (Instance.For; Karpenter's double launch, karpenter#3121, is what this
//     prevents); then other tasks onto launching instances' unused capacity; then new
//     instances, each of the cheapest type (on-demand price per copy of the task it fits)
//     in a pool under its Max. A batching window holds tasks younger than BatchIdle from
//     causing a launch unless the oldest pending task is older than BatchMax.
//  3. Warm headroom for the growth of demand: with m the arrivals forecast for the time a
//     launch takes (Snapshot.ExpectedArrivals(now, LaunchLatency): last week's, else
//     yesterday's, else the last hour's at this time) less the arrivals of the same length
//     of time just past (Snapshot.RecentArrivals; at a steady rate, the tasks ending free
//     what the new ones need), it keeps free capacity for h = ceil(m + sigma x sqrt(m))
//     tasks of HeadroomCPU x HeadroomMemoryMiB on active or launching instances, launching
//     what is missing, so a morning ramp or a burst on the hour starts without waiting for
//     a launch, and a steady load pays for no idle capacity.
//  4. Job-aware scale-in: it terminates only active instances with no task, idle for
//     IdleCooldown, that nothing was packed onto (not a held task, not headroom), never
//     taking a pool below its Min. It never stops a running job.
type Hashike struct {
	cfg   HashikeConfig
	state hashikeState
}

// NewHashike returns hashike's policy with cfg's zero fields defaulted.
func NewHashike(cfg HashikeConfig) *Hashike { return &Hashike{cfg: cfg.withDefaults()} }

func (*Hashike) Name() string            { return "hashike" }
func (*Hashike) Interval() time.Duration { return 10 * time.Second }
func (p *Hashike) Reset()                { p.state = hashikeState{} }

func (p *Hashike) Decide(s *Snapshot, now time.Time) []Action {
	var acts []Action
	acts, p.state = p.decide(s, now, p.state)
	return acts
}

// decide is Decide as a pure function of the state.
func (p *Hashike) decide(s *Snapshot, now time.Time, old hashikeState) ([]Action, hashikeState) {
	cfg := p.cfg
	st := hashikeState{AvoidSpot: map[string]time.Time{}}
	for pool, until := range old.AvoidSpot {
		if now.Before(until) {
			st.AvoidSpot[pool] = until
		}
	}
	var acts []Action
	pk := newPacker(s)

	// 1. Interruption notices.
	var replace []Task
	for i := range s.Instances {
		in := &s.Instances[i]
		if in.InterruptionAt.IsZero() {
			continue
		}
		if slices.Contains(old.Interrupted, in.ID) {
			st.Interrupted = append(st.Interrupted, in.ID)
			continue
		}
		st.Interrupted = append(st.Interrupted, in.ID)
		if in.State != InstanceDraining {
			acts = append(acts, Action{Drain: &Drain{Instance: in.ID}, Reason: "spot interruption notice"})
		}
		if in.Spot {
			st.AvoidSpot[in.Pool] = now.Add(cfg.SpotAvoid)
		}
		if in.CPUUsed > 0 || in.MemoryUsed > 0 {
			replace = append(replace, Task{ID: replacePrefix + in.ID, CPU: in.CPUUsed, MemoryMiB: in.MemoryUsed})
		}
	}
	slices.Sort(st.Interrupted)

	// 2. Packing.
	pending := slices.Clone(s.Pending)
	sortFFD(pending)
	var rest []Task
	for _, t := range pending {
		if !firstFit(pk.active, t, true) {
			rest = append(rest, t)
		}
	}
	rest = pk.reserve(rest)
	var unplaced []Task
	for _, t := range rest {
		if !firstFit(pk.launching, t, true) {
			unplaced = append(unplaced, t)
		}
	}
	flush := false
	for _, t := range s.Pending {
		if now.Sub(t.SubmittedAt) >= cfg.BatchMax {
			flush = true
		}
	}
	grow := slices.Clone(replace)
	for _, t := range unplaced {
		if flush || now.Sub(t.SubmittedAt) >= cfg.BatchIdle {
			grow = append(grow, t)
		}
	}
	sortFFD(grow)
	for _, t := range grow {
		pk.place(t, !strings.HasPrefix(t.ID, replacePrefix), true)
	}

	// 3. Warm headroom.
	h := 0
	if !cfg.NoHeadroom {
		growth := s.ExpectedArrivals(now, cfg.LaunchLatency) - s.RecentArrivals(cfg.LaunchLatency)
		h = headroomTasks(max(growth, 0), cfg.HeadroomSigma)
		slot := Task{CPU: cfg.HeadroomCPU, MemoryMiB: cfg.HeadroomMemoryMiB}
		for range h {
			if !pk.place(slot, false, true) {
				break
			}
		}
	}

	var why string
	if len(pk.fresh) > 0 {
		why = fmt.Sprintf("packing: %d pending tasks and %d interrupted instances' load fit no capacity; headroom for %d tasks", len(grow)-len(replace), len(replace), h)
	}
	acts = append(acts, pk.launches(func(pool string) *bool {
		if _, ok := st.AvoidSpot[pool]; ok {
			f := false
			return &f
		}
		return nil
	}, why)...)

	// 4. Scale-in.
	live := map[string]int{}
	for pool := range maps.Keys(pk.count) {
		_, _, live[pool] = poolCounts(s, pool)
	}
	mins := map[string]int{}
	for _, p := range s.Pools {
		mins[p.Name] = p.Min
	}
	var idle []*Instance
	for _, b := range pk.active {
		in := b.inst
		if b.used || in.Tasks > 0 || in.CPUUsed > 0 || now.Sub(idleSince(in)) < cfg.IdleCooldown {
			continue
		}
		idle = append(idle, in)
	}
	slices.SortFunc(idle, func(x, y *Instance) int {
		return cmp.Or(idleSince(x).Compare(idleSince(y)), cmp.Compare(x.ID, y.ID))
	})
	for _, in := range idle {
		if live[in.Pool] <= mins[in.Pool] {
			continue
		}
		live[in.Pool]--
		acts = append(acts, Action{Terminate: &Terminate{Instance: in.ID}, Reason: fmt.Sprintf("idle since %s, nothing packed onto it", idleSince(in).Format(time.RFC3339))})
	}
	return acts, st
}
