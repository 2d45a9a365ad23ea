package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/autoscale"
)

// Autoscaler is a cluster autoscaler the leader runs: an autoscale.Controller of Policy over
// Cluster (cmd builds the live ecsscale.Cluster, whose demand includes this server's queue,
// see Demand). Exactly one replica runs it (the one holding the leader lease); a new leader
// starts it at once, so a takeover is bounded by the lease's TTL.
type Autoscaler struct {
	// Name names it in logs and /healthz: the ECS cluster's name.
	Name    string
	Cluster autoscale.Cluster
	Policy  autoscale.Policy
	// Events, when set, is a loop run beside the controller on the leader only (the
	// lifecycle-hook and spot events of the cluster's groups): it runs until its context
	// ends, recovering from its dependencies' failures itself.
	Events func(ctx context.Context) error
}

// autoscalerState is what /healthz says of one autoscaler.
type autoscalerState struct {
	// wake makes its controller decide at once (Controller.Wake): new runs were queued here.
	wake chan struct{}

	mu   sync.Mutex
	last time.Time // the last decision, zero before the first
	err  error     // the last observation's error
}

// autoscalerLoops are the leader-only loops of the configured autoscalers.
func (s *Server) autoscalerLoops() []func(context.Context) {
	var loops []func(context.Context)
	for i := range s.cfg.Autoscalers {
		a := s.cfg.Autoscalers[i]
		st := s.autoscalers[i]
		c := &autoscale.Controller{Cluster: a.Cluster, Policy: a.Policy, Clock: s.clock, Wake: st.wake,
			Observe: func(d autoscale.Decision) { s.observeDecision(a.Name, st, d) }}
		loops = append(loops, func(ctx context.Context) {
			s.log.Info("autoscaler: starting (this replica leads)", "cluster", a.Name, "policy", a.Policy.Name())
			// What the policy learnt in an earlier term is stale: decide afresh.
			a.Policy.Reset()
			var events sync.WaitGroup
			if a.Events != nil {
				events.Go(func() {
					if err := a.Events(ctx); err != nil && ctx.Err() == nil {
						s.log.Error("autoscaler: events loop stopped", "cluster", a.Name, "err", err)
					}
				})
			}
			if err := c.Run(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("autoscaler: stopped", "cluster", a.Name, "err", err)
			}
			events.Wait()
		})
	}
	return loops
}

// wakeAutoscalers tells this replica's autoscalers that runs were queued, so that the
// leader's decides at once rather than at its next interval (a replica that does not lead
// runs no controller: the signal waits, unread). Runs queued through another replica reach
// the leader's autoscaler at its next interval.
func (s *Server) wakeAutoscalers() {
	for _, st := range s.autoscalers {
		select {
		case st.wake <- struct{}{}:
		default:
		}
	}
}

// observeDecision logs a decision, every action with its reason and result, and keeps the
// observation's error for /healthz.
func (s *Server) observeDecision(name string, st *autoscalerState, d autoscale.Decision) {
	st.mu.Lock()
	st.last, st.err = d.At, d.Err
	st.mu.Unlock()
	if d.Err != nil {
		s.log.Warn("autoscaler: no decision", "cluster", name, "policy", d.Policy, "err", d.Err)
		return
	}
	if len(d.Actions) == 0 {
		s.log.Debug("autoscaler: nothing to do", "cluster", name, "policy", d.Policy)
		return
	}
	for i, a := range d.Actions {
		var err error
		if d.Errors != nil {
			err = d.Errors[i]
		}
		if err != nil {
			s.log.Warn("autoscaler: action failed", "cluster", name, "policy", d.Policy, "action", a.String(), "reason", a.Reason, "err", err)
			continue
		}
		s.log.Info("autoscaler: action", "cluster", name, "policy", d.Policy, "action", a.String(), "reason", a.Reason)
	}
}

