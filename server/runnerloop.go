package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/runners"
)

// RunnerPools configures the runner controller the leader runs: ephemeral GitHub Actions
// runners in pools (package runners), each runner a run of its pool's job (StartRunner).
type RunnerPools struct {
	Plan *runners.Plan
	// GitHub is the GitHub adapter (cmd builds it from the config's connection).
	GitHub runners.GitHub
	// ScaleSets, when set, selects the scale-set mode: demand comes from each pool's
	// runner scale set, whose session the leader holds, and runners register through it;
	// the webhook and scans of GitHub's queued jobs are not used. Nil: the webhook mode (a
	// scan of GitHub's queued jobs every pass without a webhook).
	ScaleSets runners.ScaleSets
	// Observer, when set, receives the controller's observations (metrics): per pool
	// counts, runner starts, jobs' waits for a runner, lost webhooks.
	Observer runners.Observer
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
	queued   []runners.QueuedJob     // the last queued jobs the demand source reported
	demand   *GitHubDemand           // this term's webhook intake (nil: none)
	scaleSet *runners.ScaleSetDemand // this term's scale-set listeners (nil: none)
	lost     int                     // lost or late webhooks detected in this term
	// listed is the last runner listing of each scope.
	listed map[runners.Scope][]runners.GitHubRunner
}

// runnerLoop is the leader-only loop of the runner controller: a new Controller per term
// (what an earlier term measured is stale), woken by every stored GitHub delivery.
func (s *Server) runnerLoop(ctx context.Context) {
	rp := s.cfg.Runners
	st := &s.runnerState
	st.mu.Lock()
	st.last, st.decision, st.err, st.queued, st.lost, st.listed, st.demand, st.scaleSet = time.Time{}, runners.Decision{}, nil, nil, 0, nil, nil, nil
	st.mu.Unlock()
	// The status is published for the followers off the controller's pass, after it (a
	// store write never delays a runner), at most once per runnersPublishGap: passes that
	// come faster coalesce into the next publication.
	publish := make(chan struct{}, 1)
	var publisher sync.WaitGroup
	defer publisher.Wait()
	publisher.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-publish:
				if err := s.publishRunnersStatus(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("runners: publishing the status for the other replicas failed", "err", err)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-s.clock.After(runnersPublishGap):
			}
		}
	})
	c := &runners.Controller{Plan: rp.Plan, GitHub: &recordingGitHub{GitHub: rp.GitHub, st: st}, Runs: s,
		Clock: s.clock, Logger: s.log.With("loop", "runners"),
		Interval: rp.Interval, MinGap: rp.MinGap, StartBound: rp.StartBound, ScaleInAfter: rp.ScaleInAfter,
		RescanInterval: rp.RescanInterval, LostAfter: rp.LostAfter, Parallel: rp.Parallel,
		OnDecision: func(d runners.Decision) {
			s.observeRunners(d)
			select {
			case publish <- struct{}{}:
			default: // one is pending: it will show this pass too
			}
		},
		Observer: rp.Observer,
		OnLostWebhook: func(j runners.QueuedJob) {
			st.mu.Lock()
			st.lost++
			st.mu.Unlock()
			s.log.Warn("runners: a queued job no webhook announced (lost or late delivery)", "job", j.ID, "labels", j.Labels,
				"queued_at", j.QueuedAt)
		},
	}
	if rp.Observer != nil {
		defer rp.Observer.Decided(rp.Plan.Idle()) // a replica that does not lead counts nothing
	}
	assigned := func(labels []string, queued, started time.Time) {
		if rp.Observer == nil || queued.IsZero() || started.IsZero() {
			return
		}
		if p, err := rp.Plan.Match(labels); err == nil {
			rp.Observer.JobAssigned(p.Name, started.Sub(queued))
		}
	}
	var listeners sync.WaitGroup
	defer listeners.Wait() // the sessions are closed before leadership is let go
	if rp.ScaleSets != nil {
		d := &runners.ScaleSetDemand{Plan: rp.Plan, API: rp.ScaleSets, Clock: s.clock, Owner: s.holder,
			Logger: s.log.With("loop", "runners")}
		if o := rp.Observer; o != nil {
			d.OnMessage = func(pool string, m runners.ScaleSetMessage) {
				for _, j := range m.Started {
					if !j.QueueTime.IsZero() && !j.RunnerAssignTime.IsZero() {
						o.JobAssigned(pool, j.RunnerAssignTime.Sub(j.QueueTime))
					}
				}
			}
		}
		st.mu.Lock()
		st.scaleSet, st.demand = d, nil
		st.mu.Unlock()
		c.Demand = &recordingDemand{DemandSource: d, complete: true, registrar: d, st: st}
		c.Wake = d.Wakeups()
		listeners.Go(func() { _ = d.Run(ctx) })
	} else if d := s.GitHubDemand(); d != nil {
		d.onStarted = func(j StartedGitHubJob) { assigned(j.Labels, j.QueuedAt, j.StartedAt) }
		st.mu.Lock()
		st.demand, st.scaleSet = d, nil
		st.mu.Unlock()
		c.Demand = &webhookDemand{d: d, st: st}
		c.Wake = s.GitHubWakeups()
	}
	s.log.Info("runners: starting the runner controller (this replica leads)", "pools", len(rp.Plan.Pools()), "mode", rp.Mode())
	if err := c.Run(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("runners: the controller stopped", "err", err)
	}
}

