package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/cron"
	"github.com/hashike/hashike/dispatch"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/runner"
)

// dispatchLoop claims queued runs while this replica has room and supervises each. It claims
// again at once when a run is enqueued here or a slot frees, and every PollInterval for runs
// enqueued through other replicas or whose not-before time came.
//
// While claims fail (the database does not answer), it claims again after a wait that doubles
// from PollInterval up to maxClaimBackoff, so that an outage is not met with a claim and a
// warning every PollInterval; the first claim that succeeds ends the backoff.
func (s *Server) dispatchLoop(ctx context.Context) {
	var backoff time.Duration // 0 while claims succeed
	for ctx.Err() == nil {
		room := s.cfg.MaxConcurrentRuns - int(s.inflight.Load())
		full := false
		if room > 0 {
			limit := min(room, ClaimBatch)
			runs, err := s.store.ClaimRuns(ctx, s.clock.Now(), limit, s.cfg.Self)
			switch {
			case err == nil:
				backoff = 0
			case ctx.Err() == nil:
				backoff = min(max(2*backoff, s.cfg.PollInterval), max(maxClaimBackoff, s.cfg.PollInterval))
				s.log.Warn("claiming queued runs", "err", err, "retry_in", backoff)
			}
			for _, run := range runs {
				s.supervise(run, true)
			}
			full = len(runs) == limit
		}
		if full {
			continue // more may wait
		}
		wait := s.cfg.PollInterval
		if backoff > 0 {
			wait = backoff
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-s.clock.After(wait):
		}
	}
}

// maxClaimBackoff bounds the wait between claims while they fail: how late, at most, a replica
// notices that the database is back.
const maxClaimBackoff = 5 * time.Second

// How long a replica waits before it supervises again a run whose supervision failed:
// doubling from superviseRetry up to maxSuperviseRetry.
const (
	superviseRetry    = time.Second
	maxSuperviseRetry = 15 * time.Second
)

// supervise runs a claimed (or adopted) run in its own goroutine until it ends, then settles
// it. It does nothing when this replica already supervises the run. claimed says that run is
// as ClaimRuns returned it, owned by this replica: the runner need not take it over again.
func (s *Server) supervise(run *hashike.Run, claimed bool) {
	s.mu.Lock()
	if s.supervised[run.ID] {
		s.mu.Unlock()
		return
	}
	s.supervised[run.ID] = true
	s.mu.Unlock()
	s.inflight.Add(1)
	s.wg.Add(1)
	go func() {
		defer func() {
			s.mu.Lock()
			delete(s.supervised, run.ID)
			s.mu.Unlock()
			s.inflight.Add(-1)
			s.wg.Done()
			s.poke()
		}()
		ctx := s.runCtx
		if claimed {
			s.metrics.RunDispatched(run, max(s.clock.Now().Sub(dueAt(run)), 0))
			s.log.Info("dispatched", "run", run.ID, "job", run.Job, "version", run.JobVersion, "queue", run.Queue,
				"attempt", run.Attempt, "backend", run.Backend)
		}
		done, err := s.superviseRun(ctx, run, claimed)
		// A supervision that failed (the database went away while it recorded the task's
		// output or end) leaves the run active and, as like as not, owned by this replica,
		// which lives: nobody else would ever finish it. Supervise it again until it ends:
		// the runner takes the run back and reattaches to its task, from the output stored.
		for wait := superviseRetry; err != nil && ctx.Err() == nil && !errors.Is(err, runner.ErrOwned) &&
			hashike.ErrorCodeOf(err) != hashike.ENotFound; wait = min(2*wait, maxSuperviseRetry) {
			s.log.Warn("supervising a run; trying again", "run", run.ID, "in", wait, "err", err)
			select {
			case <-ctx.Done():
			case <-s.clock.After(wait):
				done, err = s.superviseRun(ctx, run, false)
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("supervising a run", "run", run.ID, "err", err)
			}
			return
		}
		if done != nil && done.State.Terminal() {
			s.logFinished(done)
			if err := s.settle(ctx, done); err != nil && ctx.Err() == nil {
				s.log.Warn("settling a run; the reconciler will try again", "run", run.ID, "err", err)
			}
		}
	}()
}

// logFinished writes the line an operator greps for: how a run ended, with its exit and
// how long it ran; and counts the end (Metrics.RunFinished).
func (s *Server) logFinished(run *hashike.Run) {
	s.metrics.RunFinished(run)
	attrs := []any{"run", run.ID, "job", run.Job, "queue", run.Queue, "attempt", run.Attempt, "state", run.State}
	if run.Exit != nil {
		attrs = append(attrs, "exit", run.Exit.Code, "reason", run.Exit.Reason)
	}
	if run.StartedAt != nil && run.FinishedAt != nil {
		attrs = append(attrs, "duration", run.FinishedAt.Sub(*run.StartedAt).Round(time.Millisecond))
	}
	s.log.Info("run finished", attrs...)
}

