package autoscale

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ReactiveConfig configures the reactive policy. Zero fields take the defaults noted.
type ReactiveConfig struct {
	// Pool is the Auto Scaling group ("" : the snapshot's first pool).
	Pool string
	// Interval is the scan period (0: 1 minute).
	Interval time.Duration
	// CPUThreshold and MemoryThreshold are the reservation percentages above which it scales
	// out by ScaleOutStep instances (0: 80; Cookpad uses lower ones for spot clusters).
	CPUThreshold    int
	MemoryThreshold int
	ScaleOutStep    int // 0: 1
	// ScaleInEvery is the scale-in period (0: 1 hour).
	ScaleInEvery time.Duration
	// TargetUtilization is P, the reservation percentage scale-in keeps (0: 70).
	TargetUtilization int
}

func (c ReactiveConfig) withDefaults() ReactiveConfig {
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.CPUThreshold <= 0 {
		c.CPUThreshold = 80
	}
	if c.MemoryThreshold <= 0 {
		c.MemoryThreshold = 80
	}
	if c.ScaleOutStep <= 0 {
		c.ScaleOutStep = 1
	}
	if c.ScaleInEvery <= 0 {
		c.ScaleInEvery = time.Hour
	}
	if c.TargetUtilization <= 0 || c.TargetUtilization > 100 {
		c.TargetUtilization = 70
	}
	return c
}

type reactiveState struct {
	// LastScaleIn is the last hourly scale-in round (zero before the first decision).
	LastScaleIn time.Time
	// Draining lists the instances it drained, to terminate once they are empty.
	Draining []string
}

// Reactive models Cookpad's autoscaler. Scale-out: (1) when a pending task's last RunTask
// failed for lack of resources (RESOURCE:CPU or RESOURCE:MEMORY), enough instances of the
// pool's first type for the failed tasks, less those already launching; (2) otherwise when
// the active instances' CPU or memory reservation exceeds its threshold and nothing is
// launching, ScaleOutStep instances. Scale-in, once every ScaleInEvery: with N active
// instances, an estimated reservation R (reserved plus pending CPU or memory, the larger
// share, in percent) and target P, n instances may be removed when
// R < (N - n) x 100 / N x P/100, i.e. R x N < (N - n) x P; it takes the largest such n, at
// most the idle instances and never below the pool's Min, and removes them safely: Drain
// first, Terminate on a later decision once the instance has no task (Cookpad's lifecycle
// hook that deregisters the instance before it ends).
type Reactive struct {
	cfg   ReactiveConfig
	state reactiveState
}

// NewReactive returns the reactive policy with cfg's zero fields defaulted.
func NewReactive(cfg ReactiveConfig) *Reactive { return &Reactive{cfg: cfg.withDefaults()} }

func (*Reactive) Name() string              { return "reactive" }
func (p *Reactive) Interval() time.Duration { return p.cfg.Interval }
func (p *Reactive) Reset()                  { p.state = reactiveState{} }

func (p *Reactive) Decide(s *Snapshot, now time.Time) []Action {
	var acts []Action
	acts, p.state = p.decide(s, now, p.state)
	return acts
}

