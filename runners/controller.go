package runners

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hashike/hashike"
)

// JIT is a just-in-time runner configuration: the registration GitHub created and the
// encoded config the runner starts with. Config is a secret: it is passed to the runner's
// run and never stored or logged.
type JIT struct {
	RunnerID int64
	Config   string
}

// String hides the config, so a JIT printed by mistake leaks nothing.
func (j JIT) String() string { return fmt.Sprintf("jit(runner %d)", j.RunnerID) }

// QueuedJob is a workflow job GitHub reports queued.
type QueuedJob struct {
	ID       int64
	Labels   []string
	QueuedAt time.Time
}

// ErrRunnerBusy is what GitHub.RemoveRunner returns for a runner running a job.
var ErrRunnerBusy = errors.New("runner is busy")

// GitHub is the port to GitHub's runner API, one call per method (the adapter handles auth,
// GHES base URLs, pagination and rate limits; it retries nothing the controller's next pass
// would redo).
type GitHub interface {
	// GenerateJITConfig registers an ephemeral runner named name with labels in scope and
	// returns its config. A name already registered is an error of code EConflict.
	GenerateJITConfig(ctx context.Context, scope Scope, name string, labels []string) (JIT, error)
	// ListRunners lists every runner registered in scope.
	ListRunners(ctx context.Context, scope Scope) ([]GitHubRunner, error)
	// RemoveRunner deregisters a runner. A runner already gone (404) is success; a busy
	// one is ErrRunnerBusy (wrapped) and stays registered.
	RemoveRunner(ctx context.Context, scope Scope, id int64) error
	// QueuedJobs lists the jobs still queued that runners of scope could take.
	QueuedJobs(ctx context.Context, scope Scope) ([]QueuedJob, error)
}

// DemandSource is where the controller learns which jobs are queued: the webhook intake (jobs
// announced queued and not yet in progress or completed) or GitHub itself (GitHub
// implements it by scanning). It may miss jobs (lost webhooks) and report some late: the
// controller re-scans GitHub every RescanInterval and counts the union.
type DemandSource interface {
	// QueuedJobs lists the jobs queued now, once each.
	QueuedJobs(ctx context.Context) ([]QueuedJob, error)
}

// TakenReporter is a DemandSource that also knows which jobs have left the queue (a runner
// took them, or they completed): the controller then stops counting those among its last
// re-scan of GitHub's queued jobs, which would otherwise count a taken job as queued until
// the next re-scan and start a runner nobody needs.
type TakenReporter interface {
	// Taken reports whether the job is known to have left the queue.
	Taken(id int64) bool
}

// CompleteDemand is a DemandSource whose jobs are GitHub's own current state (the scale-set
// statistics), not a stream of events that may lose some: the controller then never
// re-scans GitHub for queued jobs, and reports no lost webhook.
type CompleteDemand interface {
	// Complete reports whether the source's jobs are all the demand.
	Complete() bool
}

// PoolRegistrar is a DemandSource that registers its pools' runners itself: a scale set's
// jobs go only to the scale set's own runners, so their JIT configs come from it, not from
// GitHub.GenerateJITConfig.
type PoolRegistrar interface {
	// GenerateJITConfig registers an ephemeral runner of pool named name.
	GenerateJITConfig(ctx context.Context, pool *Pool, name string) (JIT, error)
}

// StartRequest asks for one runner.
type StartRequest struct {
	Pool string
	// Job is the pool's hashike job.
	Job    string
	Name   string
	Labels []string
	// JITConfig is secret: the run receives it as ACTIONS_RUNNER_INPUT_JITCONFIG through
	// hashike's secret mechanism, and it is never stored nor logged.
	JITConfig string
}

// Runs is the port to hashike's runs: each runner is an ordinary run of its pool's job.
type Runs interface {
	// StartRunner creates the run of one runner and returns its id. It is idempotent by
	// Name: a second call with the same name returns the first run.
	StartRunner(ctx context.Context, req StartRequest) (runID string, err error)
	// ListRunnerRuns lists the runner runs this controller started that are active, and
	// those that ended recently (at least the last hour's).
	ListRunnerRuns(ctx context.Context) ([]RunnerRun, error)
	// StopRunner stops a run; stopping one that already ended is success.
	StopRunner(ctx context.Context, runID, reason string) error
}

