package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hashike/hashike/usage"
)

// RunningTasks is what the task gauges read at each scrape: the latest CPU and memory figures
// of the runs being sampled now (usage.Monitor.Running).
type RunningTasks interface {
	Running() []usage.TaskUsage
}

// Tasks exposes the CPU and memory of the tasks of running runs, as cAdvisor exposes a
// container's:
//
//	hashike_task_memory_bytes{run,job,container}        memory in use, page cache not counted
//	hashike_task_cpu_seconds_total{run,job,container}   CPU time used since the task started
//
// The run label is the exception to "never run IDs": a series exists only while its run
// runs and is sampled (at most the server's concurrent runs times their containers), and is
// gone from the next scrape after it ends; the summary stays with the run (hashike describe).
// Container is "" (no label) for a task measured as a whole (Container Insights).
type Tasks struct {
	src    RunningTasks
	memory *prometheus.Desc
	cpu    *prometheus.Desc
}

// NewTasks registers the task gauges on reg, read from src at each scrape.
func NewTasks(reg prometheus.Registerer, src RunningTasks) *Tasks {
	labels := []string{"run", "job", "container"}
	t := &Tasks{src: src,
		memory: prometheus.NewDesc(Namespace+"_task_memory_bytes",
			"Memory in use by a running run's container (page cache not counted), as last sampled.", labels, nil),
		cpu: prometheus.NewDesc(Namespace+"_task_cpu_seconds_total",
			"CPU time used by a running run's container since it started, as last sampled.", labels, nil),
	}
	reg.MustRegister(t)
	return t
}

// Describe implements prometheus.Collector.
func (t *Tasks) Describe(ch chan<- *prometheus.Desc) {
	ch <- t.memory
	ch <- t.cpu
}

// Collect implements prometheus.Collector.
func (t *Tasks) Collect(ch chan<- prometheus.Metric) {
	for _, u := range t.src.Running() {
		ch <- prometheus.MustNewConstMetric(t.memory, prometheus.GaugeValue, float64(u.MemoryBytes), u.Run, u.Job, u.Container)
		ch <- prometheus.MustNewConstMetric(t.cpu, prometheus.CounterValue, u.CPUSeconds, u.Run, u.Job, u.Container)
	}
}
