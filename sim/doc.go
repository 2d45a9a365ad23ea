// Package sim is hashike's discrete-event simulator of an ECS-on-EC2 cluster: it replays a
// Workload of jobs against simulated capacity pools (Auto Scaling groups behind capacity
// providers) and drives an autoscale.Policy in virtual time, so policies can be compared on
// wait, cost and utilisation before any of them touches a real account.
//
// Everything runs in virtual time from an event heap (ordered by time, then by the order the
// events were scheduled); the only randomness is a math/rand/v2 PCG seeded by Run's seed, so
// the same Config, Workload, Policy and seed give byte-identical Results. The package reads
// no clock, sleeps never, and imports only the standard library and package autoscale.
//
// What the cloud model covers: instance types with on-demand and spot prices; pools with
// min/max and an on-demand base plus a percentage above it; launch latency drawn from a
// log-normal fitted to a preset's median and p95; launch failures and insufficient-capacity
// errors; image pulls with a per-instance cache; container start; spot interruptions (a
// per-instance hazard and correlated reclaims of a whole pool, each after a 2-minute notice);
// ECS placement (binpack on CPU then memory, at most 10 tasks per RunTask, RESOURCE:CPU and
// RESOURCE:MEMORY reasons) and capacity-provider PROVISIONING with its limit and timeout.
package sim
