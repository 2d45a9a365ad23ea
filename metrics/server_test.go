package metrics_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/metrics"
)

var t0 = time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)

type fakeSource struct {
	mu     sync.Mutex
	now    time.Time
	leader bool
	stats  hashike.BacklogStats
	err    error
	reads  int
}

func (s *fakeSource) Leader() bool   { s.mu.Lock(); defer s.mu.Unlock(); return s.leader }
func (s *fakeSource) Now() time.Time { s.mu.Lock(); defer s.mu.Unlock(); return s.now }
func (s *fakeSource) ReadBacklog(context.Context) (hashike.BacklogStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return s.stats, s.err
}

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

func TestServerEvents(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.NewServer(reg)
	run := &hashike.Run{ID: "r1", Job: "nightly", Queue: "default", Trigger: "api", State: hashike.StateQueued, CreatedAt: t0}
	m.RunEnqueued(run)
	m.RunDispatched(run, 1500*time.Millisecond)
	ended := *run
	ended.State, ended.StartedAt, ended.FinishedAt = hashike.StateFailed, at(2*time.Second), at(92*time.Second)
	m.RunFinished(&ended)
	m.RunRetried(&ended)
	never := *run
	never.State = hashike.StateCanceled
	m.RunFinished(&never) // canceled while queued: counted, not timed

	want := `
# HELP hashike_run_retries_total Retries enqueued by this replica, by job and cause (the state the retried run ended in: failed, timed_out, start_failed, lost).
# TYPE hashike_run_retries_total counter
hashike_run_retries_total{cause="failed",job_name="nightly"} 1
# HELP hashike_runs_enqueued_total Runs created queued by this replica, by job, queue and trigger (api, schedule, retry, rerun, manual, runner).
# TYPE hashike_runs_enqueued_total counter
hashike_runs_enqueued_total{job_name="nightly",queue="default",trigger="api"} 1
# HELP hashike_runs_finished_total Runs that ended under this replica's supervision, by job, queue and final state.
# TYPE hashike_runs_finished_total counter
hashike_runs_finished_total{job_name="nightly",queue="default",state="canceled"} 1
hashike_runs_finished_total{job_name="nightly",queue="default",state="failed"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"hashike_runs_enqueued_total", "hashike_runs_finished_total", "hashike_run_retries_total"); err != nil {
		t.Error(err)
	}
	if got := histogramSum(t, reg, "hashike_run_duration_seconds"); got != 90 {
		t.Errorf("run durations sum to %v s, want 90 (one run, started to finished)", got)
	}
	if got := histogramSum(t, reg, "hashike_run_dispatch_wait_seconds"); got != 1.5 {
		t.Errorf("dispatch waits sum to %v s, want 1.5", got)
	}
}

func TestServerCollectorReadsTheBacklogAtScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.NewServer(reg)
	src := &fakeSource{now: t0, stats: hashike.BacklogStats{
		Queues: []hashike.QueueBacklog{
			{Queue: "default", Queued: 3, Due: 2, OldestDue: at(-90 * time.Second),
				Active: map[hashike.RunState]int{hashike.StateRunning: 4, hashike.StatePending: 1}},
			{Queue: "nightly", Paused: true},
		},
		Outbox: 2, OutboxOldest: at(-time.Minute),
	}}
	m.Watch(src, time.Second)
	want := `
# HELP hashike_leader 1 while this replica holds the lease (leader: the scheduler, reconciler, autoscalers, runner controller and pruners run here), else 0.
# TYPE hashike_leader gauge
hashike_leader{lease="leader"} 0
# HELP hashike_outbox_notifications Notifications waiting to be delivered (neither delivered nor given up).
# TYPE hashike_outbox_notifications gauge
hashike_outbox_notifications 2
# HELP hashike_outbox_oldest_age_seconds Age of the oldest notification waiting to be delivered (0: none).
# TYPE hashike_outbox_oldest_age_seconds gauge
hashike_outbox_oldest_age_seconds 60
# HELP hashike_queue_oldest_due_age_seconds How long the queue's longest-waiting due run has been due (0: none is due).
# TYPE hashike_queue_oldest_due_age_seconds gauge
hashike_queue_oldest_due_age_seconds{queue="default"} 90
hashike_queue_oldest_due_age_seconds{queue="nightly"} 0
# HELP hashike_queue_paused 1 while the queue is paused, else 0.
# TYPE hashike_queue_paused gauge
hashike_queue_paused{queue="default"} 0
hashike_queue_paused{queue="nightly"} 1
# HELP hashike_runs Runs not yet ended, across every replica, by state (queued, pending, running, stopping). Ended runs: hashike_runs_finished_total.
# TYPE hashike_runs gauge
hashike_runs{state="pending"} 1
hashike_runs{state="queued"} 3
hashike_runs{state="running"} 4
hashike_runs{state="stopping"} 0
`
	names := []string{"hashike_leader", "hashike_outbox_notifications", "hashike_outbox_oldest_age_seconds",
		"hashike_queue_oldest_due_age_seconds", "hashike_queue_paused", "hashike_runs"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if got := gathered(t, reg, "hashike_queue_due_runs", "queue", "default"); got != 2 {
		t.Errorf("due runs of default: %v, want 2", got)
	}
	if got := gathered(t, reg, "hashike_queue_active_runs", "queue", "default", "state", "running"); got != 4 {
		t.Errorf("running runs of default: %v, want 4", got)
	}
	// Within the TTL the scrapes above read the database once.
	src.mu.Lock()
	reads := src.reads
	src.mu.Unlock()
	if reads != 1 {
		t.Errorf("backlog reads for 3 scrapes within the TTL: %d, want 1", reads)
	}

	// A database that does not answer: backlog_up 0 and no stale gauges.
	src.mu.Lock()
	src.now, src.err = t0.Add(2*time.Second), errors.New("connection refused")
	src.mu.Unlock()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hashike_backlog_up 1 when the last read of the backlog from the database succeeded, else 0 (the queue, run and outbox gauges are then absent).
# TYPE hashike_backlog_up gauge
hashike_backlog_up 0
`), "hashike_backlog_up", "hashike_runs"); err != nil {
		t.Error(err)
	}
}

