package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/server"
)

// Buckets of the server's histograms, in seconds.
var (
	// DispatchWaitBuckets: from a run being due to a replica claiming it; the dispatcher
	// polls every 200 ms, and a queue at its concurrency cap holds runs for minutes or hours.
	DispatchWaitBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600}
	// RunDurationBuckets: from a run's task starting to its end; jobs last seconds to a day.
	RunDurationBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600}
)

// Server is the server's metrics: it implements server.Metrics (what a replica did:
// counters and histograms) and, once Watch is called, reads at scrape time what stands now
// (queues, runs by state, the outbox, leadership, the autoscalers' last decisions).
type Server struct {
	reg prometheus.Registerer

	enqueued     *prometheus.CounterVec
	dispatchWait *prometheus.HistogramVec
	finished     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	retries      *prometheus.CounterVec

	decisions *prometheus.CounterVec
	actions   *prometheus.CounterVec

	mu sync.Mutex
	// scalers: each autoscaler's last decision, by name.
	scalers map[string]scalerState
}

var _ server.Metrics = (*Server)(nil)

// scalerState is what the gauges show of an autoscaler: its last successful observation.
type scalerState struct {
	at        time.Time
	pending   int
	running   int
	instances map[[2]string]int // {group, state}
	desired   map[string]int    // by group
	min, max  map[string]int
}

// NewServer makes the server's counters and histograms and registers them on reg.
func NewServer(reg prometheus.Registerer) *Server {
	m := &Server{
		reg: reg,
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "runs_enqueued_total",
			Help: "Runs created queued by this replica, by job, queue and trigger (api, schedule, retry, rerun, manual, runner).",
		}, []string{"job_name", "queue", "trigger"}),
		dispatchWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "run_dispatch_wait_seconds",
			Help:    "Time from a run being due (its enqueue, or its not-before time when later) to a replica claiming it, by job and queue.",
			Buckets: DispatchWaitBuckets,
		}, []string{"job_name", "queue"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "runs_finished_total",
			Help: "Runs that ended under this replica's supervision, by job, queue and final state.",
		}, []string{"job_name", "queue", "state"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "run_duration_seconds",
			Help:    "Time from a run's task starting to the run's end, by job, whatever its end (runs that never started are not observed; ends by state: hashike_runs_finished_total).",
			Buckets: RunDurationBuckets,
		}, []string{"job_name"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "run_retries_total",
			Help: "Retries enqueued by this replica, by job and cause (the state the retried run ended in: failed, timed_out, start_failed, lost).",
		}, []string{"job_name", "cause"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "autoscaler_decisions_total",
			Help: "Decisions of the cluster autoscalers run on this replica (the leader), by cluster, policy and result (ok, error: the cluster could not be observed).",
		}, []string{"cluster", "policy", "result"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "autoscaler_actions_total",
			Help: "Actions the cluster autoscalers applied, by cluster, action (launch, drain, terminate) and result (ok, error).",
		}, []string{"cluster", "action", "result"}),
		scalers: map[string]scalerState{},
	}
	reg.MustRegister(m.enqueued, m.dispatchWait, m.finished, m.duration, m.retries, m.decisions, m.actions)
	return m
}

// RunEnqueued implements server.Metrics.
func (m *Server) RunEnqueued(run *hashike.Run) {
	m.enqueued.WithLabelValues(run.Job, run.Queue, run.Trigger).Inc()
}

// RunDispatched implements server.Metrics.
func (m *Server) RunDispatched(run *hashike.Run, waited time.Duration) {
	m.dispatchWait.WithLabelValues(run.Job, run.Queue).Observe(waited.Seconds())
}

// RunFinished implements server.Metrics.
func (m *Server) RunFinished(run *hashike.Run) {
	m.finished.WithLabelValues(run.Job, run.Queue, string(run.State)).Inc()
	if run.StartedAt != nil && run.FinishedAt != nil {
		m.duration.WithLabelValues(run.Job).Observe(max(run.FinishedAt.Sub(*run.StartedAt).Seconds(), 0))
	}
}

// RunRetried implements server.Metrics.
func (m *Server) RunRetried(run *hashike.Run) {
	m.retries.WithLabelValues(run.Job, string(run.State)).Inc()
}

