package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/github"
	"github.com/hashike/hashike/internal/fakebackend"
	"github.com/hashike/hashike/runners"
	"github.com/hashike/hashike/runners/runnerstest"
)

// jitSeen records the JIT config each run's task got, by run ID.
type jitSeen struct {
	mu   sync.Mutex
	jits map[string]string
	hold chan struct{}
}

func newJITSeen() *jitSeen { return &jitSeen{jits: map[string]string{}, hold: make(chan struct{})} }

func (j *jitSeen) behave(req hashike.StartRequest) fakebackend.Behavior {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.jits[req.RunID] = req.Secrets[EnvRunnerJITConfig]
	return fakebackend.Behavior{Hold: j.hold}
}

func (j *jitSeen) get(id string) (string, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	v, ok := j.jits[id]
	return v, ok
}

func (j *jitSeen) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.jits)
}

// dbHolds reports whether any of the SQLite files of the store at path holds secret.
func dbHolds(t *testing.T, path, secret string) bool {
	t.Helper()
	files, _ := filepath.Glob(path + "*") // the database, its WAL and shared memory
	if len(files) == 0 {
		t.Fatalf("no database files at %s", path)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			return true
		}
	}
	return false
}

func TestStartRunnerPassesJITConfigAsSecretNeverStored(t *testing.T) {
	const jit = "jit-config-s3cr3t-7f3a9c"
	seen := newJITSeen()
	path := filepath.Join(t.TempDir(), "server.db")
	e := newEnv(t, opts{path: path, behave: seen.behave})
	defer close(seen.hold)
	e.register("runner-medium", definition(nil))
	ctx := context.Background()
	req := runners.StartRequest{Pool: "medium", Job: "runner-medium", Name: "hashike-medium-0001", Labels: []string{"self-hosted", "medium"}, JITConfig: jit}
	id, err := e.s.StartRunner(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	e.eventually("the runner's task to start", func() bool { _, ok := seen.get(id); return ok })
	if got, _ := seen.get(id); got != jit {
		t.Fatalf("the task got %s=%q; want the JIT config", EnvRunnerJITConfig, got)
	}
	again, err := e.s.StartRunner(ctx, req)
	if err != nil || again != id {
		t.Fatalf("StartRunner again with the same name = %q, %v; want the first run %s", again, err, id)
	}
	run := e.get(id)
	if run.Job != "runner-medium" || run.Trigger != TriggerRunner {
		t.Errorf("run of job %q, trigger %q; want an ordinary run of the pool's job, trigger %q", run.Job, run.Trigger, TriggerRunner)
	}
	c := run.Spec.TaskDefinition.ContainerDefinitions[0]
	if !slices.ContainsFunc(c.Secrets, func(s hashike.Secret) bool { return s.Name == EnvRunnerJITConfig }) {
		t.Errorf("the run's container declares no secret %s: %+v", EnvRunnerJITConfig, c.Secrets)
	}
	rs, err := e.s.ListRunnerRuns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].ID != id || rs[0].Pool != "medium" || rs[0].Name != req.Name || !rs[0].Active {
		t.Fatalf("ListRunnerRuns = %+v; want the active run %s of pool medium, runner %s", rs, id, req.Name)
	}
	if err := e.s.StopRunner(ctx, id, "surplus idle runner"); err != nil {
		t.Fatal(err)
	}
	e.eventually("the runner run to end", func() bool { return e.get(id).State.Terminal() })
	if st := e.get(id).State; st != hashike.StateCanceled {
		t.Errorf("stopped runner run ended %s; want canceled", st)
	}
	if err := e.s.StopRunner(ctx, id, "again"); err != nil {
		t.Errorf("StopRunner of an ended run: %v; want success", err)
	}
	e.eventually("the run to settle", func() bool { return e.get(id).Settled })
	if dbHolds(t, path, jit) {
		t.Fatal("the database holds the JIT config")
	}
}

