// Package sim is hashike's discrete-event simulator of an ECS-on-EC2 cluster: it replays a
// Workload of jobs against simulated capacity pools (Auto Scaling groups behind capacity
// providers) and drives an autoscale.Policy in virtual time through the same
// autoscale.Controller a live autoscaler runs (the simulator is an autoscale.Cluster), so
// policies can be compared on wait, cost and utilisation before any of them touches a real
// account.
//
// Everything runs in virtual time from an event heap (ordered by time; at one time the
// cloud and arrivals, then the dispatcher, then policy ticks; then by the order the events
// were scheduled); the only randomness is a math/rand/v2 PCG seeded by Run's seed, so
// the same Config, Workload, Policy and seed give byte-identical Results. The package reads
// no clock, sleeps never, and imports only the standard library and package autoscale.
//
// What the cloud model covers: instance types with on-demand and spot prices; pools with
// min/max and an on-demand base plus a percentage above it; launch latency drawn from a
// log-normal fitted to a preset's median and p95; launch failures and insufficient-capacity
// errors (by chance, and in spells per pool, reported in Snapshot.LaunchErrors); AWS's API
// rate limits on RunTask, the policy's Auto Scaling calls and instance launches (token
// buckets); EC2 billing per second with a 60-second minimum; image pulls with a per-instance
// cache, and optionally image warm-up on new instances (Config.WarmImages); container start; spot interruptions (a
// per-instance hazard and correlated reclaims of a whole pool, each after a 2-minute notice);
// ECS placement (autoscale.Binpack: binpack on CPU then memory by default, at most 10 tasks
// per RunTask, RESOURCE:CPU and RESOURCE:MEMORY reasons) and capacity-provider PROVISIONING with its limit and timeout.
package sim

// What is simplified or left out, on purpose:
//
//   - One region, no Availability Zones, no placement constraints or spread strategies, no
//     daemon tasks, no ENI, port or GPU limits: placement is binpack on CPU (or memory,
//     Config.Binpack), then the other resource.
//   - A task reserves its CPU and memory from placement; its wait (Metrics.Wait*) runs from
//     submit to its first container start, image pull and container start included. A
//     re-run after an interruption is counted (Reruns), not added to the wait.
//   - hashike's queue retries RunTask whenever capacity or a PROVISIONING slot frees, not on
//     a timer. RunTask on a cluster with no room answers RESOURCE:CPU (or RESOURCE:MEMORY
//     when some instance has the CPU); an empty cluster also answers RESOURCE:CPU, where
//     ECS returns an error, so scale-from-zero policies see a resource failure.
//   - Billing is per second from the launch request to the instance's end, with EC2's
//     60-second minimum per instance (MinBilled): the launching time before the instance
//     registers is billed (EC2 bills from the running state, a few seconds after the request;
//     the boot and ECS agent registration after it are billed); an instance that never
//     registers is billed until it fails; an insufficient-capacity failure is not billed.
//     Spot prices are fixed.
//   - A group keeps Min but does not otherwise replace reclaimed or failed instances, nor
//     rebalance spot capacity; launching is the policy's job. Launch counts above Max are
//     dropped silently. Draining a launching instance cancels it.
//   - Spot draining (ECS_ENABLE_SPOT_INSTANCE_DRAINING) is off by default, as in ECS: tasks
//     are still placed on an instance under notice unless Config.SpotDraining.
//   - The provisioning timeout defaults to 10 minutes (ECS's own figure was not confirmed
//     when this was written; Config.ProvisioningTimeout).
