package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hashike/hashike/metrics"
	"github.com/hashike/hashike/usage"
)

type running []usage.TaskUsage

func (r *running) Running() []usage.TaskUsage { return *r }

// TestTasks: one series per container of each running run, gone once the run is no longer
// sampled.
func TestTasks(t *testing.T) {
	reg := prometheus.NewRegistry()
	src := &running{
		{Run: "01JD1", Job: "report", ContainerUsage: usage.ContainerUsage{Container: "app", MemoryBytes: 64 << 20, CPUSeconds: 1.5}},
		{Run: "01JD1", Job: "report", ContainerUsage: usage.ContainerUsage{Container: "sidecar", MemoryBytes: 1 << 20, CPUSeconds: 0.25}},
		{Run: "01JD2", Job: "", ContainerUsage: usage.ContainerUsage{MemoryBytes: 310 << 20, CPUSeconds: 48}},
	}
	metrics.NewTasks(reg, src)
	want := `
# HELP hashike_task_cpu_seconds_total CPU time used by a running run's container since it started, as last sampled.
# TYPE hashike_task_cpu_seconds_total counter
hashike_task_cpu_seconds_total{container="",job="",run="01JD2"} 48
hashike_task_cpu_seconds_total{container="app",job="report",run="01JD1"} 1.5
hashike_task_cpu_seconds_total{container="sidecar",job="report",run="01JD1"} 0.25
# HELP hashike_task_memory_bytes Memory in use by a running run's container (page cache not counted), as last sampled.
# TYPE hashike_task_memory_bytes gauge
hashike_task_memory_bytes{container="",job="",run="01JD2"} 3.2505856e+08
hashike_task_memory_bytes{container="app",job="report",run="01JD1"} 6.7108864e+07
hashike_task_memory_bytes{container="sidecar",job="report",run="01JD1"} 1.048576e+06
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	*src = nil // the runs ended
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Errorf("after the runs ended %d series (%v), want none", n, err)
	}
}