// Controller is the runner pools' reconcile loop: each pass lists GitHub's runners, then
// the runner runs (in that order: a runner requested between the two lists is starting,
// never a ghost), then the queued jobs; decides with Decide; and applies the actions. Only
// one Controller may run at a time per set of pools (it runs on the leader).
type Controller struct {
	Plan   *Plan
	GitHub GitHub
	Runs   Runs
	// Demand, when set, gives the queued jobs on every pass (the webhook intake); GitHub's
	// QueuedJobs is then only called every RescanInterval, to catch lost webhooks. Without
	// it, every pass scans GitHub. A CompleteDemand (the scale-set listener) is the whole
	// demand: GitHub is never scanned; a PoolRegistrar registers the runners too.
	Demand DemandSource
	Clock  hashike.Clock
	Logger *slog.Logger
	// Interval between passes (default DefaultInterval); Wake triggers one sooner (a
	// webhook arrived), but passes are at least MinGap apart (default DefaultMinGap) so a
	// burst of webhooks is a pass a second, not a pass each. StartBound and ScaleInAfter go
	// to Decide.
	Interval     time.Duration
	MinGap       time.Duration
	Wake         <-chan struct{}
	StartBound   time.Duration
	ScaleInAfter time.Duration
	// RescanInterval is how often GitHub is scanned for queued jobs when Demand is set
	// (default DefaultRescanInterval).
	RescanInterval time.Duration
	// Parallel bounds the runners started at once (default DefaultParallel): a burst of
	// 500 jobs is 500 JIT configs and 500 runs.
	Parallel int
	// OnDecision, when set, receives every pass's decision (the CLI's status).
	OnDecision func(Decision)
	// Observer, when set, receives the decisions, runner starts and lost webhooks
	// (metrics).
	Observer Observer
	// OnLostWebhook, when set, is called once for each job a re-scan finds queued for
	// more than LostAfter (default DefaultLostAfter) that Demand did not report: its
	// webhook was lost or is late (a metric).
	OnLostWebhook func(QueuedJob)
	LostAfter     time.Duration
	// Prefix starts every runner's name (default "hashike-").
	Prefix string
	// NameSuffix returns a unique suffix for a runner's name (default: 8 random hex digits).
	NameSuffix func() string

	mu        sync.Mutex // guards pending during parallel starts
	rescanned []QueuedJob
	rescanAt  time.Time
	lost      map[int64]time.Time // jobs reported lost, to report each once
	history   map[string]*History
	latencies map[string]*Latencies
	seenJobs  map[int64]time.Time
	pending   map[string]time.Time // runners requested, not yet seen online: their request time
}

const (
	// DefaultInterval is the pass interval without webhooks.
	DefaultInterval = 30 * time.Second
	// DefaultMinGap is the least time between two passes.
	DefaultMinGap = time.Second
	// DefaultRescanInterval is how often GitHub is scanned for queued jobs besides Demand.
	DefaultRescanInterval = 2 * time.Minute
	// DefaultParallel is how many runners start at once.
	DefaultParallel = 16
	// DefaultLostAfter is how long a job may be queued before a re-scan that finds it,
	// without the demand source knowing it, counts its webhook lost.
	DefaultLostAfter = 30 * time.Second
)

// Run passes every Interval and on Wake until ctx ends. A failed pass is logged and
// retried at the next one.
func (c *Controller) Run(ctx context.Context) error {
	for {
		if _, err := c.Step(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.logger().Warn("runner reconcile failed", "err", err)
		}
		last := c.Clock.Now()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.Wake:
			// Webhooks coalesce: wait out the gap; wake-ups meanwhile are this pass's.
			if gap := cmp.Or(c.MinGap, DefaultMinGap) - c.Clock.Now().Sub(last); gap > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-c.Clock.After(gap):
				}
			}
			select {
			case <-c.Wake:
			default:
			}
		case <-c.Clock.After(cmp.Or(c.Interval, DefaultInterval)):
		}
	}
}

func (c *Controller) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Step is one pass: gather, decide, apply. It returns the decision, and the first error
// of the gathering (nothing is decided then) or of the actions (the others are applied).
func (c *Controller) Step(ctx context.Context) (Decision, error) {
	if c.history == nil {
		c.history, c.latencies = map[string]*History{}, map[string]*Latencies{}
		c.seenJobs, c.pending = map[int64]time.Time{}, map[string]time.Time{}
	}
	scopes := c.scopes()
	var gh []GitHubRunner
	for _, s := range scopes {
		rs, err := c.GitHub.ListRunners(ctx, s)
		if err != nil {
			return Decision{}, fmt.Errorf("list runners of %s: %w", s, err)
		}
		for i := range rs {
			rs[i].Scope = s
		}
		gh = append(gh, rs...)
	}
	runs, err := c.Runs.ListRunnerRuns(ctx)
	if err != nil {
		return Decision{}, fmt.Errorf("list runner runs: %w", err)
	}
	jobs, err := c.queued(ctx, scopes)
	if err != nil {
		return Decision{}, err
	}
	now := c.Clock.Now()
	runners := Merge(gh, runs)
	c.observe(now, runners, jobs)
	in := Input{Plan: c.Plan, Runners: runners, Now: now, StartBound: c.StartBound, ScaleInAfter: c.ScaleInAfter,
		Demand: demandOf(jobs), Observed: map[string]Observed{}}
	for _, p := range c.Plan.pools {
		o := Observed{Bucket: time.Minute, Arrivals: c.hist(p.Name).At(now)}
		if p.SLO != nil {
			o.StartLatency = c.lat(p.Name).Quantile(p.SLO.quantile())
		}
		in.Observed[p.Name] = o
	}
	d := Decide(in)
	if c.Observer != nil {
		c.Observer.Decided(d)
	}
	if c.OnDecision != nil {
		c.OnDecision(d)
	}
	return d, c.apply(ctx, d)
}

