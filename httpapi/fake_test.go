package httpapi

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/cron"
	"github.com/hashike/hashike/job"
)

// fakeService is a Service with a little state (jobs, runs, queues, schedules, tokens) that
// records every call but Authenticate and MaxPayloadBytes.
type fakeService struct {
	mu         sync.Mutex
	calls      []string
	filters    []hashike.RunFilter
	enqueues   []api.EnqueueRequest
	jobs       map[string][]api.JobView
	docs       map[string]string
	runs       map[string]*hashike.Run
	runOrder   []string
	queues     map[string]hashike.QueueConfig
	suspended  map[string]bool
	tokens     map[string]hashike.Token // by secret
	maxPayload int
	// jobPayload is every job's own payload limit (0: the server's).
	jobPayload int
	// fail, when set, is returned by every recorded method.
	fail error
	// down names the dependencies Health reports down.
	down []string
	// logs serves FollowLogs when set.
	logs func(ctx context.Context, id string, follow bool, fn func(hashike.LogEntry) error) error
	// results are the runs' results by run ID; resultErrs the runs whose result was refused.
	results    map[string]string
	resultErrs map[string]string
	// search serves SearchLogs when set; otherwise the fake keeps no archive.
	search func(ctx context.Context, q hashike.LogQuery, fn func(hashike.LogMatch) error) error
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newFake() *fakeService {
	f := &fakeService{
		jobs:       map[string][]api.JobView{},
		docs:       map[string]string{},
		runs:       map[string]*hashike.Run{},
		queues:     map[string]hashike.QueueConfig{},
		suspended:  map[string]bool{},
		maxPayload: 1 << 10,
		tokens: map[string]hashike.Token{
			"read-secret":   {ID: "tok-read", Name: "reader", Scope: hashike.ScopeRead, CreatedAt: t0},
			"submit-secret": {ID: "tok-submit", Name: "submitter", Scope: hashike.ScopeSubmit, CreatedAt: t0},
			"admin-secret":  {ID: "tok-admin", Name: "admin", Scope: hashike.ScopeAdmin, CreatedAt: t0},
		},
	}
	f.putJob("hello", "image: hello\n")
	return f
}

// putJob registers a job with a schedule, as RegisterJob does.
func (f *fakeService) putJob(name, doc string) (api.JobView, bool) {
	if f.docs[name] == doc {
		vs := f.jobs[name]
		return vs[len(vs)-1], false
	}
	f.docs[name] = doc
	v := api.JobView{Name: name, Version: len(f.jobs[name]) + 1, Digest: fmt.Sprintf("sha256:%x", len(doc)),
		CreatedAt: t0, Source: "api", Definition: &job.Definition{Queue: "default", Description: doc,
			Schedule: cron.Spec{Expressions: []cron.Expr{{Cron: "0 * * * *"}}}}}
	f.jobs[name] = append(f.jobs[name], v)
	return v, true
}

func (f *fakeService) record(format string, args ...any) error {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.fail
}

// called returns the recorded calls.
func (f *fakeService) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func notFound(what, name string) error {
	return hashike.Errorf(hashike.ENotFound, "%s %q not found", what, name)
}

func (f *fakeService) RegisterJob(ctx context.Context, name string, doc []byte) (api.JobView, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("RegisterJob %s", name); err != nil {
		return api.JobView{}, false, err
	}
	if string(doc) == "" || string(doc) == "bad: [" {
		return api.JobView{}, false, &hashike.Error{Code: hashike.EInvalid, Message: "invalid job definition",
			Fields: []hashike.FieldError{{Path: "taskDefinition", Message: "is required", Severity: hashike.SeverityError, Pos: "request:1:1"}}}
	}
	v, created := f.putJob(name, string(doc))
	return v, created, nil
}

func (f *fakeService) GetJob(ctx context.Context, name string, version int) (api.JobView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("GetJob %s %d", name, version); err != nil {
		return api.JobView{}, err
	}
	vs := f.jobs[name]
	switch {
	case len(vs) == 0:
		return api.JobView{}, notFound("job", name)
	case version == 0:
		return vs[len(vs)-1], nil
	case version > len(vs):
		return api.JobView{}, hashike.Errorf(hashike.ENotFound, "job %s has no version %d", name, version)
	}
	return vs[version-1], nil
}

func (f *fakeService) ListJobs(ctx context.Context) ([]api.JobView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ListJobs"); err != nil {
		return nil, err
	}
	var out []api.JobView
	for _, vs := range f.jobs {
		out = append(out, vs[len(vs)-1])
	}
	return out, nil
}

