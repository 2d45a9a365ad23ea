package github_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/github"
	"github.com/hashike/hashike/internal/githubfake"
	"github.com/hashike/hashike/runners"
)

// fakeRuns is runners.Runs whose runner runs are goroutines playing the runner against the
// fake GitHub: register with the JIT config, take one job, run it, report it done, exit. A
// run whose name is in crash exits before registering.
type fakeRuns struct {
	f   *githubfake.Fake
	ctx context.Context

	mu    sync.Mutex
	n     int
	runs  map[string]*fakeRun // by id
	crash map[string]bool
	wg    sync.WaitGroup
}

type fakeRun struct {
	runners.RunnerRun
	jit string
}

func newFakeRuns(ctx context.Context, f *githubfake.Fake) *fakeRuns {
	return &fakeRuns{f: f, ctx: ctx, runs: map[string]*fakeRun{}, crash: map[string]bool{}}
}

func (r *fakeRuns) StartRunner(_ context.Context, req runners.StartRequest) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, x := range r.runs {
		if x.Name == req.Name {
			return id, nil
		}
	}
	r.n++
	id := fmt.Sprintf("run-%d", r.n)
	run := &fakeRun{RunnerRun: runners.RunnerRun{ID: id, Pool: req.Pool, Name: req.Name, Active: true, Created: time.Now()}, jit: req.JITConfig}
	r.runs[id] = run
	r.wg.Go(func() {
		defer r.end(id)
		if _, err := r.f.Register(run.jit); err != nil {
			return
		}
		a, ok, err := r.f.Acquire(r.ctx, run.jit)
		if err != nil || !ok {
			return
		}
		select {
		case <-time.After(a.Duration):
		case <-r.ctx.Done():
			return
		}
		_ = r.f.Complete(run.jit, "success")
	})
	return id, nil
}

func (r *fakeRuns) end(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs[id].Active = false
}

func (r *fakeRuns) ListRunnerRuns(context.Context) ([]runners.RunnerRun, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []runners.RunnerRun
	for _, x := range r.runs {
		out = append(out, x.RunnerRun)
	}
	return out, nil
}

func (r *fakeRuns) StopRunner(_ context.Context, runID, _ string) error {
	r.mu.Lock()
	x := r.runs[runID]
	r.mu.Unlock()
	if x != nil {
		_ = r.f.Exit(x.jit) // the container stops: the runner's connection ends
	}
	return nil
}

func (r *fakeRuns) active() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.runs {
		if x.Active {
			n++
		}
	}
	return n
}

// scaleSetWorld is a controller in scale-set mode against the fake GitHub.
type scaleSetWorld struct {
	f    *githubfake.Fake
	plan *runners.Plan
	port *github.ScaleSetPort
	rest runners.GitHub
	runs *fakeRuns
}

func newScaleSetWorld(t *testing.T, ctx context.Context) *scaleSetWorld {
	t.Helper()
	f := githubfake.New(githubfake.Options{GHES: true, PATs: []string{pat}, ScaleSetPollWait: 100 * time.Millisecond, Seed: 1})
	t.Cleanup(f.Close)
	plan, err := runners.Compile([]runners.Pool{
		{Name: "medium", Labels: []string{"self-hosted", "medium"}, Job: "runner-medium", Max: 4, Scope: runners.Scope{Level: runners.ScopeOrg, Name: "acme"}},
		{Name: "large", Labels: []string{"self-hosted", "large"}, Job: "runner-large", Max: 2, Scope: runners.Scope{Level: runners.ScopeOrg, Name: "acme"}},
	}, runners.ArchAMD64)
	if err != nil {
		t.Fatal(err)
	}
	c, err := github.New(github.Config{APIURL: f.URL(), Token: pat})
	if err != nil {
		t.Fatal(err)
	}
	return &scaleSetWorld{f: f, plan: plan, rest: &github.RunnerPort{Client: c}, runs: newFakeRuns(ctx, f),
		port: &github.ScaleSetPort{Config: github.ScaleSetConfig{Token: pat, Retries: -1}, ServerURL: f.ServerURL()}}
}

// replica starts a listener and a controller as replica owner; cancel stops both.
func (w *scaleSetWorld) replica(ctx context.Context, owner string) (*runners.ScaleSetDemand, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	d := &runners.ScaleSetDemand{Plan: w.plan, API: w.port, Clock: hashike.SystemClock{}, Owner: owner, Backoff: 100 * time.Millisecond}
	c := &runners.Controller{Plan: w.plan, GitHub: w.rest, Runs: w.runs, Demand: d, Wake: d.Wakeups(), Clock: hashike.SystemClock{},
		Interval: 300 * time.Millisecond, MinGap: 20 * time.Millisecond, ScaleInAfter: time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { _ = d.Run(ctx) })
	wg.Go(func() { _ = c.Run(ctx) })
	return d, func() { cancel(); wg.Wait() }
}

