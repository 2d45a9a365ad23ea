package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/cron"
	"github.com/hashike/hashike/dispatch"
	"github.com/hashike/hashike/job"
)

// Variables and the file every run of the server gets.
const (
	EnvJob         = "HASHIKE_JOB"
	EnvJobVersion  = "HASHIKE_JOB_VERSION"
	EnvRunID       = "HASHIKE_RUN_ID"
	EnvAttempt     = "HASHIKE_ATTEMPT"
	EnvPayload     = "HASHIKE_PAYLOAD"
	EnvPayloadFile = "HASHIKE_PAYLOAD_FILE"
	PayloadPath    = "/hashike/payload.json"
)

// Triggers of runs (Run.Trigger).
const (
	TriggerAPI      = "api"
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
	TriggerRetry    = "retry"
	TriggerRerun    = "rerun"
)

func notFound(format string, args ...any) error {
	return hashike.Errorf(hashike.ENotFound, format, args...)
}

func invalid(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &hashike.Error{Code: hashike.EInvalid, Message: "invalid request",
		Fields: []hashike.FieldError{{Path: path, Message: msg, Severity: hashike.SeverityError}}}
}

// checkText refuses text no database keeps as given: invalid UTF-8 and NUL characters.
func checkText(path, s string) error {
	if !utf8.ValidString(s) {
		return invalid(path, "is not valid UTF-8")
	}
	if strings.ContainsRune(s, 0) {
		return invalid(path, "contains a NUL character")
	}
	return nil
}

// RegisterJob parses doc (a job file's YAML or JSON) and records it as the job's next version
// when it differs from the latest; created=false when it does not.
func (s *Server) RegisterJob(ctx context.Context, name string, doc []byte) (api.JobView, bool, error) {
	if !job.ValidName(name) {
		return api.JobView{}, false, invalid("name", "%q is not a job name: 1 to 255 letters, digits, '-' or '_', starting with a letter or digit", name)
	}
	def, err := s.cfg.ParseDefinition(name, doc)
	if err != nil {
		return api.JobView{}, false, err
	}
	return s.Register(ctx, name, def, "api")
}

// Register records a parsed, valid definition (from the API or the job directory).
func (s *Server) Register(ctx context.Context, name string, def *job.Definition, source string) (api.JobView, bool, error) {
	if def.TaskDefinition.Family == "" {
		def.TaskDefinition.Family = name
	}
	if errs := hashike.Errors(append(def.JobSpec.Validate(), def.Validate()...)); len(errs) > 0 {
		return api.JobView{}, false, &hashike.Error{Code: hashike.EInvalid, Message: "invalid job definition", Fields: errs}
	}
	if b, err := s.cfg.Backend(backendOf(def)); err != nil {
		return api.JobView{}, false, invalid("backend", "%v", err)
	} else if errs := hashike.Errors(b.Check(&def.JobSpec)); len(errs) > 0 {
		return api.JobView{}, false, &hashike.Error{Code: hashike.EInvalid, Message: "the backend cannot run this job", Fields: errs}
	}
	doc, digest, err := def.Encode()
	if err != nil {
		return api.JobView{}, false, err
	}
	v, created, err := s.store.PutJob(ctx, hashike.JobVersion{Name: name, Definition: doc, Digest: digest,
		CreatedAt: s.clock.Now(), Source: source})
	if err != nil {
		return api.JobView{}, false, err
	}
	view, err := viewOf(v)
	return view, created, err
}

func backendOf(def *job.Definition) string {
	if def.Backend == "" {
		return "local"
	}
	return def.Backend
}

func viewOf(v hashike.JobVersion) (api.JobView, error) {
	d, err := job.Decode(v)
	if err != nil {
		return api.JobView{}, err
	}
	return api.JobView{Name: v.Name, Version: v.Version, Digest: v.Digest, CreatedAt: v.CreatedAt, Source: v.Source, Definition: d}, nil
}