// Mode names where demand comes from: "scaleSet" or "webhook".
func (rp *RunnerPools) Mode() string {
	if rp.ScaleSets != nil {
		return "scaleSet"
	}
	return "webhook"
}

// recordingDemand keeps the jobs a demand source last reported, for GET /v1/runners, and
// passes on what the controller asks of it.
type recordingDemand struct {
	runners.DemandSource
	complete  bool
	registrar runners.PoolRegistrar
	st        *runnerState
}

func (r *recordingDemand) Complete() bool { return r.complete }

func (r *recordingDemand) GenerateJITConfig(ctx context.Context, pool *runners.Pool, name string) (runners.JIT, error) {
	return r.registrar.GenerateJITConfig(ctx, pool, name)
}

func (r *recordingDemand) QueuedJobs(ctx context.Context) ([]runners.QueuedJob, error) {
	js, err := r.DemandSource.QueuedJobs(ctx)
	if err != nil {
		return nil, err
	}
	r.st.mu.Lock()
	r.st.queued = slices.Clone(js)
	r.st.mu.Unlock()
	return js, nil
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

// runnersSnapshot names the snapshot of the leader's runner status; runnersPublishGap is the
// least time between two publications (a follower's status is at most that much older than
// the leader's last pass, plus the pass's own time).
const (
	runnersSnapshot   = "runners/status"
	runnersPublishGap = time.Second
)

// publishRunnersStatus stores the leader's status for the followers' GET /v1/runners.
func (s *Server) publishRunnersStatus(ctx context.Context) error {
	out, err := s.leaderRunnersStatus(ctx)
	if err != nil {
		return err
	}
	body, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encode the runner status: %w", err)
	}
	return s.store.PutSnapshot(ctx, hashike.Snapshot{Name: runnersSnapshot, Body: body, TakenAt: s.clock.Now()})
}

