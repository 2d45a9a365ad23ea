package usage

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashike/hashike"
)

// Monitor samples the tasks of supervised runs while they run. Each sampler (backend) has
// one loop, started by its first Track and ended by the Stop of its last tracking, that asks
// the sampler for all of its tracked tasks in one SampleUsage call per interval. A sampler
// error is reported (once per outage) and sampling goes on: measuring never fails a run.
// A Monitor is safe for concurrent use; its zero value is not usable (set Clock).
type Monitor struct {
	Clock hashike.Clock
	// Interval, when > 0, replaces every sampler's own UsageInterval.
	Interval time.Duration
	// Warn receives sampling errors: the first of each run of failures, and a recovery.
	Warn func(error)

	mu     sync.Mutex
	groups map[hashike.UsageSampler]*group
}

type group struct {
	sampler hashike.UsageSampler
	tasks   map[*Tracking]bool
	// done ends the running loop: closed when its last tracking stops.
	done chan struct{}
	// failing is set while SampleUsage fails, so that an outage is reported once.
	failing bool
}

// Tracking is one run's task being sampled.
type Tracking struct {
	m     *Monitor
	g     *group
	run   string
	job   string
	ref   hashike.TaskRef
	since time.Time
	sum   *Summary
	stop  bool
}

// finalTimeout bounds the last sample Stop takes.
const finalTimeout = 10 * time.Second

// Track starts sampling run's task (run.Task must be set) with sampler.
func (m *Monitor) Track(sampler hashike.UsageSampler, run *hashike.Run) *Tracking {
	since := m.Clock.Now()
	if run.StartedAt != nil {
		since = *run.StartedAt
	}
	t := &Tracking{m: m, run: run.ID, job: run.Job, ref: *run.Task, since: since,
		sum: NewSummary(sampler.UsageSource(), run.Usage)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.groups == nil {
		m.groups = map[hashike.UsageSampler]*group{}
	}
	g := m.groups[sampler]
	if g == nil {
		g = &group{sampler: sampler, tasks: map[*Tracking]bool{}}
		m.groups[sampler] = g
	}
	t.g = g
	g.tasks[t] = true
	if g.done == nil {
		g.done = make(chan struct{})
		go m.loop(g, g.done)
	}
	return t
}

func (m *Monitor) interval(g *group) time.Duration {
	if m.Interval > 0 {
		return m.Interval
	}
	if d := g.sampler.UsageInterval(); d > 0 {
		return d
	}
	return 10 * time.Second
}

func (m *Monitor) loop(g *group, done chan struct{}) {
	every := m.interval(g)
	// The first sample comes soon, so that a short run is measured too.
	next := min(every, time.Second)
	for {
		select {
		case <-done:
			return
		case <-m.Clock.After(next):
		}
		next = every
		m.mu.Lock()
		tasks := make([]*Tracking, 0, len(g.tasks))
		for t := range g.tasks {
			tasks = append(tasks, t)
		}
		m.mu.Unlock()
		m.sample(g, tasks, every)
	}
}

// sample asks g's sampler about tasks, bounded by timeout, and folds in what it returns.
func (m *Monitor) sample(g *group, tasks []*Tracking, timeout time.Duration) {
	if len(tasks) == 0 {
		return
	}
	queries := make([]hashike.UsageQuery, len(tasks))
	byID := make(map[string]*Tracking, len(tasks))
	m.mu.Lock()
	for i, t := range tasks {
		queries[i] = hashike.UsageQuery{Task: t.ref, Since: t.since}
		byID[t.ref.ID] = t
	}
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	found, err := g.sampler.SampleUsage(ctx, queries)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if !g.failing && m.Warn != nil {
			m.Warn(fmt.Errorf("sampling the CPU and memory of %d task(s) (%s): %w", len(tasks), g.sampler.UsageSource(), err))
		}
		g.failing = true
		return
	}
	if g.failing && m.Warn != nil {
		m.Warn(fmt.Errorf("sampling the CPU and memory of tasks (%s) works again", g.sampler.UsageSource()))
	}
	g.failing = false
	for _, tu := range found {
		t := byID[tu.TaskID]
		if t == nil || t.stop {
			continue
		}
		t.sum.Add(tu.Samples)
		if latest := t.sum.Latest(); latest.After(t.since) {
			t.since = latest
		}
	}
}

// Stop ends the sampling of the task after one last sample (what a source that lags has
// gathered meanwhile) and returns its summary: nil when nothing was observed. Calling it
// again returns the same summary.
func (t *Tracking) Stop() *hashike.ResourceUsage {
	if t == nil {
		return nil
	}
	t.m.mu.Lock()
	stopped := t.stop
	t.m.mu.Unlock()
	if !stopped {
		t.m.sample(t.g, []*Tracking{t}, finalTimeout)
	}
	return t.Discard()
}

// Discard ends the sampling of the task at once and returns its summary so far.
func (t *Tracking) Discard() *hashike.ResourceUsage {
	if t == nil {
		return nil
	}
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if !t.stop {
		t.stop = true
		delete(t.g.tasks, t)
		if len(t.g.tasks) == 0 && t.g.done != nil {
			close(t.g.done)
			t.g.done = nil
		}
	}
	return t.sum.Usage()
}

// Usage returns the summary so far (nil before any observation).
func (t *Tracking) Usage() *hashike.ResourceUsage {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return t.sum.Usage()
}

// TaskUsage is the latest figures of one container of a running run, for gauges.
type TaskUsage struct {
	Run, Job string
	ContainerUsage
}

// Running returns the latest figures of every container of the runs being sampled: only
// running runs, so that gauges labelled by run come and go with the runs.
func (m *Monitor) Running() []TaskUsage {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []TaskUsage
	for _, g := range m.groups {
		for t := range g.tasks {
			for _, c := range t.sum.Containers() {
				out = append(out, TaskUsage{Run: t.run, Job: t.job, ContainerUsage: c})
			}
		}
	}
	return out
}