// GetJob returns a version of a job (0: the latest).
func (s *Server) GetJob(ctx context.Context, name string, version int) (api.JobView, error) {
	v, err := s.store.GetJob(ctx, name, version)
	if err != nil {
		return api.JobView{}, err
	}
	return viewOf(v)
}

// ListJobs returns every job's latest version.
func (s *Server) ListJobs(ctx context.Context) ([]api.JobView, error) {
	vs, err := s.store.ListJobs(ctx)
	if err != nil {
		return nil, err
	}
	return views(vs)
}

// ListJobVersions returns every version of a job, newest first.
func (s *Server) ListJobVersions(ctx context.Context, name string) ([]api.JobView, error) {
	vs, err := s.store.ListJobVersions(ctx, name)
	if err != nil {
		return nil, err
	}
	return views(vs)
}

func views(vs []hashike.JobVersion) ([]api.JobView, error) {
	out := make([]api.JobView, 0, len(vs))
	for _, v := range vs {
		view, err := viewOf(v)
		if err != nil {
			return nil, err
		}
		out = append(out, view)
	}
	return out, nil
}

// Enqueue queues a run of the job. With an idempotency key already used for this job, it
// returns that run (created=false); a different payload with the same key is EConflict.
func (s *Server) Enqueue(ctx context.Context, name string, req api.EnqueueRequest) (*hashike.Run, bool, error) {
	def, v, err := s.definition(ctx, name, req.Version)
	if err != nil {
		return nil, false, err
	}
	payload, err := compactPayload(req.Payload, s.payloadLimit(def))
	if err != nil {
		return nil, false, err
	}
	now := s.clock.Now()
	var notBefore *time.Time
	switch {
	case req.Delay > 0 && req.NotBefore != nil:
		return nil, false, invalid("delay", "give delay or notBefore, not both")
	case req.Delay > 0:
		t := now.Add(time.Duration(req.Delay))
		notBefore = &t
	case req.NotBefore != nil:
		notBefore = req.NotBefore
	}
	prio := def.Priority
	if req.Priority != nil {
		prio = *req.Priority
		if prio < dispatch.MinPriority || prio > dispatch.MaxPriority {
			return nil, false, invalid("priority", "%d is out of range %d..%d", prio, dispatch.MinPriority, dispatch.MaxPriority)
		}
	}
	queue := def.QueueName()
	if req.Queue != "" && req.Queue != queue {
		if !dispatch.ValidQueueName(req.Queue) {
			return nil, false, invalid("queue", "%q is not a queue name: 1 to %d letters, digits, '-' or '_'", req.Queue, dispatch.MaxQueueNameLen)
		}
		if err := s.knownQueue(ctx, "queue", req.Queue); err != nil {
			return nil, false, err
		}
		queue = req.Queue
	}
	key := ""
	if err := checkText("idempotencyKey", req.IdempotencyKey); err != nil {
		return nil, false, err
	}
	if req.IdempotencyKey != "" {
		if len(req.IdempotencyKey) > 255 {
			return nil, false, invalid("idempotencyKey", "is %d bytes long; at most 255", len(req.IdempotencyKey))
		}
		key = "job/" + name + "/" + req.IdempotencyKey
	}
	spec, err := applyOverrides(def, req.Overrides)
	if err != nil {
		return nil, false, err
	}
	run, err := s.newRun(now, newRunOpts{job: name, version: v.Version, def: def, spec: spec, queue: queue, priority: prio,
		payload: payload, notBefore: notBefore, trigger: TriggerAPI, key: key})
	if err != nil {
		return nil, false, err
	}
	stored, created, err := s.store.CreateRun(ctx, run)
	if err != nil {
		return nil, false, err
	}
	if !created && !bytes.Equal(stored.Payload, run.Payload) {
		return stored, false, hashike.Errorf(hashike.EConflict,
			"idempotency key %q was used by run %s with a different payload", req.IdempotencyKey, stored.ID)
	}
	if created {
		s.poke()
	}
	return stored, created, nil
}

