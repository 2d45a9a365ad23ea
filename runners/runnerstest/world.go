// Package runnerstest is a test kit for package runners: World, an in-memory stateful
// stand-in for both of the controller's ports (GitHub and Runs) that models what the
// controller relies on: JIT registration (offline until the runner starts), jobs given to
// ANY idle runner whose labels are a superset (stealing), ephemeral runners that
// deregister after their job, runners that crash before registering, removal refused for a
// busy runner, and 404 on removal as success. Only tests import it.
package runnerstest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/runners"
)

// GHRunner is a registration at the fake GitHub.
type GHRunner struct {
	ID     int64
	Name   string
	Labels []string
	Scope  runners.Scope
	Online bool
	Busy   bool
	Job    int64
}

// Job is a workflow job at the fake GitHub.
type Job struct {
	ID       int64
	Labels   []string
	QueuedAt time.Time
	Runner   string // "" while queued
	Done     bool
}

// Run is a runner run at the fake hashike.
type Run struct {
	ID, Pool, Name, JITConfig string
	Active                    bool
	Created                   time.Time
	// Crash makes the runner exit before it registers.
	Crash bool
}

// World is the fake GitHub and the fake hashike runs together. Its methods are safe for
// concurrent use.
type World struct {
	mu      sync.Mutex
	Now     func() time.Time
	nextID  int64
	runners map[int64]*GHRunner
	jobs    map[int64]*Job
	runs    map[string]*Run
	order   []string // run ids by creation
	// CrashNext makes the next n runners started crash before registering.
	CrashNext int
	// Calls counts the port calls by method name.
	Calls map[string]int
	// BusyRemoveAttempts counts RemoveRunner calls on a busy runner (refused);
	// BusyStops counts StopRunner calls on the run of a busy runner (a job killed).
	BusyRemoveAttempts, BusyStops int
	// JITConfigs lists every config generated, to check none leaks.
	JITConfigs []string
	// FailJIT makes GenerateJITConfig fail with this error while set.
	FailJIT error
}

// New returns an empty world whose time is now().
func New(now func() time.Time) *World {
	return &World{Now: now, runners: map[int64]*GHRunner{}, jobs: map[int64]*Job{}, runs: map[string]*Run{}, Calls: map[string]int{}}
}

var (
	_ runners.GitHub = (*World)(nil)
	_ runners.Runs   = (*World)(nil)
)

// GenerateJITConfig implements runners.GitHub.
func (w *World) GenerateJITConfig(_ context.Context, scope runners.Scope, name string, labels []string) (runners.JIT, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.Calls["GenerateJITConfig"]++
	if w.FailJIT != nil {
		return runners.JIT{}, w.FailJIT
	}
	for _, r := range w.runners {
		if r.Name == name {
			return runners.JIT{}, &hashike.Error{Code: hashike.EConflict, Message: "runner name " + name + " exists"}
		}
	}
	w.nextID++
	w.runners[w.nextID] = &GHRunner{ID: w.nextID, Name: name, Labels: slices.Clone(labels), Scope: scope}
	cfg := fmt.Sprintf("jit-secret-%d", w.nextID)
	w.JITConfigs = append(w.JITConfigs, cfg)
	return runners.JIT{RunnerID: w.nextID, Config: cfg}, nil
}

// ListRunners implements runners.GitHub.
func (w *World) ListRunners(_ context.Context, scope runners.Scope) ([]runners.GitHubRunner, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.Calls["ListRunners"]++
	var out []runners.GitHubRunner
	for _, id := range sortedIDs(w.runners) {
		r := w.runners[id]
		if r.Scope == scope {
			out = append(out, runners.GitHubRunner{ID: r.ID, Name: r.Name, Online: r.Online, Busy: r.Busy, Labels: slices.Clone(r.Labels)})
		}
	}
	return out, nil
}