func TestAutoscalerGaugesOnTheLeaderOnly(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.NewServer(reg)
	src := &fakeSource{now: t0}
	m.Watch(src, time.Second)
	snap := &autoscale.Snapshot{Now: t0,
		Pools: []autoscale.Pool{{Name: "spot", Min: 0, Max: 10}},
		Instances: []autoscale.Instance{
			{ID: "i-1", Pool: "spot", State: autoscale.InstanceActive},
			{ID: "i-2", Pool: "spot", State: autoscale.InstanceActive},
			{ID: "i-3", Pool: "spot", State: autoscale.InstanceDraining},
		},
		Pending: []autoscale.Task{{ID: "t1"}, {ID: "t2"}}, Running: 7}
	m.AutoscalerDecided("prod", autoscale.Decision{At: t0, Policy: "fast", Snapshot: snap, Actions: []autoscale.Action{
		{Launch: &autoscale.Launch{Pool: "spot", Count: 2}},
		{Terminate: &autoscale.Terminate{Instance: "i-3"}},
		{Drain: &autoscale.Drain{Instance: "i-2"}},
	}, Errors: []error{nil, nil, errors.New("throttled")}})
	m.AutoscalerDecided("prod", autoscale.Decision{At: t0.Add(time.Minute), Policy: "fast", Err: errors.New("describe: timeout")})

	if n := testutil.CollectAndCount(reg, "hashike_autoscaler_group_desired_instances"); n != 0 {
		t.Errorf("a replica that does not lead shows %d autoscaler gauges, want none", n)
	}
	src.mu.Lock()
	src.leader = true
	src.mu.Unlock()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"hashike_autoscaler_group_desired_instances", []string{"cluster", "prod", "group", "spot"}, 4}, // 3 + 2 - 1
		{"hashike_autoscaler_group_instances", []string{"cluster", "prod", "group", "spot", "state", "active"}, 2},
		{"hashike_autoscaler_group_instances", []string{"cluster", "prod", "group", "spot", "state", "launching"}, 0},
		{"hashike_autoscaler_group_max_instances", []string{"cluster", "prod", "group", "spot"}, 10},
		{"hashike_autoscaler_pending_tasks", []string{"cluster", "prod"}, 2},
		{"hashike_autoscaler_running_tasks", []string{"cluster", "prod"}, 7},
		{"hashike_autoscaler_decisions_total", []string{"cluster", "prod", "policy", "fast", "result", "ok"}, 1},
		{"hashike_autoscaler_decisions_total", []string{"cluster", "prod", "policy", "fast", "result", "error"}, 1},
		{"hashike_autoscaler_actions_total", []string{"cluster", "prod", "action", "launch", "result", "ok"}, 1},
		{"hashike_autoscaler_actions_total", []string{"cluster", "prod", "action", "drain", "result", "error"}, 1},
		{"hashike_leader", []string{"lease", "leader"}, 1},
	} {
		if got := gathered(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func histogramSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return sum
}

// gathered is the value of the one gauge or counter named name with the label pairs given;
// it fails the test when there is none.
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}
