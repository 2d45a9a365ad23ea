package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hashike/hashike/runners"
)

// Runners are the runner pools' metrics (package runners' Observer), per pool:
//
//	hashike_runners_queued_jobs{pool}              jobs queued for the pool, at the last pass
//	hashike_runners_idle_runners{pool}             runners registered, online, not busy
//	hashike_runners_starting_runners{pool}         runners requested, not yet online
//	hashike_runners_busy_runners{pool}             runners running a job
//	hashike_runners_desired_runners{pool}          runners the pool should have
//	hashike_runners_queued_to_assigned_seconds{pool}  histogram: a job queued -> a runner took it (GitHub's times)
//	hashike_runners_start_seconds{pool}            histogram: a runner requested -> online (container start and registration)
//	hashike_runners_lost_webhooks_total{pool}      queued jobs a re-scan found that no webhook announced
//	hashike_runners_github_rate_limit_remaining    GitHub's primary rate limit budget left, as last reported
//
// The gauges are the leader's: a replica that does not lead reports 0 (the server reports
// runners.Plan.Idle when its term ends).
type Runners struct {
	queued, idle, starting, busy, desired *prometheus.GaugeVec
	assigned, start                       *prometheus.HistogramVec
	lost                                  *prometheus.CounterVec
}

var _ runners.Observer = (*Runners)(nil)

// runnerBuckets span a warm runner taking a job at once to a cold start on a new host.
var runnerBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600}

// NewRunners registers the runner pools' metrics on reg, each pool of plan at 0. rateLimit,
// when not nil, reads GitHub's remaining primary budget at each scrape (ok false: not known
// yet, the gauge is absent).
func NewRunners(reg prometheus.Registerer, plan *runners.Plan, rateLimit func() (remaining int, ok bool)) *Runners {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "runners", Name: name, Help: help}, []string{"pool"})
	}
	hist := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "runners", Name: name, Help: help,
			Buckets: runnerBuckets}, []string{"pool"})
	}
	m := &Runners{
		queued:   gauge("queued_jobs", "Jobs queued for the pool at GitHub, at the leader's last pass."),
		idle:     gauge("idle_runners", "Runners of the pool registered, online and not busy."),
		starting: gauge("starting_runners", "Runners of the pool requested and not yet online."),
		busy:     gauge("busy_runners", "Runners of the pool running a job."),
		desired:  gauge("desired_runners", "Runners the pool should have: min(max, busy + queued + minimum idle)."),
		assigned: hist("queued_to_assigned_seconds", "Time from a job queued to a runner taking it, by GitHub's times."),
		start:    hist("start_seconds", "Time from a runner requested to online: its run's dispatch, container start and registration."),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "runners", Name: "lost_webhooks_total",
			Help: "Queued jobs a re-scan of GitHub found that no webhook announced (lost or late deliveries)."}, []string{"pool"}),
	}
	reg.MustRegister(m.queued, m.idle, m.starting, m.busy, m.desired, m.assigned, m.start, m.lost)
	if rateLimit != nil {
		reg.MustRegister(rateLimitCollector{read: rateLimit, desc: prometheus.NewDesc(Namespace+"_runners_github_rate_limit_remaining",
			"GitHub's primary rate limit budget left for the runner controller, as GitHub last reported it.", nil, nil)})
	}
	m.Decided(plan.Idle())
	for _, p := range plan.Pools() {
		m.lost.WithLabelValues(p.Name)
	}
	return m
}

// Decided sets the pools' gauges.
func (m *Runners) Decided(d runners.Decision) {
	for _, p := range d.Pools {
		m.queued.WithLabelValues(p.Pool).Set(float64(p.Queued))
		m.idle.WithLabelValues(p.Pool).Set(float64(p.Idle))
		m.starting.WithLabelValues(p.Pool).Set(float64(p.Starting))
		m.busy.WithLabelValues(p.Pool).Set(float64(p.Busy))
		m.desired.WithLabelValues(p.Pool).Set(float64(p.Desired))
	}
}

// RunnerStarted observes a runner's start.
func (m *Runners) RunnerStarted(pool string, start time.Duration) {
	m.start.WithLabelValues(pool).Observe(start.Seconds())
}

// JobAssigned observes a job's wait for a runner.
func (m *Runners) JobAssigned(pool string, wait time.Duration) {
	m.assigned.WithLabelValues(pool).Observe(max(0, wait.Seconds()))
}

// LostWebhook counts a lost or late webhook.
func (m *Runners) LostWebhook(pool string) { m.lost.WithLabelValues(pool).Inc() }

// rateLimitCollector reads the rate limit at each scrape.
type rateLimitCollector struct {
	read func() (int, bool)
	desc *prometheus.Desc
}

func (c rateLimitCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c rateLimitCollector) Collect(ch chan<- prometheus.Metric) {
	if n, ok := c.read(); ok {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n))
	}
}