func (f *fakeService) ListJobVersions(ctx context.Context, name string) ([]api.JobView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ListJobVersions %s", name); err != nil {
		return nil, err
	}
	vs := slices.Clone(f.jobs[name])
	if len(vs) == 0 {
		return nil, notFound("job", name)
	}
	slices.Reverse(vs)
	return vs, nil
}

func (f *fakeService) newRun(name, trigger string) *hashike.Run {
	id := fmt.Sprintf("run-%d", len(f.runs)+1)
	r := &hashike.Run{ID: id, Family: name, Job: name, JobVersion: len(f.jobs[name]), State: hashike.StateQueued,
		Queue: "default", CreatedAt: t0, Trigger: trigger, RootID: id, Attempt: 1}
	f.runs[id] = r
	f.runOrder = append(f.runOrder, id)
	return r
}

func (f *fakeService) Enqueue(ctx context.Context, name string, req api.EnqueueRequest) (*hashike.Run, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Enqueue %s", name); err != nil {
		return nil, false, err
	}
	f.enqueues = append(f.enqueues, req)
	if len(f.jobs[name]) == 0 {
		return nil, false, notFound("job", name)
	}
	if f.jobPayload > 0 && len(req.Payload) > f.jobPayload {
		return nil, false, hashike.Errorf(hashike.ETooLarge, "payload is %d bytes; job %s takes at most %d", len(req.Payload), name, f.jobPayload)
	}
	if req.IdempotencyKey != "" {
		for _, r := range f.runs {
			if r.IdempotencyKey == req.IdempotencyKey {
				return r, false, nil
			}
		}
	}
	r := f.newRun(name, "api")
	r.IdempotencyKey = req.IdempotencyKey
	r.Payload = req.Payload
	if req.Priority != nil {
		r.Priority = *req.Priority
	}
	return r, true, nil
}

func (f *fakeService) GetRun(ctx context.Context, id string) (api.RunView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("GetRun %s", id); err != nil {
		return api.RunView{}, err
	}
	r, ok := f.runs[id]
	if !ok {
		return api.RunView{}, notFound("run", id)
	}
	return api.RunView{Run: r, Attempts: []api.AttemptView{{ID: r.ID, Attempt: 1, State: r.State, CreatedAt: r.CreatedAt}}}, nil
}

func (f *fakeService) ListRuns(ctx context.Context, fl hashike.RunFilter) (api.RunPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ListRuns"); err != nil {
		return api.RunPage{}, err
	}
	f.filters = append(f.filters, fl)
	var page api.RunPage
	for _, id := range slices.Backward(f.runOrder) {
		page.Runs = append(page.Runs, api.RunView{Run: f.runs[id]})
	}
	if fl.Before == "" && len(page.Runs) > 0 {
		page.Next = page.Runs[len(page.Runs)-1].ID
	}
	return page, nil
}

func (f *fakeService) Cancel(ctx context.Context, id string, req api.CancelRequest) (*hashike.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Cancel %s %q", id, req.Reason); err != nil {
		return nil, err
	}
	r, ok := f.runs[id]
	if !ok {
		return nil, notFound("run", id)
	}
	if r.State.Terminal() {
		return nil, hashike.Errorf(hashike.EConflict, "run %s has ended (%s)", id, r.State)
	}
	r.State = hashike.StateCanceled
	return r, nil
}

func (f *fakeService) Rerun(ctx context.Context, id string, req api.RerunRequest) (*hashike.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Rerun %s latest=%t", id, req.Latest); err != nil {
		return nil, err
	}
	old, ok := f.runs[id]
	if !ok {
		return nil, notFound("run", id)
	}
	r := f.newRun(old.Job, "rerun")
	r.Payload = old.Payload
	if req.Payload != nil {
		r.Payload = req.Payload
	}
	return r, nil
}

