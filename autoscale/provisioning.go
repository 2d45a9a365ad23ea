package autoscale

import (
	"fmt"
	"time"
)

// ProvisioningConfig configures the provisioning policy.
type ProvisioningConfig struct {
	// Pool is the Auto Scaling group behind the capacity provider ("" : the first pool).
	Pool string
	// Interval is the scan period (0: 10 s).
	Interval time.Duration
	// ScaleIn is the capacity provider's managed scaling, used for scale-in only
	// (TargetCapacity and ScaleInDatapoints matter).
	ScaleIn ECSManagedConfig
}

// provisioningState: the scale-in alarm kept by the capacity provider.
type provisioningState struct {
	Alarm alarm
}

// Provisioning models DeNA's custom autoscaler: capacity providers scale out too slowly, so
// as soon as tasks are PROVISIONING it raises the group behind the provider by enough
// instances for them (binpacked onto the pool's first type; DeNA reads the step from a task
// tag), less the instances already launching so a launch is not asked for twice; scale-in
// is left to the capacity provider (ecsScaleIn). It sees only PROVISIONING tasks.
type Provisioning struct {
	cfg   ProvisioningConfig
	state provisioningState
}

// NewProvisioning returns the provisioning policy with cfg's zero fields defaulted.
func NewProvisioning(cfg ProvisioningConfig) *Provisioning {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	cfg.ScaleIn = cfg.ScaleIn.withDefaults()
	return &Provisioning{cfg: cfg}
}

func (*Provisioning) Name() string              { return "provisioning" }
func (p *Provisioning) Interval() time.Duration { return p.cfg.Interval }
func (p *Provisioning) Reset()                  { p.state = provisioningState{} }

func (p *Provisioning) Decide(s *Snapshot, now time.Time) []Action {
	var acts []Action
	acts, p.state = p.decide(s, now, p.state)
	return acts
}

// decide is Decide as a pure function of the state.
func (p *Provisioning) decide(s *Snapshot, now time.Time, st provisioningState) ([]Action, provisioningState) {
	cfg := p.cfg
	pl, ok := findPool(s, cfg.Pool)
	if !ok {
		return nil, st
	}
	if prov := provisioning(s); len(prov) > 0 {
		need := len(prov)
		if t, ok := poolType(s, pl); ok {
			need = binpackCount(prov, t.CPU, t.MemoryMiB)
		}
		all, launching, _ := poolCounts(s, pl.Name)
		step := min(need-launching, pl.Max-all)
		var acts []Action
		if step > 0 {
			acts = append(acts, launchAction(pl.Name, "", step, nil, nil,
				fmt.Sprintf("%d tasks PROVISIONING need %d instances, %d launching", len(prov), need, launching)))
		}
		// Tasks are waiting: the reservation is above target, so no scale-in datapoint
		// can be low; keep the provider's alarm ticking all the same.
		_, st.Alarm = ecsScaleIn(s, now, pl, cfg.ScaleIn, st.Alarm)
		return acts, st
	}
	acts, a := ecsScaleIn(s, now, pl, cfg.ScaleIn, st.Alarm)
	st.Alarm = a
	return acts, st
}