// decide is Decide as a pure function of the state.
func (pol *Reactive) decide(s *Snapshot, now time.Time, st reactiveState) ([]Action, reactiveState) {
	cfg := pol.cfg
	st.Draining = slices.Clone(st.Draining)
	p, ok := findPool(s, cfg.Pool)
	if !ok {
		return nil, st
	}
	var acts []Action
	var why string

	// Terminate what an earlier round drained, once empty.
	byID := map[string]*Instance{}
	for i := range s.Instances {
		byID[s.Instances[i].ID] = &s.Instances[i]
	}
	var still []string
	for _, id := range st.Draining {
		in, ok := byID[id]
		switch {
		case !ok:
		case in.Tasks == 0:
			acts = append(acts, Action{Terminate: &Terminate{Instance: id}, Reason: "drained by scale-in, and empty"})
		default:
			still = append(still, id)
		}
	}
	st.Draining = still

	// Scale-out.
	all, launching, _ := poolCounts(s, p.Name)
	var failed []Task
	for _, t := range s.Pending {
		if strings.HasPrefix(t.LastFailure, "RESOURCE:CPU") || strings.HasPrefix(t.LastFailure, "RESOURCE:MEMORY") {
			failed = append(failed, t)
		}
	}
	step := 0
	if len(failed) > 0 {
		need := len(failed)
		if t, ok := poolType(s, p); ok {
			need = binpackCount(failed, t.CPU, t.MemoryMiB)
		}
		step = need - launching
		if step > 0 {
			why = fmt.Sprintf("%d tasks failed RunTask for resources (RESOURCE:*): %d instances needed, %d launching", len(failed), need, launching)
		}
	} else if launching == 0 {
		cpu, mem, _ := reservation(s, p.Name, false)
		if cpu > cfg.CPUThreshold || mem > cfg.MemoryThreshold {
			step = cfg.ScaleOutStep
			why = fmt.Sprintf("reservation CPU %d%%, memory %d%% above the %d%%/%d%% thresholds", cpu, mem, cfg.CPUThreshold, cfg.MemoryThreshold)
		}
	}
	if step = min(step, p.Max-all); step > 0 {
		acts = append(acts, launchAction(p.Name, "", step, nil, nil, why))
	}

	// Hourly scale-in.
	if st.LastScaleIn.IsZero() {
		st.LastScaleIn = now
		return acts, st
	}
	if now.Sub(st.LastScaleIn) < cfg.ScaleInEvery {
		return acts, st
	}
	st.LastScaleIn = now
	if step > 0 {
		return acts, st
	}
	cpu, mem, idle := reservation(s, p.Name, true)
	r := max(cpu, mem)
	n := 0
	active := 0
	for i := range s.Instances {
		if in := &s.Instances[i]; in.Pool == p.Name && in.State == InstanceActive {
			active++
		}
	}
	for k := 1; k <= min(len(idle), active-p.Min); k++ {
		if r*active < (active-k)*cfg.TargetUtilization {
			n = k
		}
	}
	for _, in := range idle[:n] {
		acts = append(acts, Action{Drain: &Drain{Instance: in.ID},
			Reason: fmt.Sprintf("hourly scale-in: estimated reservation %d%% of %d instances, target %d%%: %d can go", r, active, cfg.TargetUtilization, n)})
		st.Draining = append(st.Draining, in.ID)
	}
	return acts, st
}

// reservation returns the CPU and memory reservation (percent) of a pool's active
// instances; withPending adds the pending tasks' demand (Cookpad's estimate for scale-in).
// idle lists the active instances with no task, idle longest first.
func reservation(s *Snapshot, pool string, withPending bool) (cpu, mem int, idle []*Instance) {
	var c, cu, m, mu int
	for i := range s.Instances {
		in := &s.Instances[i]
		if in.Pool != pool || in.State != InstanceActive {
			continue
		}
		c += in.CPU
		cu += in.CPUUsed
		m += in.MemoryMiB
		mu += in.MemoryUsed
		if in.Tasks == 0 {
			idle = append(idle, in)
		}
	}
	if withPending {
		for _, t := range s.Pending {
			cu += t.CPU
			mu += t.MemoryMiB
		}
	}
	slices.SortFunc(idle, func(x, y *Instance) int {
		return cmp.Or(idleSince(x).Compare(idleSince(y)), cmp.Compare(x.ID, y.ID))
	})
	if c > 0 {
		cpu = ceilDiv(cu*100, c)
	} else if cu > 0 {
		cpu = 200
	}
	if m > 0 {
		mem = ceilDiv(mu*100, m)
	} else if mu > 0 {
		mem = 200
	}
	return cpu, mem, idle
}