// AutoscalerDecided implements server.Metrics.
func (m *Server) AutoscalerDecided(name string, d autoscale.Decision) {
	if d.Err != nil || d.Snapshot == nil {
		m.decisions.WithLabelValues(name, d.Policy, "error").Inc()
		return
	}
	m.decisions.WithLabelValues(name, d.Policy, "ok").Inc()
	snap := d.Snapshot
	st := scalerState{at: d.At, pending: len(snap.Pending), running: snap.Running,
		instances: map[[2]string]int{}, desired: map[string]int{}, min: map[string]int{}, max: map[string]int{}}
	poolOf := map[string]string{}
	for _, p := range snap.Pools {
		st.desired[p.Name], st.min[p.Name], st.max[p.Name] = 0, p.Min, p.Max
		for _, s := range []autoscale.InstanceState{autoscale.InstanceLaunching, autoscale.InstanceActive, autoscale.InstanceDraining} {
			st.instances[[2]string{p.Name, string(s)}] = 0
		}
	}
	for _, in := range snap.Instances {
		poolOf[in.ID] = in.Pool
		st.instances[[2]string{in.Pool, string(in.State)}]++
		st.desired[in.Pool]++
	}
	for i, a := range d.Actions {
		result := "ok"
		if d.Errors != nil && d.Errors[i] != nil {
			result = "error"
		}
		kind := ""
		switch {
		case a.Launch != nil:
			kind = "launch"
			if result == "ok" {
				st.desired[a.Launch.Pool] += a.Launch.Count
			}
		case a.Drain != nil:
			kind = "drain"
		case a.Terminate != nil:
			kind = "terminate"
			if pool, ok := poolOf[a.Terminate.Instance]; ok && result == "ok" {
				st.desired[pool]--
			}
		default:
			continue
		}
		m.actions.WithLabelValues(name, kind, result).Inc()
	}
	m.mu.Lock()
	m.scalers[name] = st
	m.mu.Unlock()
}

// Source is what the scrape-time collector reads: a *server.Server.
type Source interface {
	Leader() bool
	ReadBacklog(ctx context.Context) (hashike.BacklogStats, error)
	Now() time.Time
}

// DefaultBacklogTTL is how long a backlog read serves scrapes: several Prometheus servers
// (or a dashboard's refreshes) scraping at once cost the database one read.
const DefaultBacklogTTL = 2 * time.Second

// backlogTimeout bounds one backlog read: a database that does not answer makes the scrape
// report hashike_backlog_up 0, not hang.
const backlogTimeout = 5 * time.Second

// Watch registers the collector that reads src when scraped: the backlog (one store read,
// kept ttl; 0: DefaultBacklogTTL), leadership, and, on the leader, the autoscalers' last
// decisions. Call it once, when the server exists.
func (m *Server) Watch(src Source, ttl time.Duration) {
	if ttl <= 0 {
		ttl = DefaultBacklogTTL
	}
	m.reg.MustRegister(&serverCollector{m: m, src: src, ttl: ttl})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

var (
	descLeader      = desc("leader", "1 while this replica holds the lease (leader: the scheduler, reconciler, autoscalers, runner controller and pruners run here), else 0.", "lease")
	descBacklogUp   = desc("backlog_up", "1 when the last read of the backlog from the database succeeded, else 0 (the queue, run and outbox gauges are then absent).")
	descBacklogRead = desc("backlog_read_seconds", "How long the last read of the backlog from the database took.")
	descRuns        = desc("runs", "Runs not yet ended, across every replica, by state (queued, pending, running, stopping). Ended runs: hashike_runs_finished_total.", "state")
	descQueued      = desc("queue_queued_runs", "Runs waiting in the queue (queued), whether due or not.", "queue")
	descDue         = desc("queue_due_runs", "Queued runs whose not-before time has come: they wait for a slot or a replica.", "queue")
	descOldest      = desc("queue_oldest_due_age_seconds", "How long the queue's longest-waiting due run has been due (0: none is due).", "queue")
	descActive      = desc("queue_active_runs", "The queue's runs in progress, by state (pending, running, stopping): what maxConcurrency caps.", "queue", "state")
	descPaused      = desc("queue_paused", "1 while the queue is paused, else 0.", "queue")
	descOutbox      = desc("outbox_notifications", "Notifications waiting to be delivered (neither delivered nor given up).")
	descOutboxAge   = desc("outbox_oldest_age_seconds", "Age of the oldest notification waiting to be delivered (0: none).")

	descScalerPending  = desc("autoscaler_pending_tasks", "Tasks waiting for capacity at the autoscaler's last decision (hashike's queue and ECS's PROVISIONING tasks).", "cluster")
	descScalerRunning  = desc("autoscaler_running_tasks", "Tasks running in the cluster at the autoscaler's last decision.", "cluster")
	descScalerInstance = desc("autoscaler_group_instances", "Instances of an Auto Scaling group at the autoscaler's last decision, by state (launching, active, draining): the actual capacity.", "cluster", "group", "state")
	descScalerDesired  = desc("autoscaler_group_desired_instances", "The group's instance count once the last decision's launches and terminations apply: the desired capacity.", "cluster", "group")
	descScalerMin      = desc("autoscaler_group_min_instances", "The group's minimum size.", "cluster", "group")
	descScalerMax      = desc("autoscaler_group_max_instances", "The group's maximum size.", "cluster", "group")
	descScalerLast     = desc("autoscaler_last_decision_timestamp_seconds", "When the autoscaler last decided from a successful observation (Unix time).", "cluster")
)

// serverCollector reads what stands now when scraped.
type serverCollector struct {
	m   *Server
	src Source
	ttl time.Duration

	mu     sync.Mutex
	readAt time.Time // on the source's clock; zero: never
	took   time.Duration
	last   hashike.BacklogStats
	err    error
}

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLeader, descBacklogUp, descBacklogRead, descRuns, descQueued, descDue, descOldest,
		descActive, descPaused, descOutbox, descOutboxAge, descScalerPending, descScalerRunning, descScalerInstance,
		descScalerDesired, descScalerMin, descScalerMax, descScalerLast} {
		ch <- d
	}
}

