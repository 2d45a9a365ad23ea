package github_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike/github"
	"github.com/hashike/hashike/internal/githubfake"
	"github.com/hashike/hashike/runners"
)

// ghostScenarios is how many randomised scenarios TestNoGhostsOnFakeGitHub plays; `make
// bench-ghosts` plays 1,000 (docs/benchmarks.md).
var ghostScenarios = flag.Int("ghost-scenarios", 15, "randomised crash and lost-webhook scenarios of TestNoGhostsOnFakeGitHub")

// movingClock is the scenario's time: the fake GitHub's, the controller's and the adapter's
// (a Retry-After wait moves it instead of sleeping).
type movingClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *movingClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *movingClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
func (c *movingClock) After(d time.Duration) <-chan time.Time {
	c.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

// stepRuns is runners.Runs played step by step against the fake GitHub: a run's runner
// registers when the test boots it (or crashes before, never registering), completes its job
// when the test finishes the busy ones, and may be killed mid-job.
type stepRuns struct {
	mu    sync.Mutex // the controller starts runners in parallel
	f     *githubfake.Fake
	clock *movingClock
	runs  []*stepRun
	// crashNext makes the next runs' runners crash before registering.
	crashNext int
	// busyStops counts stops of a run whose runner was running a job: a job killed.
	busyStops int
	// killed are the jobs the test's crashes failed.
	killed map[int64]bool
}

type stepRun struct {
	runners.RunnerRun
	jit        string
	crash      bool
	registered bool
	runnerID   int64
}

func (r *stepRuns) StartRunner(_ context.Context, req runners.StartRequest) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.runs {
		if x.Name == req.Name {
			return x.ID, nil
		}
	}
	x := &stepRun{RunnerRun: runners.RunnerRun{ID: fmt.Sprintf("run-%d", len(r.runs)+1), Pool: req.Pool, Name: req.Name,
		Active: true, Created: r.clock.Now()}, jit: req.JITConfig}
	if r.crashNext > 0 {
		r.crashNext--
		x.crash = true
	}
	r.runs = append(r.runs, x)
	return x.ID, nil
}

func (r *stepRuns) ListRunnerRuns(context.Context) ([]runners.RunnerRun, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]runners.RunnerRun, 0, len(r.runs))
	for _, x := range r.runs {
		out = append(out, x.RunnerRun)
	}
	return out, nil
}

func (r *stepRuns) StopRunner(_ context.Context, runID, _ string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.runs {
		if x.ID != runID || !x.Active {
			continue
		}
		if g, ok := r.f.Runner(x.runnerID); ok && x.registered && g.Busy {
			r.busyStops++
		}
		x.Active = false
		if x.registered {
			_ = r.f.Exit(x.jit) // the container stops: the runner's connection ends
		}
	}
	return nil
}

// boot starts the runner of every active run not started yet.
func (r *stepRuns) boot() {
	for _, x := range r.runs {
		if !x.Active || x.registered {
			continue
		}
		if x.crash {
			x.Active = false
			continue
		}
		id, err := r.f.Register(x.jit)
		if err != nil { // removed meanwhile: the runner exits
			x.Active = false
			continue
		}
		x.registered, x.runnerID = true, id
	}
}

// busy returns the active runs whose runner has a job.
func (r *stepRuns) busy() []*stepRun {
	var out []*stepRun
	for _, x := range r.runs {
		if g, ok := r.f.Runner(x.runnerID); x.Active && x.registered && ok && g.Busy {
			out = append(out, x)
		}
	}
	return out
}

// finish completes every running job: the ephemeral runner is removed and its run ends.
func (r *stepRuns) finish() {
	for _, x := range r.busy() {
		_ = r.f.Complete(x.jit, "success")
		x.Active = false
	}
	// A registered runner removed at GitHub (scaled in) exits too.
	for _, x := range r.runs {
		if _, ok := r.f.Runner(x.runnerID); x.Active && x.registered && !ok {
			x.Active = false
		}
	}
}

// crashBusy kills a busy runner's container mid-job: GitHub fails the job, the runner stays
// listed offline.
func (r *stepRuns) crashBusy(rnd *rand.Rand) {
	b := r.busy()
	if len(b) == 0 {
		return
	}
	x := b[rnd.IntN(len(b))]
	g, _ := r.f.Runner(x.runnerID)
	r.killed[g.JobID] = true
	_ = r.f.Exit(x.jit)
	x.Active = false
}

// lossyHooks is the webhook demand with some deliveries lost: the jobs GitHub has queued,
// less the lost ones (the controller's re-scan must find those).
type lossyHooks struct {
	f    *githubfake.Fake
	lost map[int64]bool
}

func (h *lossyHooks) QueuedJobs(context.Context) ([]runners.QueuedJob, error) {
	var out []runners.QueuedJob
	for _, j := range h.f.Jobs() {
		if j.Status == "queued" && !h.lost[j.ID] {
			out = append(out, runners.QueuedJob{ID: j.ID, Labels: j.Labels, QueuedAt: j.CreatedAt})
		}
	}
	return out, nil
}

// ghostScenario plays one randomised scenario against a fresh fake GitHub through the real
// adapter and returns what an operator would check: the ghost registrations left, busy runs
// stopped, jobs failed not by the scenario's crashes, served jobs still queued, and the
// GitHub API calls made.
type ghostResult struct {
	ghosts       []string
	busyStops    int
	wrongFailure []int64
	stillQueued  []int64
	calls        int
}