func (s *Server) superviseRun(ctx context.Context, run *hashike.Run, claimed bool) (*hashike.Run, error) {
	b, err := s.cfg.Backend(run.Backend)
	if err != nil {
		return s.failStart(ctx, run, fmt.Sprintf("backend %q: %v", run.Backend, err))
	}
	var secrets map[string]string
	needsJIT, spec := runnerSpecSecrets(&run.Spec)
	if s.cfg.Secrets != nil && run.Task == nil {
		if secrets, err = s.cfg.Secrets(spec); err != nil {
			return s.failStart(ctx, run, err.Error())
		}
	}
	if needsJIT && run.Task == nil {
		// A runner run starts only with its JIT config, which only the replica that created
		// the run holds, in memory: without it the runner could never register.
		jit, ok := s.runnerSecrets.get(run.ID)
		switch {
		case ok:
			secrets = maps.Clone(secrets)
			if secrets == nil {
				secrets = map[string]string{}
			}
			secrets[EnvRunnerJITConfig] = jit
		case s.taskExists(ctx, b, run):
			// Its replica died between starting the task and recording it: the supervision
			// reattaches to the task, which has the config already.
		default:
			return s.failRunnerStart(ctx, run)
		}
	}
	var files []hashike.File
	var env []hashike.KeyValuePair
	if run.Task == nil { // a start, not a supervision taken over from a dead replica
		if files, env, err = s.startObjects(ctx, run); err != nil {
			if hashike.ErrorCodeOf(err) == hashike.EUnavailable {
				return nil, err // the object store is down: the run is started again later
			}
			return s.failStart(ctx, run, err.Error())
		}
	}
	r := &runner.Runner{Backend: b, Store: s.store, Logs: s.logs, Clock: s.clock, Self: s.cfg.Self, Random: s.cfg.Random,
		Alive: func(o hashike.Owner) bool { return s.alive(ctx, o) }, Usage: s.cfg.Usage}
	opts := runner.Options{Secrets: secrets, Files: files, Env: env,
		Warn:    func(err error) { s.log.Warn("run", "run", run.ID, "err", err) },
		Stopped: func(ctx context.Context, ref hashike.TaskRef) error { return s.collectResult(ctx, run, b, ref) }}
	if claimed {
		opts.Claimed = run
	}
	// The common end (no retry, notification or held fire) is settled with the update that
	// records it, one write instead of two.
	opts.Settle = func(ended *hashike.Run) bool { return s.quietEnd(ctx, ended) }
	done, err := r.Supervise(ctx, run.ID, opts)
	if err != nil {
		return nil, err
	}
	if needsJIT {
		s.runnerSecrets.drop(run.ID) // a supervision that failed may need it again
	}
	return done, nil
}

// failStart ends a run that cannot be started here at all.
func (s *Server) failStart(ctx context.Context, run *hashike.Run, reason string) (*hashike.Run, error) {
	now := s.clock.Now()
	exit := hashike.ExitStatus{Code: hashike.ExitStartFailed, Reason: reason}
	self := s.cfg.Self
	return s.store.UpdateRun(ctx, run.ID, hashike.RunUpdate{At: now, State: hashike.StateStartFailed, Reason: reason,
		Exit: &exit, FinishedAt: &now, ClearOwner: true, IfOwner: &hashike.OwnerMatch{Owner: &self}})
}

// taskExists reports whether the backend has a task for run (unsure: no).
func (s *Server) taskExists(ctx context.Context, b hashike.Backend, run *hashike.Run) bool {
	ref, err := b.Find(ctx, run.ID, &run.Spec)
	return err == nil && ref.ID != ""
}

