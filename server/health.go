package server

import (
	"context"
	"time"

	"github.com/hashike/hashike"
)

// Health states of GET /healthz.
const (
	HealthOK          = "ok"
	HealthUnavailable = "unavailable"
	// CheckUp and CheckDown are a dependency's state in Health.Checks.
	CheckUp   = "ok"
	CheckDown = "down"
)

// healthTimeout bounds a health check: a probe must answer, if only to say "down".
const healthTimeout = 3 * time.Second

// Health is the body of GET /healthz: whether the replica can serve, and the state of each
// dependency it cannot serve without, by name ("database").
type Health struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
	// Autoscalers, by cluster, say when each autoscaler last decided and why its last
	// observation of the cluster failed, if it did (only the leader runs them: a follower
	// has no decision). An autoscaler's error does not make the replica unhealthy: it
	// still serves, and the autoscaler retries every interval.
	Autoscalers map[string]AutoscalerHealth `json:"autoscalers,omitempty"`
	// Runners is the runner controller (when the server runs runner pools), as Autoscalers:
	// its errors do not make the replica unhealthy.
	Runners *RunnerHealth `json:"runners,omitempty"`
}

// Healthy reports whether every dependency is up.
func (h Health) Healthy() bool { return h.Status == HealthOK }

// Health checks the replica's dependencies: the database, with a read of this replica's own
// lease (a lease that is not there is an answer too). What went wrong goes to the log, never
// into the result: the probe's caller needs to know what is down, not how to reach it.
func (s *Server) Health(ctx context.Context) Health {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	h := Health{Status: HealthOK, Checks: map[string]string{"database": CheckUp}, Autoscalers: s.autoscalerHealth(),
		Runners: s.runnerHealth()}
	if _, err := s.store.GetLease(ctx, "replica:"+s.holder); err != nil && hashike.ErrorCodeOf(err) != hashike.ENotFound {
		s.log.Warn("health: the database does not answer", "err", err)
		h.Status, h.Checks["database"] = HealthUnavailable, CheckDown
	}
	return h
}
