package server

import (
	"context"
	"fmt"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/job"
)

// reconcile (leader only) adopts the started runs no live replica supervises (its own
// included, should a supervision have ended without releasing its run), settles the
// ended runs nobody settled (their replica died between the end and the settling) and sends
// overdue notifications.
func (s *Server) reconcile(ctx context.Context) {
	active, err := s.store.ListRuns(ctx, hashike.RunFilter{Active: true})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("reconciler: listing active runs", "err", err)
		}
		return
	}
	now := s.clock.Now()
	for _, r := range active {
		if r.State == hashike.StateQueued {
			continue
		}
		// A run this replica owns but does not supervise lost its supervision without
		// releasing the run (the database was down then): this replica lives, so only
		// it can tell that nobody supervises the run.
		mine := r.Owner != nil && *r.Owner == s.cfg.Self
		if !s.supervising(r.ID) && (r.Owner == nil || mine || !s.alive(ctx, *r.Owner)) {
			if int(s.inflight.Load()) >= s.cfg.MaxConcurrentRuns {
				continue
			}
			s.log.Info("reconciler: adopting a run whose supervisor is gone", "run", r.ID, "state", r.State, "owner", r.Owner)
			s.supervise(r, false)
		}
		if r.ServerRun() {
			if err := s.checkOverdue(ctx, r, now); err != nil && ctx.Err() == nil {
				s.log.Warn("reconciler: overdue check", "run", r.ID, "err", err)
			}
		}
	}
	ended, err := s.store.ListRuns(ctx, hashike.RunFilter{Unsettled: true, Limit: 500})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("reconciler: listing unsettled runs", "err", err)
		}
		return
	}
	for _, r := range ended {
		if s.supervising(r.ID) {
			continue // its supervisor settles it
		}
		if err := s.settle(ctx, r); err != nil && ctx.Err() == nil {
			s.log.Warn("reconciler: settling", "run", r.ID, "err", err)
		}
	}
}

func (s *Server) supervising(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.supervised[id]
}

// checkOverdue queues the overdue notification of a run active longer than its job's
// expectedDuration (once: the deliveries' IDs make a second queueing a no-op).
func (s *Server) checkOverdue(ctx context.Context, r *hashike.Run, now time.Time) error {
	if r.StartedAt == nil {
		return nil
	}
	def, _, err := s.definition(ctx, r.Job, r.JobVersion)
	if err != nil || def.ExpectedDuration <= 0 || len(def.Notifications) == 0 {
		return err
	}
	limit := time.Duration(def.ExpectedDuration)
	if ran := now.Sub(*r.StartedAt); ran > limit {
		return s.notify(ctx, r, def, job.EventOverdue, fmt.Sprintf("running for %s, longer than the expected %s", ran.Round(time.Second), limit))
	}
	return nil
}
