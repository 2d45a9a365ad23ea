package server

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/runners"
)

// RunnerPools configures the runner controller the leader runs: ephemeral GitHub Actions
// runners in pools (package runners), each runner a run of its pool's job (StartRunner).
type RunnerPools struct {
	Plan *runners.Plan
	// GitHub is the GitHub adapter (cmd builds it from the config's connection).
	GitHub runners.GitHub
	// The controller's settings (see runners.Controller; zero: its defaults).
	Interval, MinGap, StartBound, ScaleInAfter, RescanInterval, LostAfter time.Duration
	Parallel                                                              int
}

// runnerState is what the leader's runner controller last saw and decided: for /healthz and
// GET /v1/runners.
type runnerState struct {
	mu       sync.Mutex
	last     time.Time
	decision runners.Decision
	err      error
	queued   []runners.QueuedJob // the last queued jobs the demand source reported
	demand   *GitHubDemand       // this term's webhook intake (nil: none)
	lost     int                 // lost or late webhooks detected in this term
	// listed is the last runner listing of each scope.
	listed map[runners.Scope][]runners.GitHubRunner
}

// runnerLoop is the leader-only loop of the runner controller: a new Controller per term
// (what an earlier term measured is stale), woken by every stored GitHub delivery.
func (s *Server) runnerLoop(ctx context.Context) {
	rp := s.cfg.Runners
	st := &s.runnerState
	st.mu.Lock()
	st.last, st.decision, st.err, st.queued, st.lost, st.listed = time.Time{}, runners.Decision{}, nil, nil, 0, nil
	st.mu.Unlock()
	c := &runners.Controller{Plan: rp.Plan, GitHub: &recordingGitHub{GitHub: rp.GitHub, st: st}, Runs: s,
		Clock: s.clock, Logger: s.log.With("loop", "runners"),
		Interval: rp.Interval, MinGap: rp.MinGap, StartBound: rp.StartBound, ScaleInAfter: rp.ScaleInAfter,
		RescanInterval: rp.RescanInterval, LostAfter: rp.LostAfter, Parallel: rp.Parallel,
		OnDecision: func(d runners.Decision) { s.observeRunners(d) },
		OnLostWebhook: func(j runners.QueuedJob) {
			st.mu.Lock()
			st.lost++
			st.mu.Unlock()
			s.log.Warn("runners: a queued job no webhook announced (lost or late delivery)", "job", j.ID, "labels", j.Labels,
				"queued_at", j.QueuedAt)
		},
	}
	if d := s.GitHubDemand(); d != nil {
		st.mu.Lock()
		st.demand = d
		st.mu.Unlock()
		c.Demand = &webhookDemand{d: d, st: st}
		c.Wake = s.GitHubWakeups()
	}
	s.log.Info("runners: starting the runner controller (this replica leads)", "pools", len(rp.Plan.Pools()))
	if err := c.Run(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("runners: the controller stopped", "err", err)
	}
}

// observeRunners keeps a decision for /healthz and the API, and logs what no pool serves
// (the actions are logged by the controller with their reasons).
func (s *Server) observeRunners(d runners.Decision) {
	st := &s.runnerState
	st.mu.Lock()
	st.last, st.decision, st.err = s.clock.Now(), d, nil
	st.mu.Unlock()
	for _, u := range d.Unserved {
		s.log.Warn("runners: queued jobs no pool serves", "labels", u.Labels, "queued", u.Queued)
	}
}

func (s *Server) runnerHealth() *api.RunnerHealth {
	if s.cfg.Runners == nil {
		return nil
	}
	st := &s.runnerState
	st.mu.Lock()
	defer st.mu.Unlock()
	h := &api.RunnerHealth{LostWebhooks: st.lost}
	if !st.last.IsZero() {
		last := st.last
		h.LastDecision = &last
	}
	if st.err != nil {
		h.Error = st.err.Error()
	}
	return h
}

// recordingGitHub keeps the last error of a runner listing (the start of every pass) for
// /healthz; a listing that succeeds clears it.
type recordingGitHub struct {
	runners.GitHub
	st *runnerState
}

