// Package metrics is hashike's Prometheus adapter: the only package that imports
// prometheus/client_golang. It turns what the domain reports (through small Go interfaces of
// the packages that report it) into Prometheus collectors, and serves them at /metrics.
//
// # No global registry
//
// Nothing here registers on prometheus.DefaultRegisterer. cmd/hashike builds one registry with
// NewRegistry (the Go runtime and process collectors already on it), hands it to every
// constructor below, and serves it with Handler. Tests build their own and read it back with
// prometheus/testutil.
//
// # Adding metrics
//
// Each area of hashike has one file here with one constructor of the same shape:
//
//	func NewServer(reg prometheus.Registerer) *Server                   // server.go
//	func NewBackend(reg prometheus.Registerer) *Backend                 // backend.go
//	func DecorateBackend(b hashike.Backend, m *Backend) hashike.Backend // backend.go
//	func NewAWS(reg prometheus.Registerer) *AWS                         // aws.go
//
// The constructor makes the area's collectors and registers them on reg (MustRegister: a name
// registered twice is a programming error and panics at start, not at scrape). The value it
// returns implements the Go interface the reporting package declares (server.Metrics, ...),
// or is a decorator around a port (karpenter's cloudprovider/metrics Decorate shape), so the
// domain package never sees Prometheus. A new area (per-task resources, runner pools) adds
// its file, its constructor and its wiring line in cmd/hashike/server.go, next to
// metrics.NewRegistry. What stands at any moment (a depth, a capacity) rather than what
// happens is better a collector read at scrape (as Server.Watch's): keep its reads cheap and
// bounded, as the /metrics benchmark (bench/server) checks.
//
// # Names
//
// Prometheus's conventions: every name starts with hashike_, counters end in _total, durations
// are _seconds (histograms), sizes _bytes; labels are bounded sets (job_name, queue, state,
// backend, operation, group), never run IDs. A hashike job is job_name, never job: Prometheus
// gives job and instance to the scrape target, and would rename a scraped job label to
// exported_job.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric of hashike.
const Namespace = "hashike"

// Path is where the server serves its metrics.
const Path = "/metrics"

// NewRegistry returns a registry with the Go runtime and process collectors on it, for
// cmd/hashike to pass to the constructors of this package and to Handler.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves reg in Prometheus's text (or OpenMetrics, when asked) format. A collector
// that fails makes the scrape report the metrics it could gather and log nothing here:
// promhttp_metric_handler_errors_total counts the failures.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:            reg,
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		EnableOpenMetrics:   true,
	}))
}

// Mount serves GET /metrics from reg and every other request from next (the API). /metrics
// needs no token, as /healthz: Prometheus scrapes it without one, and what it shows is counts
// by job, queue and state, never a run's payload, logs or secrets.
func Mount(next http.Handler, reg *prometheus.Registry) http.Handler {
	m := Handler(reg)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == Path && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			m.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