// queued is the union, once per job id, of Demand's jobs and GitHub's (every pass without
// Demand; every RescanInterval with it, the last scan's jobs counted until the next).
func (c *Controller) queued(ctx context.Context, scopes []Scope) ([]QueuedJob, error) {
	var jobs []QueuedJob
	seen := map[int64]bool{}
	add := func(js []QueuedJob) {
		for _, j := range js {
			// A repo's job is also its organization's: count it once.
			if !seen[j.ID] {
				seen[j.ID] = true
				jobs = append(jobs, j)
			}
		}
	}
	now := c.Clock.Now()
	if cd, ok := c.Demand.(CompleteDemand); ok && cd.Complete() {
		js, err := c.Demand.QueuedJobs(ctx)
		if err != nil {
			return nil, fmt.Errorf("queued jobs: %w", err)
		}
		add(js)
		return jobs, nil
	}
	if c.Demand == nil || c.rescanAt.IsZero() || now.Sub(c.rescanAt) >= cmp.Or(c.RescanInterval, DefaultRescanInterval) {
		var scanned []QueuedJob
		for _, s := range scopes {
			js, err := c.GitHub.QueuedJobs(ctx, s)
			if err != nil {
				return nil, fmt.Errorf("list queued jobs of %s: %w", s, err)
			}
			scanned = append(scanned, js...)
		}
		c.rescanned, c.rescanAt = scanned, now
	}
	if c.Demand != nil {
		js, err := c.Demand.QueuedJobs(ctx)
		if err != nil {
			return nil, fmt.Errorf("queued jobs: %w", err)
		}
		add(js)
		if c.rescanAt.Equal(now) && (c.OnLostWebhook != nil || c.Observer != nil) {
			c.reportLost(now, seen) // seen holds Demand's jobs only so far
		}
	}
	if t, ok := c.Demand.(TakenReporter); ok {
		c.rescanned = slices.DeleteFunc(c.rescanned, func(j QueuedJob) bool { return t.Taken(j.ID) })
	}
	add(c.rescanned)
	return jobs, nil
}

// reportLost reports the re-scan's jobs that Demand does not know and that are queued for
// longer than LostAfter, each once.
func (c *Controller) reportLost(now time.Time, known map[int64]bool) {
	if c.lost == nil {
		c.lost = map[int64]time.Time{}
	}
	for _, j := range c.rescanned {
		if known[j.ID] || now.Sub(j.QueuedAt) < cmp.Or(c.LostAfter, DefaultLostAfter) {
			continue
		}
		if _, done := c.lost[j.ID]; !done {
			c.lost[j.ID] = now
			if c.OnLostWebhook != nil {
				c.OnLostWebhook(j)
			}
			if c.Observer != nil {
				pool := ""
				if p, err := c.Plan.Match(j.Labels); err == nil {
					pool = p.Name
				}
				c.Observer.LostWebhook(pool)
			}
		}
	}
	for id, t := range c.lost {
		if now.Sub(t) > 25*time.Hour {
			delete(c.lost, id)
		}
	}
}

func (c *Controller) hist(pool string) *History {
	h := c.history[pool]
	if h == nil {
		h = &History{Bucket: time.Minute}
		c.history[pool] = h
	}
	return h
}

func (c *Controller) lat(pool string) *Latencies {
	l := c.latencies[pool]
	if l == nil {
		l = &Latencies{}
		c.latencies[pool] = l
	}
	return l
}