func (f *fakeService) RunResult(_ context.Context, id string) (api.ResultInfo, io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("RunResult %s", id); err != nil {
		return api.ResultInfo{}, nil, err
	}
	if msg, ok := f.resultErrs[id]; ok {
		return api.ResultInfo{}, nil, hashike.Errorf(hashike.ETooLarge, "run %s: %s", id, msg)
	}
	r, ok := f.results[id]
	if !ok {
		return api.ResultInfo{}, nil, hashike.Errorf(hashike.ENotFound, "run %s has no result", id)
	}
	return api.ResultInfo{RunID: id, Size: int64(len(r)), ContentType: "application/json", CreatedAt: t0}, io.NopCloser(strings.NewReader(r)), nil
}

func (f *fakeService) FollowLogs(ctx context.Context, id string, follow bool, fn func(hashike.LogEntry) error) error {
	f.mu.Lock()
	err := f.record("FollowLogs %s follow=%t", id, follow)
	_, ok := f.runs[id]
	logs := f.logs
	f.mu.Unlock()
	switch {
	case err != nil:
		return err
	case !ok:
		return notFound("run", id)
	case logs != nil:
		return logs(ctx, id, follow, fn)
	}
	return nil
}

func (f *fakeService) SearchLogs(ctx context.Context, q hashike.LogQuery, fn func(hashike.LogMatch) error) error {
	f.mu.Lock()
	err := f.record("SearchLogs %s", q.Pattern)
	search := f.search
	f.mu.Unlock()
	switch {
	case err != nil:
		return err
	case search == nil:
		return &hashike.Error{Code: hashike.ENotFound, Message: "this server keeps no log archive"}
	}
	return search(ctx, q, fn)
}

func (f *fakeService) queueInfo(q hashike.QueueConfig) hashike.QueueInfo {
	n := 0
	for _, r := range f.runs {
		if r.Queue == q.Name && r.State == hashike.StateQueued {
			n++
		}
	}
	return hashike.QueueInfo{QueueConfig: q, Queued: n}
}

func (f *fakeService) ListQueues(ctx context.Context) ([]hashike.QueueInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ListQueues"); err != nil {
		return nil, err
	}
	var out []hashike.QueueInfo
	for _, q := range f.queues {
		out = append(out, f.queueInfo(q))
	}
	slices.SortFunc(out, func(a, b hashike.QueueInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *fakeService) PutQueue(ctx context.Context, q hashike.QueueConfig) (hashike.QueueInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("PutQueue %s max=%d paused=%t", q.Name, q.MaxConcurrency, q.Paused); err != nil {
		return hashike.QueueInfo{}, err
	}
	if q.MaxConcurrency < 0 {
		return hashike.QueueInfo{}, &hashike.Error{Code: hashike.EInvalid, Message: "invalid queue",
			Fields: []hashike.FieldError{{Path: "maxConcurrency", Message: "must not be negative"}}}
	}
	f.queues[q.Name] = q
	return f.queueInfo(q), nil
}

func (f *fakeService) schedule(name string) (api.ScheduleView, error) {
	vs := f.jobs[name]
	if len(vs) == 0 {
		return api.ScheduleView{}, notFound("job", name)
	}
	v := vs[len(vs)-1]
	spec := v.Definition.Schedule
	spec.Suspended = f.suspended[name]
	return api.ScheduleView{Job: name, Version: v.Version, Schedule: spec, Next: []time.Time{t0.Add(time.Hour)}}, nil
}

func (f *fakeService) ListSchedules(ctx context.Context) ([]api.ScheduleView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ListSchedules"); err != nil {
		return nil, err
	}
	var out []api.ScheduleView
	for name := range f.jobs {
		s, _ := f.schedule(name)
		out = append(out, s)
	}
	return out, nil
}

func (f *fakeService) GetSchedule(ctx context.Context, name string) (api.ScheduleView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("GetSchedule %s", name); err != nil {
		return api.ScheduleView{}, err
	}
	return f.schedule(name)
}

