package server

import (
	"context"
	"fmt"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/retention"
)

// DefaultPruneInterval is how often the leader prunes what retention lets go.
const DefaultPruneInterval = time.Hour

// Policy is the retention policy now: the configured default, and the own retention of each
// registered job's latest version.
func (s *Server) Policy(ctx context.Context) (retention.Policy, error) {
	return RetentionPolicy(ctx, s.store, s.cfg.Retention)
}

// RetentionPolicy is the policy of the jobs registered in store (each one's latest version's
// retention) over def.
func RetentionPolicy(ctx context.Context, store hashike.ServerStore, def hashike.Retention) (retention.Policy, error) {
	p := retention.Policy{Default: def}
	versions, err := store.ListJobs(ctx)
	if err != nil {
		return p, fmt.Errorf("retention policy: %w", err)
	}
	for _, v := range versions {
		d, err := job.Decode(v)
		if err != nil {
			return p, fmt.Errorf("retention policy: %w", err)
		}
		if d.Retention.IsZero() {
			continue
		}
		family := d.TaskDefinition.Family
		if family == "" {
			family = v.Name
		}
		p.Jobs = append(p.Jobs, retention.Job{Name: v.Name, Family: family, Retention: d.Retention})
	}
	return p, nil
}

// Prune makes one retention pass now, on whichever replica is asked (a pass keeps no state,
// so one beside the leader's only finds less to do). EInvalid when the server has no pruner.
func (s *Server) Prune(ctx context.Context, req api.PruneRequest) (hashike.PruneReport, error) {
	return s.prune(ctx, req.DryRun)
}

func (s *Server) prune(ctx context.Context, dryRun bool) (hashike.PruneReport, error) {
	if s.cfg.Pruner == nil {
		return hashike.PruneReport{}, hashike.Errorf(hashike.EInvalid, "this server does not prune: it was started without a pruner")
	}
	policy, err := s.Policy(ctx)
	if err != nil {
		return hashike.PruneReport{}, err
	}
	return s.cfg.Pruner.Prune(ctx, policy, dryRun)
}

// pruneTick is the leader's retention pass. A failed pass (the database or the archive
// unreachable) is logged and the next tick tries again: a pass keeps no state.
func (s *Server) pruneTick(ctx context.Context) {
	rep, err := s.prune(ctx, false)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("retention pass failed; trying again next time", "err", err, "logs", rep.Logs, "runs", rep.Runs)
		}
		return
	}
	if rep.Logs+rep.Runs+rep.ArchiveObjects+rep.Kept > 0 {
		s.log.Info("retention pass", "logs", rep.Logs, "runs", rep.Runs, "archiveObjects", rep.ArchiveObjects,
			"archiveBytes", rep.ArchiveBytes, "kept", rep.Kept)
	}
}
