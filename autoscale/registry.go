package autoscale

import (
	"fmt"
	"strings"
)

var (
	_ Policy = (*ECSManaged)(nil)
	_ Policy = (*Reactive)(nil)
	_ Policy = (*Provisioning)(nil)
	_ Policy = (*Hashike)(nil)
	_ Policy = (*Oracle)(nil)
)

// Names lists the policies ByName knows, for the CLI.
func Names() []string {
	return []string{"ecs-managed", "reactive", "provisioning", "hashike", "oracle"}
}

// ByName returns a new policy of that name with its default configuration and no state:
//
//   - ecs-managed: ECSManagedConfig{} — the first pool, targetCapacity 100, step 1..10000,
//     instanceWarmupPeriod 300 s, scale-in after 15 datapoints; every minute.
//   - reactive: ReactiveConfig{} — the first pool, every minute, scale-out above 80% CPU or
//     memory reservation by 1 instance or on RESOURCE:* failures, hourly scale-in to P = 70%.
//   - provisioning: ProvisioningConfig{} — the first pool, every 10 s, scale-in as
//     ecs-managed's defaults.
//   - hashike: HashikeConfig{} — an SLO of a 30 s p95 wait, batching 2 s / 10 s, spot
//     avoided 5 min after a notice, break-even headroom and scale-in in the shapes of the
//     tasks seen, a launch latency of 90 s until it learns it; every 10 s.
//   - oracle: OracleConfig{} — an assumed launch latency of 90 s; every 10 s.
func ByName(name string) (Policy, error) {
	switch name {
	case "ecs-managed":
		return NewECSManaged(ECSManagedConfig{}), nil
	case "reactive":
		return NewReactive(ReactiveConfig{}), nil
	case "provisioning":
		return NewProvisioning(ProvisioningConfig{}), nil
	case "hashike":
		return NewHashike(HashikeConfig{}), nil
	case "oracle":
		return NewOracle(OracleConfig{}), nil
	}
	return nil, fmt.Errorf("autoscale: unknown policy %q (known: %s)", name, strings.Join(Names(), ", "))
}