// autoscalerHealth is the autoscalers' part of Health.
func (s *Server) autoscalerHealth() map[string]api.AutoscalerHealth {
	if len(s.cfg.Autoscalers) == 0 {
		return nil
	}
	out := map[string]api.AutoscalerHealth{}
	for i, a := range s.cfg.Autoscalers {
		st := s.autoscalers[i]
		st.mu.Lock()
		var h api.AutoscalerHealth
		if !st.last.IsZero() {
			last := st.last
			h.LastDecision = &last
		}
		if st.err != nil {
			h.Error = st.err.Error()
		}
		st.mu.Unlock()
		out[a.Name] = h
	}
	return out
}

// DemandStore is what Demand reads: runs and queues.
type DemandStore interface {
	ListRuns(ctx context.Context, f hashike.RunFilter) ([]*hashike.Run, error)
	ListQueues(ctx context.Context) ([]hashike.QueueInfo, error)
}

// DefaultDemandLimit bounds the runs one Pending reads per state.
const DefaultDemandLimit = 1000

// Demand is the demand of one ECS cluster that only hashike sees (the ecsscale.Queue port):
// runs waiting in hashike's queue for that cluster, before they ever reach RunTask, and runs
// dispatched whose task has not started yet (their RunTask is being retried for lack of
// room, RESOURCE:*). Runs waiting in a paused queue, and those beyond a queue's free
// concurrency slots, are not demand: they would not start on new capacity; neither is a run
// whose not-before time (a retry's backoff, a held fire) is still to come.
type Demand struct {
	Store DemandStore
	// Cluster is the ECS cluster's name ("default" for runs that name none).
	Cluster string
	Clock   hashike.Clock
	// Limit bounds the runs read per state, oldest first (default DefaultDemandLimit): a
	// backlog above it shows as its Limit oldest tasks.
	Limit int
}

// Pending implements ecsscale.Queue: the waiting tasks with their sizes (the task
// definition's cpu and memory), SubmittedAt the enqueue time and Image the watched
// container's image. SubmittedAt is when the run became due: its enqueue, or its not-before
// time (a delay, a retry's backoff) when later. It makes three bounded store reads.
func (d Demand) Pending(ctx context.Context) ([]autoscale.Task, error) {
	limit := d.Limit
	if limit <= 0 {
		limit = DefaultDemandLimit
	}
	queues, err := d.Store.ListQueues(ctx)
	if err != nil {
		return nil, fmt.Errorf("demand of cluster %s: list queues: %w", d.Cluster, err)
	}
	// room is the runs each queue may still start; -1: no cap.
	room := map[string]int{}
	for _, q := range queues {
		switch {
		case q.Paused:
			room[q.Name] = 0
		case q.MaxConcurrency > 0:
			room[q.Name] = max(q.MaxConcurrency-q.Active, 0)
		default:
			room[q.Name] = -1
		}
	}
	queued, err := d.Store.ListRuns(ctx, hashike.RunFilter{States: []hashike.RunState{hashike.StateQueued}, Limit: limit, OldestFirst: true})
	if err != nil {
		return nil, fmt.Errorf("demand of cluster %s: list queued runs: %w", d.Cluster, err)
	}
	starting, err := d.Store.ListRuns(ctx, hashike.RunFilter{States: []hashike.RunState{hashike.StatePending}, Limit: limit, OldestFirst: true})
	if err != nil {
		return nil, fmt.Errorf("demand of cluster %s: list dispatched runs: %w", d.Cluster, err)
	}
	now := d.Clock.Now()
	// Oldest first, so that a queue's free slots go to the runs dispatch would take first
	// (within a queue, FIFO; priorities are not weighed here).
	var out []autoscale.Task
	for _, r := range queued {
		if !d.mine(r) || (r.NotBefore != nil && r.NotBefore.After(now)) {
			continue
		}
		if n, ok := room[r.Queue]; ok && n >= 0 {
			if n == 0 {
				continue
			}
			room[r.Queue] = n - 1
		}
		out = append(out, task(r, ""))
	}
	for _, r := range starting {
		if !d.mine(r) || (r.Task != nil && r.Task.ID != "") {
			continue // its task exists: ECS shows it (PROVISIONING, or placed)
		}
		out = append(out, task(r, waitingForCapacity))
	}
	return out, nil
}