// RunnersStatus returns the runner controller's last view: the leader's own, or on a follower
// the one the leader published after its last pass. ENotFound when the server runs no runner
// pools.
func (s *Server) RunnersStatus(ctx context.Context) (api.RunnersStatus, error) {
	if s.cfg.Runners == nil {
		return api.RunnersStatus{}, notFound("this server runs no runner pools (no runners section in its config)")
	}
	if s.Leader() {
		return s.leaderRunnersStatus(ctx)
	}
	snap, err := s.store.GetSnapshot(ctx, runnersSnapshot)
	if hashike.ErrorCodeOf(err) == hashike.ENotFound {
		// No leader has published yet: the pools, without counts.
		out := s.emptyRunnersStatus()
		return out, nil
	}
	if err != nil {
		return api.RunnersStatus{}, err
	}
	var out api.RunnersStatus
	if err := json.Unmarshal(snap.Body, &out); err != nil {
		return api.RunnersStatus{}, fmt.Errorf("decode the leader's runner status: %w", err)
	}
	at := snap.TakenAt
	out.Leader, out.SnapshotAt = false, &at
	now := s.clock.Now()
	for i := range out.Queued {
		out.Queued[i].WaitSeconds = now.Sub(out.Queued[i].QueuedAt).Seconds()
	}
	return out, nil
}

// sessionError says why a scale set's session is not open without the error's text, which
// may name GitHub's URLs (the server's log has it).
func sessionError(err error) string {
	if errors.Is(err, runners.ErrSessionTaken) {
		return "another listener holds the scale set's session (409): it is retried"
	}
	return fmt.Sprintf("the session failed (%s): it is retried; the server's log says why", hashike.ErrorCodeOf(err))
}

func (s *Server) emptyRunnersStatus() api.RunnersStatus {
	out := api.RunnersStatus{Leader: s.Leader(), Mode: s.cfg.Runners.Mode(), Pools: []api.RunnerPoolView{}, Runners: []api.RunnerView{},
		Queued: []api.QueuedJobView{}, Recent: []api.RecentJobView{}}
	for _, p := range s.cfg.Runners.Plan.Pools() {
		out.Pools = append(out.Pools, api.RunnerPoolView{Name: p.Name, Job: p.Job, Max: p.Max})
	}
	return out
}

// leaderRunnersStatus is this replica's own view, as leader.
func (s *Server) leaderRunnersStatus(ctx context.Context) (api.RunnersStatus, error) {
	st := &s.runnerState
	st.mu.Lock()
	last, d, queued, lost, demand, listeners := st.last, st.decision, slices.Clone(st.queued), st.lost, st.demand, st.scaleSet
	var gh []runners.GitHubRunner
	for _, rs := range st.listed {
		gh = append(gh, rs...)
	}
	st.mu.Unlock()
	out := api.RunnersStatus{Leader: s.Leader(), Mode: s.cfg.Runners.Mode(), Pools: []api.RunnerPoolView{}, Runners: []api.RunnerView{},
		Queued: []api.QueuedJobView{}, Recent: []api.RecentJobView{}, LostWebhooks: lost}
	if !last.IsZero() {
		out.DecidedAt = &last
	}
	plan := s.cfg.Runners.Plan
	byName := map[string]runners.PoolStatus{}
	for _, p := range d.Pools {
		byName[p.Pool] = p
	}
	sets := map[string]runners.ScaleSetStatus{}
	if listeners != nil {
		for _, ss := range listeners.Status() {
			sets[ss.Pool] = ss
		}
	}
	for _, p := range plan.Pools() {
		ps := byName[p.Name]
		v := api.RunnerPoolView{Name: p.Name, Job: p.Job, Max: p.Max, Queued: ps.Queued, Idle: ps.Idle,
			Starting: ps.Starting, Busy: ps.Busy, Offline: ps.Offline, Desired: ps.Desired, MinIdle: ps.MinIdle, MinIdleReason: ps.MinIdleReason}
		if ss, ok := sets[p.Name]; ok {
			v.ScaleSet = &api.RunnerScaleSetView{ID: ss.ScaleSetID, Session: ss.Session}
			if ss.Stats != nil {
				v.ScaleSet.Available, v.ScaleSet.Assigned, v.ScaleSet.Running = ss.Stats.Available, ss.Stats.Assigned, ss.Stats.Running
			}
			if ss.Err != nil && !ss.Session {
				v.ScaleSet.Error = sessionError(ss.Err)
			}
		}
		out.Pools = append(out.Pools, v)
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