// payloadLimit is the job's payload limit, never above the server's.
func (s *Server) payloadLimit(def *job.Definition) int {
	if def.MaxPayloadBytes > 0 {
		return min(s.cfg.MaxPayloadBytes, def.MaxPayloadBytes)
	}
	return s.cfg.MaxPayloadBytes
}

// compactPayload checks a payload's size and compacts it (the stored form is canonical, so an
// idempotent repeat compares equal however it was spaced).
func compactPayload(p json.RawMessage, limit int) ([]byte, error) {
	if len(p) == 0 || string(p) == "null" {
		return nil, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, p); err != nil {
		return nil, invalid("payload", "is not JSON: %v", err)
	}
	if b.Len() > limit {
		msg := fmt.Sprintf("is %d bytes; the limit is %d (pass larger data by reference, such as an object storage URL)", b.Len(), limit)
		return nil, &hashike.Error{Code: hashike.ETooLarge, Message: "payload " + msg,
			Fields: []hashike.FieldError{{Path: "payload", Message: msg, Severity: hashike.SeverityError}}}
	}
	return b.Bytes(), nil
}

type newRunOpts struct {
	job     string
	version int
	def     *job.Definition
	// spec, when set, is the run's spec instead of the definition's: the job's with the
	// run's overrides (an enqueue's), or the previous try's (a retry keeps them).
	spec      *hashike.JobSpec
	queue     string
	priority  int
	payload   []byte
	notBefore *time.Time
	trigger   string
	key       string
	attempt   int
	rootID    string
	retryOf   string
	scheduled *time.Time
}

// newRun makes a queued run of a job: the definition's spec with the run's variables.
func (s *Server) newRun(now time.Time, o newRunOpts) (*hashike.Run, error) {
	id, err := hashike.NewRunID(now, s.cfg.Random)
	if err != nil {
		return nil, fmt.Errorf("new run id: %w", err)
	}
	if o.attempt == 0 {
		o.attempt = 1
	}
	if o.rootID == "" {
		o.rootID = id
	}
	base := &o.def.JobSpec
	if o.spec != nil {
		base = o.spec
	}
	spec := base.Clone()
	env := []hashike.KeyValuePair{
		{Name: EnvJob, Value: o.job}, {Name: EnvJobVersion, Value: strconv.Itoa(o.version)},
		{Name: EnvRunID, Value: id}, {Name: EnvAttempt, Value: strconv.Itoa(o.attempt)},
	}
	if o.payload != nil {
		env = append(env, hashike.KeyValuePair{Name: EnvPayload, Value: string(o.payload)})
		if backendOf(o.def) == "local" {
			env = append(env, hashike.KeyValuePair{Name: EnvPayloadFile, Value: PayloadPath})
		}
	}
	spec.KeepBase() // the run variables are per-run overrides, not the job's definition
	for i := range spec.TaskDefinition.ContainerDefinitions {
		c := &spec.TaskDefinition.ContainerDefinitions[i]
		c.Environment = setEnv(c.Environment, env)
	}
	backend := spec.Backend
	if backend == "" {
		backend = "local"
	}
	return &hashike.Run{
		ID: id, Family: spec.TaskDefinition.Family, Backend: backend, Spec: spec, Digest: spec.Digest(),
		Resources: spec.Resources(), IdempotencyKey: o.key, State: hashike.StateQueued, CreatedAt: now,
		Job: o.job, JobVersion: o.version, Queue: o.queue, Priority: o.priority, NotBefore: o.notBefore,
		Payload: o.payload, Attempt: o.attempt, RootID: o.rootID, RetryOf: o.retryOf, Trigger: o.trigger,
		ScheduledAt: o.scheduled,
	}, nil
}

func setEnv(have, set []hashike.KeyValuePair) []hashike.KeyValuePair {
	out := slices.DeleteFunc(slices.Clone(have), func(kv hashike.KeyValuePair) bool {
		return slices.ContainsFunc(set, func(s hashike.KeyValuePair) bool { return s.Name == kv.Name })
	})
	return append(out, set...)
}

