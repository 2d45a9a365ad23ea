package console

import (
	"bytes"
	"context"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

// fakeService is an api.Service over fixed runs, jobs and tokens: what the console's
// handlers read and do, recorded. Methods the console does not call panic (the embedded nil
// interface).
type fakeService struct {
	api.Service
	mu       sync.Mutex
	runs     []api.RunView // newest first
	jobs     []api.JobView
	tokens   map[string]hashike.Token // by secret
	logs     map[string][]hashike.LogEntry
	calls    []string
	enqueued []api.EnqueueRequest
	reruns   []api.RerunRequest
	authErr  error // Authenticate's error, when set (the database is down)
	// results are the runs' results (RunResult), by run ID; resultErr is RunResult's error.
	results   map[string]fakeResult
	resultErr error
}

type fakeResult struct {
	contentType string
	body        []byte
}

func (f *fakeService) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeService) Authenticate(_ context.Context, secret string) (hashike.Token, error) {
	if f.authErr != nil {
		return hashike.Token{}, f.authErr
	}
	if t, ok := f.tokens[secret]; ok {
		return t, nil
	}
	return hashike.Token{}, hashike.Errorf(hashike.ENotFound, "no such token")
}

func (f *fakeService) MaxPayloadBytes() int { return 1 << 10 }

func (f *fakeService) ListRuns(_ context.Context, fl hashike.RunFilter) (api.RunPage, error) {
	f.record("ListRuns")
	var out []api.RunView
	started := fl.Before == ""
	for _, v := range f.runs {
		if !started {
			started = v.ID == fl.Before
			continue
		}
		if (len(fl.States) > 0 && !slices.Contains(fl.States, v.State)) || (fl.Job != "" && v.Job != fl.Job) ||
			(fl.Queue != "" && v.Queue != fl.Queue) || (!fl.Since.IsZero() && v.CreatedAt.Before(fl.Since)) {
			continue
		}
		if fl.Limit > 0 && len(out) == fl.Limit {
			return api.RunPage{Runs: out, Next: out[len(out)-1].ID}, nil
		}
		out = append(out, v)
	}
	return api.RunPage{Runs: out}, nil
}

func (f *fakeService) GetRun(_ context.Context, id string) (api.RunView, error) {
	for _, v := range f.runs {
		if v.ID == id {
			return v, nil
		}
	}
	return api.RunView{}, hashike.Errorf(hashike.ENotFound, "run %s not found", id)
}

