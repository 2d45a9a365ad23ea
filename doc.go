// Package hashike is the domain vocabulary of hashike: what a job is (JobSpec, an Amazon ECS
// task definition plus run options), what a run is (Run, RunState and its transition table,
// ExitStatus), and the ports that adapters implement (Backend starts, observes and stops a
// task; Store keeps the run history and logs).
//
// This package imports the standard library only; `make check-imports` keeps it so. Adapters
// live in their own packages (docker, sqlite, ...), one outside dependency each.
package hashike