// GetRun returns a run with a summary of every try of its enqueue.
func (s *Server) GetRun(ctx context.Context, id string) (api.RunView, error) {
	run, err := s.store.GetRun(ctx, id)
	if err != nil {
		return api.RunView{}, err
	}
	view := api.RunView{Run: run}
	if run.RootID == "" {
		return view, nil
	}
	tries, err := s.store.ListRuns(ctx, hashike.RunFilter{RootID: run.RootID})
	if err != nil {
		return api.RunView{}, err
	}
	slices.SortFunc(tries, func(a, b *hashike.Run) int { return a.Attempt - b.Attempt })
	for _, t := range tries {
		view.Attempts = append(view.Attempts, api.AttemptView{ID: t.ID, Attempt: t.Attempt, State: t.State, Exit: t.Exit,
			CreatedAt: t.CreatedAt, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt})
	}
	if run.ServerRun() {
		last := run
		if len(tries) > 0 && tries[len(tries)-1].Attempt > run.Attempt {
			last = tries[len(tries)-1]
		}
		view.JobState, view.LatestAttempt = last.State, max(last.Attempt, 1)
	}
	return view, nil
}

// MaxPageSize bounds a page of runs.
const MaxPageSize = 500

// ListRuns returns a page of runs, newest first; f.Before is the cursor.
func (s *Server) ListRuns(ctx context.Context, f hashike.RunFilter) (api.RunPage, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, MaxPageSize)
	runs, err := s.store.ListRuns(ctx, f)
	if f.Before != "" && hashike.ErrorCodeOf(err) == hashike.ENotFound {
		return api.RunPage{}, &hashike.Error{Code: hashike.EInvalid, Message: "invalid query",
			Fields: []hashike.FieldError{{Path: "cursor", Severity: hashike.SeverityError,
				Message: fmt.Sprintf("%q is not a cursor: pass the next of the previous page (a run ID)", f.Before)}}}
	}
	if err != nil {
		return api.RunPage{}, err
	}
	page := api.RunPage{Runs: make([]api.RunView, 0, len(runs))}
	latest := map[string]*hashike.Run{} // by root ID
	for _, r := range runs {
		v := api.RunView{Run: r}
		if err := s.setJobState(ctx, &v, latest); err != nil {
			return api.RunPage{}, err
		}
		page.Runs = append(page.Runs, v)
	}
	if len(runs) == f.Limit {
		page.Next = runs[len(runs)-1].ID
	}
	return page, nil
}

// setJobState sets v's JobState and LatestAttempt: those of the latest try of its enqueue.
// Only an ended run can have a later try (a retry is made once a try has ended), so only those
// are looked up; latest remembers what was, by root ID.
func (s *Server) setJobState(ctx context.Context, v *api.RunView, latest map[string]*hashike.Run) error {
	r := v.Run
	if !r.ServerRun() {
		return nil
	}
	last := r
	if r.State.Terminal() && r.RootID != "" {
		l, ok := latest[r.RootID]
		if !ok {
			tries, err := s.store.ListRuns(ctx, hashike.RunFilter{RootID: r.RootID})
			if err != nil {
				return err
			}
			for _, t := range tries {
				if l == nil || t.Attempt > l.Attempt {
					l = t
				}
			}
			latest[r.RootID] = l
		}
		if l != nil && l.Attempt > last.Attempt {
			last = l
		}
	}
	v.JobState, v.LatestAttempt = last.State, max(last.Attempt, 1)
	return nil
}