func (f *fakeService) SetSuspended(ctx context.Context, name string, suspended bool) (api.ScheduleView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("SetSuspended %s %t", name, suspended); err != nil {
		return api.ScheduleView{}, err
	}
	if len(f.jobs[name]) == 0 {
		return api.ScheduleView{}, notFound("job", name)
	}
	f.suspended[name] = suspended
	return f.schedule(name)
}

func (f *fakeService) Trigger(ctx context.Context, name string) (*hashike.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Trigger %s", name); err != nil {
		return nil, err
	}
	if len(f.jobs[name]) == 0 {
		return nil, notFound("job", name)
	}
	return f.newRun(name, "manual"), nil
}

func (f *fakeService) CreateToken(ctx context.Context, name string, scope hashike.Scope) (api.CreatedToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("CreateToken %s %s", name, scope); err != nil {
		return api.CreatedToken{}, err
	}
	if name == "" {
		return api.CreatedToken{}, &hashike.Error{Code: hashike.EInvalid, Message: "invalid token",
			Fields: []hashike.FieldError{{Path: "name", Message: "is required"}}}
	}
	secret := fmt.Sprintf("secret-%d", len(f.tokens)+1)
	t := hashike.Token{ID: fmt.Sprintf("tok-%d", len(f.tokens)+1), Name: name, Scope: scope, CreatedAt: t0, Hash: "h"}
	f.tokens[secret] = t
	return api.CreatedToken{Token: t, Secret: secret}, nil
}

func (f *fakeService) ListTokens(ctx context.Context) ([]hashike.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ListTokens"); err != nil {
		return nil, err
	}
	var out []hashike.Token
	for _, t := range f.tokens {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b hashike.Token) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeService) RevokeToken(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("RevokeToken %s", id); err != nil {
		return err
	}
	for secret, t := range f.tokens {
		if t.ID == id {
			now := t0
			t.RevokedAt = &now
			f.tokens[secret] = t
			return nil
		}
	}
	return notFound("token", id)
}

func (f *fakeService) Authenticate(ctx context.Context, secret string) (hashike.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tokens[secret]
	if !ok || t.RevokedAt != nil {
		return hashike.Token{}, hashike.Errorf(hashike.ENotFound, "no such token")
	}
	return t, nil
}

func (f *fakeService) MaxPayloadBytes() int { return f.maxPayload }

func (f *fakeService) RunnersStatus(context.Context) (api.RunnersStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("RunnersStatus"); err != nil {
		return api.RunnersStatus{}, err
	}
	return api.RunnersStatus{}, hashike.Errorf(hashike.ENotFound, "this server runs no runner pools")
}

func (f *fakeService) CapacityStatus(context.Context) (api.CapacityStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("CapacityStatus"); err != nil {
		return api.CapacityStatus{}, err
	}
	return api.CapacityStatus{}, hashike.Errorf(hashike.ENotFound, "this server runs no cluster autoscaler")
}

func (f *fakeService) Prune(_ context.Context, req api.PruneRequest) (hashike.PruneReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Prune dryRun=%t", req.DryRun); err != nil {
		return hashike.PruneReport{}, err
	}
	before := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	return hashike.PruneReport{DryRun: req.DryRun, At: before.AddDate(0, 0, 7), Logs: 3, Runs: 1,
		Scopes: []hashike.PruneScope{{Job: "nightly", RunsBefore: &before, Runs: 1}, {LogsBefore: &before, Logs: 3}}}, nil
}

func (f *fakeService) Health(context.Context) api.Health {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := api.Health{Status: api.HealthOK, Checks: map[string]string{"database": api.CheckUp}}
	for _, d := range f.down {
		h.Status, h.Checks[d] = api.HealthUnavailable, api.CheckDown
	}
	return h
}

func (f *fakeService) ReceiveGitHubWebhook(ctx context.Context, d api.GitHubDelivery) (api.WebhookOutcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("webhook %s %s", d.Event, d.ID); err != nil {
		return "", err
	}
	return api.WebhookIgnored, nil
}
