// Package retention deletes what runs leave behind once their retention has passed: their
// logs in the database (after making sure they are archived), their archived logs in the
// object store, and the runs themselves. Policy decides, purely, what each job keeps until
// when; Pruner applies it through the store's Pruning role in bounded batches. `hashike
// server` runs a Pruner on its leader; `hashike prune` runs one once.
package retention

import (
	"slices"
	"time"

	"github.com/hashike/hashike"
)

// Policy is the retention of every run: Default for runs of `hashike run` and of jobs without
// a retention of their own, and each job's own, field by field over Default.
type Policy struct {
	Default hashike.Retention
	Jobs    []Job
}

// Job is a registered job's own retention.
type Job struct {
	Name string
	// Family is the job's task definition family: its archived logs are filed under it.
	Family    string
	Retention hashike.Retention
}

// Scope is what one listing of the store covers: one job's runs (Job set) or every run
// without a retention of its own (Job empty, Except the jobs that have one), with the
// cutoffs that apply to them. A zero cutoff keeps forever.
type Scope struct {
	Job    string
	Except []string
	// LogsBefore and RunsBefore: the runs that ended before them lose their logs in the
	// database, and are deleted.
	LogsBefore time.Time
	RunsBefore time.Time
}

// Scopes returns the scopes to prune at now: one per job whose retention differs from the
// default in the database (logs or runs), then the default's, which leaves those jobs out.
// A scope that keeps everything forever is left out.
func (p Policy) Scopes(now time.Time) []Scope {
	var out []Scope
	var except []string
	for _, j := range p.Jobs {
		if j.Retention.Logs == nil && j.Retention.Runs == nil {
			continue // the default applies
		}
		except = append(except, j.Name)
		if s := scope(j.Retention.Or(p.Default), now); s != nil {
			s.Job = j.Name
			out = append(out, *s)
		}
	}
	if s := scope(p.Default, now); s != nil {
		slices.Sort(except)
		s.Except = slices.Compact(except)
		out = append(out, *s)
	}
	return out
}

func scope(r hashike.Retention, now time.Time) *Scope {
	logs, okLogs := hashike.Cutoff(r.Logs, now)
	runs, okRuns := hashike.Cutoff(r.Runs, now)
	if !okLogs && !okRuns {
		return nil
	}
	return &Scope{LogsBefore: logs, RunsBefore: runs}
}

// ArchiveBefore returns the function that tells, for an archived object's family, the cutoff
// before which its day partitions are deleted (false: kept forever), at now.
func (p Policy) ArchiveBefore(now time.Time) func(family string) (time.Time, bool) {
	byFamily := map[string]*hashike.Duration{}
	for _, j := range p.Jobs {
		if j.Retention.Archive != nil && j.Family != "" {
			byFamily[j.Family] = j.Retention.Archive
		}
	}
	return func(family string) (time.Time, bool) {
		if d, ok := byFamily[family]; ok {
			return hashike.Cutoff(d, now)
		}
		return hashike.Cutoff(p.Default.Archive, now)
	}
}
