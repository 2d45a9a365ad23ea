package hashike

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Where a run's resource usage was measured.
const (
	// UsageSourceDocker: the local Docker Engine's stats API, sampled while the run runs.
	UsageSourceDocker = "docker"
	// UsageSourceContainerInsights: Amazon CloudWatch Container Insights' performance log
	// events of the task (one a minute), when Container Insights is enabled on the cluster.
	UsageSourceContainerInsights = "containerinsights"
)

// UsageSampler is the role of a Backend that can measure what its running tasks use. The run
// supervisor asks it at an interval (usage.Monitor), for every task it supervises at once, so
// that a sampler over a metered API makes one bounded call per interval, not one per task.
type UsageSampler interface {
	// UsageSource names where the numbers come from (UsageSourceDocker, ...).
	UsageSource() string
	// UsageInterval is how often sampling is worth it: the source's resolution.
	UsageInterval() time.Duration
	// SampleUsage returns the samples of each queried task taken after its Since (none yet
	// is no error: the task may have just started, or the source may lag). Tasks it has
	// nothing for are left out. It changes nothing. Errors: EUnavailable when the source
	// cannot be reached; the caller tries again at the next interval.
	SampleUsage(ctx context.Context, queries []UsageQuery) ([]TaskUsage, error)
}

// UsageQuery asks for a task's samples taken after Since.
type UsageQuery struct {
	Task  TaskRef
	Since time.Time
}

// TaskUsage is what a sampler found for one task (by TaskRef.ID).
type TaskUsage struct {
	TaskID  string
	Samples []UsageSample
}

// UsageSample is one observation of a container's, or of a whole task's, resource use.
type UsageSample struct {
	// Container is the container's name; "" for the task as a whole (Container Insights'
	// Type=Task events).
	Container string
	At        time.Time
	// MemoryBytes is the memory in use, page cache not counted (as `docker stats` shows it).
	MemoryBytes int64
	// CPUSeconds is CPU time: with Period 0, a counter since the container started (Docker's
	// cpu_usage.total_usage); with a Period, the CPU time used during the Period ending At
	// (Container Insights' average CpuUtilized over its minute).
	CPUSeconds float64
	Period     time.Duration
	// ThrottledSeconds is how long the CFS quota held the container back since it started
	// (throttling_data.throttled_time); nil where the source does not say.
	ThrottledSeconds *float64
}

// ResourceUsage is what a run's task used, summed over its containers, as sampled while it
// ran. It is a sampled view: a peak between two samples is not seen.
type ResourceUsage struct {
	// Source is UsageSourceDocker or UsageSourceContainerInsights.
	Source string `json:"source"`
	// Samples counts the observations the summary is made of.
	Samples int `json:"samples"`
	// PeakMemoryBytes is the most memory the task held at one observation.
	PeakMemoryBytes int64 `json:"peakMemoryBytes"`
	// CPUSeconds is the CPU time the task's containers used.
	CPUSeconds float64 `json:"cpuSeconds"`
	// ThrottledSeconds is how long the CPU quota held containers back; absent where the
	// source does not measure it (Container Insights).
	ThrottledSeconds *float64 `json:"throttledSeconds,omitempty"`
	// FirstSampleAt and LastSampleAt bound the observations.
	FirstSampleAt *time.Time `json:"firstSampleAt,omitempty"`
	LastSampleAt  *time.Time `json:"lastSampleAt,omitempty"`
}

// Validate reports a summary no sampler makes (negative numbers, no source): stores refuse it.
func (u *ResourceUsage) Validate() error {
	switch {
	case u.Source == "":
		return fmt.Errorf("usage: no source")
	case u.Samples < 0 || u.PeakMemoryBytes < 0 || u.CPUSeconds < 0 || math.IsNaN(u.CPUSeconds) || math.IsInf(u.CPUSeconds, 0):
		return fmt.Errorf("usage: negative or non-finite figures")
	case u.ThrottledSeconds != nil && (*u.ThrottledSeconds < 0 || math.IsNaN(*u.ThrottledSeconds)):
		return fmt.Errorf("usage: negative throttled time")
	}
	return nil
}

// MiB is 1024*1024 bytes.
const MiB = 1 << 20

// RightSizing is the hint `hashike describe` prints from a run's usage and what it reserved:
// "peak 310 MiB of 2048 MiB reserved", "used 0.4 vCPU of 2 on average". A reservation of 0
// (none given) is left out; ran is the run's running time, for the CPU average ("" without).
func RightSizing(u ResourceUsage, reserved Resources, ran time.Duration) (memory, cpu string) {
	peak := float64(u.PeakMemoryBytes) / MiB
	memory = fmt.Sprintf("peak %s MiB", trimFloat(peak))
	if reserved.MemoryMiB > 0 {
		memory += fmt.Sprintf(" of %d MiB reserved (%.0f%%)", reserved.MemoryMiB, 100*peak/float64(reserved.MemoryMiB))
	}
	if ran <= 0 {
		return memory, fmt.Sprintf("%.1f CPU seconds", u.CPUSeconds)
	}
	avg := u.CPUSeconds / ran.Seconds()
	cpu = fmt.Sprintf("used %.1f vCPU", avg)
	if reserved.CPU > 0 {
		cpu += fmt.Sprintf(" of %s", trimFloat(float64(reserved.CPU)/1024))
	}
	cpu += fmt.Sprintf(" on average (%.1f CPU seconds in %s)", u.CPUSeconds, ran.Round(time.Second))
	return memory, cpu
}

// Measured says how the usage was measured: "12 samples from docker; CPU throttled 0.3 s"
// (throttled time only where the source measures it).
func (u ResourceUsage) Measured() string {
	s := fmt.Sprintf("%d samples from %s", u.Samples, u.Source)
	if u.Samples == 1 {
		s = "1 sample from " + u.Source
	}
	if u.ThrottledSeconds != nil {
		s += fmt.Sprintf("; CPU throttled %.1f s", *u.ThrottledSeconds)
	}
	return s
}

// trimFloat shows whole numbers without decimals and others with one.
func trimFloat(f float64) string {
	if f == math.Trunc(f) {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.1f", f)
}
