package runners_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/runners"
	"github.com/hashike/hashike/runners/runnerstest"
)

// fakeClock is a clock the test moves; Step only reads it.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time                       { return c.now }
func (c *fakeClock) After(time.Duration) <-chan time.Time { return make(chan time.Time) }

var org = runners.Scope{Level: runners.ScopeOrg, Name: "acme"}

func plan(t testing.TB) *runners.Plan {
	t.Helper()
	p, err := runners.Compile([]runners.Pool{
		{Name: "small", Labels: []string{"self-hosted", "linux", "small"}, Job: "runner-small", Max: 4, Scope: org},
		{Name: "medium", Labels: []string{"self-hosted", "linux", "medium"}, Job: "runner-medium", Max: 6, MinIdle: 1, Scope: org},
		{Name: "arm", Labels: []string{"self-hosted", "linux", "arm64"}, Arch: runners.ArchARM64, Backend: "ecs", Job: "runner-arm", Max: 3,
			Scope: runners.Scope{Level: runners.ScopeRepo, Name: "acme/app"}},
	}, runners.ArchAMD64)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newController(t testing.TB, clock hashike.Clock, w *runnerstest.World) *runners.Controller {
	return &runners.Controller{Plan: plan(t), GitHub: w, Runs: w, Clock: clock}
}

func TestControllerServesQueuedJobsWithOneJITCallEach(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	w := runnerstest.New(clock.Now)
	var logs bytes.Buffer
	c := newController(t, clock, w)
	c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	for range 3 {
		w.Queue("self-hosted", "linux", "small")
	}
	w.Queue("linux", "medium")
	ctx := context.Background()
	if _, err := c.Step(ctx); err != nil {
		t.Fatal(err)
	}
	// 3 small, 1 medium for the job and 1 medium kept idle: one JIT config each, and
	// no other write.
	if got := w.CallCount("GenerateJITConfig"); got != 5 {
		t.Errorf("GenerateJITConfig calls = %d, want 5", got)
	}
	if w.CallCount("RemoveRunner") != 0 || w.CallCount("StopRunner") != 0 {
		t.Errorf("calls %v", w.Calls)
	}
	runs := w.ActiveRuns()
	if len(runs) != 5 {
		t.Fatalf("active runs %d, want 5", len(runs))
	}
	for _, r := range runs {
		if !strings.HasPrefix(r.Name, "hashike-"+r.Pool+"-") || !strings.HasPrefix(r.JITConfig, "jit-secret-") {
			t.Errorf("run %+v", r)
		}
	}
	w.Boot()
	w.Assign(nil)
	if q := w.Queued(); q != 0 {
		t.Errorf("%d jobs still queued after the runners came online", q)
	}
	// The same state again asks for nothing: level-triggered, idempotent.
	before := w.CallCount("GenerateJITConfig")
	if _, err := c.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.CallCount("GenerateJITConfig") - before; got != 0 {
		t.Errorf("a second pass generated %d more configs", got)
	}
	for _, cfg := range w.JITConfigs {
		if strings.Contains(logs.String(), cfg) {
			t.Fatalf("the log holds a JIT config: %s", logs.String())
		}
	}
}

func TestControllerCleansUpInLayers(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	w := runnerstest.New(clock.Now)
	c := newController(t, clock, w)
	ctx := context.Background()
	w.AddForeign("someone-elses", org, false, "self-hosted", "linux", "medium")
	w.CrashNext = 1 // the medium idle runner crashes before it registers
	if _, err := c.Step(ctx); err != nil {
		t.Fatal(err)
	}
	w.Boot()
	if g := w.Ghosts(); len(g) != 1 {
		t.Fatalf("ghosts %v, want the crashed runner", g)
	}
	if _, err := c.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if g := w.Ghosts(); len(g) != 0 {
		t.Errorf("ghosts after a pass: %v", g)
	}
	// The crashed one was replaced; the foreign runner is untouched.
	names := map[string]bool{}
	for _, r := range w.Runners() {
		names[r.Name] = true
	}
	if !names["someone-elses"] || len(w.ActiveRuns()) != 1 {
		t.Errorf("runners %v, active runs %d", w.Runners(), len(w.ActiveRuns()))
	}
	// A runner that never comes online (its process hangs) is replaced after the bound.
	clock.now = clock.now.Add(runners.DefaultStartBound)
	old := w.ActiveRuns()[0].Name
	if _, err := c.Step(ctx); err != nil {
		t.Fatal(err)
	}
	runs := w.ActiveRuns()
	if len(runs) != 1 || runs[0].Name == old {
		t.Errorf("active runs %v, want one replacing %s", runs, old)
	}
}

// raceGitHub assigns a queued job to the runner being removed just before the removal,
// as GitHub may between the controller's list and its delete.
type raceGitHub struct{ *runnerstest.World }

func (g raceGitHub) RemoveRunner(ctx context.Context, s runners.Scope, id int64) error {
	g.Queue("self-hosted", "linux", "medium")
	g.Assign(nil)
	return g.World.RemoveRunner(ctx, s, id)
}

func TestControllerKeepsARunnerThatTookAJobDuringScaleIn(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	w := runnerstest.New(clock.Now)
	c := newController(t, clock, w)
	ctx := context.Background()
	w.Queue("medium")
	w.Queue("medium")
	if _, err := c.Step(ctx); err != nil { // 2 for the jobs + 1 idle
		t.Fatal(err)
	}
	w.Boot()
	clock.now = clock.now.Add(time.Hour)
	// The jobs were cancelled: 3 idle, 1 wanted, 2 surplus.
	w.CancelQueued()
	c.GitHub = raceGitHub{w}
	if _, err := c.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if w.BusyStops != 0 {
		t.Errorf("%d busy runners' runs were stopped", w.BusyStops)
	}
	if w.BusyRemoveAttempts == 0 {
		t.Fatal("the race did not happen: the test tests nothing")
	}
	busy := 0
	for _, r := range w.Runners() {
		if r.Busy {
			busy++
		}
	}
	if busy == 0 {
		t.Error("the runner that took a job is gone")
	}
}

func TestControllerLoopWakesOnWebhook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := runnerstest.New(time.Now)
		wake := make(chan struct{}, 1)
		c := newController(t, hashike.SystemClock{}, w)
		c.Interval, c.Wake = time.Minute, wake
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		synctest.Wait() // the first pass is done; the loop waits
		start := time.Now()
		if n := len(w.ActiveRuns()); n != 1 {
			t.Fatalf("first pass: %d runs, want the idle medium", n)
		}
		w.Queue("small")
		wake <- struct{}{}
		synctest.Wait()
		// The pass waits out the least gap (1 s) after the last one, then serves the job.
		time.Sleep(runners.DefaultMinGap)
		synctest.Wait()
		if n := len(w.ActiveRuns()); n != 2 || time.Since(start) != runners.DefaultMinGap {
			t.Errorf("after a wake: %d runs at +%v, want 2 at +1s", n, time.Since(start))
		}
		// A storm of webhooks within a second is one pass.
		passes := w.CallCount("ListRunnerRuns")
		for range 100 {
			select {
			case wake <- struct{}{}:
			default:
			}
			time.Sleep(10 * time.Millisecond)
		}
		synctest.Wait()
		time.Sleep(runners.DefaultMinGap)
		synctest.Wait()
		if got := w.CallCount("ListRunnerRuns") - passes; got > 3 {
			t.Errorf("100 wake-ups over 1 s made %d passes, want at most 3", got)
		}
		// A lost webhook: no wake; the interval's pass serves the job.
		w.Queue("small")
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(w.ActiveRuns()); n != 3 {
			t.Errorf("after the interval: %d runs, want 3", n)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	})
}

