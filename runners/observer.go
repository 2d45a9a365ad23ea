package runners

import "time"

// Observer receives what the runner controller observes, for metrics: the package metrics
// implements it with Prometheus collectors, so this package never imports Prometheus. Its
// methods must be cheap and safe for concurrent use; nil fields of the Controller's
// Observer are not called.
type Observer interface {
	// Decided reports a pass's decision: each pool's queued jobs and its runners idle,
	// starting, busy and desired.
	Decided(d Decision)
	// RunnerStarted reports a runner of pool seen online start after it was requested
	// (the run's dispatch, its container's start and the runner's registration).
	RunnerStarted(pool string, start time.Duration)
	// JobAssigned reports a job of pool that waited wait between being queued and a runner
	// taking it, by GitHub's times (webhook in_progress deliveries, scale-set messages).
	JobAssigned(pool string, wait time.Duration)
	// LostWebhook reports a queued job of pool ("" when no pool serves it) that a re-scan
	// of GitHub found and no webhook announced: a lost or late delivery.
	LostWebhook(pool string)
}

// Idle is the decision a replica that does not lead reports: every pool at zero.
func (p *Plan) Idle() Decision {
	var d Decision
	for _, pool := range p.pools {
		d.Pools = append(d.Pools, PoolStatus{Pool: pool.Name})
	}
	return d
}
