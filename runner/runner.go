// Package runner executes runs: it records a run, starts its task on a Backend, streams the
// output live and into the Store, enforces the timeout, stops the task on request, decides the
// outcome and removes the task. Every step is resumable: a run whose supervising process died
// is picked up by another process from what the Store and the Backend hold.
//
// It imports only the domain; the CLI wires the adapters.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/usage"
)

// Runner supervises runs of one Backend: the runs are recorded in Store, their output in Logs
// (usually the same database's two roles).
type Runner struct {
	Backend hashike.Backend
	Store   hashike.RunStore
	Logs    hashike.LogStore
	Clock   hashike.Clock
	// Self is this process as a run owner; Alive tells whether another owner still runs.
	Self  hashike.Owner
	Alive func(hashike.Owner) bool
	// Random feeds run IDs.
	Random io.Reader
	// FlushInterval bounds how long output waits before it is stored (default 250 ms);
	// FlushBytes bounds how much is buffered (default 1 MiB).
	FlushInterval time.Duration
	FlushBytes    int
	// PollInterval is how often a follower looks for new output (default 200 ms).
	PollInterval time.Duration
	// Usage, when set, samples the CPU and memory of the runs' tasks while they run, where
	// the Backend is a hashike.UsageSampler; each run's summary is recorded with its end,
	// and every UsageRecordInterval while it runs (default 1 min).
	Usage               *usage.Monitor
	UsageRecordInterval time.Duration
}

func (r *Runner) usageRecordInterval() time.Duration {
	if r.UsageRecordInterval > 0 {
		return r.UsageRecordInterval
	}
	return time.Minute
}

// Create records a pending run of spec. With a non-empty key, a run already recorded with that
// key is returned instead (created=false); if its definition differs, that is an EConflict, as
// an idempotency token reused with other parameters is in AWS's APIs. owner may be nil: a
// supervisor started later takes the run.
func (r *Runner) Create(ctx context.Context, spec hashike.JobSpec, key string, owner *hashike.Owner) (*hashike.Run, bool, error) {
	now := r.Clock.Now()
	id, err := hashike.NewRunID(now, r.Random)
	if err != nil {
		return nil, false, fmt.Errorf("new run id: %w", err)
	}
	backend := spec.Backend
	if backend == "" {
		backend = r.Backend.Name()
	}
	run := &hashike.Run{
		ID: id, Family: spec.TaskDefinition.Family, Backend: backend, Spec: spec, Digest: spec.Digest(),
		Resources: spec.Resources(), IdempotencyKey: key, State: hashike.StatePending, CreatedAt: now, Owner: owner,
	}
	existing, created, err := r.Store.CreateRun(ctx, run)
	if err != nil {
		return nil, false, err
	}
	if !created {
		if existing.Digest != run.Digest {
			return existing, false, hashike.Errorf(hashike.EConflict,
				"idempotency key %q was used by run %s with a different definition (%s, now %s)", key, existing.ID, existing.Digest, run.Digest)
		}
		return existing, false, nil
	}
	return existing, true, nil
}

// StopRequest asks a supervised run to stop. Grace < 0 gives each container its stopTimeout;
// 0 kills at once (a second Ctrl-C).
type StopRequest struct {
	Cause hashike.StopCause
	Grace time.Duration
}

// Options for Supervise.
type Options struct {
	// Secrets are the resolved secret values, by secret name: given to the backend at start and
	// masked ("***") in the output, live and stored.
	Secrets map[string]string
	// Output receives every entry live (already masked); nil for none. Its Data is valid only
	// during the call.
	Output func(hashike.LogEntry)
	// Stop delivers stop requests (signals).
	Stop <-chan StopRequest
	// Keep leaves the task's containers in place after the run is recorded.
	Keep bool
	// Adopt is for a process that takes over a run it did not start: a pending run whose task
	// does not exist is marked lost rather than started.
	Adopt bool
	// Warn receives problems that do not change the outcome (cleanup failures).
	Warn func(error)
	// Files are put into the task's containers when this process starts it.
	Files []hashike.File
	// Env is set in every container of the task when this process starts it, and not
	// recorded with the run: values that are good for one start only (presigned URLs).
	Env []hashike.KeyValuePair
	// Stopped, when set, is called once the task has stopped and its output is stored, before
	// the run's end is recorded and its containers removed: the server reads the run's result
	// there, so that whoever sees the run ended sees its result too. Its error is a warning.
	Stopped func(ctx context.Context, ref hashike.TaskRef) error
	// Claimed is the run as this process just took it with Self as its owner, atomically (the
	// server's dispatcher: ClaimRuns): Supervise starts from it instead of reading the run and
	// taking it over again. Ignored unless its ID is the run's and its owner is Self.
	Claimed *hashike.Run
	// Settle, when set, is asked just before the run's end is recorded, with the run as it is
	// about to be (its final State and Exit set): true records it settled in the same update,
	// for a caller that has nothing left to do on that end (the server, when no retry,
	// notification or held fire follows it).
	Settle func(ended *hashike.Run) bool
}

