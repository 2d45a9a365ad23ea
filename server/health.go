package server

import (
	"context"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

// healthTimeout bounds a health check: a probe must answer, if only to say "down".
const healthTimeout = 3 * time.Second

// Health checks the replica's dependencies: the database, with a read of this replica's own
// lease (a lease that is not there is an answer too). What went wrong goes to the log, never
// into the result: the probe's caller needs to know what is down, not how to reach it.
func (s *Server) Health(ctx context.Context) api.Health {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	h := api.Health{Status: api.HealthOK, Checks: map[string]string{"database": api.CheckUp}, Autoscalers: s.autoscalerHealth(),
		Runners: s.runnerHealth()}
	if _, err := s.store.GetLease(ctx, "replica:"+s.holder); err != nil && hashike.ErrorCodeOf(err) != hashike.ENotFound {
		s.log.Warn("health: the database does not answer", "err", err)
		h.Status, h.Checks["database"] = api.HealthUnavailable, api.CheckDown
	}
	return h
}
