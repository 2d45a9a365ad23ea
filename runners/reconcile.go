package runners

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is a runner's state as the controller sees it, from GitHub's registration and the
// runner's hashike run together.
type State string

const (
	// Starting: requested (its run is active), not yet online at GitHub. A JIT runner is
	// registered, offline, from the moment its config is generated.
	Starting State = "starting"
	// Idle: registered, online, not busy.
	Idle State = "idle"
	// Busy: running a job. A busy runner is never removed.
	Busy State = "busy"
	// Offline: registered, not busy, and its run has ended, or it has no run: a ghost, or a
	// runner whose job just finished and that GitHub has not dropped yet.
	Offline State = "offline"
)

// Runner is one runner of the controller's, as Merge builds it.
type Runner struct {
	Name  string
	Pool  string
	State State
	// Created is when its run was created (zero when it has no run).
	Created time.Time
	// Started is when its run's container started (zero if unknown); Waiting, that its run
	// still waits in hashike's queue or for capacity (no container yet).
	Started time.Time
	Waiting bool
	// GitHubID is its registration's id at GitHub, 0 when not registered.
	GitHubID int64
	// RunID is its hashike run, "" when none is active or known.
	RunID string
	// Scope is where it is registered (zero when not registered).
	Scope Scope
	// Online reports GitHub's status; RunActive whether its run is still pending or running.
	Online, RunActive bool
}

// GitHubRunner is a registered runner as GitHub lists it.
type GitHubRunner struct {
	ID     int64
	Name   string
	Online bool
	Busy   bool
	Labels []string
	// Scope is the scope it was listed in (the controller sets it).
	Scope Scope
}

// RunnerRun is a runner's hashike run as the Runs port lists it.
type RunnerRun struct {
	ID   string
	Pool string
	Name string
	// Active: pending or running (not ended).
	Active  bool
	Created time.Time
	// Started is when its container started, if it did and the backend says; Waiting
	// reports a run still in hashike's queue or waiting for capacity (PROVISIONING).
	Started time.Time
	Waiting bool
}

// Merge builds the controller's runners from GitHub's registrations (of every scope the
// pools use) and this controller's runner runs. A registration is the controller's when
// it carries a pool label (PoolLabelPrefix); others are ignored and never touched.
func Merge(gh []GitHubRunner, runs []RunnerRun) []Runner {
	byName := map[string]*RunnerRun{}
	for i := range runs {
		r := &runs[i]
		if o, ok := byName[r.Name]; !ok || r.Active || !o.Active {
			byName[r.Name] = r
		}
	}
	var out []Runner
	seen := map[string]bool{}
	for _, g := range gh {
		pool := poolOf(g.Labels)
		if pool == "" {
			continue
		}
		seen[g.Name] = true
		r := Runner{Name: g.Name, Pool: pool, GitHubID: g.ID, Scope: g.Scope, Online: g.Online}
		run := byName[g.Name]
		if run != nil {
			r.Created, r.RunActive = run.Created, run.Active
			if run.Active {
				r.RunID, r.Started, r.Waiting = run.ID, run.Started, run.Waiting
			}
		}
		switch {
		case g.Busy:
			r.State = Busy
		case r.RunActive && g.Online:
			r.State = Idle
		case r.RunActive:
			r.State = Starting
		default:
			// The container stopped while the runner is still registered, or there is no run
			// at all: nothing will ever bring it online.
			r.State = Offline
		}
		out = append(out, r)
	}
	for _, run := range runs {
		if !run.Active || seen[run.Name] {
			continue
		}
		seen[run.Name] = true
		// Not (or no longer) registered: starting, or done and exiting (an ephemeral runner
		// removes its registration after its job).
		out = append(out, Runner{Name: run.Name, Pool: run.Pool, State: Starting, Created: run.Created, RunID: run.ID, RunActive: true,
			Started: run.Started, Waiting: run.Waiting})
	}
	return out
}

func poolOf(labels []string) string {
	for _, l := range labels {
		if p, ok := strings.CutPrefix(strings.ToLower(l), PoolLabelPrefix); ok {
			return p
		}
	}
	return ""
}

// Demand is the count of queued jobs with one label set.
type Demand struct {
	Labels []string
	Queued int
}

// Input is everything a decision needs.
type Input struct {
	Plan    *Plan
	Demand  []Demand
	Runners []Runner
	// Observed holds each pool's measurements, for its SLO.
	Observed map[string]Observed
	Now      time.Time
	// StartBound is how long a runner may take to come online before it is replaced
	// (default DefaultStartBound).
	StartBound time.Duration
	// ScaleInAfter is how old an idle runner must be before it is stopped as surplus, so a
	// runner that just came online gets its job first (default DefaultScaleInAfter).
	ScaleInAfter time.Duration
}

const (
	DefaultStartBound   = 5 * time.Minute
	DefaultScaleInAfter = 2 * time.Minute
)

// Kind is what an action does.
type Kind string

const (
	// Start starts Count runners in Pool.
	Start Kind = "start"
	// Remove deregisters Runner at GitHub (unless busy: GitHub refuses) and stops its run.
	Remove Kind = "remove"
)

// Action is one thing to do, with why.
type Action struct {
	Kind   Kind
	Pool   string
	Count  int    // Start
	Runner Runner // Remove
	Reason string
}

func (a Action) String() string {
	if a.Kind == Start {
		return fmt.Sprintf("start %d in %s: %s", a.Count, a.Pool, a.Reason)
	}
	return fmt.Sprintf("remove %s (%s) in %s: %s", a.Runner.Name, a.Runner.State, a.Pool, a.Reason)
}