func (g *recordingGitHub) ListRunners(ctx context.Context, scope runners.Scope) ([]runners.GitHubRunner, error) {
	rs, err := g.GitHub.ListRunners(ctx, scope)
	g.st.mu.Lock()
	g.st.err = err
	if err == nil {
		if g.st.listed == nil {
			g.st.listed = map[runners.Scope][]runners.GitHubRunner{}
		}
		listed := slices.Clone(rs)
		for i := range listed {
			listed[i].Scope = scope
		}
		g.st.listed[scope] = listed
	}
	g.st.mu.Unlock()
	return rs, err
}

// webhookDemand is the webhook intake as the controller's demand source.
type webhookDemand struct {
	d  *GitHubDemand
	st *runnerState
}

// Taken implements runners.TakenReporter.
func (w *webhookDemand) Taken(id int64) bool { return w.d.Taken(id) }

func (w *webhookDemand) QueuedJobs(ctx context.Context) ([]runners.QueuedJob, error) {
	js, err := w.d.QueuedJobs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]runners.QueuedJob, len(js))
	for i, j := range js {
		out[i] = runners.QueuedJob{ID: j.ID, Labels: slices.Clone(j.Labels), QueuedAt: j.QueuedAt}
	}
	w.st.mu.Lock()
	w.st.queued = out
	w.st.mu.Unlock()
	return out, nil
}

// RunnersStatus returns the runner controller's last view. ENotFound when the server runs no
// runner pools.
func (s *Server) RunnersStatus(ctx context.Context) (api.RunnersStatus, error) {
	if s.cfg.Runners == nil {
		return api.RunnersStatus{}, notFound("this server runs no runner pools (no runners section in its config)")
	}
	st := &s.runnerState
	st.mu.Lock()
	last, d, queued, lost, demand := st.last, st.decision, slices.Clone(st.queued), st.lost, st.demand
	var gh []runners.GitHubRunner
	for _, rs := range st.listed {
		gh = append(gh, rs...)
	}
	st.mu.Unlock()
	out := api.RunnersStatus{Leader: s.Leader(), Pools: []api.RunnerPoolView{}, Runners: []api.RunnerView{}, Queued: []api.QueuedJobView{},
		Recent: []api.RecentJobView{}, LostWebhooks: lost}
	if !last.IsZero() {
		out.DecidedAt = &last
	}
	plan := s.cfg.Runners.Plan
	byName := map[string]runners.PoolStatus{}
	for _, p := range d.Pools {
		byName[p.Pool] = p
	}
	for _, p := range plan.Pools() {
		ps := byName[p.Name]
		out.Pools = append(out.Pools, api.RunnerPoolView{Name: p.Name, Job: p.Job, Max: p.Max, Queued: ps.Queued, Idle: ps.Idle,
			Starting: ps.Starting, Busy: ps.Busy, Offline: ps.Offline, Desired: ps.Desired, MinIdle: ps.MinIdle, MinIdleReason: ps.MinIdleReason})
	}
	runs, err := s.ListRunnerRuns(ctx)
	if err != nil {
		return api.RunnersStatus{}, err
	}
	for _, r := range runners.Merge(gh, runs) {
		v := api.RunnerView{Name: r.Name, Pool: r.Pool, State: string(r.State), RunID: r.RunID, GitHubID: r.GitHubID}
		if !r.Created.IsZero() {
			created := r.Created
			v.Created = &created
		}
		out.Runners = append(out.Runners, v)
	}
	slices.SortFunc(out.Runners, func(a, b api.RunnerView) int {
		return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.State, b.State), cmp.Compare(a.Name, b.Name))
	})
	now := s.clock.Now()
	for _, j := range queued {
		v := api.QueuedJobView{ID: j.ID, Labels: j.Labels, QueuedAt: j.QueuedAt, WaitSeconds: now.Sub(j.QueuedAt).Seconds()}
		if p, err := plan.Match(j.Labels); err == nil {
			v.Pool = p.Name
		}
		out.Queued = append(out.Queued, v)
	}
	if demand != nil {
		for _, j := range demand.Recent() {
			v := api.RecentJobView{ID: j.ID, Labels: j.Labels, Runner: j.RunnerName, QueuedAt: j.QueuedAt, StartedAt: j.StartedAt,
				WaitSeconds: j.Wait().Seconds()}
			if p, err := plan.Match(j.Labels); err == nil {
				v.Pool = p.Name
			}
			out.Recent = append(out.Recent, v)
		}
	}
	return out, nil
}