func TestControllerMeasuresStartLatencyForSLO(t *testing.T) {
	for _, tc := range []struct {
		target  time.Duration
		minIdle int    // the largest seen
		reason  string // of the last decision
	}{
		// A job every 40 s (1 expected within a 40 s start): Poisson 0.95 wants 3 idle.
		{5 * time.Second, 3, "start of 40s"},
		// Runners start within the target: no idle runner is needed.
		{time.Minute, 0, "a runner starts in 40s, within the SLO's 1m0s"},
	} {
		clock := &fakeClock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
		w := runnerstest.New(clock.Now)
		p, err := runners.Compile([]runners.Pool{{Name: "m", Labels: []string{"m"}, Job: "r", Max: 50, Scope: org,
			SLO: &runners.SLO{Target: hashike.Duration(tc.target)}}}, runners.ArchAMD64)
		if err != nil {
			t.Fatal(err)
		}
		c := &runners.Controller{Plan: p, GitHub: w, Runs: w, Clock: clock, ScaleInAfter: time.Hour}
		ctx := context.Background()
		// For an hour; each runner takes 40 s to come online.
		var d runners.Decision
		most := 0
		for range 90 {
			w.Queue("m")
			if d, err = c.Step(ctx); err != nil {
				t.Fatal(err)
			}
			most = max(most, d.Pools[0].MinIdle)
			w.Finish() // the jobs the pass saw running end
			clock.now = clock.now.Add(40 * time.Second)
			w.Boot()
			w.Assign(nil)
		}
		if most != tc.minIdle || !strings.Contains(d.Pools[0].MinIdleReason, tc.reason) {
			t.Errorf("target %v: most minIdle %d, last reason %q; want %d, %q", tc.target, most, d.Pools[0].MinIdleReason, tc.minIdle, tc.reason)
		}
	}
}

