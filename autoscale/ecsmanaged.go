package autoscale

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// ECSManagedConfig is a capacity provider's managed scaling settings (the ECS API's
// ManagedScaling, whose field names the cluster file uses). Zero fields take AWS's defaults.
type ECSManagedConfig struct {
	// Pool is the Auto Scaling group behind the capacity provider; "" is the snapshot's
	// first pool. Every PROVISIONING task is taken to be this provider's.
	Pool string
	// TargetCapacity is the target of CapacityProviderReservation, 1..100 (0: 100); below
	// 100 it keeps 100 - TargetCapacity percent of the instances empty.
	TargetCapacity int
	// MinimumScalingStepSize (0: 1) and MaximumScalingStepSize (0: 10000) clamp a
	// scale-out step; a group spanning several instance types or Availability Zones
	// (Pool.Spans) steps by exactly MinimumScalingStepSize.
	MinimumScalingStepSize int
	MaximumScalingStepSize int
	// InstanceWarmupPeriod (0: 300 s; negative: none, ECS's 0) blocks the next scale-out
	// step until every instance launched within it has warmed up.
	InstanceWarmupPeriod time.Duration
	// ScaleInDatapoints is how many consecutive 1-minute datapoints below target raise the
	// scale-in alarm (0: 15).
	ScaleInDatapoints int
}

func (c ECSManagedConfig) withDefaults() ECSManagedConfig {
	if c.TargetCapacity <= 0 || c.TargetCapacity > 100 {
		c.TargetCapacity = 100
	}
	if c.MinimumScalingStepSize <= 0 {
		c.MinimumScalingStepSize = 1
	}
	if c.MaximumScalingStepSize <= 0 {
		c.MaximumScalingStepSize = 10000
	}
	c.MaximumScalingStepSize = max(c.MaximumScalingStepSize, c.MinimumScalingStepSize)
	switch {
	case c.InstanceWarmupPeriod == 0:
		c.InstanceWarmupPeriod = 300 * time.Second
	case c.InstanceWarmupPeriod < 0:
		c.InstanceWarmupPeriod = 0
	}
	if c.ScaleInDatapoints <= 0 {
		c.ScaleInDatapoints = 15
	}
	return c
}

// ecsState is the memory of ECS's target tracking between decisions.
type ecsState struct {
	Alarm alarm
	// LastOut is the last scale-out step (its instances warm up from then).
	LastOut time.Time
}

// alarm models CloudWatch's fixed alarms on CapacityProviderReservation: one datapoint a
// minute; Low counts consecutive datapoints below target.
type alarm struct {
	Last time.Time
	Low  int
}

// due reports whether a new 1-minute datapoint is due at now.
func (a alarm) due(now time.Time) bool { return a.Last.IsZero() || now.Sub(a.Last) >= time.Minute }

// ecsMetric computes CapacityProviderReservation = M / N x 100 for a pool: N counts its
// launching and active instances; M the instances needed, that is those running tasks plus,
// when tasks are PROVISIONING, the instances of the pool's type they binpack onto (and at
// least N+1, since a PROVISIONING task means the instances present are not enough); for a
// group spanning several types or zones ECS does not binpack and M = N + minStep. M>0,
// N=0 gives 200; M=0, N=0 gives 100.
func ecsMetric(s *Snapshot, p Pool, minStep int) (metric, m, n int) {
	busy := 0
	for i := range s.Instances {
		in := &s.Instances[i]
		if in.Pool != p.Name || (in.State != InstanceActive && in.State != InstanceLaunching) {
			continue
		}
		n++
		if in.Tasks > 0 {
			busy++
		}
	}
	m = busy
	if prov := provisioning(s); len(prov) > 0 {
		need := len(prov)
		if t, ok := poolType(s, p); ok {
			need = binpackCount(prov, t.CPU, t.MemoryMiB)
		}
		m = max(busy+need, n+1)
		if p.Spans() {
			m = max(busy, n) + max(minStep, 1)
		}
	}
	switch {
	case n == 0 && m == 0:
		return 100, m, n
	case n == 0:
		return 200, m, n
	}
	return m * 100 / n, m, n
}

