package metrics

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hashike/hashike"
)

// CapacityWaitBuckets: how long a start waited for room (an ECS capacity wait lasts up to
// the job's capacityTimeout, 10 minutes by default).
var CapacityWaitBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600}

// Backend is the metrics of the Backend port's calls, shared by every backend it decorates
// (the backend label tells them apart).
type Backend struct {
	calls        *prometheus.CounterVec
	errors       *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	capacityWait *prometheus.HistogramVec
	waiting      *prometheus.GaugeVec
}

// NewBackend makes the Backend port's metrics and registers them on reg.
func NewBackend(reg prometheus.Registerer) *Backend {
	m := &Backend{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "backend_calls_total",
			Help: "Calls of the Backend port (start, find, wait, describe, logs, stop, remove), by backend (local, ecs) and operation.",
		}, []string{"backend", "operation"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "backend_call_errors_total",
			Help: "Calls of the Backend port that returned an error, by backend, operation and hashike error code (not_found, conflict, invalid, unavailable, internal, canceled).",
		}, []string{"backend", "operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "backend_call_duration_seconds",
			Help:    "Duration of the Backend port's calls that do not wait for the task (find, describe, stop, remove; start includes any capacity wait), by backend and operation.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12), // 5 ms to ~20 min
		}, []string{"backend", "operation"}),
		capacityWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "backend_capacity_wait_seconds",
			Help:    "Duration of the starts that had to wait for capacity (the backend retried RunTask for lack of room), by backend.",
			Buckets: CapacityWaitBuckets,
		}, []string{"backend"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "backend_capacity_waiting_starts",
			Help: "Starts waiting for capacity now, by backend.",
		}, []string{"backend"}),
	}
	reg.MustRegister(m.calls, m.errors, m.duration, m.capacityWait, m.waiting)
	return m
}

// DecorateBackend returns b with its calls counted, timed and their errors counted in m;
// nil m returns b. It changes nothing of what b does.
func DecorateBackend(b hashike.Backend, m *Backend) hashike.Backend {
	if m == nil {
		return b
	}
	d := &backend{Backend: b, m: m, name: b.Name()}
	// The decorator keeps the optional roles b has: the server reads a local task's result
	// through TaskFiles and samples usage through UsageSampler, and a role hidden by the
	// decorator is silently a feature lost.
	files, hasFiles := b.(hashike.TaskFiles)
	sampler, hasSampler := b.(hashike.UsageSampler)
	switch {
	case hasFiles && hasSampler:
		return &struct {
			*backend
			hashike.TaskFiles
			hashike.UsageSampler
		}{d, files, sampler}
	case hasFiles:
		return &struct {
			*backend
			hashike.TaskFiles
		}{d, files}
	case hasSampler:
		return &struct {
			*backend
			hashike.UsageSampler
		}{d, sampler}
	}
	return d
}

type backend struct {
	hashike.Backend
	m    *Backend
	name string
}

var _ hashike.Backend = (*backend)(nil)

// observe counts one call that started at start (zero: not timed) and ended with err.
func (b *backend) observe(op string, start time.Time, err error) {
	b.m.calls.WithLabelValues(b.name, op).Inc()
	if !start.IsZero() {
		b.m.duration.WithLabelValues(b.name, op).Observe(time.Since(start).Seconds())
	}
	if err != nil {
		code := string(hashike.ErrorCodeOf(err))
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			code = "canceled" // the caller gave up: a shutdown, a stop, a deadline
		}
		b.m.errors.WithLabelValues(b.name, op, code).Inc()
	}
}

func (b *backend) Start(ctx context.Context, req hashike.StartRequest) (hashike.TaskRef, error) {
	start := time.Now()
	var once sync.Once
	waited := false
	proceed := req.Proceed
	// A backend asks Proceed before each new attempt of a start that waits: the first ask
	// marks the start as waiting for capacity. A nil Proceed and one that returns nil mean
	// the same to a backend.
	req.Proceed = func(ctx context.Context) error {
		once.Do(func() {
			waited = true
			b.m.waiting.WithLabelValues(b.name).Inc()
		})
		if proceed == nil {
			return nil
		}
		return proceed(ctx)
	}
	ref, err := b.Backend.Start(ctx, req)
	b.observe("start", start, err)
	once.Do(func() {}) // a Proceed after Start returned counts nothing
	if waited {
		b.m.waiting.WithLabelValues(b.name).Dec()
		b.m.capacityWait.WithLabelValues(b.name).Observe(time.Since(start).Seconds())
	}
	return ref, err
}

func (b *backend) Find(ctx context.Context, runID string, spec *hashike.JobSpec) (hashike.TaskRef, error) {
	start := time.Now()
	ref, err := b.Backend.Find(ctx, runID, spec)
	b.observe("find", start, err)
	return ref, err
}

// Wait lasts as long as the task: it is counted, not timed.
func (b *backend) Wait(ctx context.Context, ref hashike.TaskRef) (hashike.TaskStatus, error) {
	st, err := b.Backend.Wait(ctx, ref)
	b.observe("wait", time.Time{}, err)
	return st, err
}

func (b *backend) Describe(ctx context.Context, ref hashike.TaskRef) (hashike.TaskStatus, error) {
	start := time.Now()
	st, err := b.Backend.Describe(ctx, ref)
	b.observe("describe", start, err)
	return st, err
}

// Logs may follow the task to its end: it is counted, not timed.
func (b *backend) Logs(ctx context.Context, ref hashike.TaskRef, opts hashike.LogsOptions, sink func(hashike.LogEntry) error) error {
	err := b.Backend.Logs(ctx, ref, opts, sink)
	b.observe("logs", time.Time{}, err)
	return err
}

func (b *backend) Stop(ctx context.Context, ref hashike.TaskRef, reason string, grace time.Duration) error {
	start := time.Now()
	err := b.Backend.Stop(ctx, ref, reason, grace)
	b.observe("stop", start, err)
	return err
}

func (b *backend) Remove(ctx context.Context, ref hashike.TaskRef) error {
	start := time.Now()
	err := b.Backend.Remove(ctx, ref)
	b.observe("remove", start, err)
	return err
}

// Waiting is the gauge of the starts of backend waiting for capacity now (for tests).
func (m *Backend) Waiting(backend string) prometheus.Gauge { return m.waiting.WithLabelValues(backend) }