// RemoveRunner implements runners.GitHub.
func (w *World) RemoveRunner(_ context.Context, _ runners.Scope, id int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.Calls["RemoveRunner"]++
	r, ok := w.runners[id]
	if !ok {
		return nil // 404 is success
	}
	if r.Busy {
		w.BusyRemoveAttempts++
		return fmt.Errorf("remove runner %d: %w", id, runners.ErrRunnerBusy)
	}
	delete(w.runners, id)
	return nil
}

// QueuedJobs implements runners.GitHub (every scope sees every job).
func (w *World) QueuedJobs(context.Context, runners.Scope) ([]runners.QueuedJob, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.Calls["QueuedJobs"]++
	return w.queuedLocked(), nil
}

// QueuedNow lists the queued jobs as GitHub knows them, without counting an API call (what
// a webhook intake would have heard).
func (w *World) QueuedNow() []runners.QueuedJob {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queuedLocked()
}

func (w *World) queuedLocked() []runners.QueuedJob {
	var out []runners.QueuedJob
	for _, id := range sortedIDs(w.jobs) {
		j := w.jobs[id]
		if j.Runner == "" && !j.Done {
			out = append(out, runners.QueuedJob{ID: j.ID, Labels: slices.Clone(j.Labels), QueuedAt: j.QueuedAt})
		}
	}
	return out
}

// StartRunner implements runners.Runs.
func (w *World) StartRunner(_ context.Context, req runners.StartRequest) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.Calls["StartRunner"]++
	for _, id := range w.order {
		if w.runs[id].Name == req.Name {
			return id, nil
		}
	}
	id := fmt.Sprintf("run-%d", len(w.order)+1)
	r := &Run{ID: id, Pool: req.Pool, Name: req.Name, JITConfig: req.JITConfig, Active: true, Created: w.Now()}
	if w.CrashNext > 0 {
		w.CrashNext--
		r.Crash = true
	}
	w.runs[id] = r
	w.order = append(w.order, id)
	return id, nil
}

// ListRunnerRuns implements runners.Runs.
func (w *World) ListRunnerRuns(context.Context) ([]runners.RunnerRun, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.Calls["ListRunnerRuns"]++
	var out []runners.RunnerRun
	for _, id := range w.order {
		r := w.runs[id]
		out = append(out, runners.RunnerRun{ID: r.ID, Pool: r.Pool, Name: r.Name, Active: r.Active, Created: r.Created})
	}
	return out, nil
}

// StopRunner implements runners.Runs.
func (w *World) StopRunner(_ context.Context, runID, _ string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.Calls["StopRunner"]++
	r, ok := w.runs[runID]
	if !ok || !r.Active {
		return nil
	}
	if g := w.byName(r.Name); g != nil && g.Busy {
		w.BusyStops++
	}
	r.Active = false
	return nil
}

func (w *World) byName(name string) *GHRunner {
	for _, r := range w.runners {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Queue queues a job with labels (as a workflow_job "queued" would announce) and returns
// its id.
func (w *World) Queue(labels ...string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nextID++
	w.jobs[w.nextID] = &Job{ID: w.nextID, Labels: labels, QueuedAt: w.Now()}
	return w.nextID
}

// Boot starts every active run's runner process: one that does not crash registers
// (comes online, using its JIT config), one that crashes ends its run without.
func (w *World) Boot() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range w.order {
		r := w.runs[id]
		if !r.Active {
			continue
		}
		g := w.byName(r.Name)
		switch {
		case r.Crash:
			r.Active = false
		case g != nil && !g.Online && !g.Busy && g.Job == 0:
			g.Online = true
		}
	}
}

// Assign gives queued jobs to idle runners whose labels are a superset of theirs, any of
// them (rnd picks; nil takes the lowest id): GitHub's job stealing.
func (w *World) Assign(rnd *rand.Rand) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, jid := range sortedIDs(w.jobs) {
		j := w.jobs[jid]
		if j.Runner != "" || j.Done {
			continue
		}
		var fit []*GHRunner
		for _, id := range sortedIDs(w.runners) {
			r := w.runners[id]
			if r.Online && !r.Busy && r.Job == 0 && superset(r.Labels, j.Labels) {
				fit = append(fit, r)
			}
		}
		if len(fit) == 0 {
			continue
		}
		r := fit[0]
		if rnd != nil {
			r = fit[rnd.IntN(len(fit))]
		}
		r.Busy, r.Job, j.Runner = true, j.ID, r.Name
	}
}