func TestRunnerRunWithoutItsJITConfigEndsStartFailed(t *testing.T) {
	seen := newJITSeen()
	defer close(seen.hold)
	path := filepath.Join(t.TempDir(), "server.db")
	// The replica that created the run died before it started it: its JIT config died with it.
	gone := hashike.Owner{Host: "test", PID: 99, Start: "1"}
	e := newEnv(t, opts{path: path, behave: seen.behave})
	e.register("runner-medium", definition(nil))
	ctx := context.Background()
	run, err := e.s.runnerRun(ctx, runners.StartRequest{Pool: "medium", Job: "runner-medium", Name: "hashike-medium-0002"})
	if err != nil {
		t.Fatal(err)
	}
	run.Owner = &gone
	if _, _, err := e.store.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	e.eventually("the adopted runner run to end", func() bool { return e.get(run.ID).State.Terminal() })
	got := e.get(run.ID)
	if got.State != hashike.StateStartFailed || got.Exit == nil || got.Exit.Reason != ReasonRunnerJITLost {
		t.Fatalf("run ended %s (%+v); want start_failed: %s", got.State, got.Exit, ReasonRunnerJITLost)
	}
	if n := e.backend.Starts(run.ID); n != 0 {
		t.Fatalf("the runner's task was started %d times without its JIT config", n)
	}
	e.eventually("the run to settle", func() bool { return e.get(run.ID).Settled })
	if n := len(e.s.mustRunnerRuns(t)); n != 1 {
		t.Fatalf("%d runner runs; want the one (a runner run is never retried)", n)
	}
}