// ecsScaleIn takes a scale-in datapoint: it returns the alarm updated and, once
// cfg.ScaleInDatapoints consecutive datapoints were below target, terminations bringing N
// towards ceil(M x 100 / target): only active instances with no task, idle longest first,
// at most half the group (at least one instance) per minute, never below the pool's Min.
// The provisioning policy reuses it: DeNA leaves scale-in to the capacity provider.
func ecsScaleIn(s *Snapshot, now time.Time, p Pool, cfg ECSManagedConfig, a alarm) ([]Action, alarm) {
	if !a.due(now) {
		return nil, a
	}
	metric, m, n := ecsMetric(s, p, cfg.MinimumScalingStepSize)
	a.Last = now
	if metric >= cfg.TargetCapacity {
		a.Low = 0
		return nil, a
	}
	a.Low++
	if a.Low < cfg.ScaleInDatapoints {
		return nil, a
	}
	desired := ceilDiv(m*100, cfg.TargetCapacity)
	remove := min(n-desired, max(1, n/2), n-p.Min)
	if remove <= 0 {
		return nil, a
	}
	var empty []*Instance
	for i := range s.Instances {
		in := &s.Instances[i]
		if in.Pool == p.Name && in.State == InstanceActive && in.Tasks == 0 {
			empty = append(empty, in)
		}
	}
	slices.SortFunc(empty, func(x, y *Instance) int {
		return cmp.Or(idleSince(x).Compare(idleSince(y)), cmp.Compare(x.ID, y.ID))
	})
	var acts []Action
	for _, in := range empty[:min(remove, len(empty))] {
		acts = append(acts, Action{Terminate: &Terminate{Instance: in.ID},
			Reason: fmt.Sprintf("scale-in: CapacityProviderReservation %d%% below target %d%% for %d datapoints; the instance is empty", metric, cfg.TargetCapacity, a.Low)})
	}
	return acts, a
}

// ECSManaged models ECS cluster auto scaling (capacity provider managed scaling) as AWS
// documents it (docs/sim.md "Baselines" has the sources): target tracking on
// CapacityProviderReservation (see ecsMetric) with the fixed alarms ECS creates, scale-out
// after 1 one-minute datapoint above target with a step of ceil(M x 100 / target) - N (from
// zero: ceil(200 / target), so 2 instances at the default target) clamped to the step sizes
// and the pool's Max, except that a group spanning several instance types or Availability
// Zones steps by exactly MinimumScalingStepSize whatever the demand (the ManagedScaling API
// reference); the next step blocked until every new instance's warm-up has expired;
// scale-in after 15 consecutive one-minute datapoints below target removing only empty
// instances, at most 50% of the group per minute. Like ECS it sees only PROVISIONING tasks,
// and binpacks them onto the pool's instance type. Interval 1 minute: one decision per
// alarm datapoint, so a burst waits up to a minute for the alarm.
type ECSManaged struct {
	cfg   ECSManagedConfig
	state ecsState
}

// NewECSManaged returns the ecs-managed policy with cfg's zero fields defaulted.
func NewECSManaged(cfg ECSManagedConfig) *ECSManaged {
	return &ECSManaged{cfg: cfg.withDefaults()}
}

func (*ECSManaged) Name() string            { return "ecs-managed" }
func (*ECSManaged) Interval() time.Duration { return time.Minute }
func (p *ECSManaged) Reset()                { p.state = ecsState{} }

func (p *ECSManaged) Decide(s *Snapshot, now time.Time) []Action {
	var acts []Action
	acts, p.state = p.decide(s, now, p.state)
	return acts
}

// decide is Decide as a pure function of the state.
func (p *ECSManaged) decide(s *Snapshot, now time.Time, st ecsState) ([]Action, ecsState) {
	cfg := p.cfg
	pl, ok := findPool(s, cfg.Pool)
	if !ok || !st.Alarm.due(now) {
		return nil, st
	}
	metric, m, n := ecsMetric(s, pl, cfg.MinimumScalingStepSize)
	if metric > cfg.TargetCapacity {
		st.Alarm = alarm{Last: now}
		if warming(s, now, pl.Name, st.LastOut, cfg.InstanceWarmupPeriod) {
			return nil, st
		}
		desired := ceilDiv(m*100, cfg.TargetCapacity)
		if n == 0 {
			desired = ceilDiv(200, cfg.TargetCapacity)
		}
		step := clamp(desired-n, cfg.MinimumScalingStepSize, cfg.MaximumScalingStepSize)
		how := fmt.Sprintf("step %d", step)
		if pl.Spans() {
			step = cfg.MinimumScalingStepSize
			how = fmt.Sprintf("step %d: minimumScalingStepSize, as the group spans several instance types or Availability Zones", step)
		}
		all, _, _ := poolCounts(s, pl.Name)
		if step = min(step, pl.Max-all); step <= 0 {
			return nil, st
		}
		st.LastOut = now
		return []Action{launchAction(pl.Name, "", step, nil, nil,
			fmt.Sprintf("scale-out: CapacityProviderReservation %d%% above target %d%% (M=%d, N=%d), %s", metric, cfg.TargetCapacity, m, n, how))}, st
	}
	acts, a := ecsScaleIn(s, now, pl, cfg, st.Alarm)
	st.Alarm = a
	return acts, st
}

// warming reports whether a scale-out step is still in its warm-up at now: the last step,
// or any instance of the pool launched, less than warmup ago.
func warming(s *Snapshot, now time.Time, pool string, lastOut time.Time, warmup time.Duration) bool {
	if warmup <= 0 {
		return false
	}
	if !lastOut.IsZero() && now.Before(lastOut.Add(warmup)) {
		return true
	}
	for i := range s.Instances {
		in := &s.Instances[i]
		if in.Pool == pool && in.State != InstanceDraining && now.Before(in.LaunchedAt.Add(warmup)) {
			return true
		}
	}
	return false
}