// Cancel cancels a queued run at once, or stops a started one (SIGTERM, then SIGKILL after
// the containers' stopTimeout; the run ends canceled when its task has stopped). Canceling an
// ended run is EConflict.
func (s *Server) Cancel(ctx context.Context, id string, req api.CancelRequest) (*hashike.Run, error) {
	run, err := s.store.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	reason := "canceled through the API"
	if err := checkText("reason", req.Reason); err != nil {
		return nil, err
	}
	if req.Reason != "" {
		reason += ": " + req.Reason
	}
	now := s.clock.Now()
	if run.State == hashike.StateQueued {
		exit := hashike.ExitStatus{Code: hashike.ExitSIGTERM, Reason: reason + " (while queued)"}
		done, err := s.store.UpdateRun(ctx, run.ID, hashike.RunUpdate{At: now, State: hashike.StateCanceled,
			Reason: exit.Reason, StopCause: hashike.StopUser, Exit: &exit, FinishedAt: &now})
		if err == nil {
			s.settleSoon(done)
			return done, nil
		}
		if hashike.ErrorCodeOf(err) != hashike.EConflict {
			return nil, err
		}
		// Dispatched meanwhile: stop it as a started run.
		if run, err = s.store.GetRun(ctx, id); err != nil {
			return nil, err
		}
	}
	if run.State.Terminal() {
		return run, hashike.Errorf(hashike.EConflict, "run %s already ended %s", run.ID, run.State)
	}
	return s.stopRun(ctx, run, hashike.StopUser, reason)
}

// stopRun records the stop and asks the backend to stop the task; the supervising replica
// observes the end and records the outcome by the stored stop cause.
func (s *Server) stopRun(ctx context.Context, run *hashike.Run, cause hashike.StopCause, reason string) (*hashike.Run, error) {
	u := hashike.RunUpdate{At: s.clock.Now(), StopCause: cause, Reason: "stop requested: " + reason}
	if hashike.CanTransition(run.State, hashike.StateStopping) {
		u.State = hashike.StateStopping
	}
	updated, err := s.store.UpdateRun(ctx, run.ID, u)
	if err != nil {
		return nil, err
	}
	b, err := s.cfg.Backend(run.Backend)
	if err != nil {
		return nil, err
	}
	ref := updated.Task
	if ref == nil {
		found, err := b.Find(ctx, run.ID, &run.Spec)
		if err != nil && hashike.ErrorCodeOf(err) != hashike.ENotFound {
			return nil, err
		}
		ref = &found
	}
	// No task yet: the supervisor sees the stop cause before it starts the containers.
	if ref.ID != "" {
		if err := b.Stop(ctx, *ref, reason, -1); err != nil {
			return nil, err
		}
	}
	return updated, nil
}

// Rerun enqueues a new run of a run's job with its payload (or req's), as a new enqueue: its
// own tries, its own retries.
func (s *Server) Rerun(ctx context.Context, id string, req api.RerunRequest) (*hashike.Run, error) {
	old, err := s.store.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	if !old.ServerRun() {
		return nil, hashike.Errorf(hashike.EConflict, "run %s was not made by the server (hashike run): rerun it with hashike run", old.ID)
	}
	if !old.State.Terminal() {
		return nil, hashike.Errorf(hashike.EConflict, "run %s is %s: only an ended run can be rerun", old.ID, old.State)
	}
	version := old.JobVersion
	if req.Latest {
		version = 0
	}
	def, v, err := s.definition(ctx, old.Job, version)
	if err != nil {
		return nil, err
	}
	payload := old.Payload
	if req.Payload != nil {
		if payload, err = compactPayload(req.Payload, s.payloadLimit(def)); err != nil {
			return nil, err
		}
	}
	var spec *hashike.JobSpec
	if !req.Latest {
		spec = &old.Spec // the same version: with the run's overrides
	}
	run, err := s.newRun(s.clock.Now(), newRunOpts{job: old.Job, version: v.Version, def: def, spec: spec, queue: old.Queue,
		priority: old.Priority, payload: payload, trigger: TriggerRerun, retryOf: ""})
	if err != nil {
		return nil, err
	}
	stored, _, err := s.store.CreateRun(ctx, run)
	if err != nil {
		return nil, err
	}
	s.poke()
	return stored, nil
}