// PoolStatus is one pool's counts at a decision (for metrics and the CLI).
type PoolStatus struct {
	Pool                                  string
	Queued, Starting, Idle, Busy, Offline int
	MinIdle                               int
	MinIdleReason                         string
	// Desired is the runners the pool should have: min(Max, busy + queued + minIdle).
	Desired int
}

// Decision is the result of Decide.
type Decision struct {
	Actions []Action
	Pools   []PoolStatus
	// Unserved counts queued jobs per label set that no pool serves.
	Unserved []Demand
}

// Decide is the reconcile decision, level-triggered: it looks only at the state in in, so
// running it again on the same state asks for nothing new once the actions were applied,
// and a lost webhook only delays it. Per pool:
//
//   - offline runners of the controller's (run ended, or no run) are removed: ghosts;
//   - runners starting for longer than StartBound (from their container's start when
//     known, else their request; never while their run waits for capacity) are removed and
//     replaced;
//   - to start = min(Max - (starting+idle+busy), queued + minIdle - (starting+idle));
//   - idle runners above queued + minIdle - starting, older than ScaleInAfter, are removed,
//     oldest first (GitHub refuses to remove one that became busy meanwhile).
//
// A busy runner is never in an action.
func Decide(in Input) Decision {
	bound := cmp.Or(in.StartBound, DefaultStartBound)
	scaleIn := cmp.Or(in.ScaleInAfter, DefaultScaleInAfter)
	var d Decision
	queued := map[string]int{}
	unserved := map[string]*Demand{}
	for _, dm := range in.Demand {
		if dm.Queued <= 0 {
			continue
		}
		p, err := in.Plan.Match(dm.Labels)
		if err != nil {
			k := LabelKey(dm.Labels)
			if u, ok := unserved[k]; ok {
				u.Queued += dm.Queued
			} else {
				unserved[k] = &Demand{Labels: normalize(dm.Labels), Queued: dm.Queued}
			}
			continue
		}
		queued[p.Name] += dm.Queued
	}
	for _, k := range sortedKeys(unserved) {
		d.Unserved = append(d.Unserved, *unserved[k])
	}
	byPool := map[string][]Runner{}
	for _, r := range in.Runners {
		byPool[r.Pool] = append(byPool[r.Pool], r)
	}
	for _, name := range sortedKeys(byPool) {
		if _, ok := in.Plan.Pool(name); !ok {
			// A pool removed from the config: its ghosts are still swept, its idle runners
			// stopped; busy ones finish their job.
			for _, r := range byPool[name] {
				if r.State != Busy {
					d.Actions = append(d.Actions, Action{Kind: Remove, Pool: name, Runner: r, Reason: "its pool is no longer configured"})
				}
			}
		}
	}
	for _, pool := range in.Plan.pools {
		st := PoolStatus{Pool: pool.Name, Queued: queued[pool.Name]}
		var idle []Runner
		for _, r := range byPool[pool.Name] {
			switch r.State {
			case Busy:
				st.Busy++
			case Offline:
				st.Offline++
				d.Actions = append(d.Actions, Action{Kind: Remove, Pool: pool.Name, Runner: r, Reason: ghostReason(r)})
			case Starting:
				// A run still waiting for capacity is hashike's queue's to time out: replacing it
				// would only queue another. The bound runs from the container's start when known.
				since, what := r.Created, "requested"
				if !r.Started.IsZero() {
					since, what = r.Started, "its container started"
				}
				if !r.Waiting && !since.IsZero() && in.Now.Sub(since) >= bound {
					d.Actions = append(d.Actions, Action{Kind: Remove, Pool: pool.Name, Runner: r,
						Reason: fmt.Sprintf("not online %v after %s (bound %v): replaced", in.Now.Sub(since).Round(time.Second), what, bound)})
					continue
				}
				st.Starting++
			case Idle:
				st.Idle++
				idle = append(idle, r)
			}
		}
		st.MinIdle, st.MinIdleReason = in.Plan.MinIdle(pool.Name, in.Now, in.Observed[pool.Name])
		want := st.Queued + st.MinIdle // runners wanted starting or idle
		st.Desired = min(pool.Max, st.Busy+want)
		have := st.Starting + st.Idle
		room := pool.Max - (have + st.Busy)
		if n := min(room, want-have); n > 0 {
			d.Actions = append(d.Actions, Action{Kind: Start, Pool: pool.Name, Count: n,
				Reason: fmt.Sprintf("%d queued + %d idle wanted (%s), %d starting, %d idle, %d busy, max %d", st.Queued, st.MinIdle, st.MinIdleReason, st.Starting, st.Idle, st.Busy, pool.Max)})
		}
		excess := have - want
		if over := have + st.Busy - pool.Max; over > excess {
			excess = over
		}
		if excess > 0 {
			slices.SortFunc(idle, func(a, b Runner) int { return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.Name, b.Name)) })
			for _, r := range idle {
				if excess == 0 {
					break
				}
				if !r.Created.IsZero() && in.Now.Sub(r.Created) < scaleIn {
					continue
				}
				d.Actions = append(d.Actions, Action{Kind: Remove, Pool: pool.Name, Runner: r,
					Reason: fmt.Sprintf("scale-in: %d idle + %d starting for %d queued + %d idle wanted (max %d)", st.Idle, st.Starting, st.Queued, st.MinIdle, pool.Max)})
				excess--
			}
		}
		d.Pools = append(d.Pools, st)
	}
	return d
}

func ghostReason(r Runner) string {
	if r.RunID == "" && r.Created.IsZero() {
		return "offline ghost: registered, not busy, and no run of the controller's"
	}
	return "offline: its run ended while it is still registered"
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
