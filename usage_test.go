package hashike_test

import (
	"testing"
	"time"

	"github.com/hashike/hashike"
)

func TestRightSizing(t *testing.T) {
	tests := []struct {
		name        string
		u           hashike.ResourceUsage
		reserved    hashike.Resources
		ran         time.Duration
		memory, cpu string
	}{
		{"the issue's example", hashike.ResourceUsage{PeakMemoryBytes: 310 * hashike.MiB, CPUSeconds: 48}, hashike.Resources{CPU: 2048, MemoryMiB: 2048}, 2 * time.Minute,
			"peak 310 MiB of 2048 MiB reserved (15%)", "used 0.4 vCPU of 2 on average (48.0 CPU seconds in 2m0s)"},
		{"nothing reserved", hashike.ResourceUsage{PeakMemoryBytes: 64*hashike.MiB + hashike.MiB/2, CPUSeconds: 1.5}, hashike.Resources{}, 3 * time.Second,
			"peak 64.5 MiB", "used 0.5 vCPU on average (1.5 CPU seconds in 3s)"},
		{"a fraction of a vCPU reserved, not started", hashike.ResourceUsage{PeakMemoryBytes: 0, CPUSeconds: 0}, hashike.Resources{CPU: 256, MemoryMiB: 512}, 0,
			"peak 0 MiB of 512 MiB reserved (0%)", "0.0 CPU seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memory, cpu := hashike.RightSizing(tt.u, tt.reserved, tt.ran)
			if memory != tt.memory || cpu != tt.cpu {
				t.Errorf("RightSizing = %q, %q; want %q, %q", memory, cpu, tt.memory, tt.cpu)
			}
		})
	}
}

func TestResourceUsageValidate(t *testing.T) {
	ok := hashike.ResourceUsage{Source: "docker", Samples: 1, PeakMemoryBytes: 1, CPUSeconds: 1}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", ok, err)
	}
	neg := -1.0
	for name, u := range map[string]hashike.ResourceUsage{
		"no source":          {Samples: 1},
		"negative memory":    {Source: "docker", PeakMemoryBytes: -1},
		"negative throttled": {Source: "docker", ThrottledSeconds: &neg},
	} {
		if u.Validate() == nil {
			t.Errorf("%s: Validate accepted %+v", name, u)
		}
	}
}

func TestResourceUsageMeasured(t *testing.T) {
	throttled := 0.25
	for _, tt := range []struct {
		u    hashike.ResourceUsage
		want string
	}{
		{hashike.ResourceUsage{Source: hashike.UsageSourceDocker, Samples: 12, ThrottledSeconds: &throttled}, "12 samples from docker; CPU throttled 0.2 s"},
		{hashike.ResourceUsage{Source: hashike.UsageSourceContainerInsights, Samples: 3}, "3 samples from containerinsights"},
		{hashike.ResourceUsage{Source: hashike.UsageSourceContainerInsights, Samples: 1}, "1 sample from containerinsights"},
	} {
		if got := tt.u.Measured(); got != tt.want {
			t.Errorf("Measured() = %q, want %q", got, tt.want)
		}
	}
}

func TestRunRan(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	start, end := t0.Add(time.Second), t0.Add(time.Minute)
	now := t0.Add(time.Hour)
	for _, tt := range []struct {
		name string
		r    hashike.Run
		want time.Duration
	}{
		{"not started", hashike.Run{}, 0},
		{"running", hashike.Run{StartedAt: &start}, time.Hour - time.Second},
		{"ended", hashike.Run{StartedAt: &start, FinishedAt: &end}, 59 * time.Second},
	} {
		if got := tt.r.Ran(now); got != tt.want {
			t.Errorf("%s: Ran = %v, want %v", tt.name, got, tt.want)
		}
	}
}
