// Package runners decides the ephemeral GitHub Actions runners hashike keeps: pools as data
// (the runs-on labels a pool serves, its size and architecture, the hashike job that runs a
// runner, its maximum, warm idle runners by schedule or by a start-latency SLO), which pool a
// job's labels go to, and the reconcile decision, a pure function of the pools, the queued
// demand per label set, the runners and now, returning actions with reasons. Controller is
// the thin level-triggered loop that gathers that state through two ports, GitHub and Runs,
// and applies the actions.
//
// Demand is counted per label set, never per job id: GitHub gives a queued job to any idle
// runner whose labels are a superset of the job's, so runners are interchangeable within a
// pool and a lost or duplicated webhook only delays the next decision.
//
// The package is pure: no net/http, no GitHub SDK, no AWS or Docker.
package runners