// webhookDemand is the webhook intake as the controller sees it: the jobs whose
// "queued" deliveries arrived, minus those started; a lost delivery is a job it never knows.
type webhookDemand struct {
	w    *runnerstest.World
	lost map[int64]bool
}

func (d webhookDemand) QueuedJobs(context.Context) ([]runners.QueuedJob, error) {
	all := d.w.QueuedNow()
	var out []runners.QueuedJob
	for _, j := range all {
		if !d.lost[j.ID] {
			out = append(out, j)
		}
	}
	return out, nil
}

func TestControllerRescansForLostWebhooks(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	w := runnerstest.New(clock.Now)
	demand := webhookDemand{w, map[int64]bool{}}
	c := newController(t, clock, w)
	c.Demand = demand
	var lost []int64
	c.OnLostWebhook = func(j runners.QueuedJob) { lost = append(lost, j.ID) }
	ctx := context.Background()
	step := func() {
		t.Helper()
		if _, err := c.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	step() // the first pass scans GitHub (2 scopes) and starts the idle medium
	scans := w.CallCount("QueuedJobs")
	w.Queue("small")
	lostID := w.Queue("small")
	demand.lost[lostID] = true
	clock.now = clock.now.Add(10 * time.Second)
	step()
	if got := len(w.ActiveRuns()); got != 2 {
		t.Errorf("after the delivered webhook: %d runs, want 2 (the idle medium and one small)", got)
	}
	if w.CallCount("QueuedJobs") != scans {
		t.Errorf("a pass with a demand source scanned GitHub")
	}
	// The lost job is found by the next re-scan, not before.
	clock.now = clock.now.Add(runners.DefaultRescanInterval)
	step()
	if got := len(w.ActiveRuns()); got != 3 || w.CallCount("QueuedJobs") == scans {
		t.Errorf("after the re-scan: %d runs, want 3", got)
	}
	if len(lost) != 1 || lost[0] != lostID {
		t.Errorf("lost webhooks reported %v, want [%d]", lost, lostID)
	}
	// The next re-scan finds it again (no runner took it yet): reported once only.
	clock.now = clock.now.Add(runners.DefaultRescanInterval)
	step()
	if len(lost) != 1 {
		t.Errorf("lost webhooks reported %v, want it once", lost)
	}
}

// TestPropertyNoGhostsNeverBusy runs random scenarios: jobs queued (their webhooks lost or
// duplicated, so passes are skipped or repeated), runners crashing before registering or
// mid-job, GitHub failing, jobs stolen by any matching runner. After each pass no busy
// runner was removed; after convergence no ghost is left and every job a pool serves ran.
func TestPropertyNoGhostsNeverBusy(t *testing.T) {
	scenarios := 1000
	if testing.Short() {
		scenarios = 100
	}
	labelSets := [][]string{{"self-hosted", "linux", "small"}, {"linux", "medium"}, {"medium"}, {"arm64"}, {"windows"}}
	for seed := range scenarios {
		rnd := rand.New(rand.NewPCG(uint64(seed), 14))
		clock := &fakeClock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
		w := runnerstest.New(clock.Now)
		c := newController(t, clock, w)
		c.NameSuffix = counter()
		// Half the scenarios learn demand from webhooks, some lost (found by the re-scan)
		// and some delivered twice; the others scan GitHub every pass.
		var hooks *flakyDemand
		if seed%2 == 1 {
			hooks = &flakyDemand{w: w, lost: map[int64]bool{}, rnd: rnd}
			c.Demand = hooks
		}
		ctx := context.Background()
		step := func() {
			if _, err := c.Step(ctx); err != nil && !errors.Is(err, errJIT) {
				t.Fatalf("seed %d: %v", seed, err)
			}
			if w.BusyStops != 0 || w.BusyRemoveAttempts != 0 {
				t.Fatalf("seed %d: busy runners touched: %d stopped, %d removals tried", seed, w.BusyStops, w.BusyRemoveAttempts)
			}
		}
		for range 30 {
			for range rnd.IntN(4) {
				id := w.Queue(labelSets[rnd.IntN(len(labelSets))]...)
				if hooks != nil && rnd.IntN(5) == 0 {
					hooks.lost[id] = true
				}
			}
			if rnd.IntN(4) == 0 {
				w.CrashNext += 1 + rnd.IntN(2)
			}
			w.FailJIT = nil
			if rnd.IntN(10) == 0 {
				w.FailJIT = errJIT
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
				w.Boot()
			}
			w.Assign(rnd)
			if rnd.IntN(3) == 0 {
				w.Finish()
			}
			if rnd.IntN(8) == 0 {
				w.CrashBusy(rnd)
			}
			if rnd.IntN(4) == 0 {
				w.TimeOut()
			}
			clock.now = clock.now.Add(time.Duration(rnd.IntN(180)) * time.Second)
		}
		// Convergence: no new jobs, crashes or failures; the world and the controller go on.
		w.CrashNext, w.FailJIT = 0, nil
		for range 30 {
			w.Boot()
			w.Assign(rnd)
			w.Finish()
			w.TimeOut()
			clock.now = clock.now.Add(time.Minute)
			step()
		}
		if g := w.Ghosts(); len(g) != 0 {
			t.Fatalf("seed %d: ghosts left: %v", seed, g)
		}
		if q := w.QueuedServed(); q != 0 {
			t.Fatalf("seed %d: %d served jobs still queued", seed, q)
		}
		perPool := map[string]int{}
		for _, r := range w.ActiveRuns() {
			perPool[r.Pool]++
		}
		for _, p := range c.Plan.Pools() {
			if perPool[p.Name] > p.Max {
				t.Fatalf("seed %d: pool %s has %d runs, max %d", seed, p.Name, perPool[p.Name], p.Max)
			}
		}
	}
}

var errJIT = errors.New("secondary rate limit")

// flakyDemand is a webhook intake that lost some deliveries and reports some jobs twice.
type flakyDemand struct {
	w    *runnerstest.World
	lost map[int64]bool
	rnd  *rand.Rand
}

func (d *flakyDemand) QueuedJobs(context.Context) ([]runners.QueuedJob, error) {
	var out []runners.QueuedJob
	for _, j := range d.w.QueuedNow() {
		if d.lost[j.ID] {
			continue
		}
		out = append(out, j)
		if d.rnd.IntN(4) == 0 {
			out = append(out, j)
		}
	}
	return out, nil
}

func counter() func() string {
	n := 0
	return func() string {
		n++
		return strings.Repeat("0", 3) + string(rune('a'+n%26)) + time.Duration(n).String()
	}
}

// takenDemand is webhookDemand that also reports the jobs a delivery said were taken.
type takenDemand struct {
	webhookDemand
	taken map[int64]bool
}

func (d takenDemand) Taken(id int64) bool { return d.taken[id] }

// TestControllerForgetsTakenJobsOfTheLastRescan: a job whose webhook was lost is found by a
// re-scan and gets a runner; once a delivery says the job was taken, the passes before the
// next re-scan no longer count it queued (they started a second runner for it before).
func TestControllerForgetsTakenJobsOfTheLastRescan(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	w := runnerstest.New(clock.Now)
	demand := takenDemand{webhookDemand{w, map[int64]bool{}}, map[int64]bool{}}
	c := newController(t, clock, w)
	c.Demand = demand
	ctx := context.Background()
	step := func() {
		t.Helper()
		if _, err := c.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	step() // the first scan; the idle medium starts
	job := w.Queue("small")
	demand.lost[job] = true
	clock.now = clock.now.Add(runners.DefaultRescanInterval)
	step() // the re-scan finds the job: a small runner starts
	if got := len(w.ActiveRuns()); got != 2 {
		t.Fatalf("after the re-scan: %d runs, want 2 (the idle medium and one small)", got)
	}
	w.Boot()      // the small runner registers
	w.Assign(nil) // and GitHub gives it the job
	if w.Queued() != 0 {
		t.Fatalf("%d jobs still queued after the runners booted", w.Queued())
	}
	demand.taken[job] = true // its in_progress delivery arrived
	for range 3 {
		clock.now = clock.now.Add(10 * time.Second)
		step()
	}
	if got := len(w.ActiveRuns()); got != 2 {
		t.Errorf("%d runs after the job was taken, want 2: a taken job of the last re-scan was counted queued", got)
	}
}