// observe counts new queued jobs as arrivals of their pool and measures the start of
// runners seen online for the first time.
func (c *Controller) observe(now time.Time, runners []Runner, jobs []QueuedJob) {
	for _, j := range jobs {
		if _, ok := c.seenJobs[j.ID]; ok {
			continue
		}
		c.seenJobs[j.ID] = now
		if p, err := c.Plan.Match(j.Labels); err == nil {
			c.hist(p.Name).Add(now, 1)
		}
	}
	for id, t := range c.seenJobs {
		if now.Sub(t) > 25*time.Hour { // GitHub fails a job queued for 24 h
			delete(c.seenJobs, id)
		}
	}
	live := map[string]bool{}
	for _, r := range runners {
		live[r.Name] = true
		if t, ok := c.pending[r.Name]; ok && (r.State == Idle || r.State == Busy) {
			c.lat(r.Pool).Add(now.Sub(t))
			if c.Observer != nil {
				c.Observer.RunnerStarted(r.Pool, now.Sub(t))
			}
			delete(c.pending, r.Name)
		}
	}
	for name, t := range c.pending {
		if !live[name] && now.Sub(t) > time.Minute {
			delete(c.pending, name)
		}
	}
}

func demandOf(jobs []QueuedJob) []Demand {
	idx := map[string]int{}
	var out []Demand
	for _, j := range jobs {
		k := LabelKey(j.Labels)
		if i, ok := idx[k]; ok {
			out[i].Queued++
			continue
		}
		idx[k] = len(out)
		out = append(out, Demand{Labels: normalize(j.Labels), Queued: 1})
	}
	return out
}

func (c *Controller) scopes() []Scope {
	var out []Scope
	seen := map[Scope]bool{}
	for _, p := range c.Plan.pools {
		if !seen[p.Scope] {
			seen[p.Scope] = true
			out = append(out, p.Scope)
		}
	}
	return out
}

func (c *Controller) apply(ctx context.Context, d Decision) error {
	var first error
	fail := func(err error) {
		if first == nil {
			first = err
		}
		c.logger().Warn("runner action failed", "err", err)
	}
	for _, a := range d.Actions {
		c.logger().Info("runner action", "action", a.Kind, "pool", a.Pool, "count", a.Count, "runner", a.Runner.Name, "reason", a.Reason)
		switch a.Kind {
		case Start:
			p, _ := c.Plan.Pool(a.Pool)
			for _, err := range c.startN(ctx, p, a.Count) {
				fail(err)
			}
		case Remove:
			if err := c.remove(ctx, a); err != nil {
				fail(err)
			}
		}
	}
	return first
}

// startN starts n runners of p, Parallel at a time; after the first failure no new one is
// begun (the next pass retries). It returns the failures.
func (c *Controller) startN(ctx context.Context, p *Pool, n int) []error {
	sem := make(chan struct{}, max(1, cmp.Or(c.Parallel, DefaultParallel)))
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		failed bool
	)
	for range n {
		mu.Lock()
		stop := failed
		mu.Unlock()
		if stop {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := c.start(ctx, p); err != nil {
				mu.Lock()
				errs, failed = append(errs, err), true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

func (c *Controller) start(ctx context.Context, p *Pool) error {
	name := cmp.Or(c.Prefix, "hashike-") + p.Name + "-" + c.suffix()
	labels := p.RunnerLabels()
	var jit JIT
	var err error
	if r, ok := c.Demand.(PoolRegistrar); ok {
		jit, err = r.GenerateJITConfig(ctx, p, name)
	} else {
		jit, err = c.GitHub.GenerateJITConfig(ctx, p.Scope, name, labels)
	}
	if err != nil {
		return fmt.Errorf("generate jit config for %s in %s: %w", name, p.Scope, err)
	}
	c.mu.Lock()
	c.pending[name] = c.Clock.Now()
	c.mu.Unlock()
	if _, err := c.Runs.StartRunner(ctx, StartRequest{Pool: p.Name, Job: p.Job, Name: name, Labels: labels, JITConfig: jit.Config}); err != nil {
		// The registration stays offline with no run: the next pass removes it as a ghost.
		return fmt.Errorf("start runner %s of pool %s: %w", name, p.Name, err)
	}
	return nil
}

func (c *Controller) remove(ctx context.Context, a Action) error {
	r := a.Runner
	if r.GitHubID != 0 {
		scope := r.Scope
		if err := c.GitHub.RemoveRunner(ctx, scope, r.GitHubID); err != nil {
			if errors.Is(err, ErrRunnerBusy) {
				return nil // it took a job meanwhile: keep it and its run
			}
			return fmt.Errorf("remove runner %s (%d) from %s: %w", r.Name, r.GitHubID, scope, err)
		}
	}
	if r.RunID != "" {
		if err := c.Runs.StopRunner(ctx, r.RunID, a.Reason); err != nil {
			return fmt.Errorf("stop runner run %s of %s: %w", r.RunID, r.Name, err)
		}
	}
	delete(c.pending, r.Name)
	return nil
}

func (c *Controller) suffix() string {
	if c.NameSuffix != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.NameSuffix()
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