func ghostScenario(t testing.TB, seed int) ghostResult {
	rnd := rand.New(rand.NewPCG(uint64(seed), 14))
	clock := &movingClock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	f := githubfake.New(githubfake.Options{PATs: []string{pat}, Now: clock.Now, Seed: uint64(seed)})
	defer f.Close()
	c, err := github.New(github.Config{APIURL: f.URL(), Token: pat, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	repo := runners.Scope{Level: runners.ScopeRepo, Name: "acme/app"}
	plan, err := runners.Compile([]runners.Pool{
		{Name: "small", Labels: []string{"self-hosted", "linux", "small"}, Job: "runner-small", Max: 4, Scope: repo},
		{Name: "medium", Labels: []string{"self-hosted", "linux", "medium"}, Job: "runner-medium", Max: 6, MinIdle: 1, Scope: repo},
	}, runners.ArchAMD64)
	if err != nil {
		t.Fatal(err)
	}
	runs := &stepRuns{f: f, clock: clock, killed: map[int64]bool{}}
	n := 0
	ctl := &runners.Controller{Plan: plan, GitHub: &github.RunnerPort{Client: c}, Runs: runs, Clock: clock,
		NameSuffix: func() string { n++; return fmt.Sprint(n) }}
	// Half the scenarios learn demand from webhooks, a fifth of them lost; the others scan
	// GitHub every pass.
	var hooks *lossyHooks
	if seed%2 == 1 {
		hooks = &lossyHooks{f: f, lost: map[int64]bool{}}
		ctl.Demand = hooks
	}
	labelSets := [][]string{{"self-hosted", "linux", "small"}, {"linux", "medium"}, {"medium"}, {"windows"}}
	ctx := context.Background()
	step := func() {
		// A failed pass (GitHub's rate limit) is retried by the next one, as in the loop.
		_, _ = ctl.Step(ctx)
	}
	for range 30 {
		for range rnd.IntN(4) {
			j := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: labelSets[rnd.IntN(len(labelSets))]})
			if hooks != nil && rnd.IntN(5) == 0 {
				hooks.lost[j.ID] = true
			}
		}
		if rnd.IntN(4) == 0 {
			runs.crashNext += 1 + rnd.IntN(2)
		}
		switch rnd.IntN(4) {
		case 0: // the webhook was lost: no pass
		case 1: // duplicated: two passes
			step()
			step()
		default:
			step()
		}
		if rnd.IntN(2) == 0 {
			runs.boot()
		}
		if rnd.IntN(3) == 0 {
			runs.finish()
		}
		if rnd.IntN(8) == 0 {
			runs.crashBusy(rnd)
		}
		clock.Add(time.Duration(rnd.IntN(180)) * time.Second)
	}
	// Convergence: no new jobs or crashes; the runners and the controller go on.
	runs.crashNext = 0
	for range 30 {
		runs.boot()
		runs.finish()
		clock.Add(time.Minute)
		step()
	}
	var res ghostResult
	res.busyStops = runs.busyStops
	active := map[string]bool{}
	for _, x := range runs.runs {
		active[x.Name] = active[x.Name] || x.Active
	}
	for _, g := range f.Runners() {
		if g.Online || g.Busy || !slices.ContainsFunc(g.Labels, func(l string) bool { return strings.HasPrefix(l, runners.PoolLabelPrefix) }) {
			continue
		}
		if !active[g.Name] {
			res.ghosts = append(res.ghosts, fmt.Sprintf("%s(registered=%v)", g.Name, g.Registered))
		}
	}
	for _, j := range f.Jobs() {
		if j.Status == "completed" && j.Conclusion != "success" && !runs.killed[j.ID] {
			res.wrongFailure = append(res.wrongFailure, j.ID)
		}
		if _, err := plan.Match(j.Labels); err == nil && j.Status == "queued" {
			res.stillQueued = append(res.stillQueued, j.ID)
		}
	}
	res.calls = f.TotalCalls()
	return res
}

// TestNoGhostsOnFakeGitHub: randomised scenarios of jobs, lost and duplicated webhooks,
// runners that crash before registering or mid-job, over the fake GitHub's HTTP API through
// the real adapter (job stealing by GitHub's own random choice among matching runners): every
// scenario ends with no ghost registration, no busy runner stopped, no job failed but those
// the scenario killed, and every job a pool serves run. -ghost-scenarios=1000 (make
// bench-ghosts) plays the thousand of the target.
func TestNoGhostsOnFakeGitHub(t *testing.T) {
	n := *ghostScenarios
	if testing.Short() {
		n = min(n, 5)
	}
	start := time.Now()
	calls := 0
	for seed := range n {
		r := ghostScenario(t, seed)
		if len(r.ghosts) != 0 || r.busyStops != 0 || len(r.wrongFailure) != 0 || len(r.stillQueued) != 0 {
			t.Fatalf("seed %d: ghosts %v, busy runs stopped %d, jobs failed by hashike %v, served jobs still queued %v",
				seed, r.ghosts, r.busyStops, r.wrongFailure, r.stillQueued)
		}
		calls += r.calls
	}
	t.Logf("%d scenarios, 0 ghosts, in %s; %d GitHub API calls (%.0f per scenario)", n, time.Since(start).Round(time.Millisecond),
		calls, float64(calls)/float64(n))
}