// FollowLogs sends the run's stored output to fn; with follow, it keeps sending until the run
// has ended and all its output was sent.
func (s *Server) FollowLogs(ctx context.Context, id string, follow bool, fn func(hashike.LogEntry) error) error {
	run, err := s.store.GetRun(ctx, id)
	if err != nil {
		return err
	}
	var pos int64
	for {
		// State first, then output: a run is recorded ended only after its output is stored.
		cur, err := s.store.GetRun(ctx, run.ID)
		if err != nil {
			return err
		}
		if pos, err = s.store.ReadLogs(ctx, run.ID, pos, fn); err != nil {
			return err
		}
		if !follow || cur.State.Terminal() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.clock.After(s.cfg.PollInterval):
		}
	}
}

// ListQueues returns every queue with its counts, by name: the default queue, those the
// jobs' latest definitions name, those put (PUT /v1/queues/{name}), and any holding runs.
func (s *Server) ListQueues(ctx context.Context) ([]hashike.QueueInfo, error) {
	qs, err := s.store.ListQueues(ctx)
	if err != nil {
		return nil, err
	}
	declared, err := s.declaredQueues(ctx)
	if err != nil {
		return nil, err
	}
	for _, name := range declared {
		if !slices.ContainsFunc(qs, func(q hashike.QueueInfo) bool { return q.Name == name }) {
			qs = append(qs, hashike.QueueInfo{QueueConfig: hashike.QueueConfig{Name: name}})
		}
	}
	slices.SortFunc(qs, func(a, b hashike.QueueInfo) int { return strings.Compare(a.Name, b.Name) })
	return qs, nil
}

// declaredQueues are the default queue and those the jobs' latest definitions name.
func (s *Server) declaredQueues(ctx context.Context) ([]string, error) {
	vs, err := s.store.ListJobs(ctx)
	if err != nil {
		return nil, err
	}
	names := []string{job.DefaultQueue}
	for _, v := range vs {
		def, _, err := s.definition(ctx, v.Name, v.Version)
		if err != nil {
			return nil, err
		}
		if q := def.QueueName(); !slices.Contains(names, q) {
			names = append(names, q)
		}
	}
	return names, nil
}

// knownQueue refuses a queue name that no job declares and no one put: a typo would
// otherwise make a queue that nothing watches for (as SubmitJob refuses a job queue that
// does not exist). path names the field.
func (s *Server) knownQueue(ctx context.Context, path, name string) error {
	qs, err := s.ListQueues(ctx)
	if err != nil {
		return err
	}
	var known []string
	for _, q := range qs {
		if q.Name == name {
			return nil
		}
		known = append(known, q.Name)
	}
	return &hashike.Error{Code: hashike.ENotFound, Message: fmt.Sprintf("no queue %q", name),
		Fields: []hashike.FieldError{{Path: path, Severity: hashike.SeverityError, Message: fmt.Sprintf(
			"unknown queue %q; known queues: %s (a queue exists when a job definition names it or PUT /v1/queues/{name} creates it)",
			name, strings.Join(known, ", "))}}}
}

// PutQueue changes a queue's settings and returns it with its counts.
func (s *Server) PutQueue(ctx context.Context, q hashike.QueueConfig) (hashike.QueueInfo, error) {
	if !dispatch.ValidQueueName(q.Name) {
		return hashike.QueueInfo{}, invalid("name", "%q is not a queue name: 1 to %d letters, digits, '-' or '_'", q.Name, dispatch.MaxQueueNameLen)
	}
	if q.MaxConcurrency < 0 {
		return hashike.QueueInfo{}, invalid("maxConcurrency", "must not be negative (0: no cap)")
	}
	if err := s.store.PutQueue(ctx, q); err != nil {
		return hashike.QueueInfo{}, err
	}
	s.poke() // a resumed or widened queue may dispatch at once
	qs, err := s.store.ListQueues(ctx)
	if err != nil {
		return hashike.QueueInfo{}, err
	}
	for _, info := range qs {
		if info.Name == q.Name {
			return info, nil
		}
	}
	return hashike.QueueInfo{QueueConfig: q}, nil
}