// failRunnerStart ends a runner run whose JIT config is gone, from whichever owner it has
// (an adopted run is still its dead owner's): only if it still has no task.
func (s *Server) failRunnerStart(ctx context.Context, run *hashike.Run) (*hashike.Run, error) {
	now := s.clock.Now()
	exit := hashike.ExitStatus{Code: hashike.ExitStartFailed, Reason: ReasonRunnerJITLost}
	cur, err := s.store.GetRun(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	if cur.State.Terminal() || cur.Task != nil {
		return cur, nil
	}
	return s.store.UpdateRun(ctx, run.ID, hashike.RunUpdate{At: now, State: hashike.StateStartFailed, Reason: ReasonRunnerJITLost,
		Exit: &exit, FinishedAt: &now, ClearOwner: true, IfOwner: &hashike.OwnerMatch{Owner: cur.Owner}})
}

// settleSoon settles a run ended outside a supervision (a canceled queued run) in the
// background; the reconciler retries what fails.
func (s *Server) settleSoon(run *hashike.Run) {
	s.logFinished(run)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx := s.runCtx
		if ctx == nil {
			ctx = context.Background()
		}
		if err := s.settle(ctx, run); err != nil {
			s.log.Warn("settling a run; the reconciler will try again", "run", run.ID, "err", err)
		}
	}()
}

// settle acts on a run's end: it decides the retry (and enqueues it), queues the
// notifications, releases a fire held for the job, then marks the run settled. Every step is
// idempotent (the retry and the deliveries have keys), so a crash before the mark only makes
// the reconciler do it again.
func (s *Server) settle(ctx context.Context, run *hashike.Run) error {
	if !run.ServerRun() || run.Settled || !run.State.Terminal() {
		return nil
	}
	def, _, err := s.definition(ctx, run.Job, run.JobVersion)
	if err != nil {
		return err
	}
	hist, err := s.history(ctx, run)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	d := dispatch.Decide(def.RetryStrategy, hist, outcomeOf(run), now, s.random)
	d.Retry = d.Retry && run.Trigger != TriggerRunner // the controller starts a new runner instead
	if d.Retry {
		next, err := s.newRun(now, newRunOpts{job: run.Job, version: run.JobVersion, def: def, spec: &run.Spec, queue: run.Queue,
			priority: run.Priority, payload: run.Payload, notBefore: &d.NotBefore, trigger: TriggerRetry,
			key: "retry/" + run.ID, attempt: run.Attempt + 1, rootID: run.RootID, retryOf: run.ID, scheduled: run.ScheduledAt})
		if err != nil {
			return err
		}
		_, created, err := s.createRun(ctx, next)
		if err != nil {
			return fmt.Errorf("enqueue the retry of %s: %w", run.ID, err)
		}
		if created {
			s.metrics.RunRetried(run)
		}
		s.poke()
	} else if err := s.notifyEnd(ctx, run, def, d); err != nil {
		return err
	}
	if err := s.releaseHeld(ctx, run.Job); err != nil {
		return err
	}
	_, err = s.store.UpdateRun(ctx, run.ID, hashike.RunUpdate{Settled: true, At: now})
	return err
}

// quietEnd reports whether settling the end of run (not yet recorded) would do nothing but
// mark it settled: no retry follows it, its job sends no notifications and holds no fires.
// Unsure (an error), it says no: settle then does the work.
func (s *Server) quietEnd(ctx context.Context, run *hashike.Run) bool {
	if !run.ServerRun() || !run.State.Terminal() {
		return false
	}
	def, _, err := s.definition(ctx, run.Job, run.JobVersion)
	if err != nil || len(def.Notifications) > 0 {
		return false
	}
	hist, err := s.history(ctx, run)
	if err != nil {
		return false
	}
	if d := dispatch.Decide(def.RetryStrategy, hist, outcomeOf(run), s.clock.Now(), s.random); d.Retry && run.Trigger != TriggerRunner {
		return false
	}
	hold, err := s.mayHold(ctx, run.Job)
	return err == nil && !hold
}

// history counts the earlier tries of run's enqueue by kind of failure, for the retry
// decision. A first try has none, and a run that succeeded or was canceled is never retried:
// neither needs the store.
func (s *Server) history(ctx context.Context, run *hashike.Run) (dispatch.History, error) {
	var hist dispatch.History
	if run.Attempt <= 1 || run.State == hashike.StateSucceeded || run.State == hashike.StateCanceled {
		return hist, nil
	}
	tries, err := s.store.ListRuns(ctx, hashike.RunFilter{RootID: run.RootID})
	if err != nil {
		return hist, err
	}
	for _, t := range tries {
		if t.ID == run.ID || t.Attempt >= run.Attempt || !t.State.Terminal() {
			continue
		}
		switch dispatch.Classify(outcomeOf(t)) {
		case dispatch.Application:
			hist.Application++
		case dispatch.Infrastructure:
			hist.Infrastructure++
		case dispatch.NotFailed:
		}
	}
	return hist, nil
}

func outcomeOf(r *hashike.Run) dispatch.Outcome {
	o := dispatch.Outcome{State: r.State, Exit: r.Exit}
	if r.Exit != nil {
		o.ContainerReason = r.Exit.Reason
	}
	return o
}

