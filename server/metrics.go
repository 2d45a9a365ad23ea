package server

import (
	"context"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
)

// Metrics is told what the server does as it happens, for counters and histograms (package
// metrics implements it for Prometheus; nil Config.Metrics: nothing is measured). What can
// be read at any time (queue depth, runs by state, the outbox, leadership) is not told here:
// a collector reads it when scraped (Store's Backlog role, Server.Leader). Each replica
// reports what it did: sum across replicas. Calls must be quick and must not block.
type Metrics interface {
	// RunEnqueued: run was created (queued) by this replica: an enqueue, a rerun, a trigger,
	// a cron fire, a retry or a runner.
	RunEnqueued(run *hashike.Run)
	// RunDispatched: this replica claimed run, which had waited waited since it became due
	// (its not-before time, else its enqueue).
	RunDispatched(run *hashike.Run, waited time.Duration)
	// RunFinished: a run this replica supervised (or canceled while it was queued) ended;
	// run is in its terminal state, with StartedAt and FinishedAt when it ran.
	RunFinished(run *hashike.Run)
	// RunRetried: this replica enqueued a retry of run, which ended as run.State says.
	RunRetried(run *hashike.Run)
	// AutoscalerDecided: the named autoscaler (on the leader) decided and applied d.
	AutoscalerDecided(name string, d autoscale.Decision)
}

type noMetrics struct{}

func (noMetrics) RunEnqueued(*hashike.Run)                     {}
func (noMetrics) RunDispatched(*hashike.Run, time.Duration)    {}
func (noMetrics) RunFinished(*hashike.Run)                     {}
func (noMetrics) RunRetried(*hashike.Run)                      {}
func (noMetrics) AutoscalerDecided(string, autoscale.Decision) {}

// dueAt is when a queued run became (or becomes) due.
func dueAt(r *hashike.Run) time.Time {
	if r.NotBefore != nil && r.NotBefore.After(r.CreatedAt) {
		return *r.NotBefore
	}
	return r.CreatedAt
}

// ReadBacklog reads the backlog of every replica from the store, for a metrics collector.
func (s *Server) ReadBacklog(ctx context.Context) (hashike.BacklogStats, error) {
	return s.store.ReadBacklog(ctx, s.clock.Now())
}

// Now is the server's clock, for a collector that turns the backlog's times into ages.
func (s *Server) Now() time.Time { return s.clock.Now() }