// ListSchedules returns the schedule of every job that has one.
func (s *Server) ListSchedules(ctx context.Context) ([]api.ScheduleView, error) {
	vs, err := s.store.ListJobs(ctx)
	if err != nil {
		return nil, err
	}
	out := []api.ScheduleView{}
	for _, v := range vs {
		def, err := job.Decode(v)
		if err != nil {
			return nil, err
		}
		if len(def.Schedule.Expressions) == 0 {
			continue
		}
		view, err := s.scheduleView(ctx, v, def)
		if err != nil {
			return nil, err
		}
		out = append(out, view)
	}
	return out, nil
}

// GetSchedule returns a job's schedule and its next five fires.
func (s *Server) GetSchedule(ctx context.Context, name string) (api.ScheduleView, error) {
	def, v, err := s.definition(ctx, name, 0)
	if err != nil {
		return api.ScheduleView{}, err
	}
	return s.scheduleView(ctx, v, def)
}

func (s *Server) scheduleView(ctx context.Context, v hashike.JobVersion, def *job.Definition) (api.ScheduleView, error) {
	if len(def.Schedule.Expressions) == 0 {
		return api.ScheduleView{}, notFound("job %s has no schedule (its definition has no schedule.expressions)", v.Name)
	}
	view := api.ScheduleView{Job: v.Name, Version: v.Version, Schedule: def.Schedule, Next: []time.Time{}}
	fires, err := cron.NextFires(def.Schedule, s.clock.Now(), 5)
	if err != nil {
		return view, err
	}
	for _, f := range fires {
		view.Next = append(view.Next, f.At)
	}
	tick, err := s.store.ScheduleTick(ctx, v.Name)
	if err != nil {
		return view, err
	}
	if !tick.IsZero() {
		view.LastTick = &tick
	}
	return view, nil
}

// SetSuspended suspends or resumes a job's schedule: a new version of the job.
func (s *Server) SetSuspended(ctx context.Context, name string, suspended bool) (api.ScheduleView, error) {
	def, v, err := s.definition(ctx, name, 0)
	if err != nil {
		return api.ScheduleView{}, err
	}
	if len(def.Schedule.Expressions) == 0 {
		return api.ScheduleView{}, notFound("job %s has no schedule (its definition has no schedule.expressions)", name)
	}
	if def.Schedule.Suspended != suspended {
		next := *def
		next.Schedule.Suspended = suspended
		source := "api: schedule resumed"
		if suspended {
			source = "api: schedule suspended"
		}
		if _, _, err := s.Register(ctx, name, &next, source); err != nil {
			return api.ScheduleView{}, err
		}
		if def, v, err = s.definition(ctx, name, 0); err != nil {
			return api.ScheduleView{}, err
		}
	}
	return s.scheduleView(ctx, v, def)
}

// Trigger enqueues a run of the job now, by hand, whatever its schedule says.
func (s *Server) Trigger(ctx context.Context, name string) (*hashike.Run, error) {
	def, v, err := s.definition(ctx, name, 0)
	if err != nil {
		return nil, err
	}
	run, err := s.newRun(s.clock.Now(), newRunOpts{job: name, version: v.Version, def: def, queue: def.QueueName(),
		priority: def.Priority, trigger: TriggerManual})
	if err != nil {
		return nil, err
	}
	stored, _, err := s.store.CreateRun(ctx, run)
	if err != nil {
		return nil, err
	}
	s.poke()
	return stored, nil
}

// TokenPrefix starts every token secret, so that secret scanners can find leaked ones.
const TokenPrefix = "hsk_"