func (f *fakeService) FollowLogs(ctx context.Context, id string, follow bool, fn func(hashike.LogEntry) error) error {
	if _, err := f.GetRun(ctx, id); err != nil {
		return err
	}
	for _, e := range f.logs[id] {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeService) RunResult(ctx context.Context, id string) (api.ResultInfo, io.ReadCloser, error) {
	f.record("RunResult " + id)
	if _, err := f.GetRun(ctx, id); err != nil {
		return api.ResultInfo{}, nil, err
	}
	if f.resultErr != nil {
		return api.ResultInfo{}, nil, f.resultErr
	}
	res, ok := f.results[id]
	if !ok {
		return api.ResultInfo{}, nil, hashike.Errorf(hashike.ENotFound, "run %s has no result", id)
	}
	return api.ResultInfo{RunID: id, Size: int64(len(res.body)), ContentType: res.contentType, CreatedAt: t0},
		io.NopCloser(bytes.NewReader(res.body)), nil
}

func (f *fakeService) Cancel(ctx context.Context, id string, req api.CancelRequest) (*hashike.Run, error) {
	f.record("Cancel " + id + " " + req.Reason)
	v, err := f.GetRun(ctx, id)
	return v.Run, err
}

func (f *fakeService) Rerun(ctx context.Context, id string, req api.RerunRequest) (*hashike.Run, error) {
	f.record("Rerun " + id + " " + string(req.Payload))
	if _, err := f.GetRun(ctx, id); err != nil {
		return nil, err
	}
	return &hashike.Run{ID: "run-new"}, nil
}

func (f *fakeService) ListJobs(context.Context) ([]api.JobView, error) { return f.jobs, nil }

func (f *fakeService) Enqueue(_ context.Context, name string, req api.EnqueueRequest) (*hashike.Run, bool, error) {
	f.record("Enqueue " + name + " " + string(req.Payload))
	for _, j := range f.jobs {
		if j.Name == name {
			return &hashike.Run{ID: "run-new"}, true, nil
		}
	}
	return nil, false, hashike.Errorf(hashike.ENotFound, "job %s not found", name)
}

// The fixture: a fixed clock and runs in each state the pages tell apart.
var (
	t0  = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	now = t0.Add(10 * time.Minute)
)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

func code(n int) *int { return &n }

func fixtureRuns() []api.RunView {
	failed := &hashike.Run{ID: "run-failed", Job: "etl", JobVersion: 3, Queue: "default", Attempt: 2, RootID: "run-failed-1",
		Trigger: "retry", Backend: "ecs", State: hashike.StateFailed, CreatedAt: t0.Add(2 * time.Minute),
		StartedAt: at(2*time.Minute + 5*time.Second), FinishedAt: at(3 * time.Minute),
		Resources: hashike.Resources{CPU: 512, MemoryMiB: 1024}, Payload: []byte(`{"day":"2026-11-29"}`),
		Exit: &hashike.ExitStatus{ContainerExitCode: code(3), Code: 3, Reason: "container app exited 3",
			StopCode: "EssentialContainerExited", StoppedReason: "Essential container in task exited"},
		Task: &hashike.TaskRef{ID: "arn:aws:ecs:eu-west-1:123456789012:task/prod/0f1e2d3c4b5a", Cluster: "prod",
			Containers: []hashike.ContainerRef{{Name: "app", ID: "arn:aws:ecs:eu-west-1:123456789012:container/prod/0f1e/app"}}},
		History: []hashike.Transition{
			{To: hashike.StateQueued, At: t0.Add(2 * time.Minute)},
			{From: hashike.StateQueued, To: hashike.StatePending, At: t0.Add(2 * time.Minute), Reason: "dispatched"},
			{From: hashike.StatePending, To: hashike.StateRunning, At: t0.Add(2*time.Minute + 5*time.Second), Reason: "task started"},
			{From: hashike.StateRunning, To: hashike.StateFailed, At: t0.Add(3 * time.Minute), Reason: "container app exited 3"},
		}}
	running := &hashike.Run{ID: "run-running", Job: "report", JobVersion: 1, Queue: "fast", Attempt: 1, RootID: "run-running",
		Trigger: "schedule", ScheduledAt: at(5 * time.Minute), Backend: "local", State: hashike.StateRunning,
		CreatedAt: t0.Add(5 * time.Minute), StartedAt: at(5*time.Minute + 2*time.Second),
		Task: &hashike.TaskRef{ID: "run-running", Containers: []hashike.ContainerRef{{Name: "app", ID: "c0ffee"}}},
		History: []hashike.Transition{
			{To: hashike.StateQueued, At: t0.Add(5 * time.Minute)},
			{From: hashike.StateQueued, To: hashike.StateRunning, At: t0.Add(5*time.Minute + 2*time.Second), Reason: "task started"},
		}}
	queued := &hashike.Run{ID: "run-queued", Job: "etl", JobVersion: 3, Queue: "default", Attempt: 1, RootID: "run-queued",
		Trigger: "api", Backend: "ecs", State: hashike.StateQueued, CreatedAt: t0.Add(6 * time.Minute),
		History: []hashike.Transition{{To: hashike.StateQueued, At: t0.Add(6 * time.Minute)}}}
	ok := &hashike.Run{ID: "run-ok", Job: "report", JobVersion: 1, Queue: "fast", Attempt: 1, RootID: "run-ok",
		Trigger: "api", Backend: "local", State: hashike.StateSucceeded, CreatedAt: t0.Add(time.Minute),
		StartedAt: at(time.Minute + time.Second), FinishedAt: at(time.Minute + 1500*time.Millisecond),
		Exit: &hashike.ExitStatus{ContainerExitCode: code(0), Reason: "container app exited 0"}}
	return []api.RunView{
		{Run: queued, JobState: hashike.StateQueued, LatestAttempt: 1},
		{Run: running, JobState: hashike.StateRunning, LatestAttempt: 1},
		{Run: failed, JobState: hashike.StateFailed, LatestAttempt: 2, Attempts: []api.AttemptView{
			{ID: "run-failed-1", Attempt: 1, State: hashike.StateFailed, Exit: &hashike.ExitStatus{ContainerExitCode: code(3)},
				CreatedAt: t0.Add(90 * time.Second), FinishedAt: at(2 * time.Minute)},
			{ID: "run-failed", Attempt: 2, State: hashike.StateFailed, Exit: failed.Exit, CreatedAt: failed.CreatedAt,
				StartedAt: failed.StartedAt, FinishedAt: failed.FinishedAt},
		}},
		{Run: ok, JobState: hashike.StateSucceeded, LatestAttempt: 1},
	}
}

func newFake(runs []api.RunView) *fakeService {
	return &fakeService{
		runs: runs,
		jobs: []api.JobView{{Name: "etl", Version: 3, CreatedAt: t0}, {Name: "report", Version: 1, CreatedAt: t0}},
		tokens: map[string]hashike.Token{
			"admin-secret":  {ID: "tok-a", Name: "ops", Scope: hashike.ScopeAdmin},
			"submit-secret": {ID: "tok-s", Name: "dev", Scope: hashike.ScopeSubmit},
			"read-secret":   {ID: "tok-r", Name: "viewer", Scope: hashike.ScopeRead},
		},
		logs: map[string][]hashike.LogEntry{
			"run-failed": {
				{Container: "app", Stream: hashike.Stdout, Time: t0.Add(2*time.Minute + 6*time.Second), Data: []byte("loading day 2026-11-29\n")},
				{Container: "app", Stream: hashike.Stderr, Time: t0.Add(2*time.Minute + 7*time.Second), Data: []byte("error: <table> missing & gone\n")},
			},
		},
	}
}

// zeroReader makes the console's nonces and CSRF tokens the same on every run (golden files).
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