// Finish completes every running job: its ephemeral runner deregisters and its run ends.
func (w *World) Finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, j := range w.jobs {
		if j.Runner == "" || j.Done {
			continue
		}
		j.Done = true
		if g := w.byName(j.Runner); g != nil {
			delete(w.runners, g.ID)
		}
		for _, r := range w.runs {
			if r.Name == j.Runner {
				r.Active = false
			}
		}
	}
}

// CrashBusy kills the container of a busy runner mid-job: GitHub keeps it registered
// busy until it times the job out (TimeOut).
func (w *World) CrashBusy(rnd *rand.Rand) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var busy []*GHRunner
	for _, id := range sortedIDs(w.runners) {
		if w.runners[id].Busy {
			busy = append(busy, w.runners[id])
		}
	}
	if len(busy) == 0 {
		return
	}
	g := busy[rnd.IntN(len(busy))]
	for _, r := range w.runs {
		if r.Name == g.Name {
			r.Active = false
		}
	}
	g.Online = false
}

// TimeOut makes GitHub give up on offline busy runners: their job fails, they stay
// registered offline and idle.
func (w *World) TimeOut() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, g := range w.runners {
		if g.Busy && !g.Online {
			if j := w.jobs[g.Job]; j != nil {
				j.Done = true
			}
			g.Busy, g.Job = false, 0
		}
	}
}

// Ghosts lists the controller's registrations (carrying a pool label) that are offline,
// not busy, and have no active run: nothing will ever use them.
func (w *World) Ghosts() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, id := range sortedIDs(w.runners) {
		g := w.runners[id]
		if g.Online || g.Busy || !hasPoolLabel(g.Labels) {
			continue
		}
		active := false
		for _, r := range w.runs {
			active = active || (r.Name == g.Name && r.Active)
		}
		if !active {
			out = append(out, g.Name)
		}
	}
	return out
}

// Runners returns a copy of the registrations, by id.
func (w *World) Runners() []GHRunner {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []GHRunner
	for _, id := range sortedIDs(w.runners) {
		out = append(out, *w.runners[id])
	}
	return out
}

// ActiveRuns returns a copy of the active runs.
func (w *World) ActiveRuns() []Run {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Run
	for _, id := range w.order {
		if w.runs[id].Active {
			out = append(out, *w.runs[id])
		}
	}
	return out
}

// Queued counts the jobs still queued.
func (w *World) Queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, j := range w.jobs {
		if j.Runner == "" && !j.Done {
			n++
		}
	}
	return n
}

// CancelQueued drops every queued job (their workflows were cancelled).
func (w *World) CancelQueued() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, j := range w.jobs {
		if j.Runner == "" {
			j.Done = true
		}
	}
}

// QueuedServed counts the jobs still queued that some runner label set could take: those
// whose labels do not include "windows" (the tests' label no pool serves).
func (w *World) QueuedServed() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, j := range w.jobs {
		if j.Runner == "" && !j.Done && !slices.Contains(j.Labels, "windows") {
			n++
		}
	}
	return n
}

// CallCount returns how many times a port method was called.
func (w *World) CallCount(method string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.Calls[method]
}

// AddForeign registers a runner that is not the controller's (no pool label).
func (w *World) AddForeign(name string, scope runners.Scope, online bool, labels ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nextID++
	w.runners[w.nextID] = &GHRunner{ID: w.nextID, Name: name, Labels: labels, Scope: scope, Online: online}
}

func hasPoolLabel(labels []string) bool {
	for _, l := range labels {
		if strings.HasPrefix(l, runners.PoolLabelPrefix) {
			return true
		}
	}
	return false
}

func superset(have, want []string) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, w) }) {
			return false
		}
	}
	return true
}

func sortedIDs[V any](m map[int64]V) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