// CreateToken makes a token; its secret is in the result only.
func (s *Server) CreateToken(ctx context.Context, name string, scope hashike.Scope) (api.CreatedToken, error) {
	if !scope.Valid() {
		return api.CreatedToken{}, invalid("scope", "%q is not a scope: read, submit or admin", scope)
	}
	if name == "" || len(name) > 100 {
		return api.CreatedToken{}, invalid("name", "a token needs a name of 1 to 100 characters")
	}
	if err := checkText("name", name); err != nil {
		return api.CreatedToken{}, err
	}
	var raw [32]byte
	if _, err := io.ReadFull(s.cfg.Random, raw[:]); err != nil {
		return api.CreatedToken{}, fmt.Errorf("token secret: %w", err)
	}
	secret := TokenPrefix + hex.EncodeToString(raw[:])
	now := s.clock.Now()
	id, err := hashike.NewRunID(now, s.cfg.Random)
	if err != nil {
		return api.CreatedToken{}, err
	}
	t := hashike.Token{ID: "tok_" + id, Name: name, Hash: HashToken(secret), Scope: scope, CreatedAt: now}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return api.CreatedToken{}, err
	}
	return api.CreatedToken{Token: t, Secret: secret}, nil
}

// HashToken is how a token's secret is stored: hex SHA-256. The secret has 256 random bits, so
// a fast hash is enough (no dictionary to guard against).
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ListTokens returns every token (never a secret).
func (s *Server) ListTokens(ctx context.Context) ([]hashike.Token, error) {
	return s.store.ListTokens(ctx)
}

// RevokeToken revokes a token.
func (s *Server) RevokeToken(ctx context.Context, id string) error {
	return s.store.RevokeToken(ctx, id, s.clock.Now())
}

// Authenticate returns the token whose secret this is; ENotFound for an unknown or revoked one.
func (s *Server) Authenticate(ctx context.Context, secret string) (hashike.Token, error) {
	return s.store.TokenByHash(ctx, HashToken(secret))
}

// applyOverrides returns the job's spec with an enqueue's overrides applied and checked as
// the job's own definition is, or nil when there are none. Errors name the field of the
// request ("overrides.memory").
func applyOverrides(def *job.Definition, o *api.Overrides) (*hashike.JobSpec, error) {
	if o == nil {
		return nil, nil
	}
	var bad []hashike.FieldError
	add := func(path, format string, args ...any) {
		bad = append(bad, hashike.FieldError{Path: "overrides." + path, Severity: hashike.SeverityError, Message: fmt.Sprintf(format, args...)})
	}
	if o.Cpu != nil && *o.Cpu < 0 {
		add("cpu", "%d: must not be negative", *o.Cpu)
	}
	if o.Memory != nil && *o.Memory < 6 {
		add("memory", "%d: must be at least 6 MiB", *o.Memory)
	}
	if o.Timeout != nil && *o.Timeout < 0 {
		add("timeout", "%s: must not be negative", time.Duration(*o.Timeout))
	}
	if o.Command != nil && len(o.Command) == 0 {
		add("command", "empty: give a command, or leave it out to run the job's")
	}
	for i, e := range o.Environment {
		if e.Name == "" {
			add(fmt.Sprintf("environment[%d].name", i), "empty")
		}
	}
	if len(bad) > 0 {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "invalid overrides", Fields: bad}
	}
	ho := hashike.Overrides{Container: o.Container, Command: o.Command, Environment: o.Environment, Cpu: o.Cpu, Memory: o.Memory}
	if o.Timeout != nil {
		t := time.Duration(*o.Timeout)
		ho.Timeout = &t
	}
	spec, err := ho.Apply(def.JobSpec)
	if err != nil {
		var he *hashike.Error
		if errors.As(err, &he) {
			for i := range he.Fields {
				if he.Fields[i].Path == "--container" {
					he.Fields[i].Path = "overrides.container"
				}
			}
		}
		return nil, err
	}
	if problems := hashike.Errors(spec.Validate()); len(problems) > 0 {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "the job's definition with these overrides is invalid", Fields: problems}
	}
	return &spec, nil
}