// backlog returns the cached backlog, read again when older than ttl. Concurrent scrapes
// wait for one read.
func (c *serverCollector) backlog(now time.Time) (hashike.BacklogStats, time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readAt.IsZero() && now.Sub(c.readAt) < c.ttl && now.Sub(c.readAt) >= 0 {
		return c.last, c.took, c.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
	defer cancel()
	start := time.Now()
	c.last, c.err = c.src.ReadBacklog(ctx)
	c.took = time.Since(start)
	c.readAt = now
	return c.last, c.took, c.err
}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	leader := c.src.Leader()
	gauge(descLeader, bool01(leader), server.LeaderLease)

	now := c.src.Now()
	b, took, err := c.backlog(now)
	gauge(descBacklogRead, took.Seconds())
	if err != nil {
		gauge(descBacklogUp, 0)
	} else {
		gauge(descBacklogUp, 1)
		byState := map[hashike.RunState]int{hashike.StateQueued: 0, hashike.StatePending: 0, hashike.StateRunning: 0, hashike.StateStopping: 0}
		for _, q := range b.Queues {
			byState[hashike.StateQueued] += q.Queued
			gauge(descQueued, float64(q.Queued), q.Queue)
			gauge(descDue, float64(q.Due), q.Queue)
			age := 0.0
			if q.OldestDue != nil {
				age = max(now.Sub(*q.OldestDue).Seconds(), 0)
			}
			gauge(descOldest, age, q.Queue)
			gauge(descPaused, bool01(q.Paused), q.Queue)
			for _, st := range []hashike.RunState{hashike.StatePending, hashike.StateRunning, hashike.StateStopping} {
				byState[st] += q.Active[st]
				gauge(descActive, float64(q.Active[st]), q.Queue, string(st))
			}
		}
		for st, n := range byState {
			gauge(descRuns, float64(n), string(st))
		}
		gauge(descOutbox, float64(b.Outbox))
		age := 0.0
		if b.OutboxOldest != nil {
			age = max(now.Sub(*b.OutboxOldest).Seconds(), 0)
		}
		gauge(descOutboxAge, age)
	}

	if !leader {
		return // a former leader's last decisions are stale: only the leader's count
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	for name, st := range c.m.scalers {
		gauge(descScalerPending, float64(st.pending), name)
		gauge(descScalerRunning, float64(st.running), name)
		gauge(descScalerLast, float64(st.at.UnixNano())/1e9, name)
		for k, n := range st.instances {
			gauge(descScalerInstance, float64(n), name, k[0], k[1])
		}
		for g, n := range st.desired {
			gauge(descScalerDesired, float64(n), name, g)
		}
		for g, n := range st.min {
			gauge(descScalerMin, float64(n), name, g)
			gauge(descScalerMax, float64(st.max[g]), name, g)
		}
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
