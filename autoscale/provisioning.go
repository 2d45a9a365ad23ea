package autoscale

import "time"

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
func Provisioning(cfg ProvisioningConfig) Policy {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	cfg.ScaleIn = cfg.ScaleIn.withDefaults()
	return policy{name: "provisioning", interval: cfg.Interval, decide: func(s *Snapshot, state any) ([]Action, any) {
		st, _ := state.(provisioningState)
		p, ok := findPool(s, cfg.Pool)
		if !ok {
			return nil, st
		}
		if prov := provisioning(s); len(prov) > 0 {
			need := len(prov)
			if t, ok := poolType(s, p); ok {
				need = binpackCount(prov, t.CPU, t.MemoryMiB)
			}
			all, launching, _ := poolCounts(s, p.Name)
			step := min(need-launching, p.Max-all)
			var acts []Action
			if step > 0 {
				acts = append(acts, launchAction(p.Name, "", step, nil, nil))
			}
			// Tasks are waiting: the reservation is above target, so no scale-in datapoint
			// can be low; keep the provider's alarm ticking all the same.
			_, st.Alarm = ecsScaleIn(s, p, cfg.ScaleIn, st.Alarm)
			return acts, st
		}
		acts, a := ecsScaleIn(s, p, cfg.ScaleIn, st.Alarm)
		st.Alarm = a
		return acts, st
	}}
}