// finalFailure reports whether a run that is not retried ended badly.
func finalFailure(r *hashike.Run) bool {
	return r.State != hashike.StateSucceeded && r.State != hashike.StateCanceled
}

// notifyEnd queues the notifications of a run's final outcome: failure, or recovery when the
// job's previous final outcome was a failure.
func (s *Server) notifyEnd(ctx context.Context, run *hashike.Run, def *job.Definition, d dispatch.Decision) error {
	if len(def.Notifications) == 0 {
		return nil
	}
	switch {
	case finalFailure(run):
		return s.notify(ctx, run, def, job.EventFailure, d.Reason)
	case run.State == hashike.StateSucceeded:
		prev, err := s.previousFinal(ctx, run)
		if err != nil || prev == nil || !finalFailure(prev) {
			return err
		}
		return s.notify(ctx, run, def, job.EventRecovery, fmt.Sprintf("succeeded after run %s ended %s", prev.ID, prev.State))
	}
	return nil
}

// previousFinal is the final try of the job's latest enqueue before run's that has ended and
// been settled, or nil.
func (s *Server) previousFinal(ctx context.Context, run *hashike.Run) (*hashike.Run, error) {
	recent, err := s.store.ListRuns(ctx, hashike.RunFilter{Job: run.Job, Limit: 100})
	if err != nil {
		return nil, err
	}
	retried := map[string]bool{}
	for _, r := range recent {
		if r.RetryOf != "" {
			retried[r.RetryOf] = true
		}
	}
	// Newest first: the first settled, final, ended try of another enqueue.
	for _, r := range recent {
		if r.RootID == run.RootID || !r.State.Terminal() || !r.Settled || retried[r.ID] || r.State == hashike.StateCanceled {
			continue
		}
		if r.CreatedAt.After(run.CreatedAt) {
			continue
		}
		return r, nil
	}
	return nil, nil
}

// holdUntil is the not-before time of a fire held by the queue_one overlap policy until the
// job's active run ends; releaseHeld brings it forward.
var holdUntil = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// holds is what a replica knows of a job's versions: whether any of the first checked has
// the queue_one overlap policy, the only one that holds fires.
type holds struct {
	checked  int
	queueOne bool
}

// mayHold reports whether a fire of the job may be held: whether some version of it
// schedules with the queue_one overlap policy (a held fire keeps the version it was made
// of, which may not be the latest). Versions never change, so each is looked at once.
func (s *Server) mayHold(ctx context.Context, name string) (bool, error) {
	_, latest, err := s.definition(ctx, name, 0)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	h := s.holds[name]
	s.mu.Unlock()
	for v := h.checked + 1; v <= latest.Version && !h.queueOne; v++ {
		def, _, err := s.definition(ctx, name, v)
		if hashike.ErrorCodeOf(err) == hashike.ENotFound {
			continue
		}
		if err != nil {
			return false, err
		}
		h.queueOne = def.Schedule.Overlap == cron.OverlapQueueOne && len(def.Schedule.Expressions) > 0
	}
	h.checked = max(h.checked, latest.Version)
	s.mu.Lock()
	if cur := s.holds[name]; cur.checked < h.checked || (!cur.queueOne && h.queueOne) {
		s.holds[name] = h
	}
	s.mu.Unlock()
	return h.queueOne, nil
}

// releaseHeld lets the fire held for the job go, once no run of the job is active.
func (s *Server) releaseHeld(ctx context.Context, name string) error {
	if ok, err := s.mayHold(ctx, name); !ok || err != nil {
		return err
	}
	queued, err := s.store.ListRuns(ctx, hashike.RunFilter{Job: name, States: []hashike.RunState{hashike.StateQueued}})
	if err != nil {
		return err
	}
	held := slices.IndexFunc(queued, func(r *hashike.Run) bool { return r.NotBefore != nil && r.NotBefore.Equal(holdUntil) })
	if held < 0 {
		return nil
	}
	active, err := s.countActive(ctx, name)
	if err != nil || active > 0 {
		return err
	}
	now := s.clock.Now()
	_, err = s.store.UpdateRun(ctx, queued[held].ID, hashike.RunUpdate{At: now, NotBefore: &now})
	if err == nil {
		s.poke()
	}
	return err
}

// countActive counts the job's runs that are dispatched and not ended.
func (s *Server) countActive(ctx context.Context, name string) (int, error) {
	runs, err := s.store.ListRuns(ctx, hashike.RunFilter{Job: name,
		States: []hashike.RunState{hashike.StatePending, hashike.StateRunning, hashike.StateStopping}})
	return len(runs), err
}