// waitingForCapacity is the LastFailure of a dispatched run without a task: its RunTask is
// being retried. The ECS backend does not record ECS's reason on the run (RESOURCE:CPU,
// RESOURCE:MEMORY...), so this is the family's prefix.
const waitingForCapacity = "RESOURCE:"

// mine reports whether the run's task runs on d's cluster.
func (d Demand) mine(r *hashike.Run) bool {
	if r.Backend != "ecs" {
		return false
	}
	cluster := "default"
	if r.Spec.ECS != nil && r.Spec.ECS.Cluster != "" {
		cluster = r.Spec.ECS.Cluster
	}
	return cluster == d.Cluster || clusterName(cluster) == d.Cluster
}

// clusterName is the name of a cluster given by name or ARN.
func clusterName(s string) string {
	return s[strings.LastIndexByte(s, '/')+1:]
}

func task(r *hashike.Run, lastFailure string) autoscale.Task {
	size := r.Spec.Resources()
	t := autoscale.Task{ID: r.ID, CPU: size.CPU, MemoryMiB: size.MemoryMiB, SubmittedAt: r.CreatedAt, LastFailure: lastFailure}
	if r.NotBefore != nil && r.NotBefore.After(t.SubmittedAt) {
		t.SubmittedAt = *r.NotBefore // a delayed run or a retry's backoff: it waits from then
	}
	watched := r.Spec.Watched()
	for _, c := range r.Spec.TaskDefinition.ContainerDefinitions {
		if c.Name == watched {
			t.Image = c.Image
		}
	}
	return t
}

// Interrupt stops the runs whose tasks are tasks (ECS task ARNs) because their instance is
// being taken away (an EC2 spot interruption, a terminating lifecycle hook): it records the
// stop with cause hashike.StopInterruption and reason, as a cancel records a user's, and
// stops the task; the supervising replica sees the task end and the run ends lost, an
// infrastructure failure retried without using an attempt. It is idempotent (a run already
// stopping keeps its first cause). It returns the tasks it knows no run of (not hashike's,
// or not this server's): the caller stops those itself. It reads only the runs of those
// tasks (RunFilter.TaskIDs).
func (s *Server) Interrupt(ctx context.Context, tasks []string, reason string) (unknown []string, err error) {
	want := map[string]bool{}
	for _, t := range tasks {
		want[t] = true
	}
	if len(tasks) == 0 {
		return nil, nil
	}
	runs, err := s.store.ListRuns(ctx, hashike.RunFilter{TaskIDs: tasks,
		States: []hashike.RunState{hashike.StatePending, hashike.StateRunning, hashike.StateStopping}})
	if err != nil {
		return nil, fmt.Errorf("interrupt: list active runs: %w", err)
	}
	found := map[string]bool{}
	var errs []error
	for _, r := range runs {
		if r.Task == nil || !want[r.Task.ID] {
			continue
		}
		found[r.Task.ID] = true
		if r.StopCause != "" && r.State == hashike.StateStopping {
			continue // stopping already; the first cause wins
		}
		s.log.Info("interrupting a run: its instance is being taken away", "run", r.ID, "task", r.Task.ID, "reason", reason)
		if _, err := s.stopRun(ctx, r, hashike.StopInterruption, reason); err != nil && hashike.ErrorCodeOf(err) != hashike.EConflict {
			errs = append(errs, fmt.Errorf("interrupt run %s (task %s): %w", r.ID, r.Task.ID, err))
		}
	}
	for _, t := range tasks {
		if !found[t] {
			unknown = append(unknown, t)
		}
	}
	return unknown, errors.Join(errs...)
}