// ErrOwned is returned by Supervise when another live process supervises the run.
var ErrOwned = errors.New("run is supervised by another process")

// Supervise owns the run until it is finished and returns it in its final state. When ctx
// ends first, it releases the run (the task keeps running) and returns ctx's error: the next
// process reconciles it.
func (r *Runner) Supervise(ctx context.Context, id string, opts Options) (*hashike.Run, error) {
	self := r.Self
	run := opts.Claimed
	if run == nil || run.ID != id || run.Owner == nil || *run.Owner != self || run.State.Terminal() {
		var err error
		if run, err = r.take(ctx, id); err != nil || run.State.Terminal() {
			return run, err
		}
	}
	s := &supervision{r: r, run: run, opts: opts}
	out, err := s.do(ctx)
	if err != nil && out == nil {
		// Not finished: let the next process reconcile it.
		_, _ = r.Store.UpdateRun(context.WithoutCancel(ctx), id, hashike.RunUpdate{At: r.Clock.Now(), IfOwner: &hashike.OwnerMatch{Owner: &self}, ClearOwner: true})
	}
	return out, err
}

// take reads the run and makes this process its owner, unless it has ended (returned as it
// is) or another live process owns it (ErrOwned).
func (r *Runner) take(ctx context.Context, id string) (*hashike.Run, error) {
	run, err := r.Store.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	if run.State.Terminal() {
		return run, nil
	}
	if run.Owner != nil && *run.Owner != r.Self && r.Alive(*run.Owner) {
		return run, fmt.Errorf("%w: run %s (pid %d on %s)", ErrOwned, run.ID, run.Owner.PID, run.Owner.Host)
	}
	self := r.Self
	run, err = r.Store.UpdateRun(ctx, id, hashike.RunUpdate{At: r.Clock.Now(), IfOwner: &hashike.OwnerMatch{Owner: run.Owner}, SetOwner: &self})
	if err != nil {
		if hashike.ErrorCodeOf(err) == hashike.EConflict {
			return run, fmt.Errorf("%w: run %s was taken by another process", ErrOwned, id)
		}
		return nil, err
	}
	return run, nil
}

type supervision struct {
	r    *Runner
	run  *hashike.Run
	opts Options
	// cause is the run's stop cause as this supervision knows it: as read with the run, or
	// recorded by its own stop requests.
	cause hashike.StopCause
	// stopRecorded is the stop cause proceed found recorded, ending the start.
	stopRecorded hashike.StopCause
	// usage samples the task while it runs; its summary is recorded with the end.
	usage *usage.Tracking
}

