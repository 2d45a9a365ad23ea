package server

import (
	"context"
	"fmt"
	"strconv"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/cron"
	"github.com/hashike/hashike/job"
)

// scheduleTick acts on every job's due fires (leader only). Each fire's run has the
// idempotency key schedule/<job>/<fire unix time>, so a fire acted on twice (a leader that
// died before recording its tick, a new leader) makes one run.
func (s *Server) scheduleTick(ctx context.Context) {
	jobs, err := s.store.ListJobs(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("scheduler: listing jobs", "err", err)
		}
		return
	}
	for _, v := range jobs {
		def, _, err := s.definition(ctx, v.Name, v.Version)
		if err != nil {
			s.log.Warn("scheduler: reading a job", "job", v.Name, "err", err)
			continue
		}
		if len(def.Schedule.Expressions) == 0 {
			continue
		}
		if err := s.scheduleJob(ctx, v, def); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduler", "job", v.Name, "err", err)
		}
	}
}

func (s *Server) scheduleJob(ctx context.Context, v hashike.JobVersion, def *job.Definition) error {
	now := s.clock.Now()
	last, err := s.store.ScheduleTick(ctx, v.Name)
	if err != nil {
		return err
	}
	if last.IsZero() {
		// A new schedule starts now: nothing before its registration counts as missed.
		last = v.CreatedAt
	}
	plan, err := cron.Compile(def.Schedule)
	if err != nil {
		return err
	}
	for _, f := range plan.Due(last, now) {
		if err := s.fire(ctx, v, def, f); err != nil {
			return err
		}
	}
	return s.store.SetScheduleTick(ctx, v.Name, now)
}

// fire applies the overlap policy to one fire and enqueues its run.
func (s *Server) fire(ctx context.Context, v hashike.JobVersion, def *job.Definition, f cron.Fire) error {
	active, err := s.store.ListRuns(ctx, hashike.RunFilter{Job: v.Name,
		States: []hashike.RunState{hashike.StatePending, hashike.StateRunning, hashike.StateStopping}})
	if err != nil {
		return err
	}
	queued, err := s.store.ListRuns(ctx, hashike.RunFilter{Job: v.Name, States: []hashike.RunState{hashike.StateQueued}})
	if err != nil {
		return err
	}
	waiting := 0
	for _, r := range queued {
		if r.Trigger == TriggerSchedule {
			waiting++
		}
	}
	// Runs queued but not dispatched count as active for skip and cancel_previous: they will
	// run.
	busy := len(active) + waiting
	action := cron.Decide(def.Schedule.Overlap, busy, waiting)
	if def.Schedule.Overlap == cron.OverlapQueueOne {
		action = cron.Decide(def.Schedule.Overlap, len(active), waiting)
	}
	at := f.At
	o := newRunOpts{job: v.Name, version: v.Version, def: def, queue: def.QueueName(), priority: def.Priority,
		trigger: TriggerSchedule, scheduled: &at, key: "schedule/" + v.Name + "/" + strconv.FormatInt(f.At.Unix(), 10)}
	switch action {
	case cron.ActionStart:
	case cron.ActionSkip:
		s.log.Info("scheduler: fire skipped (overlap policy)", "job", v.Name, "at", f.At, "active", len(active), "queued", waiting)
		return nil
	case cron.ActionQueue:
		hold := holdUntil
		o.notBefore = &hold
	case cron.ActionCancelPreviousThenStart:
		for _, r := range append(active, queued...) {
			if _, err := s.Cancel(ctx, r.ID, api.CancelRequest{Reason: fmt.Sprintf("superseded by the fire at %s (overlap: cancel_previous)", f.At)}); err != nil &&
				hashike.ErrorCodeOf(err) != hashike.EConflict {
				return err
			}
		}
	}
	run, err := s.newRun(s.clock.Now(), o)
	if err != nil {
		return err
	}
	if _, _, err := s.store.CreateRun(ctx, run); err != nil {
		return err
	}
	if action == cron.ActionQueue {
		// The active run may have ended between the count and the hold.
		return s.releaseHeld(ctx, v.Name)
	}
	s.poke()
	return nil
}