func (s *Server) mustRunnerRuns(t *testing.T) []runners.RunnerRun {
	t.Helper()
	rs, err := s.ListRunnerRuns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

var mediumLabels = []string{"self-hosted", "linux", "x64", "medium"}

func runnerPlan(t *testing.T) *runners.Plan {
	t.Helper()
	plan, err := runners.Compile([]runners.Pool{{Name: "medium", Labels: mediumLabels, Job: "runner-medium", Max: 10, Arch: runtime.GOARCH,
		Scope: runners.Scope{Level: runners.ScopeOrg, Name: "octo-org"}}}, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestRunnerControllerStartsRunnersFromWebhookAndRescan(t *testing.T) {
	tc := newTestClock(time.Date(2026, 3, 2, 9, 0, 30, 0, time.UTC))
	world := runnerstest.New(tc.Now)
	seen := newJITSeen()
	defer close(seen.hold)
	path := filepath.Join(t.TempDir(), "server.db")
	e := newEnv(t, opts{path: path, clock: tc, behave: seen.behave, github: github.NewWebhook([]byte(testWebhookSecret)),
		runners: &RunnerPools{Plan: runnerPlan(t), GitHub: world, RescanInterval: 2 * time.Minute, LostAfter: 30 * time.Second}})
	e.register("runner-medium", definition(nil))
	ctx := context.Background()

	// A queued job announced by its webhook gets a runner whose task has the JIT config.
	if _, err := e.s.ReceiveGitHubWebhook(ctx, signed("d-1", "workflow_job", queuedJob)); err != nil {
		t.Fatal(err)
	}
	e.eventually("a runner run for the webhook's job", func() bool { return seen.count() == 1 })
	rs := e.s.mustRunnerRuns(t)
	if len(rs) != 1 || rs[0].Pool != "medium" || !strings.HasPrefix(rs[0].Name, "hashike-medium-") {
		t.Fatalf("runner runs %+v; want one of pool medium", rs)
	}
	jit, _ := seen.get(rs[0].ID)
	if len(world.JITConfigs) != 1 || jit != world.JITConfigs[0] {
		t.Fatalf("the task got JIT %q; GitHub generated %q", jit, world.JITConfigs)
	}

	// A job whose webhook was lost is found by the re-scan of GitHub.
	world.Queue(mediumLabels...)
	tc.add(3 * time.Minute)
	e.eventually("a runner for the job no webhook announced", func() bool { return seen.count() == 2 })
	h := e.s.Health(ctx)
	if h.Runners == nil || h.Runners.LastDecision == nil || h.Runners.LostWebhooks != 1 {
		t.Fatalf("health's runners %+v; want a decision and 1 lost webhook", h.Runners)
	}
	st, err := e.s.RunnersStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Leader || len(st.Pools) != 1 || st.Pools[0].Name != "medium" || len(st.Runners) != 2 {
		t.Fatalf("status %+v; want the leader's view of pool medium with 2 runners", st)
	}
	// The job the webhook announced is taken: the status lists it with its wait.
	taken := []byte(`{"action":"in_progress","workflow_job":{"id":42,"run_id":7,"labels":["self-hosted","linux","x64","medium"],` +
		`"runner_id":1,"runner_name":"hashike-medium-1","created_at":"2026-03-02T09:00:00Z","started_at":"2026-03-02T09:00:20Z"},` +
		`"repository":{"full_name":"octo-org/example"}}`)
	if _, err := e.s.ReceiveGitHubWebhook(ctx, signed("d-2", "workflow_job", taken)); err != nil {
		t.Fatal(err)
	}
	e.eventually("the taken job in the status", func() bool {
		st, err := e.s.RunnersStatus(ctx)
		return err == nil && len(st.Recent) == 1
	})
	st, _ = e.s.RunnersStatus(ctx)
	if r := st.Recent[0]; r.ID != 42 || r.Pool != "medium" || r.WaitSeconds != 20 || r.Runner != "hashike-medium-1" {
		t.Fatalf("recent job %+v; want job 42 of pool medium, taken by hashike-medium-1 after 20s", r)
	}
	for _, cfg := range world.JITConfigs {
		if dbHolds(t, path, cfg) {
			t.Fatalf("the database holds JIT config %q", cfg)
		}
	}
}

// countingGitHub counts the passes of a controller (each lists the runners first).
type countingGitHub struct {
	runners.GitHub
	passes atomic.Int64
}

func (g *countingGitHub) ListRunners(ctx context.Context, scope runners.Scope) ([]runners.GitHubRunner, error) {
	g.passes.Add(1)
	return g.GitHub.ListRunners(ctx, scope)
}

func TestRunnerControllerRunsOnTheLeaderOnly(t *testing.T) {
	const ttl = 600 * time.Millisecond
	path := filepath.Join(t.TempDir(), "server.db")
	ghA, ghB := &countingGitHub{GitHub: runnerstest.New(time.Now)}, &countingGitHub{GitHub: runnerstest.New(time.Now)}
	replica := func(host string, gh runners.GitHub) *env {
		return newEnv(t, opts{path: path, self: hashike.Owner{Host: host, PID: 1, Start: "1"}, leaseTTL: ttl,
			runners: &RunnerPools{Plan: runnerPlan(t), GitHub: gh, Interval: 10 * time.Millisecond}})
	}
	a := replica("a", ghA)
	b := replica("b", ghB)
	if !a.s.Leader() || b.s.Leader() {
		t.Fatalf("leaders: a %v, b %v; want a", a.s.Leader(), b.s.Leader())
	}
	a.eventually("a's controller to pass 5 times", func() bool { return ghA.passes.Load() >= 5 })
	if n := ghB.passes.Load(); n != 0 {
		t.Fatalf("b's controller passed %d times while a leads", n)
	}
	if h := b.s.Health(context.Background()).Runners; h == nil || h.LastDecision != nil {
		t.Fatalf("b (a follower) reports runners %+v; want no decision", h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := ghA.passes.Load()
	b.eventually("b to take over and pass", func() bool {
		h := b.s.Health(context.Background()).Runners
		return b.s.Leader() && h.LastDecision != nil && ghB.passes.Load() > 0
	})
	if n := ghA.passes.Load(); n != stopped {
		t.Fatalf("a's controller passed %d times after a shut down", n-stopped)
	}
}

// TestRunnersStatusOnEveryReplica: a follower answers GET /v1/runners with the status the
// leader published after its last pass (its pools' counts, its runners, the jobs queued),
// saying so (leader false, snapshotAt); once the leader is gone the new one answers with its
// own.
func TestRunnersStatusOnEveryReplica(t *testing.T) {
	const ttl = 3 * time.Second // no change of leader under a loaded machine's -race
	path := filepath.Join(t.TempDir(), "server.db")
	world := runnerstest.New(time.Now)
	hold := make(chan struct{})
	defer close(hold)
	replica := func(host string) *env {
		e := newEnv(t, opts{path: path, self: hashike.Owner{Host: host, PID: 1, Start: "1"}, leaseTTL: ttl,
			behave:  func(hashike.StartRequest) fakebackend.Behavior { return fakebackend.Behavior{Hold: hold} },
			runners: &RunnerPools{Plan: runnerPlan(t), GitHub: world, Interval: 20 * time.Millisecond}})
		return e
	}
	a := replica("a")
	a.register("runner-medium", definition(nil))
	b := replica("b")
	if !a.s.Leader() || b.s.Leader() {
		t.Fatalf("leaders: a %v, b %v; want a", a.s.Leader(), b.s.Leader())
	}
	ctx := context.Background()
	world.Queue(mediumLabels...)
	world.Queue(mediumLabels...)
	a.eventually("a's controller to start 2 runners", func() bool {
		st, err := a.s.RunnersStatus(ctx)
		return err == nil && len(st.Runners) == 2 && st.Pools[0].Desired == 2
	})
	var follower api.RunnersStatus
	b.eventually("b to answer with a's status", func() bool {
		st, err := b.s.RunnersStatus(ctx)
		follower = st
		return err == nil && len(st.Runners) == 2 && st.Pools[0].Desired == 2
	})
	if follower.Leader || follower.SnapshotAt == nil || follower.DecidedAt == nil || follower.Mode != "webhook" {
		t.Fatalf("b's status %+v: want a follower's, with the snapshot's time and the leader's decision", follower)
	}
	if p := follower.Pools[0]; p.Name != "medium" || p.Desired != 2 || p.Max != 10 {
		t.Errorf("b's pool %+v, want a's medium desiring 2 runners", p)
	}
	// The runners b shows are a's: the runs a started.
	runs, err := a.s.ListRunnerRuns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range follower.Runners {
		if !slices.ContainsFunc(runs, func(x runners.RunnerRun) bool { return x.ID == r.RunID && x.Name == r.Name }) {
			t.Errorf("b's runner %+v is none of a's runs %+v", r, runs)
		}
	}
	// The leader goes: b leads and answers with its own view.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.s.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	b.eventually("b to lead and answer with its own view", func() bool {
		st, err := b.s.RunnersStatus(ctx)
		return err == nil && st.Leader && st.SnapshotAt == nil && st.DecidedAt != nil
	})
}

// TestCrashedRunnerIsDeregisteredAndReplaced: a runner whose container exits before it
// registers leaves an offline registration and an ended run: the controller removes the
// registration (no ghost) and starts another runner for the job still queued.
func TestCrashedRunnerIsDeregisteredAndReplaced(t *testing.T) {
	world := runnerstest.New(time.Now)
	gh := &countingGitHub{GitHub: world}
	var (
		mu     sync.Mutex
		starts []string
	)
	hold := make(chan struct{})
	defer close(hold)
	e := newEnv(t, opts{behave: func(req hashike.StartRequest) fakebackend.Behavior {
		mu.Lock()
		defer mu.Unlock()
		starts = append(starts, req.RunID)
		if len(starts) == 1 {
			return fakebackend.Behavior{ExitCode: 1, Output: "runner crashed\n"} // before registering
		}
		return fakebackend.Behavior{Hold: hold}
	}, runners: &RunnerPools{Plan: runnerPlan(t), GitHub: gh, Interval: 10 * time.Millisecond, MinGap: time.Millisecond}})
	e.register("runner-medium", definition(nil))
	world.Queue(mediumLabels...)
	e.eventually("a second runner", func() bool { mu.Lock(); defer mu.Unlock(); return len(starts) >= 2 })
	mu.Lock()
	first := starts[0]
	mu.Unlock()
	e.eventually("the crashed runner's registration removed", func() bool { return len(world.Runners()) == 1 })
	if st := e.get(first).State; st != hashike.StateFailed {
		t.Errorf("the crashed runner's run is %s; want failed", st)
	}
	p := gh.passes.Load()
	e.eventually("five more passes", func() bool { return gh.passes.Load() >= p+5 }) // still one runner for one job
	mu.Lock()
	n := len(starts)
	mu.Unlock()
	if n != 2 {
		t.Fatalf("%d runners started for one queued job; want 2 (the crashed one and its replacement)", n)
	}
}

// TestAdoptedRunnerRunWithATaskReattaches: a replica started a runner's task and died before
// recording it; the JIT config is gone with it, but the task has it: the run is adopted and
// followed, never failed (which would leave a live runner untracked) nor started again.
func TestAdoptedRunnerRunWithATaskReattaches(t *testing.T) {
	seen := newJITSeen()
	gone := hashike.Owner{Host: "test", PID: 99, Start: "1"}
	e := newEnv(t, opts{behave: seen.behave})
	e.register("runner-medium", definition(nil))
	ctx := context.Background()
	run, err := e.s.runnerRun(ctx, runners.StartRequest{Pool: "medium", Job: "runner-medium", Name: "hashike-medium-0004"})
	if err != nil {
		t.Fatal(err)
	}
	run.Owner = &gone
	if _, err := e.backend.Start(ctx, hashike.StartRequest{RunID: run.ID, Spec: run.Spec, Secrets: map[string]string{EnvRunnerJITConfig: "jit"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	e.eventually("the adopted runner run to run", func() bool { return e.get(run.ID).State == hashike.StateRunning })
	close(seen.hold)
	e.eventually("the runner run to end", func() bool { return e.get(run.ID).State.Terminal() })
	if got := e.get(run.ID); got.State != hashike.StateSucceeded {
		t.Fatalf("run ended %s (%+v); want succeeded, as its task did", got.State, got.Exit)
	}
	if n := e.backend.Starts(run.ID); n != 1 {
		t.Fatalf("the task was started %d times; want once", n)
	}
}