func (s *supervision) do(ctx context.Context) (*hashike.Run, error) {
	r, run := s.r, s.run
	// startedHere: this supervision records the task. A task is recorded before any of its
	// output is stored, so there is none yet.
	startedHere := run.Task == nil
	if run.Task == nil {
		ref, stopped, err := s.startOrStop(ctx)
		if stopped != "" && err != nil && ctx.Err() == nil {
			// Stopped while the task was being started (a capacity wait): nothing was started.
			state, exit := hashike.Outcome(stopped, time.Duration(run.Spec.Timeout), hashike.ContainerStatus{}, hashike.TaskStatus{})
			exit.Reason += " before its task was created"
			return s.finish(ctx, state, exit, nil)
		}
		if err != nil {
			var se *hashike.StartError
			switch {
			case errors.As(err, &se):
				return s.finish(ctx, hashike.StateStartFailed, hashike.ExitStatus{Code: hashike.ExitStartFailed, Reason: se.Reason}, nil)
			case hashike.ErrorCodeOf(err) == hashike.ENotFound && run.StopCause != "":
				state, exit := hashike.Outcome(run.StopCause, time.Duration(run.Spec.Timeout), hashike.ContainerStatus{}, hashike.TaskStatus{})
				exit.Reason += " before its task was created"
				return s.finish(ctx, state, exit, nil)
			case hashike.ErrorCodeOf(err) == hashike.ENotFound:
				return s.finish(ctx, hashike.StateLost, hashike.ExitStatus{Code: hashike.ExitStartFailed,
					Reason: "the process starting the run died before its task was created"}, nil)
			case ctx.Err() != nil:
				return nil, ctx.Err()
			default:
				return s.finish(ctx, hashike.StateStartFailed, hashike.ExitStatus{Code: hashike.ExitStartFailed, Reason: err.Error()}, nil)
			}
		}
		if run, err = s.recordStart(ctx, ref); err != nil {
			return nil, err
		}
		s.run = run
	}
	ref := *run.Task

	cursor := hashike.LogCursor{}
	var err error
	if !startedHere {
		if cursor, err = s.storedCursor(ctx); err != nil {
			return nil, err
		}
	}
	logs := &logWriter{r: r, runID: run.ID, out: s.opts.Output, cursor: cursor, masks: masks(s.opts.Secrets)}
	flushCtx, stopFlush := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFlush()
	go logs.flushEvery(flushCtx)

	logCtx, cancelLogs := context.WithCancel(ctx)
	defer cancelLogs()
	logsDone := make(chan error, 1)
	ready := make(chan struct{})
	readyOnce := sync.OnceFunc(func() { close(ready) })
	go func() {
		logsDone <- r.Backend.Logs(logCtx, ref, hashike.LogsOptions{Follow: true, After: cursor.Clone(), Ready: readyOnce}, logs.add)
		readyOnce()
	}()
	// Start the containers (Wait) only once every byte of their output will be caught.
	select {
	case <-ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	type waited struct {
		st          hashike.TaskStatus
		unreachable bool
		err         error
	}
	if sampler, ok := r.Backend.(hashike.UsageSampler); ok && r.Usage != nil {
		tracked := *run
		tracked.Task = &ref
		s.usage = r.Usage.Track(sampler, &tracked)
		// Ends the sampling should the supervision end another way than finish.
		defer s.usage.Discard()
	}
	waitDone := make(chan waited, 1)
	go func() {
		st, unreachable, err := s.wait(ctx, ref)
		waitDone <- waited{st, unreachable, err}
	}()

	var timeout <-chan time.Time
	if deadline, ok := run.Deadline(); ok {
		timeout = r.Clock.After(deadline.Sub(r.Clock.Now()))
	}
	var stopping sync.WaitGroup
	defer stopping.Wait()
	// Stopped before this process got here (hashike stop of a pending run, or a stop whose
	// supervisor died): carry it out. The update recording a start here read the stop cause
	// as it wrote; a stop recorded after it finds the task recorded and stops it itself.
	cause := run.StopCause
	if !startedHere {
		cause = ""
		if latest, err := r.Store.GetRun(ctx, run.ID); err == nil {
			cause = latest.StopCause
		}
	}
	s.cause = cause
	if cause != "" {
		s.requestStop(ctx, ref, cause, -1, &stopping)
	}
	// The usage so far is recorded now and then, for the run's view while it runs and for a
	// supervisor that takes the run over after this one died.
	var record <-chan time.Time
	var recorded *hashike.ResourceUsage
	if s.usage != nil {
		record = r.Clock.After(r.usageRecordInterval())
	}
	var w waited
loop:
	for {
		select {
		case w = <-waitDone:
			break loop
		case <-record:
			record = r.Clock.After(r.usageRecordInterval())
			if u := s.usage.Usage(); u != nil && (recorded == nil || u.Samples != recorded.Samples) {
				if _, err := r.Store.UpdateRun(ctx, run.ID, hashike.RunUpdate{Usage: u}); err == nil {
					recorded = u
				}
			}
		case req := <-s.opts.Stop:
			s.requestStop(ctx, ref, req.Cause, req.Grace, &stopping)
		case <-timeout:
			timeout = nil
			s.requestStop(ctx, ref, hashike.StopTimeout, -1, &stopping)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if w.err != nil {
		if hashike.ErrorCodeOf(w.err) == hashike.ENotFound {
			cancelLogs()
			<-logsDone
			if err := logs.flush(context.WithoutCancel(ctx)); err != nil {
				return nil, err
			}
			return s.finish(ctx, hashike.StateLost, hashike.ExitStatus{Code: hashike.ExitStartFailed,
				Reason: "the task's containers disappeared while it ran"}, nil)
		}
		return nil, w.err
	}

	// The task stopped: the log streams end once drained. Should one hang, read what is left.
	select {
	case err = <-logsDone:
	case <-r.Clock.After(30 * time.Second):
		cancelLogs()
		<-logsDone
		err = r.Backend.Logs(ctx, ref, hashike.LogsOptions{After: logs.position()}, logs.add)
	}
	if err != nil && ctx.Err() == nil {
		if w := s.opts.Warn; w != nil {
			w(fmt.Errorf("reading the output of run %s: %w", run.ID, err))
		}
	}
	if err := logs.flush(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}

	if w.st.ContainerInstanceArn != "" {
		ref.ContainerInstance = w.st.ContainerInstanceArn
		if _, err := r.Store.UpdateRun(ctx, run.ID, hashike.RunUpdate{At: r.Clock.Now(), Task: &ref}); err != nil {
			return nil, err
		}
	}
	if s.opts.Stopped != nil {
		if err := s.opts.Stopped(ctx, ref); err != nil && s.opts.Warn != nil {
			s.opts.Warn(fmt.Errorf("run %s: %w", run.ID, err))
		}
	}
	done, err := s.end(ctx, w.st, w.unreachable)
	if err != nil {
		return done, err
	}
	if !s.opts.Keep {
		if err := r.Backend.Remove(context.WithoutCancel(ctx), ref); err != nil && s.opts.Warn != nil {
			s.opts.Warn(fmt.Errorf("removing the containers of run %s: %w", run.ID, err))
		}
	}
	return done, nil
}

// recordStart records the task and, if the run is still pending, that it runs. A stop may have
// been requested meanwhile (pending -> stopping): then only the task is recorded.
func (s *supervision) recordStart(ctx context.Context, ref hashike.TaskRef) (*hashike.Run, error) {
	now := s.r.Clock.Now()
	u := hashike.RunUpdate{At: now, Task: &ref, StartedAt: &now}
	if s.run.State == hashike.StatePending {
		u.State, u.Reason = hashike.StateRunning, "task started"
	}
	run, err := s.r.Store.UpdateRun(ctx, s.run.ID, u)
	if hashike.ErrorCodeOf(err) == hashike.EConflict && u.State != "" {
		u.State, u.Reason = "", ""
		run, err = s.r.Store.UpdateRun(ctx, s.run.ID, u)
	}
	return run, err
}

// startOrStop starts the task while it watches for stop requests: a signal (opts.Stop) or a
// stop recorded by another process (hashike stop, a cancel through the server). Starting can
// take long (an ECS capacity wait lasts up to capacityTimeout); a stop ends it at once. A stop
// is recorded and returned as stopped; when the start was cut short, the task is looked for
// (a RunTask whose answer was lost may have started one) and, if found, returned with a nil
// error for the caller to stop as any task stopped before it was recorded. A stop that comes
// after a task was started is handled the same way. Without a stop, it returns what start did.
func (s *supervision) startOrStop(ctx context.Context) (hashike.TaskRef, hashike.StopCause, error) {
	r := s.r
	startCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type started struct {
		ref hashike.TaskRef
		err error
	}
	done := make(chan started, 1)
	go func() {
		ref, err := s.start(startCtx)
		done <- started{ref, err}
	}()
	// A stop recorded elsewhere is seen within a second; a server with many runs waiting for
	// capacity reads each of them no more often than that.
	poll := max(r.PollInterval, time.Second)
	var cause hashike.StopCause
	var res started
wait:
	for {
		select {
		case res = <-done:
			break wait
		case req := <-s.opts.Stop:
			cause = req.Cause
			s.recordStop(ctx, req.Cause)
		case <-r.Clock.After(poll):
			if latest, err := r.Store.GetRun(ctx, s.run.ID); err == nil && latest.StopCause != "" {
				cause = latest.StopCause
			}
		case <-ctx.Done():
			cause = ""
			res = <-done
			break wait
		}
		if cause != "" {
			cancel()
			res = <-done
			break wait
		}
	}
	if cause == "" && errors.Is(res.err, errStopRecorded) {
		cause = s.stopRecorded
	}
	if cause == "" {
		return res.ref, "", res.err
	}
	s.run.StopCause = cause
	if res.err == nil {
		return res.ref, cause, nil
	}
	if ctx.Err() != nil {
		return hashike.TaskRef{}, cause, ctx.Err()
	}
	// The start was cut short: a RunTask in flight may have started a task all the same.
	findCtx, cancelFind := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancelFind()
	if ref, err := r.Backend.Find(findCtx, s.run.ID, &s.run.Spec); err == nil {
		return ref, cause, nil
	}
	return hashike.TaskRef{}, cause, res.err
}

// errStopRecorded ends a start that waits (for capacity) once a stop of the run is recorded.
var errStopRecorded = errors.New("a stop of the run was recorded")

// proceed is asked by a backend before each new attempt of a start that waits: a stop
// recorded meanwhile (hashike stop, a cancel through the server) ends the start there, so no
// task is started after the stop; the poll of startOrStop alone would see it up to a second
// late. A store that does not answer does not hold the start back.
func (s *supervision) proceed(ctx context.Context) error {
	latest, err := s.r.Store.GetRun(ctx, s.run.ID)
	if err != nil || latest.StopCause == "" {
		return nil
	}
	s.stopRecorded = latest.StopCause // read by startOrStop once start returned
	return errStopRecorded
}

// recordStop records a requested stop: the run goes stopping where it may, and the stop
// cause the store kept becomes the one this supervision knows.
func (s *supervision) recordStop(ctx context.Context, cause hashike.StopCause) {
	r := s.r
	u := hashike.RunUpdate{At: r.Clock.Now(), StopCause: cause, Reason: "stop requested: " + string(cause)}
	if cur, err := r.Store.GetRun(ctx, s.run.ID); err == nil && hashike.CanTransition(cur.State, hashike.StateStopping) {
		u.State = hashike.StateStopping
	}
	if stopped, err := r.Store.UpdateRun(ctx, s.run.ID, u); err == nil {
		s.cause = stopped.StopCause
	} else if s.opts.Warn != nil {
		s.opts.Warn(fmt.Errorf("recording the stop of run %s: %w", s.run.ID, err))
	}
}

func (s *supervision) start(ctx context.Context) (hashike.TaskRef, error) {
	if s.opts.Adopt || s.run.State != hashike.StatePending {
		// Never start what this process was not asked to start: adopt the task if the dead
		// starter created it.
		return s.r.Backend.Find(ctx, s.run.ID, &s.run.Spec)
	}
	spec := s.run.Spec
	if len(s.opts.Env) > 0 {
		spec = spec.Clone()
		for i := range spec.TaskDefinition.ContainerDefinitions {
			c := &spec.TaskDefinition.ContainerDefinitions[i]
			c.Environment = withEnv(c.Environment, s.opts.Env)
		}
	}
	req := hashike.StartRequest{RunID: s.run.ID, Spec: spec, Secrets: s.opts.Secrets, Files: s.opts.Files, Proceed: s.proceed}
	// Ride out a platform that is briefly unreachable (a daemon restarting) rather than fail
	// the run: Start is idempotent per run ID, so trying again never starts a second task.
	backoff := 500 * time.Millisecond
	giveUp := s.r.Clock.Now().Add(2 * time.Minute)
	for {
		ref, err := s.r.Backend.Start(ctx, req)
		if err == nil || hashike.ErrorCodeOf(err) != hashike.EUnavailable || !s.r.Clock.Now().Before(giveUp) {
			return ref, err
		}
		select {
		case <-ctx.Done():
			return ref, ctx.Err()
		case <-s.r.Clock.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// wait waits for the task, riding out a backend that is briefly unreachable; unreachable
// says whether it was.
func (s *supervision) wait(ctx context.Context, ref hashike.TaskRef) (_ hashike.TaskStatus, unreachable bool, _ error) {
	backoff := 500 * time.Millisecond
	var gaveUp time.Time
	for {
		st, err := s.r.Backend.Wait(ctx, ref)
		if err == nil || hashike.ErrorCodeOf(err) != hashike.EUnavailable || ctx.Err() != nil {
			return st, unreachable, err
		}
		unreachable = true
		now := s.r.Clock.Now()
		if gaveUp.IsZero() {
			gaveUp = now.Add(2 * time.Minute)
		}
		if now.After(gaveUp) {
			return st, unreachable, err
		}
		select {
		case <-ctx.Done():
			return st, unreachable, ctx.Err()
		case <-s.r.Clock.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (s *supervision) requestStop(ctx context.Context, ref hashike.TaskRef, cause hashike.StopCause, grace time.Duration, wg *sync.WaitGroup) {
	r := s.r
	s.recordStop(ctx, cause)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := r.Backend.Stop(context.WithoutCancel(ctx), ref, string(cause), grace); err != nil && s.opts.Warn != nil {
			s.opts.Warn(fmt.Errorf("stopping run %s: %w", s.run.ID, err))
		}
	}()
}

// end records how the task ended. The outcome depends on the run's stop cause, which
// another process may have recorded meanwhile (hashike cancel through another replica), so
// the end is first recorded on condition that the cause is still the one this supervision
// knows (read with the run, or recorded by its own stop requests): the common case, with no
// read of the run. When it is not, the run is read and the end decided again.
func (s *supervision) end(ctx context.Context, st hashike.TaskStatus, unreachable bool) (*hashike.Run, error) {
	known := s.cause
	state, exit := s.outcome(known, st, unreachable)
	done, err := s.finish(ctx, state, exit, &known)
	if hashike.ErrorCodeOf(err) != hashike.EConflict {
		return done, err
	}
	latest, err := s.r.Store.GetRun(ctx, s.run.ID)
	if err != nil {
		return nil, err
	}
	state, exit = s.outcome(latest.StopCause, st, unreachable)
	return s.finish(ctx, state, exit, nil)
}

// outcome decides how the run ended from its stop cause and its task's status.
func (s *supervision) outcome(cause hashike.StopCause, st hashike.TaskStatus, unreachable bool) (hashike.RunState, hashike.ExitStatus) {
	spec := s.run.Spec
	state, exit := hashike.Outcome(cause, time.Duration(spec.Timeout), st.Container(spec.Watched()), st)
	exit.StopCode, exit.StoppedReason = st.StopCode, st.StoppedReason
	if unreachable && cause == hashike.StopNone && state != hashike.StateSucceeded {
		// The platform went away while the task ran (a Docker daemon restart kills running
		// containers) and the task did not succeed: the job cannot be blamed for that exit.
		state = hashike.StateLost
		exit.Code = hashike.ExitStartFailed
		exit.Reason = "the platform was unreachable while the task ran and the task ended meanwhile (" + exit.Reason + "): an infrastructure failure"
	}
	return state, exit
}

// finish records the run's end; with ifCause, only if its stop cause is still that.
func (s *supervision) finish(ctx context.Context, state hashike.RunState, exit hashike.ExitStatus, ifCause *hashike.StopCause) (*hashike.Run, error) {
	now := s.r.Clock.Now()
	u := hashike.RunUpdate{At: now, State: state, Reason: exit.Reason, Exit: &exit, FinishedAt: &now, ClearOwner: true,
		IfStopCause: ifCause, Usage: s.usage.Stop()}
	if s.opts.Settle != nil {
		ended := *s.run
		ended.State, ended.Exit, ended.FinishedAt, ended.Owner = state, &exit, &now, nil
		u.Settled = s.opts.Settle(&ended)
	}
	run, err := s.r.Store.UpdateRun(context.WithoutCancel(ctx), s.run.ID, u)
	if err != nil {
		return nil, fmt.Errorf("record the end of run %s: %w", s.run.ID, err)
	}
	return run, nil
}

// storedCursor is how far the stored output of the run reaches, per container.
func (s *supervision) storedCursor(ctx context.Context) (hashike.LogCursor, error) {
	cursor := hashike.LogCursor{}
	_, err := s.r.Logs.ReadLogs(ctx, s.run.ID, 0, func(e hashike.LogEntry) error {
		cursor.Advance(e)
		return nil
	})
	return cursor, err
}

// logWriter masks, shows and batches output into the Store.
type logWriter struct {
	r     *Runner
	runID string
	out   func(hashike.LogEntry)
	masks [][]byte
	mu    sync.Mutex
	batch []hashike.LogEntry
	// arena holds the batch's data, reused after every flush (AppendLogs keeps nothing), so
	// a flood of lines makes no garbage.
	arena  []byte
	size   int
	cursor hashike.LogCursor
	err    error
}

// masks are the secret values to hide. A value is replaced by as many '*' as it has bytes, so
// the stored output keeps the length of what the container wrote: resuming counts bytes.
func masks(secrets map[string]string) [][]byte {
	var m [][]byte
	for _, v := range secrets {
		if len(v) >= 3 { // shorter values would mask ordinary text
			m = append(m, []byte(v))
		}
	}
	return m
}

func (l *logWriter) add(e hashike.LogEntry) error {
	for _, m := range l.masks {
		if bytes.Contains(e.Data, m) {
			e.Data = bytes.ReplaceAll(e.Data, m, bytes.Repeat([]byte("*"), len(m)))
		}
	}
	if l.out != nil {
		l.out(e)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	limit := l.r.FlushBytes
	if limit <= 0 {
		limit = 1 << 20
	}
	if l.arena == nil {
		l.arena = make([]byte, 0, limit)
	}
	if len(l.arena)+len(e.Data) > cap(l.arena) && len(l.batch) > 0 {
		if err := l.flushLocked(context.Background()); err != nil {
			return err
		}
	}
	if len(l.arena)+len(e.Data) <= cap(l.arena) {
		start := len(l.arena)
		l.arena = append(l.arena, e.Data...)
		e.Data = l.arena[start:len(l.arena):len(l.arena)]
	} else {
		e.Data = bytes.Clone(e.Data) // an entry larger than the arena
	}
	l.batch = append(l.batch, e)
	l.size += len(e.Data) + 32
	l.cursor.Advance(e)
	if l.size >= limit {
		return l.flushLocked(context.Background())
	}
	return nil
}

func (l *logWriter) position() hashike.LogCursor {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cursor.Clone()
}

func (l *logWriter) flush(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushLocked(ctx)
}

func (l *logWriter) flushLocked(ctx context.Context) error {
	if l.err != nil || len(l.batch) == 0 {
		return l.err
	}
	if err := l.r.Logs.AppendLogs(ctx, l.runID, l.batch); err != nil {
		l.err = fmt.Errorf("store output of run %s: %w", l.runID, err)
		return l.err
	}
	clear(l.batch) // drop references to entries larger than the arena
	l.batch, l.arena, l.size = l.batch[:0], l.arena[:0], 0
	return nil
}

func (l *logWriter) flushEvery(ctx context.Context) {
	every := l.r.FlushInterval
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.r.Clock.After(every):
			_ = l.flush(ctx)
		}
	}
}

// Follow shows the stored output of a run from the start and, with follow, keeps showing new
// output until the run finishes; it returns the run as last read. It never touches the task:
// reconcile is called (at most once a second) when the run has no live owner, so that someone
// supervises it.
func (r *Runner) Follow(ctx context.Context, id string, follow bool, out func(hashike.LogEntry), reconcile func(*hashike.Run)) (*hashike.Run, error) {
	poll := r.PollInterval
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	var pos int64
	var lastReconcile time.Time
	for {
		// State first, then output: a run is recorded finished only after its output is stored.
		run, err := r.Store.GetRun(ctx, id)
		if err != nil {
			return nil, err
		}
		pos, err = r.Logs.ReadLogs(ctx, run.ID, pos, func(e hashike.LogEntry) error {
			out(e)
			return nil
		})
		if err != nil {
			return run, err
		}
		if run.State.Terminal() || !follow {
			return run, nil
		}
		if reconcile != nil && (run.Owner == nil || !r.Alive(*run.Owner)) && r.Clock.Now().Sub(lastReconcile) >= time.Second {
			lastReconcile = r.Clock.Now()
			reconcile(run)
		}
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-r.Clock.After(poll):
		}
	}
}

// Orphans returns the started or starting runs that no live process supervises (a queued
// run of the server waits for its dispatcher, not for a supervisor).
func (r *Runner) Orphans(ctx context.Context) ([]*hashike.Run, error) {
	runs, err := r.Store.ListRuns(ctx, hashike.RunFilter{Active: true})
	if err != nil {
		return nil, err
	}
	var out []*hashike.Run
	for _, run := range runs {
		if run.State == hashike.StateQueued {
			continue
		}
		if run.Owner == nil || !r.Alive(*run.Owner) {
			out = append(out, run)
		}
	}
	return out, nil
}

// withEnv is have with set's variables added or replaced.
func withEnv(have, set []hashike.KeyValuePair) []hashike.KeyValuePair {
	out := make([]hashike.KeyValuePair, 0, len(have)+len(set))
	for _, kv := range have {
		if !slices.ContainsFunc(set, func(s hashike.KeyValuePair) bool { return s.Name == kv.Name }) {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}