func (w *scaleSetWorld) waitDone(t *testing.T, ids []int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, id := range ids {
		j, err := w.f.WaitJob(ctx, id, func(j githubfake.Job) bool { return j.Status == "completed" })
		if err != nil {
			t.Fatalf("job %d: %v (%+v)", id, err, j)
		}
		if j.Conclusion != "success" || !strings.HasPrefix(j.RunnerName, "hashike-") {
			t.Fatalf("job %d = %+v, want it done by one of hashike's runners", id, j)
		}
	}
}

func (w *scaleSetWorld) queue(n int, labels ...string) []int64 {
	var ids []int64
	for range n {
		ids = append(ids, w.f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: labels, Duration: 50 * time.Millisecond}).ID)
	}
	return ids
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Scale-set mode end to end on the fake GitHub: one scale set per pool, the leader's
// listener takes the demand from its session (no webhook, no scan of GitHub's jobs), runners
// registered through the scale set run the jobs; a second replica's listener is refused
// (409) while the first holds the session; a session GitHub drops is opened again and demand
// goes on arriving.
func TestScaleSetModeServesJobs(t *testing.T) {
	ctx := t.Context()
	w := newScaleSetWorld(t, ctx)
	a, stopA := w.replica(ctx, "replica-a")
	defer stopA()
	waitFor(t, "replica-a's sessions", func() bool {
		o1, _ := w.f.ScaleSetSession("hashike-medium")
		o2, _ := w.f.ScaleSetSession("hashike-large")
		return o1 == "replica-a" && o2 == "replica-a"
	})

	// More jobs than the medium pool's max: the rest wait for room, acquired by the scale set.
	ids := append(w.queue(6, "self-hosted", "medium"), w.queue(2, "large")...)
	w.waitDone(t, ids)
	for _, id := range ids {
		j, _ := w.f.Job(id)
		want := "hashike-medium-"
		if slices.Contains(j.Labels, "large") {
			want = "hashike-large-"
		}
		if !strings.HasPrefix(j.RunnerName, want) {
			t.Errorf("job %d (%v) ran on %s, want a runner of its pool's scale set", id, j.Labels, j.RunnerName)
		}
	}

	// A second replica's listener: 409, it keeps trying, replica-a keeps the session.
	b, stopB := w.replica(ctx, "replica-b")
	waitFor(t, "replica-b refused", func() bool {
		for _, s := range b.Status() {
			if !errors.Is(s.Err, runners.ErrSessionTaken) || s.Session {
				return false
			}
		}
		return true
	})
	stopB()
	if o, _ := w.f.ScaleSetSession("hashike-medium"); o != "replica-a" {
		t.Fatalf("session owner %q after the second listener, want replica-a", o)
	}

	// GitHub drops the sessions: replica-a opens them again and serves new jobs.
	if n := w.f.DropScaleSetSessions(); n != 2 {
		t.Fatalf("dropped %d sessions, want 2", n)
	}
	waitFor(t, "the sessions reopened", func() bool {
		o1, _ := w.f.ScaleSetSession("hashike-medium")
		o2, _ := w.f.ScaleSetSession("hashike-large")
		return o1 == "replica-a" && o2 == "replica-a"
	})
	more := w.queue(2, "self-hosted", "medium")
	w.waitDone(t, more)
	for _, s := range a.Status() {
		if !s.Session || s.ScaleSetID == 0 || s.Stats == nil {
			t.Errorf("status %+v, want the session held with statistics", s)
		}
	}

	// Demand came from the sessions only: GitHub's workflow runs were never scanned, and
	// JIT configs were generated through the scale sets, not the REST API.
	if n := w.f.Calls("GET /repos/{owner}/{repo}/actions/runs"); n != 0 {
		t.Errorf("queued jobs scanned %d times in scale-set mode", n)
	}
	if n := w.f.Calls("POST /orgs/{org}/actions/runners/generate-jitconfig"); n != 0 {
		t.Errorf("REST generate-jitconfig called %d times in scale-set mode", n)
	}
	// Ephemeral runners: none left registered once the jobs are done and the pools idle.
	waitFor(t, "no runner left", func() bool { return len(w.f.Runners()) == 0 && w.runs.active() == 0 })
}
